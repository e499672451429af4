/**
 * The connection Kysely receives when read replicas are configured. It takes no server connection until
 * a statement comes: a read (replica-reads.ts) is sent through the router and holds nothing; anything
 * else takes a primary connection, which the rest of the checkout then keeps (a transaction, or
 * `db.kysely.connection()` after a statement that may set session state), until it is released.
 */
import type { CompiledQuery, DatabaseConnection, QueryResult } from 'kysely';
import type { PooledConnection } from './pooled-connection.js';
import { isReplicaRead } from './replica-reads.js';
import type { ReplicaRouter } from './replica-router.js';

/** Released routed connections kept for reuse, at most this many per dialect. */
const KEPT = 1000;

/**
 * Hands out routed connections, reusing released ones: Kysely remembers every connection object it has
 * seen (a WeakSet), and one new object per query made that bookkeeping cost more than the routing.
 */
export class RoutedConnections {
  readonly #released: RoutedConnection[] = [];
  readonly #router: ReplicaRouter;
  readonly #primaryOnly: boolean;

  constructor(router: ReplicaRouter, primaryOnly: boolean) {
    this.#router = router;
    this.#primaryOnly = primaryOnly;
  }

  acquire(): RoutedConnection {
    return this.#released.pop() ?? new RoutedConnection(this.#router, this.#primaryOnly, this.#released);
  }
}

export class RoutedConnection implements DatabaseConnection {
  readonly #router: ReplicaRouter;
  /** Every statement to the primary (`db.primary`). */
  readonly #primaryOnly: boolean;
  readonly #released: RoutedConnection[];
  #primary: PooledConnection | undefined;

  constructor(router: ReplicaRouter, primaryOnly: boolean, released: RoutedConnection[]) {
    this.#router = router;
    this.#primaryOnly = primaryOnly;
    this.#released = released;
  }

  /** The primary connection this checkout keeps from now on (a transaction begins on it). */
  async primary(): Promise<PooledConnection> {
    this.#primary ??= await this.#router.primary.acquire();
    return this.#primary;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const read = isReplicaRead(compiled);
    if (read && !this.#primaryOnly && this.#primary === undefined) {
      return this.#router.read((server) => server.executeQuery<R>(compiled));
    }
    const connection = await this.primary();
    // Inside a transaction nothing is committed until COMMIT, which is a statement of its own.
    if (read || connection.inTransaction) return connection.executeQuery<R>(compiled);
    return this.#router.write(() => connection.executeQuery<R>(compiled));
  }

  /**
   * A stream of a read goes to a replica as a read does (its connection is the stream's alone until the
   * loop ends); anything else, and a stream once this checkout keeps the primary, to the primary. Not
   * retried elsewhere once it has begun: rows may have reached the caller already.
   */
  async *streamQuery<R>(compiled: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    if (isReplicaRead(compiled) && !this.#primaryOnly && this.#primary === undefined) {
      const connection = await this.#router.read((server) => server.acquire());
      try {
        yield* connection.streamQuery<R>(compiled, chunkSize);
      } finally {
        connection.release();
      }
      return;
    }
    yield* (await this.primary()).streamQuery<R>(compiled, chunkSize);
  }

  release(): void {
    this.#primary?.release();
    this.#primary = undefined;
    if (this.#released.length < KEPT) this.#released.push(this);
  }
}
