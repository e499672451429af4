/**
 * The database object: a typed Kysely over one `pg` Pool, the repositories, raw SQL, transactions,
 * a health check and a clean shutdown.
 */
import { CompiledQuery, Kysely, type Transaction } from 'kysely';
import type { DB } from '../../db-types/index.js';
import { loadConfig } from '../config/load-config.js';
import type { DatabaseConfig } from '../config/settings.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import {
  atLevel,
  consoleLogger,
  type Logger,
  type PinoLike,
  type QueryListener,
  queryReporter,
  toLogger,
} from '../logging/logger.js';
import { createConnectionPool, type PoolCounts } from '../pool/connection-pool.js';
import { preparedRawQuery } from '../pool/pooled-connection.js';
import { validateRawStatement } from '../query/input-rules.js';
import { QueryCache, type RunCompiled } from '../query/query-cache.js';
import {
  assertOutsideTransaction,
  checkTimeout,
  nestedTransaction,
  runTransaction,
  type TransactionOptions,
  withStatementTimeout,
} from '../query/transaction.js';
import type { ConfigurationCache } from '../repositories/post-search.js';
import { type PostsRepository, postsRepository } from '../repositories/posts.js';
import { type RolesRepository, rolesRepository } from '../repositories/roles.js';
import { type UsersRepository, usersRepository } from '../repositories/users.js';

export type { QueryEvent, QueryListener } from '../logging/logger.js';
export type { PoolCounts } from '../pool/connection-pool.js';
export type { RetryOptions, TransactionOptions } from '../query/transaction.js';

/** Options of one `executeRaw` call. */
export interface ExecuteRawOptions {
  /**
   * Longest run of the statement, in ms (0 = no limit): it runs in a short transaction with
   * `SET LOCAL statement_timeout` (inside a transaction: in a savepoint, the previous limit restored
   * after it). Longer fails with `StatementTimeoutError` (a QueryTimeoutError, 57014), and nothing of
   * the statement is kept.
   */
  statementTimeoutMs?: number;
  /**
   * Send it as a named prepared statement (where prepared statements are on: DATABASE_PREPARED_STATEMENTS):
   * parsed once per connection, then reused. Worth it for SQL text that is run often with new parameters;
   * wasted on text built afresh for each call. Default false.
   */
  prepare?: boolean;
}

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
   * await db.executeRaw('SELECT * FROM report($1)', [year], { statementTimeoutMs: 5000 })
   */
  executeRaw<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: ExecuteRawOptions,
  ): Promise<Row[]>;
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
  pool: PoolCounts;
  /** Whether the pooled connection goes through PgBouncer (`pgbouncer=true` in its URL). */
  pgbouncer: boolean;
  /** Why the check failed, when `ok` is false (never contains the password). */
  error?: string;
}

export interface Database extends QueryScope {
  /**
   * Calls `listener` after each statement sent to the server — repository calls, `executeRaw`,
   * `db.kysely` queries, and inside transactions BEGIN, COMMIT and savepoints too — with its SQL, its
   * parameters (redacted unless DATABASE_LOG_PARAMETERS), its duration, the wait for a pooled connection,
   * and for a failed one the error's class and SQLSTATE. A listener is registered once however often it
   * is added; one that throws is logged and never fails the query.
   *
   * @example
   * db.on('query', (e) => console.log(e.sql, e.params, `${e.durationMs} ms (+${e.waitMs} ms wait)`))
   */
  on(event: 'query', listener: QueryListener): void;
  /** Removes a listener added with `on`. */
  off(event: 'query', listener: QueryListener): void;
  /** Reports whether the server answers; never throws. */
  health(): Promise<HealthReport>;
  /** Waits for queries in flight, then closes every connection. Safe to call more than once. */
  disconnect(): Promise<void>;
  readonly disconnected: boolean;
}

export interface CreateDatabaseOptions {
  /**
   * Where the layer logs, filtered by DATABASE_LOG_LEVEL: `{ error, warn, info, debug }(message, fields)`,
   * or a pino logger (`(fields, message)`, recognised by its `levels`; or adapt one with `fromPino`).
   * Default: the console.
   */
  logger?: Logger | PinoLike;
  /** Query parameters in query events and logs, instead of `[redacted]`. Default: DATABASE_LOG_PARAMETERS. */
  logParameters?: boolean;
}

type RawRunner = <Row>(text: string, params?: readonly unknown[], prepare?: boolean) => Promise<Row[]>;

/**
 * Raw SQL on `kysely`. Text or a parameter PostgreSQL would not receive exactly (NUL, a lone surrogate)
 * is refused before it is sent: `pg` would send U+FFFD for a lone surrogate, changing the value unseen.
 */
function executeRawOn(kysely: Kysely<DB>): RawRunner {
  return <Row>(text: string, params: readonly unknown[] = [], prepare = false) =>
    withDatabaseErrors(async () => {
      validateRawStatement(text, params);
      const query = prepare ? preparedRawQuery(text, params) : CompiledQuery.raw(text, [...params]);
      const result = await kysely.executeQuery<Row>(query);
      return [...result.rows];
    });
}

/** What the repositories of one database share across its transactions. */
interface SharedState {
  textSearchConfigurations: ConfigurationCache;
  /** The repositories' compiled statements: the SQL is the same in and out of transactions. */
  queries: QueryCache;
}

/**
 * The repositories over one Kysely instance (the pool's, or a transaction's); `run` executes their
 * compiled statements (default: through that Kysely instance).
 */
function repositoriesOn(kysely: Kysely<DB>, shared: SharedState, run?: RunCompiled) {
  const users = usersRepository(kysely, shared.queries, run);
  return {
    users,
    posts: postsRepository(kysely, shared.textSearchConfigurations, shared.queries, run),
    roles: rolesRepository(kysely, users),
  };
}

function transactionScope(shared: SharedState) {
  const scopeOf = (trx: Transaction<DB>): TransactionScope => {
    const queue = { tail: Promise.resolve() as Promise<unknown> };
    const raw = executeRawOn(trx);
    return {
      kysely: trx,
      ...repositoriesOn(trx, shared),
      executeRaw: <Row>(text: string, params?: readonly unknown[], options: ExecuteRawOptions = {}) => {
        const ms = options.statementTimeoutMs;
        if (ms === undefined) return raw<Row>(text, params, options.prepare);
        try {
          checkTimeout(ms, 'statementTimeoutMs');
          validateRawStatement(text, params);
        } catch (error) {
          return Promise.reject(error);
        }
        return withStatementTimeout(trx, queue, scopeOf, ms, () => raw<Row>(text, params, options.prepare));
      },
      transaction: (fn, options = {}) => nestedTransaction(trx, queue, scopeOf, fn, options),
    };
  };
  return scopeOf;
}

/**
 * Creates the database object from `config` (default: the environment, see load-config.ts).
 * Connections are opened lazily, on the first query.
 */
export function createDatabase(
  config: DatabaseConfig = loadConfig(),
  options: CreateDatabaseOptions = {},
): Database {
  const logger = options.logger
    ? atLevel(toLogger(options.logger), config.logLevel)
    : consoleLogger(config.logLevel);
  const listeners = new Set<QueryListener>();
  const report = queryReporter({
    logger,
    level: config.logLevel,
    logParameters: options.logParameters ?? config.logParameters,
    slowQueryMs: config.slowQueryMs,
    listeners,
  });
  const owner = Symbol('database');
  const pool = createConnectionPool(config, {
    report,
    logger,
    beforeCheckout: () => assertOutsideTransaction(owner),
    // Values given to db.kysely reach here unchecked; the repositories' and executeRaw's are checked
    // already, with their fields named.
    checkParameters: (parameters) => validateRawStatement(undefined, parameters),
  });
  const kysely = new Kysely<DB>({ dialect: pool.dialect }).withSchema(config.pooled.schema);

  const executeRaw = executeRawOn(kysely);
  const shared: SharedState = { textSearchConfigurations: {}, queries: new QueryCache() };
  const scopeOf = transactionScope(shared);
  const checkEvent = (event: string) => {
    if (event !== 'query') throw new TypeError(`unknown event "${event}": the only event is "query"`);
  };
  return {
    kysely,
    ...repositoriesOn(kysely, shared, pool.run),
    executeRaw: <Row>(text: string, params?: readonly unknown[], rawOptions: ExecuteRawOptions = {}) => {
      if (rawOptions.statementTimeoutMs === undefined)
        return executeRaw<Row>(text, params, rawOptions.prepare);
      // Refused before the statement's transaction begins, so nothing at all is sent.
      try {
        validateRawStatement(text, params);
      } catch (error) {
        return Promise.reject(error);
      }
      return runTransaction(
        kysely,
        owner,
        scopeOf,
        (tx) => tx.executeRaw<Row>(text, params, { prepare: rawOptions.prepare }),
        { statementTimeoutMs: rawOptions.statementTimeoutMs },
      );
    },
    transaction: (fn, transactionOptions = {}) =>
      runTransaction(kysely, owner, scopeOf, fn, transactionOptions),
    on(event, listener) {
      checkEvent(event);
      listeners.add(listener);
    },
    off(event, listener) {
      checkEvent(event);
      listeners.delete(listener);
    },
    async health() {
      const pgbouncer = config.pooled.pgbouncer;
      const started = performance.now();
      try {
        const [row] = await executeRaw<{ server_version: string }>('SHOW server_version');
        return {
          ok: true,
          serverVersion: row?.server_version,
          roundTripMs: Math.round((performance.now() - started) * 100) / 100,
          pool: pool.counts(),
          pgbouncer,
        };
      } catch (error) {
        return {
          ok: false,
          error: error instanceof Error ? error.message : String(error),
          pool: pool.counts(),
          pgbouncer,
        };
      }
    },
    disconnect() {
      return pool.close();
    },
    get disconnected() {
      return pool.closed;
    },
  };
}
