/**
 * One error hierarchy for the whole layer. Every error keeps the original `cause` and, when the
 * server produced it, the SQLSTATE `code`, so callers can branch on the class or the code.
 */
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

/** The server could not be reached, refused the connection, or dropped it. */
export class ConnectionError extends DatabaseError {}
