/**
 * One error hierarchy for the whole layer, one file per family. Every error keeps the original `cause`
 * and, when the server produced it, the SQLSTATE `code`, so callers can branch on the class or the code.
 *
 * DatabaseError                          database-error.ts
 * ├─ ConfigError                         layer-errors.ts: raised by the layer itself
 * ├─ DisconnectedError
 * ├─ TransactionScopeError
 * │  ├─ TransactionLeftOpenError          transaction-state-errors.ts: read from ReadyForQuery
 * │  └─ TransactionEndedError
 * ├─ NotFoundError
 * ├─ ValidationError
 * ├─ ConnectionError                     connection-errors.ts: 08, 57P0x, 25P03, 53300, sockets
 * │  ├─ PoolTimeoutError
 * │  ├─ BackendTerminatedError           57P01
 * │  ├─ IdleInTransactionTimeoutError    25P03
 * │  └─ TooManyConnectionsError          53300
 * ├─ QueryTimeoutError                   query-timeout-errors.ts: 57014, pg's read timeout
 * │  ├─ StatementTimeoutError            57014, statement_timeout
 * │  └─ QueryCancelledError              57014, a cancel request
 * ├─ IntegrityError                      integrity-errors.ts: class 23
 * │  ├─ UniqueViolationError             23505
 * │  ├─ ForeignKeyViolationError         23503
 * │  ├─ NotNullViolationError            23502
 * │  └─ CheckViolationError              23514
 * ├─ TransactionRollbackError            transaction-rollback-errors.ts: class 40
 * │  ├─ SerializationError               40001
 * │  ├─ DeadlockError                    40P01
 * │  └─ StalePreparedStatementError      0A000, 26000
 * ├─ MigrationLockTimeoutError           migration-errors.ts: 55P03
 * └─ MigrationInProgressError
 */
export {
  BackendTerminatedError,
  ConnectionError,
  IdleInTransactionTimeoutError,
  PoolTimeoutError,
  TooManyConnectionsError,
} from './connection-errors.js';
export { DatabaseError, type DatabaseErrorOptions } from './database-error.js';
export {
  CheckViolationError,
  ForeignKeyViolationError,
  IntegrityError,
  type IntegrityErrorOptions,
  type KeyViolationOptions,
  NotNullViolationError,
  UniqueViolationError,
} from './integrity-errors.js';
export {
  ConfigError,
  DisconnectedError,
  NotFoundError,
  TransactionScopeError,
  ValidationError,
  type ValidationIssue,
} from './layer-errors.js';
export { type LockHolder, MigrationInProgressError, MigrationLockTimeoutError } from './migration-errors.js';
export { QueryCancelledError, QueryTimeoutError, StatementTimeoutError } from './query-timeout-errors.js';
export {
  DeadlockError,
  SerializationError,
  StalePreparedStatementError,
  TransactionRollbackError,
} from './transaction-rollback-errors.js';
export { TransactionEndedError, TransactionLeftOpenError } from './transaction-state-errors.js';
