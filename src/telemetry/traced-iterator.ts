/**
 * An async iterator that runs each step of another in a given context (so a stream's statements are
 * children of its span, whoever calls `next`), counts the items, and tells `finish` once when the loop
 * ends: done, `break` (`return`), or a failure.
 */
import { type Context, context } from '@opentelemetry/api';

export function tracedIterator<T>(
  inner: AsyncIterableIterator<T>,
  active: Context,
  finish: (error: unknown, items: number) => void,
): AsyncIterableIterator<T> {
  let items = 0;
  let finished = false;
  const end = (error: unknown) => {
    if (finished) return;
    finished = true;
    finish(error, items);
  };
  const step = async (move: () => Promise<IteratorResult<T>>): Promise<IteratorResult<T>> => {
    try {
      const result = await context.with(active, move);
      if (result.done) end(undefined);
      else items += 1;
      return result;
    } catch (error) {
      end(error);
      throw error;
    }
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next: () => step(() => inner.next()),
    return: (value?: unknown) =>
      step(async () => {
        const result = inner.return ? await inner.return(value) : { done: true as const, value };
        end(undefined);
        return result as IteratorResult<T>;
      }),
    throw: (error?: unknown) => step(() => (inner.throw ? inner.throw(error) : Promise.reject(error))),
  };
}
