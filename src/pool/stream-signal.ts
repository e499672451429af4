/**
 * The AbortSignal of a stream, carried with its compiled query: Kysely hands a connection's
 * `streamQuery` only the query and the batch size, and the layer's stream APIs take a signal too.
 */
import type { CompiledQuery } from 'kysely';

const signals = new WeakMap<CompiledQuery, AbortSignal>();

/** `query`, streamed until `signal` aborts. */
export function withAbortSignal<Q extends CompiledQuery>(query: Q, signal: AbortSignal | undefined): Q {
  if (signal) signals.set(query, signal);
  return query;
}

export function abortSignalOf(query: CompiledQuery): AbortSignal | undefined {
  return signals.get(query);
}

/**
 * `work`'s outcome, or the signal's reason as soon as it aborts, whichever comes first. `work` itself
 * carries on: the caller cleans up after it.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
