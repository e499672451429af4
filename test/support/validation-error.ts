/** What a ValidationError reports, for tests of input refused before any SQL. */
import { expect } from 'vitest';
import { ValidationError } from '../../src/errors/classes.js';

function fieldsOf(error: unknown): string[] {
  expect(error).toBeInstanceOf(ValidationError);
  return (error as ValidationError).issues.map((issue) => issue.field);
}

/** What `work` throws synchronously, or undefined. */
function thrown(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  return undefined;
}

/** The fields of the ValidationError `work` throws synchronously (fails the test on anything else). */
export function invalidFieldsThrown(work: () => unknown): string[] {
  const error = thrown(work);
  if (error === undefined) throw new Error('expected a ValidationError, nothing was thrown');
  return fieldsOf(error);
}

/**
 * The fields of the ValidationError the promise `work` returns rejects with. It fails the test when the
 * promise resolves or rejects with something else, and when `work` throws instead of returning a
 * rejected promise.
 */
export async function invalidFieldsRejected(work: () => Promise<unknown>): Promise<string[]> {
  const error = await work().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  return fieldsOf(error);
}

/** The first issue of the ValidationError `work` throws synchronously, as `field: message`. */
export function refusalThrown(work: () => unknown): string {
  const error = thrown(work);
  expect(error).toBeInstanceOf(ValidationError);
  const issue = (error as ValidationError).issues[0];
  return `${issue?.field}: ${issue?.message}`;
}
