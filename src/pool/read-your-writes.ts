/**
 * Read-your-writes scopes. A scope remembers its writes through the layer; a read in it goes to a
 * replica only once that replica has replayed the primary's WAL past them (replica-router.ts). The
 * position is learned without a round trip of its own: the replica monitor reads the primary's position
 * regularly, and a reading that began after the scope's latest write finished covers that write. Until
 * one does, the scope reads from the primary.
 *
 * Scopes follow the async context (AsyncLocalStorage): `run` gives a function, and everything it awaits,
 * a scope of its own; outside any, the database object is the scope, so a write is always seen by every
 * later read of the process.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The primary's WAL position, read by a statement sent at `startedAt` (performance.now()). */
export interface PrimaryPosition {
  readonly startedAt: number;
  readonly lsn: bigint;
}

export class WriteScope {
  /** A position this scope's reads must see. */
  #lsn: bigint;
  /** When the latest write not yet covered by `#lsn` finished. */
  #wroteAt: number | undefined;

  constructor(after: bigint = 0n) {
    this.#lsn = after;
  }

  /** A statement that may have written finished now (committed, or failed leaving what it did). */
  wrote(): void {
    this.#wroteAt = performance.now();
  }

  /**
   * The position a replica must have replayed for this scope to read from it, given the primary's
   * latest known position; undefined while no known position covers the latest write (read from the
   * primary).
   */
  required(latest: PrimaryPosition | undefined): bigint | undefined {
    if (this.#wroteAt !== undefined) {
      if (latest === undefined || latest.startedAt <= this.#wroteAt) return undefined;
      if (latest.lsn > this.#lsn) this.#lsn = latest.lsn;
      this.#wroteAt = undefined;
    }
    return this.#lsn;
  }
}

export class WriteScopes {
  readonly #storage = new AsyncLocalStorage<WriteScope>();
  readonly #database = new WriteScope();

  /** The scope of the calling async context; the database object's outside any. */
  current(): WriteScope {
    return this.#storage.getStore() ?? this.#database;
  }

  /** Runs `fn` in a new scope whose reads must see at least `after`. */
  run<T>(after: bigint, fn: () => T): T {
    return this.#storage.run(new WriteScope(after), fn);
  }
}
