/**
 * The root of the layer's errors. Every error keeps the original `cause` and, when the server produced
 * it, the SQLSTATE `code`, so callers can branch on the class or the code.
 */
import { stackFromCaller, withRoomForCaller } from './caller-stack.js';

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
