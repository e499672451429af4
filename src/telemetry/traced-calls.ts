/**
 * The repositories' calls as spans: each method of an object becomes the call `<prefix>.<method>`
 * (`users.findById`), and the methods that return an async iterator (`stream`) spans lasting the loop.
 * With telemetry off the object is returned as it is.
 */
import type { Telemetry } from './telemetry.js';

export function tracedCalls<T extends object>(
  telemetry: Telemetry,
  prefix: string,
  target: T,
  streams: readonly string[] = ['stream'],
): T {
  if (!telemetry.enabled) return target;
  const traced: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(target)) {
    if (typeof value !== 'function') {
      traced[key] = value;
      continue;
    }
    const name = `${prefix}.${key}`;
    const method = value as (...args: unknown[]) => unknown;
    traced[key] = streams.includes(key)
      ? (...args: unknown[]) =>
          telemetry.stream(name, () => method.apply(target, args) as AsyncIterableIterator<unknown>)
      : (...args: unknown[]) => telemetry.call(name, () => method.apply(target, args) as Promise<unknown>);
  }
  return traced as T;
}
