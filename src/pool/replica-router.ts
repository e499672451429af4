/**
 * Sends each read to a replica the calling scope may read from (replica-monitor.ts says which are
 * healthy, within the lag bound, and how far each has replayed; read-your-writes.ts says how far the
 * scope needs), spread among them in turn, else to the primary. A read that fails on a replica because
 * of the replica (the connection refused or lost, no connection in time, a conflict with recovery, a
 * statement that writes) runs once more elsewhere; a read is safe to run twice, and a write never reaches
 * this retry. Writes go to the primary, and tell the scope they happened.
 */
import { ConnectionError, DatabaseError, PoolTimeoutError } from '../errors/classes.js';
import { SqlState } from '../errors/sql-state.js';
import { toDatabaseError } from '../errors/to-database-error.js';
import type { Logger } from '../logging/logger.js';
import type { WriteScopes } from './read-your-writes.js';
import type { ReplicaMonitor } from './replica-monitor.js';
import type { ServerPool } from './server-pool.js';

export class ReplicaRouter {
  readonly primary: ServerPool;
  readonly #replicas: readonly ServerPool[];
  readonly #monitor: ReplicaMonitor;
  readonly #scopes: WriteScopes;
  readonly #logger: Logger;
  #turn = 0;

  constructor(
    primary: ServerPool,
    replicas: readonly ServerPool[],
    monitor: ReplicaMonitor,
    scopes: WriteScopes,
    logger: Logger,
  ) {
    this.primary = primary;
    this.#replicas = replicas;
    this.#monitor = monitor;
    this.#scopes = scopes;
    this.#logger = logger;
  }

  /**
   * Runs a read (`on` a server's pool) where the calling scope may read; once more elsewhere if the
   * replica failed it. Not an async function: a read on its first server costs no promise of its own.
   */
  read<T>(on: (server: ServerPool) => Promise<T>): Promise<T> {
    this.#monitor.start();
    const first = this.#choose(undefined);
    if (first === this.primary) return on(first);
    return on(first).catch((error: unknown) => {
      const second = this.#elsewhere(first, error);
      if (second === undefined) throw error;
      return on(second);
    });
  }

  /** Runs `work` on the primary; what it wrote is what later reads of the scope must see. */
  async write<T>(work: () => Promise<T>): Promise<T> {
    this.#monitor.start();
    const scope = this.#scopes.current();
    try {
      return await work();
    } finally {
      scope.wrote();
    }
  }

  /** A replica that has replayed what the scope needs, in turn; else the primary. */
  #choose(excluded: ServerPool | undefined): ServerPool {
    const required = this.#scopes.current().required(this.#monitor.latest);
    if (required === undefined) return this.primary;
    const count = this.#replicas.length;
    for (let step = 0; step < count; step++) {
      const index = (this.#turn + step) % count;
      const candidate = this.#replicas[index];
      if (candidate && candidate !== excluded && this.#monitor.usable(index, required)) {
        this.#turn = (index + 1) % count;
        return candidate;
      }
    }
    return this.primary;
  }

  /** Where a read that failed on `replica` runs again, if the replica was the cause. */
  #elsewhere(replica: ServerPool, error: unknown): ServerPool | undefined {
    const mapped = error instanceof DatabaseError ? error : toDatabaseError(error);
    let next: ServerPool | undefined;
    if (mapped instanceof ConnectionError) {
      // A pool timeout says the replica is busy, not down: the monitor's probes tell.
      if (!(mapped instanceof PoolTimeoutError))
        this.#monitor.markDown(this.#replicas.indexOf(replica), mapped);
      next = this.#choose(replica);
    } else if (
      mapped.code === SqlState.readOnlySqlTransaction ||
      mapped.code === SqlState.serializationFailure
    ) {
      // A statement that writes, or one a standby cancelled in conflict with the WAL it replays.
      next = this.primary;
    }
    if (next !== undefined) {
      this.#logger.debug('a read failed on a replica; it runs again elsewhere', {
        server: replica.server,
        error: { name: mapped.name, code: mapped.code },
        reason: mapped.message,
        retryOn: next.server,
      });
    }
    return next;
  }
}
