/**
 * The rows of a bulk load, drawn one at a time from whatever the caller gave: an array, a generator, an
 * async generator, a Readable in object mode. A synchronous iterable is drawn without a promise per row.
 * It remembers an error the caller's iterable threw, so that error reaches the caller unchanged, and
 * closes the iterable (its `finally` runs) when the load stops early.
 */
import { ValidationError } from '../errors/classes.js';

/** What `next` gives when the rows have run out. */
export const NO_MORE_ROWS: unique symbol = Symbol('no more rows');

export class RowSource<T> {
  readonly #sync: Iterator<T> | undefined;
  readonly #async: AsyncIterator<T> | undefined;
  #ahead: { row: T } | undefined;
  #done = false;
  /** Rows handed out so far: the next row's index. */
  #drawn = 0;
  /** What the caller's iterable threw, if it did. */
  failure: { error: unknown } | undefined;

  constructor(rows: Iterable<T> | AsyncIterable<T>) {
    if (rows !== null && typeof rows === 'object' && Symbol.asyncIterator in rows) {
      this.#async = rows[Symbol.asyncIterator]();
    } else if (rows !== null && typeof rows === 'object' && Symbol.iterator in rows) {
      this.#sync = rows[Symbol.iterator]();
    } else {
      throw new ValidationError([
        {
          field: 'rows',
          message: 'must be an iterable or an async iterable (an array, a generator, a stream)',
        },
      ]);
    }
  }

  /** The index the next row will have (0-based position in the input). */
  get index(): number {
    return this.#drawn;
  }

  /** The next row, or NO_MORE_ROWS; a promise only when the iterable is asynchronous. */
  next(): T | typeof NO_MORE_ROWS | Promise<T | typeof NO_MORE_ROWS> {
    if (this.#ahead) {
      const { row } = this.#ahead;
      this.#ahead = undefined;
      this.#drawn += 1;
      return row;
    }
    if (this.#done) return NO_MORE_ROWS;
    if (this.#sync) {
      let result: IteratorResult<T>;
      try {
        result = this.#sync.next();
      } catch (error) {
        throw this.#failed(error);
      }
      return this.#took(result);
    }
    return (this.#async as AsyncIterator<T>).next().then(
      (result) => this.#took(result),
      (error: unknown) => {
        throw this.#failed(error);
      },
    );
  }

  /** Whether a row is left; draws it ahead when needed. */
  async hasMore(): Promise<boolean> {
    if (this.#ahead) return true;
    let row = this.next();
    if (row instanceof Promise) row = await row;
    if (row === NO_MORE_ROWS) return false;
    this.#drawn -= 1;
    this.#ahead = { row };
    return true;
  }

  /** Lets the caller's iterable clean up when the load stops before its end. */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    try {
      await (this.#sync ?? this.#async)?.return?.();
    } catch {
      // The load's own outcome is what the caller hears about.
    }
  }

  #took(result: IteratorResult<T>): T | typeof NO_MORE_ROWS {
    if (result.done) {
      this.#done = true;
      return NO_MORE_ROWS;
    }
    this.#drawn += 1;
    return result.value;
  }

  #failed(error: unknown): unknown {
    this.#done = true;
    this.failure = { error };
    return error;
  }
}
