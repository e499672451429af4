/**
 * One error hierarchy for the whole layer. Every error keeps the original `cause` and, when the
 * server produced it, the SQLSTATE `code`, so callers can branch on the class or the code.
 */
import { stackFromCaller, withRoomForCaller } from './caller-stack.js';
import { SqlState } from './sql-state.js';

export interface DatabaseErrorOptions {
  cause?: unknown;
  /** SQLSTATE reported by PostgreSQL, when the error came from the server. */
  code?: string;
}

export class DatabaseError extends Error {
  readonly code: string | undefined;

  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    // The stack starts at the caller's line, not inside the library that threw for it.
    withRoomForCaller(() => Error.captureStackTrace(this, new.target));
    this.stack = stackFromCaller(this.stack);
  }
}

/**
 * Bad or missing configuration. `setting` names the environment variable (or option) at fault.
 * The message never contains a password.
 */
export class ConfigError extends DatabaseError {
  readonly setting: string;

  constructor(setting: string, problem: string, options: DatabaseErrorOptions = {}) {
    super(`${setting}: ${problem}`, options);
    this.setting = setting;
  }
}

/** The database object was used after `disconnect()`. */
export class DisconnectedError extends DatabaseError {
  constructor() {
    super('the database has been disconnected: create a new one with createDatabase()');
  }
}

/**
 * The server could not be reached, refused the connection, or dropped it: SQLSTATE class 08, a server
 * shutdown (57P01-57P03), too many connections (53300), a socket error, or pg's "Connection terminated".
 */
export class ConnectionError extends DatabaseError {}

/** No pooled connection became free within POSTGRES_POOL_TIMEOUT_MS. */
export class PoolTimeoutError extends ConnectionError {}

/** A query was cancelled (57014: statement_timeout or a cancel request) or pg's read timeout expired. */
export class QueryTimeoutError extends DatabaseError {}

/** The outer database was used inside a transaction callback, where the `tx` it received belongs. */
export class TransactionScopeError extends DatabaseError {}

/** A lookup by `criteria` found no `entity`: `User not found: id "ck123"`. */
export class NotFoundError extends DatabaseError {
  readonly entity: string;
  readonly criteria: string;

  constructor(entity: string, criteria: string, options: DatabaseErrorOptions = {}) {
    super(`${entity} not found: ${criteria}`, options);
    this.entity = entity;
    this.criteria = criteria;
  }
}

/** One problem with an input: `field` is a dotted path such as `posts.0.title` ('' for the whole input). */
export interface ValidationIssue {
  field: string;
  message: string;
}

/** Input rejected before it reached the database; `field` is the first issue's field ('' if none). */
export class ValidationError extends DatabaseError {
  readonly issues: readonly ValidationIssue[];
  readonly field: string;

  constructor(issues: ValidationIssue[], options: DatabaseErrorOptions = {}) {
    const listed = issues.map((issue) => (issue.field ? `${issue.field}: ${issue.message}` : issue.message));
    super(listed.length > 0 ? `invalid input: ${listed.join('; ')}` : 'invalid input', options);
    this.issues = [...issues];
    this.field = issues[0]?.field ?? '';
  }
}

export interface IntegrityErrorOptions extends DatabaseErrorOptions {
  /** The table the server named (unqualified). */
  table?: string | undefined;
  constraint?: string | undefined;
}

/** A constraint rejected the row (SQLSTATE class 23). Subclasses name the kind of constraint. */
export class IntegrityError extends DatabaseError {
  readonly table: string | undefined;
  readonly constraint: string | undefined;

  constructor(message: string, options: IntegrityErrorOptions = {}) {
    super(message, options);
    this.table = options.table;
    this.constraint = options.constraint;
  }
}

export interface KeyViolationOptions extends IntegrityErrorOptions {
  /** The key's columns, as the server listed them; the column inside an expression such as `lower(email)`. */
  columns?: string[];
}

/** A unique index or constraint already holds the key (23505). */
export class UniqueViolationError extends IntegrityError {
  readonly columns: string[];

  constructor(message: string, options: KeyViolationOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.uniqueViolation });
    this.columns = options.columns ?? [];
  }
}

/**
 * A foreign key failed (23503). `columns` are the key columns the server reported: the referencing
 * ones when a row points at a missing row, the referenced ones when a referenced row is deleted.
 */
export class ForeignKeyViolationError extends IntegrityError {
  readonly columns: string[];

  constructor(message: string, options: KeyViolationOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.foreignKeyViolation });
    this.columns = options.columns ?? [];
  }
}

/** A NOT NULL column got null (23502). */
export class NotNullViolationError extends IntegrityError {
  readonly column: string | undefined;

  constructor(message: string, options: IntegrityErrorOptions & { column?: string | undefined } = {}) {
    super(message, { ...options, code: options.code ?? SqlState.notNullViolation });
    this.column = options.column;
  }
}

/** A CHECK constraint failed (23514). */
export class CheckViolationError extends IntegrityError {
  constructor(message: string, options: IntegrityErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.checkViolation });
  }
}

/** The server rolled the transaction back (SQLSTATE class 40); running it again may succeed. */
export class TransactionRollbackError extends DatabaseError {}

/** A SERIALIZABLE or REPEATABLE READ transaction conflicted with a concurrent one (40001). */
export class SerializationError extends TransactionRollbackError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.serializationFailure });
  }
}

/**
 * A named prepared statement went stale inside a transaction: a migration changed what it returns
 * ("cached plan must not change result type", 0A000), or the session lost its statements (26000). The
 * transaction is rolled back; the statement is prepared again on its next use, so running the
 * transaction again succeeds (`retry` does it). Outside a transaction the layer prepares it again and
 * runs it once more by itself.
 */
export class StalePreparedStatementError extends TransactionRollbackError {}

/** Two transactions waited on each other's locks; the server cancelled this one (40P01). */
export class DeadlockError extends TransactionRollbackError {
  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? SqlState.deadlockDetected });
  }
}
