/**
 * Waits until `ms` have really passed by performance.now()'s clock: Node's timers may fire up to a
 * millisecond early by that clock, and tests that measure with it count on the wait as a lower bound.
 */
export async function sleep(ms: number): Promise<void> {
  const until = performance.now() + ms;
  for (let left = ms; left > 0; left = until - performance.now()) {
    await new Promise<void>((resolve) => setTimeout(resolve, Math.ceil(left)));
  }
}
