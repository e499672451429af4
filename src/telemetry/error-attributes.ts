/**
 * How a failure is told in spans and metrics: `error.type` is the class of the layer's error
 * (`UniqueViolationError`, `ValidationError`, …), `db.response.status_code` the SQLSTATE when the server
 * gave one. A driver error is mapped as the layer maps it for callers; a caller's own error (thrown in a
 * transaction callback) keeps its own class name.
 */
import type { Attributes, Span } from '@opentelemetry/api';
import { SpanStatusCode } from '@opentelemetry/api';
import pg from 'pg';
import { DatabaseError } from '../errors/classes.js';
import { toDatabaseError } from '../errors/to-database-error.js';

export interface ErrorClass {
  /** `error.type`. */
  readonly type: string;
  /** `db.response.status_code`: the SQLSTATE, when the error has one from the server. */
  readonly code: string | undefined;
  readonly message: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

export function errorClass(error: unknown): ErrorClass {
  const mapped =
    error instanceof DatabaseError
      ? error
      : error instanceof pg.DatabaseError
        ? toDatabaseError(error)
        : error;
  if (mapped instanceof Error) {
    const code = (mapped as { code?: unknown }).code;
    return {
      type: mapped.name || mapped.constructor.name || 'Error',
      code: typeof code === 'string' && SQLSTATE.test(code) ? code : undefined,
      message: mapped.message,
    };
  }
  return { type: '_OTHER', code: undefined, message: String(error) };
}

/** The attributes a failure adds to a metric. */
export function errorAttributes(failure: ErrorClass): Attributes {
  return failure.code === undefined
    ? { 'error.type': failure.type }
    : { 'error.type': failure.type, 'db.response.status_code': failure.code };
}

/** Marks `span` failed with `error`: its class, its SQLSTATE, the exception event, the status. */
export function recordFailure(span: Span, error: unknown): ErrorClass {
  const failure = errorClass(error);
  span.setAttributes(errorAttributes(failure));
  // Not the error itself: the API would name its `code` (the SQLSTATE) as the exception's type.
  const stack = error instanceof Error ? error.stack : undefined;
  span.recordException({ name: failure.type, message: failure.message, ...(stack && { stack }) });
  span.setStatus({ code: SpanStatusCode.ERROR, message: failure.message });
  return failure;
}
