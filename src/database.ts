/**
 * The database object: a typed Kysely over one `pg` Pool, the repositories, raw SQL, transactions,
 * a health check and a clean shutdown.
 */
import {
  CompiledQuery,
  Kysely,
  type LogEvent,
  PostgresDialect,
  type PostgresPool,
  type Transaction,
} from 'kysely';
import pg from 'pg';
import type { DB } from '../db-types/index.js';
import { type DatabaseConfig, loadConfig, toPgClientConfig } from './config.js';
import { DisconnectedError } from './errors.js';
import { consoleLogger, type Logger } from './logger.js';
import type { ConfigurationCache } from './repositories/post-search.js';
import { type PostsRepository, postsRepository } from './repositories/posts.js';
import { type RolesRepository, rolesRepository } from './repositories/roles.js';
import { type UsersRepository, usersRepository } from './repositories/users.js';
import {
  assertOutsideTransaction,
  nestedTransaction,
  runTransaction,
  type TransactionOptions,
} from './transaction.js';
import { withDatabaseErrors } from './with-database-errors.js';

export type { RetryOptions, TransactionOptions } from './transaction.js';

/** What both the database and a transaction offer. */
export interface QueryScope {
  /** The typed query builder; every table it names is qualified with the application's schema. */
  readonly kysely: Kysely<DB>;
  readonly users: UsersRepository;
  readonly posts: PostsRepository;
  readonly roles: RolesRepository;
  /**
   * Runs SQL text as written, with `$1`-style parameters; returns the rows.
   * Values always travel as parameters, never inside `text`.
   *
   * @example
   * await db.executeRaw('SELECT id FROM pg_users WHERE email = $1', ['ada@example.com'])
   */
  executeRaw<Row = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Row[]>;
  /**
   * Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. Inside a
   * transaction, a nested call runs in a savepoint. Use the `tx` it receives, not the outer database.
   */
  transaction<T>(fn: (tx: TransactionScope) => Promise<T>, options?: TransactionOptions): Promise<T>;
}

export interface TransactionScope extends QueryScope {
  readonly kysely: Transaction<DB>;
}

export interface HealthReport {
  ok: boolean;
  /** `server_version` of the server that answered. */
  serverVersion?: string;
  /** Time of one `SELECT` round trip, connection wait included. */
  roundTripMs?: number;
  pool: { total: number; idle: number; waiting: number };
  /** Why the check failed, when `ok` is false (never contains the password). */
  error?: string;
}

export interface Database extends QueryScope {
  /** Reports whether the server answers; never throws. */
  health(): Promise<HealthReport>;
  /** Waits for queries in flight, then closes every connection. Safe to call more than once. */
  disconnect(): Promise<void>;
  readonly disconnected: boolean;
}

export interface CreateDatabaseOptions {
  logger?: Logger;
}

function executeRawOn(kysely: Kysely<DB>) {
  return <Row>(text: string, params: readonly unknown[] = []) =>
    withDatabaseErrors(async () => {
      const result = await kysely.executeQuery<Row>(CompiledQuery.raw(text, [...params]));
      return [...result.rows];
    });
}

/** What the repositories of one database share across its transactions. */
interface SharedState {
  textSearchConfigurations: ConfigurationCache;
}

/** The repositories over one Kysely instance (the pool's, or a transaction's). */
function repositoriesOn(kysely: Kysely<DB>, shared: SharedState) {
  const users = usersRepository(kysely);
  return {
    users,
    posts: postsRepository(kysely, shared.textSearchConfigurations),
    roles: rolesRepository(kysely, users),
  };
}

function transactionScope(shared: SharedState) {
  const scopeOf = (trx: Transaction<DB>): TransactionScope => {
    const queue = { tail: Promise.resolve() as Promise<unknown> };
    return {
      kysely: trx,
      ...repositoriesOn(trx, shared),
      executeRaw: executeRawOn(trx),
      transaction: (fn, options = {}) => nestedTransaction(trx, queue, scopeOf, fn, options),
    };
  };
  return scopeOf;
}

function logQueries(logger: Logger) {
  return (event: LogEvent) => {
    const fields = { sql: event.query.sql, durationMs: Math.round(event.queryDurationMillis * 100) / 100 };
    if (event.level === 'error') {
      const code = (event.error as { code?: string } | undefined)?.code;
      logger.debug('query failed', { ...fields, code });
    } else {
      logger.debug('query', fields);
    }
  };
}

/**
 * Creates the database object from `config` (default: the environment, see config.ts).
 * Connections are opened lazily, on the first query.
 */
export function createDatabase(
  config: DatabaseConfig = loadConfig(),
  options: CreateDatabaseOptions = {},
): Database {
  const logger = options.logger ?? consoleLogger(config.logLevel);
  const pool = new pg.Pool({
    ...toPgClientConfig(config.pooled),
    max: config.pool.max,
    connectionTimeoutMillis: config.pool.connectionTimeoutMillis,
    idleTimeoutMillis: config.pool.idleTimeoutMillis,
  });
  // An idle connection the server drops emits 'error' on the pool; unhandled, it would end the process.
  pool.on('error', (error) => {
    logger.warn('an idle connection was closed by the server; the pool will open a new one', {
      error: error.message,
    });
  });

  const owner = Symbol('database');
  let closing: Promise<void> | undefined;
  // Every connection Kysely takes passes this guard: work after disconnect() fails clearly, and so
  // does the outer database used inside one of its own transaction callbacks.
  const guardedPool: PostgresPool = {
    connect: async () => {
      if (closing) throw new DisconnectedError();
      assertOutsideTransaction(owner);
      return pool.connect();
    },
    end: () => pool.end(),
  };
  const kysely = new Kysely<DB>({
    dialect: new PostgresDialect({ pool: guardedPool }),
    log: logQueries(logger),
  }).withSchema(config.pooled.schema);

  const executeRaw = executeRawOn(kysely);
  const shared: SharedState = { textSearchConfigurations: {} };
  const scopeOf = transactionScope(shared);
  return {
    kysely,
    ...repositoriesOn(kysely, shared),
    executeRaw,
    transaction: (fn, options = {}) => runTransaction(kysely, owner, scopeOf, fn, options),
    async health() {
      const counts = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount });
      const started = performance.now();
      try {
        const [row] = await executeRaw<{ server_version: string }>('SHOW server_version');
        return {
          ok: true,
          serverVersion: row?.server_version,
          roundTripMs: Math.round((performance.now() - started) * 100) / 100,
          pool: counts(),
        };
      } catch (error) {
        return { ok: false, error: error instanceof Error ? error.message : String(error), pool: counts() };
      }
    },
    disconnect() {
      // The pool, not Kysely, is ended: Kysely's driver stays usable, so later work reaches the guard
      // above and fails with DisconnectedError instead of Kysely's "driver has already been destroyed".
      closing ??= pool.end();
      return closing;
    },
    get disconnected() {
      return closing !== undefined;
    },
  };
}
