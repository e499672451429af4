/**
 * The pool of connections to one server (the primary, or one read replica): one `pg` Pool, the guard
 * every checkout passes, and the statements run on a checked-out connection. connection-pool.ts composes
 * one per server.
 */
import type { CompiledQuery, QueryResult } from 'kysely';
import type pg from 'pg';
import type { ConnectionSettings, DatabaseConfig } from '../config/settings.js';
import { DisconnectedError } from '../errors/classes.js';
import type { ExecutedQuery, Logger } from '../logging/logger.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { connectionFailure, createPgPool } from './connect.js';
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

export interface ServerPoolOptions {
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
  /** Spans and metrics: each statement's, the wait for a connection, the pool's counts. */
  telemetry: Telemetry;
}

export interface ServerPool {
  /** `primary`, or `replica-<n>` in the order of POSTGRES_REPLICA_URLS: the query events' `server`. */
  readonly server: string;
  readonly settings: ConnectionSettings;
  /** A connection through the guard: refused after close() and where beforeCheckout refuses. */
  acquire(): Promise<PooledConnection>;
  /** Runs one compiled statement on a connection of this pool (named where `mayPrepare` allows). */
  run<R>(query: CompiledQuery<R>): Promise<{ rows: R[] }>;
  /** The same, as Kysely's connections answer it. */
  executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>>;
  counts(): PoolCounts;
  /** Waits for the checked-out connections, then closes every connection. Safe to call more than once. */
  close(): Promise<void>;
  readonly closed: boolean;
}

/** The pool for `settings`; connections are opened lazily, on the first checkout. */
export function createServerPool(
  server: string,
  settings: ConnectionSettings,
  config: Pick<DatabaseConfig, 'pool'> & { preparedStatements: { enabled: boolean; perConnection: number } },
  options: ServerPoolOptions,
): ServerPool {
  const { report, logger, beforeCheckout, checkParameters, telemetry } = options;
  const target = telemetry.target(server, settings);
  const pool = createPgPool(settings, {
    max: config.pool.max,
    connectionTimeoutMillis: config.pool.connectionTimeoutMillis,
    idleTimeoutMillis: config.pool.idleTimeoutMillis,
    types: layerTypeParsers,
  });
  // An idle connection the server drops emits 'error' on the pool; unhandled, it would end the process.
  pool.on('error', (error) => {
    logger.warn('an idle connection was closed by the server; the pool will open a new one', {
      server,
      error: error.message,
    });
  });
  const counts = (): PoolCounts => ({
    total: pool.totalCount,
    idle: pool.idleCount,
    waiting: pool.waitingCount,
  });
  const stopObserving = telemetry.observePool(target, config.pool.max, counts);

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
        server,
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
      connection = new PooledConnection(client, {
        report,
        logger,
        statements,
        checkParameters,
        server,
        telemetry,
        target,
      });
      connections.set(client, connection);
    }
    const waitMs = performance.now() - started;
    telemetry.connectionWait(target, waitMs);
    connection.checkedOut(waitMs);
    return connection;
  };

  return {
    server,
    settings,
    acquire,
    // Outside transactions a compiled statement goes straight to a pooled connection, through the same
    // guard Kysely's connections pass (close, beforeCheckout, the wait's timing).
    async run<R>(query: CompiledQuery<R>): Promise<{ rows: R[] }> {
      const connection = await acquire();
      try {
        return (await connection.query(query.sql, query.parameters, mayPrepare(query))) as { rows: R[] };
      } finally {
        connection.release();
      }
    },
    async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
      const connection = await acquire();
      try {
        return await connection.executeQuery<R>(query);
      } finally {
        connection.release();
      }
    },
    counts,
    close() {
      if (!closing) stopObserving();
      closing ??= pool.end();
      return closing;
    },
    get closed() {
      return closing !== undefined;
    },
  };
}
