/**
 * The application's pool: one `pg` Pool for the pooled connection, the guard every checkout passes,
 * the Kysely dialect over it, and `run`, which sends a compiled statement straight to a pooled
 * connection. The database object (database.ts) composes it.
 */
import type { CompiledQuery, Dialect } from 'kysely';
import type pg from 'pg';
import type { DatabaseConfig } from '../config/settings.js';
import { DisconnectedError } from '../errors/classes.js';
import type { ExecutedQuery, Logger } from '../logging/logger.js';
import { connectionFailure, createPgPool } from './connect.js';
import { LayerDialect } from './layer-driver.js';
import { mayPrepare, PooledConnection } from './pooled-connection.js';
import { PreparedStatements, type StatementEpoch } from './prepared-statements.js';
import { layerTypeParsers } from './timestamps.js';

export interface PoolCounts {
  /** Connections open, idle or in use. */
  total: number;
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
}

export interface ConnectionPoolOptions {
  /** Receives every statement sent (see logger.ts's queryReporter). */
  report: (query: ExecutedQuery) => void;
  logger: Logger;
  /**
   * Runs before every checkout and throws to refuse it: the database object refuses its outer self
   * inside one of its own transaction callbacks.
   */
  beforeCheckout: () => void;
  /**
   * Runs before every statement Kysely sends (`db.kysely`, transactions) and throws to refuse it, with
   * nothing sent: the database object refuses parameters PostgreSQL would not receive exactly.
   */
  checkParameters: (parameters: readonly unknown[]) => void;
}

export interface ConnectionPool {
  /** Kysely's dialect: its connections are checked out through the guard. */
  readonly dialect: Dialect;
  /** Runs one compiled statement on a pooled connection (named where `mayPrepare` allows), outside transactions. */
  run<R>(query: CompiledQuery<R>): Promise<{ rows: R[] }>;
  counts(): PoolCounts;
  /** Waits for the checked-out connections, then closes every connection. Safe to call more than once. */
  close(): Promise<void>;
  readonly closed: boolean;
}

/** The pool for `config.pooled`; connections are opened lazily, on the first checkout. */
export function createConnectionPool(config: DatabaseConfig, options: ConnectionPoolOptions): ConnectionPool {
  const { report, logger, beforeCheckout, checkParameters } = options;
  const pool = createPgPool(config.pooled, {
    max: config.pool.max,
    connectionTimeoutMillis: config.pool.connectionTimeoutMillis,
    idleTimeoutMillis: config.pool.idleTimeoutMillis,
    types: layerTypeParsers,
  });
  // An idle connection the server drops emits 'error' on the pool; unhandled, it would end the process.
  pool.on('error', (error) => {
    logger.warn('an idle connection was closed by the server; the pool will open a new one', {
      error: error.message,
    });
  });
  const counts = (): PoolCounts => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
  });

  let closing: Promise<void> | undefined;
  const connections = new WeakMap<pg.PoolClient, PooledConnection>();
  const epoch: StatementEpoch = { value: 0 };
  const prepared = config.preparedStatements;
  // Every connection the layer takes passes this guard: work after close() fails clearly, and so does
  // whatever beforeCheckout refuses. It times the wait for the connection, and turns a failure to get
  // one into the layer's errors (PoolTimeoutError, ConnectionError) for every API, db.kysely included.
  const acquire = async (): Promise<PooledConnection> => {
    if (closing) throw new DisconnectedError();
    beforeCheckout();
    const started = performance.now();
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      const failure = connectionFailure(error);
      logger.debug('no connection', {
        error: { name: failure.name, code: failure.code },
        reason: failure.message,
        waitMs: Math.round(performance.now() - started),
        pool: counts(),
      });
      throw failure;
    }
    let connection = connections.get(client);
    if (!connection) {
      const statements = prepared.enabled ? new PreparedStatements(prepared.perConnection, epoch) : undefined;
      connection = new PooledConnection(client, { report, logger, statements, checkParameters });
      connections.set(client, connection);
    }
    connection.checkedOut(performance.now() - started);
    return connection;
  };

  // Outside transactions a compiled statement goes straight to a pooled connection, through the same
  // guard Kysely's connections pass (close, beforeCheckout, the wait's timing).
  const run = async <R>(query: CompiledQuery<R>): Promise<{ rows: R[] }> => {
    const connection = await acquire();
    try {
      return (await connection.query(query.sql, query.parameters, mayPrepare(query))) as { rows: R[] };
    } finally {
      connection.release();
    }
  };

  return {
    dialect: new LayerDialect(acquire, () => pool.end()),
    run,
    counts,
    close() {
      // The pool, not Kysely, is ended: Kysely's driver stays usable, so later work reaches the guard
      // above and fails with DisconnectedError instead of Kysely's "driver has already been destroyed".
      closing ??= pool.end();
      return closing;
    },
    get closed() {
      return closing !== undefined;
    },
  };
}
