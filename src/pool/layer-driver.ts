/**
 * Kysely's PostgreSQL dialect with the layer's own connections (pooled-connection.ts). Kysely's
 * PostgresDriver hands `pg` only the SQL text; the layer's connection receives the whole compiled query,
 * so it can tell the query builder's statements (prepared) from raw SQL (unnamed unless asked), and it
 * knows when a transaction is open (a stale statement can be retried only outside one).
 */
import {
  CompiledQuery,
  type DatabaseConnection,
  type Driver,
  PostgresDialect,
  PostgresDriver,
  type PostgresPool,
  type TransactionSettings,
} from 'kysely';
import type { PooledConnection } from './pooled-connection.js';
import { RoutedConnection } from './routed-connection.js';

/** A connection as the driver hands it out: a pooled one, or one routed among replicas. */
export type LayerConnection = PooledConnection | RoutedConnection;

/**
 * The server connection a transaction runs on: a routed connection's primary. A promise only for a
 * routed one, so a database without replicas awaits nothing more than before.
 */
export function pooledOf(connection: DatabaseConnection): PooledConnection | Promise<PooledConnection> {
  return connection instanceof RoutedConnection ? connection.primary() : (connection as PooledConnection);
}

class LayerDriver extends PostgresDriver {
  readonly #acquire: () => Promise<LayerConnection>;

  constructor(pool: PostgresPool, acquire: () => Promise<LayerConnection>) {
    // The base driver uses the pool only to end it (destroy).
    super({ pool });
    this.#acquire = acquire;
  }

  override acquireConnection(): Promise<DatabaseConnection> {
    return this.#acquire();
  }

  override async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    const pooled = pooledOf(connection);
    const c = pooled instanceof Promise ? await pooled : pooled;
    c.transactionIs('beginning');
    try {
      await super.beginTransaction(connection, settings);
    } catch (error) {
      c.transactionIs('none');
      throw error;
    }
    c.transactionIs('open');
  }

  // The transaction counts as ended before COMMIT is sent: the idle session it leaves is expected.
  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const pooled = pooledOf(connection);
    (pooled instanceof Promise ? await pooled : pooled).transactionIs('none');
    await super.commitTransaction(connection);
  }

  // Not the base's: on failure it marks the connection for discard through a symbol private to Kysely.
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const pooled = pooledOf(connection);
    const c = pooled instanceof Promise ? await pooled : pooled;
    c.transactionIs('none');
    try {
      await c.executeQuery(CompiledQuery.raw('rollback'));
    } catch (error) {
      // The session's state is unknown: close it rather than hand it to the next caller.
      c.discard();
      throw error;
    }
  }

  override async releaseConnection(connection: DatabaseConnection): Promise<void> {
    (connection as LayerConnection).release();
  }
}

/** PostgreSQL's dialect whose connections `acquire` checks out; `end` closes them all. */
export class LayerDialect extends PostgresDialect {
  readonly #driver: Driver;

  constructor(acquire: () => Promise<LayerConnection>, end: () => Promise<void>) {
    const pool: PostgresPool = {
      connect: () => Promise.reject(new Error('the layer acquires its connections itself')),
      end,
    };
    super({ pool });
    this.#driver = new LayerDriver(pool, acquire);
  }

  override createDriver(): Driver {
    return this.#driver;
  }
}
