/**
 * The transaction failed as a whole and was rolled back; running the whole transaction again may
 * succeed (the `retry` transaction option does it for the subclasses here).
 */
import { DatabaseError, type DatabaseErrorOptions } from './database-error.js';
import { SqlState } from './sql-state.js';

/**
 * The transaction was rolled back and running it again may succeed: SQLSTATE class 40, and a prepared
 * statement gone stale inside a transaction (StalePreparedStatementError).
 */
export class TransactionRollbackError extends DatabaseError {}

/** A SERIALIZABLE or REPEATABLE READ transaction conflicted with a concurrent one (40001). */
export class SerializationError extends TransactionRollbackError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.serializationFailure });
  }
}

/** Two transactions waited on each other's locks; the server cancelled this one (40P01). */
export class DeadlockError extends TransactionRollbackError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.deadlockDetected });
  }
}

/**
 * A named prepared statement went stale inside a transaction: a migration changed what it returns
 * ("cached plan must not change result type", 0A000), or the session lost its statements (26000). The
 * transaction is rolled back; the statement is prepared again on its next use, so running the
 * transaction again succeeds (`retry` does it). Outside a transaction the layer prepares it again and
 * runs it once more by itself.
 *
 * Its SQLSTATEs are classes 0A (feature not supported) and 26 (invalid statement name), which have no
 * class of their own here; it sits under TransactionRollbackError because that is what a caller has
 * to do about it: run the transaction again, as after a serialization failure.
 */
export class StalePreparedStatementError extends TransactionRollbackError {}
