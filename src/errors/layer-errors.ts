/**
 * Errors the layer raises itself, without the server: bad configuration, misuse of the database
 * object, a lookup that found nothing, input rejected before it was sent.
 */
import { DatabaseError, type DatabaseErrorOptions } from './database-error.js';

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
