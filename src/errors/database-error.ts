/**
 * The root of the layer's errors. Every error keeps the original `cause` and, when the server produced
 * it, the SQLSTATE `code`, so callers can branch on the class or the code.
 */
import { stackFromCaller, withRoomForCaller } from './caller-stack.js';

export interface DatabaseErrorOptions {
  cause?: unknown;
  /** SQLSTATE reported by PostgreSQL, when the error came from the server. */
  code?: string;
  /** The 0-based position, in a bulk load's input, of the row the error is about (`createMany`). */
  row?: number | undefined;
}

export class DatabaseError extends Error {
  readonly code: string | undefined;
  /** The input row a bulk load (`createMany`) failed on; undefined for every other call. */
  readonly row: number | undefined;

  constructor(message: string, options: DatabaseErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code;
    this.row = options.row;
    // The stack starts at the caller's line, not inside the library that threw for it.
    withRoomForCaller(() => Error.captureStackTrace(this, new.target));
    this.stack = stackFromCaller(this.stack);
  }
}
