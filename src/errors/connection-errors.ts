/**
 * No connection, or the connection went away: whatever the work was, it did not happen (a transaction
 * on that connection was rolled back). Running it again on a new connection may succeed.
 */
import { DatabaseError, type DatabaseErrorOptions } from './database-error.js';
import { SqlState } from './sql-state.js';

/**
 * The server could not be reached, refused the connection, or dropped it: SQLSTATE class 08, a server
 * shutdown or restart (57P01-57P03), an idle-session or idle-in-transaction timeout (57P05, 25P03), too
 * many connections (53300), a socket error, or pg's "Connection terminated".
 */
export class ConnectionError extends DatabaseError {}

/** No pooled connection became free within POSTGRES_POOL_TIMEOUT_MS. */
export class PoolTimeoutError extends ConnectionError {}

/**
 * The server ended the session (57P01 admin_shutdown): pg_terminate_backend, the server shutting
 * down, or its postmaster gone (a crash). The statement in progress failed and an open transaction was rolled back.
 */
export class BackendTerminatedError extends ConnectionError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.adminShutdown });
  }
}

/**
 * A transaction sat idle between two statements for longer than idle_in_transaction_session_timeout
 * (`idleInTransactionTimeoutMs`); the server ended the session and rolled the transaction back (25P03).
 */
export class IdleInTransactionTimeoutError extends ConnectionError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.idleInTransactionSessionTimeout });
  }
}

/**
 * The server refused a new connection (53300): max_connections is reached, or the role's or the
 * database's CONNECTION LIMIT.
 */
export class TooManyConnectionsError extends ConnectionError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.tooManyConnections });
  }
}
