import { expect } from 'vitest';

/** Whatever `work` rejects with, an Error or not (fails the test when it resolves). */
export async function rejectionReason(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => expect.fail('expected a rejection'),
    (reason: unknown) => reason,
  );
}

/** The Error `work` rejects with (fails the test when it resolves, or rejects with anything else). */
export async function rejection(work: Promise<unknown>): Promise<Error> {
  const reason = await rejectionReason(work);
  if (!(reason instanceof Error))
    throw new Error(`expected a rejection with an Error, got ${String(reason)}`);
  return reason;
}
