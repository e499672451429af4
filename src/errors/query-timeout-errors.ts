/**
 * A statement that was stopped before it finished (57014 query_canceled, or pg's own read timeout).
 * Nothing it did is kept; a transaction it ran in is aborted.
 */
import { DatabaseError, type DatabaseErrorOptions } from './database-error.js';
import { SqlState } from './sql-state.js';

/**
 * A query was cancelled (57014) or pg's read timeout expired. The subclasses say why, when the server's
 * message does: a server whose lc_messages is not English reports a plain QueryTimeoutError.
 */
export class QueryTimeoutError extends DatabaseError {}

/** The statement ran longer than statement_timeout (`statementTimeoutMs`, or the role's or server's). */
export class StatementTimeoutError extends QueryTimeoutError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.queryCanceled });
  }
}

/** A cancel request stopped the statement: pg_cancel_backend, or a client cancelling its own query. */
export class QueryCancelledError extends QueryTimeoutError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.queryCanceled });
  }
}
