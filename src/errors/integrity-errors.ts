/**
 * A constraint rejected the row (SQLSTATE class 23). Messages name the table, the key's columns and the
 * constraint, never the row's values.
 */
import { DatabaseError, type DatabaseErrorOptions } from './database-error.js';
import { SqlState } from './sql-state.js';

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
