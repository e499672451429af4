/**
 * The database object: a typed Kysely over one `pg` Pool, the repositories, raw SQL, transactions,
 * a health check and a clean shutdown.
 */
import { type Compilable, CompiledQuery, Kysely, type Transaction } from 'kysely';
import { z } from 'zod';
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
import { createConnectionPool, type PoolCounts, type ReplicaHealth } from '../pool/connection-pool.js';
import { preparedRawQuery } from '../pool/pooled-connection.js';
import { markReplicaRead } from '../pool/replica-reads.js';
import { decodeToken, encodeToken } from '../pool/wal-position.js';
import { validate, validateRawStatement } from '../query/input-rules.js';
import { QueryCache, type RunCompiled } from '../query/query-cache.js';
import { type StreamOptions, streamOptionsShape, streamRows } from '../query/stream.js';
import {
  assertOutsideTransaction,
  checkTimeout,
  nestedTransaction,
  runTransaction,
  type TransactionOptions,
  withStatementTimeout,
} from '../query/transaction.js';
import type { SearchContext } from '../repositories/post-search.js';
import { type PostsRepository, postsRepository } from '../repositories/posts.js';
import { type RolesRepository, rolesRepository } from '../repositories/roles.js';
import {
  type SearchIndexSetting,
  type SearchRanking,
  type SearchRankingCache,
  searchRanking,
} from '../repositories/search-ranking.js';
import { type UsersRepository, usersRepository } from '../repositories/users.js';
import { NO_TELEMETRY, Telemetry, type TelemetrySetting } from '../telemetry/telemetry.js';
import { tracedCalls } from '../telemetry/traced-calls.js';

export type { QueryEvent, QueryListener } from '../logging/logger.js';
export type { PoolCounts, ReplicaHealth } from '../pool/connection-pool.js';
export type { StreamOptions } from '../query/stream.js';
export type { RetryOptions, TransactionOptions } from '../query/transaction.js';
export type { TelemetryOptions, TelemetrySetting } from '../telemetry/telemetry.js';

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
  /**
   * The statement only reads: where read replicas are configured, it may run on one, under the same
   * rules as the query builder's reads (read-your-writes, the lag bound). Raw SQL runs on the primary
   * otherwise, and always inside a transaction or with `statementTimeoutMs`. A statement that writes is
   * refused by the replica and runs on the primary. Default false.
   */
  replica?: boolean;
}

/** Options of one `streamRaw` call. */
export interface StreamRawOptions extends StreamOptions {
  /** As `executeRaw`'s: the statement only reads, and may run on a read replica. Default false. */
  replica?: boolean;
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
   * The rows of a query built with `kysely`, one at a time through a server-side cursor, `batchSize`
   * per round trip: memory holds one batch however many rows there are. Outside a transaction it runs in
   * a read-only transaction of its own (on a read replica where one may answer); inside one, on the
   * transaction, which sends nothing else until the loop ends. Breaking out of the loop, a throw or the
   * signal closes the cursor and frees the connection.
   *
   * @example
   * for await (const post of db.stream(db.kysely.selectFrom('pg_posts').select(['id', 'title']))) …
   */
  stream<Row>(query: Compilable<Row>, options?: StreamOptions): AsyncIterableIterator<Row>;
  /**
   * `stream` for SQL text with `$1`-style parameters, as `executeRaw` takes it.
   *
   * @example
   * for await (const row of db.streamRaw('SELECT id, email FROM pg_users WHERE created_at > $1', [since])) …
   */
  streamRaw<Row = Record<string, unknown>>(
    text: string,
    params?: readonly unknown[],
    options?: StreamRawOptions,
  ): AsyncIterableIterator<Row>;
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
  /** Each read replica (POSTGRES_REPLICA_URLS), probed now; absent when none is configured. */
  replicas?: ReplicaHealth[];
  /** Which index `posts.search` ranks through, and why not RUM (see `searchIndex`); when `ok`. */
  search?: { index: 'rum' | 'gin'; reason?: string };
  /** Why the check failed, when `ok` is false (never contains the password). */
  error?: string;
}

function searchReport(ranking: SearchRanking): NonNullable<HealthReport['search']> {
  return ranking.index === 'rum' ? { index: 'rum' } : { index: 'gin', reason: ranking.reason };
}

/** Read-your-writes across calls, requests and services, where read replicas are configured. */
export interface Consistency {
  /**
   * Runs `fn` in a read-your-writes scope of its own: its reads see the writes made in it, and, with
   * `after`, everything the token's scope had written. Outside any scope the database object is the
   * scope. Without read replicas every read is on the primary and the scope changes nothing.
   *
   * @example
   * app.use((req, res, next) => db.consistency.run(next, { after: req.cookies.rw }))
   */
  run<T>(fn: () => T, options?: { after?: string | undefined }): T;
  /**
   * An opaque token for what the calling scope has written (and been given with `after`): pass it back
   * as `after` in a later request or another service, whose reads then see those writes.
   */
  token(): Promise<string>;
}

export interface Database extends QueryScope {
  /**
   * The same API on the primary alone: its reads never go to a read replica. For the rare read that must
   * see another process's write made a moment ago. Without replicas it is the database itself.
   */
  readonly primary: QueryScope;
  readonly consistency: Consistency;
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
  /**
   * How often the read replicas' replay positions and the primary's WAL position are read, in ms
   * (the lag measurement and read-your-writes rest on them). Default 200.
   */
  replicaProbeIntervalMs?: number;
  /**
   * OpenTelemetry spans and metrics (docs/observability.md). Default `true`: the globally registered
   * tracer and meter providers (the Node SDK registers them; metrics need one registered before
   * `createDatabase`). Or `{ tracerProvider, meterProvider }` to use these instead; `false` for none,
   * with no call into the OpenTelemetry API at all.
   */
  telemetry?: TelemetrySetting;
  /**
   * Which index `posts.search` ranks through: `auto` (default) reads pages from the RUM index where
   * migration 1795773600007 could build one, else ranks every match found through GIN; `gin` always the
   * latter. Decided on the first search and kept; `health()` and the debug log say which.
   */
  searchIndex?: SearchIndexSetting;
}

type RawRunner = <Row>(
  text: string,
  params?: readonly unknown[],
  prepare?: boolean,
  replica?: boolean,
) => Promise<Row[]>;

/**
 * Raw SQL on `kysely`. Text or a parameter PostgreSQL would not receive exactly (NUL, a lone surrogate)
 * is refused before it is sent: `pg` would send U+FFFD for a lone surrogate, changing the value unseen.
 */
function executeRawOn(kysely: Kysely<DB>): RawRunner {
  return <Row>(text: string, params: readonly unknown[] = [], prepare = false, replica = false) =>
    withDatabaseErrors(async () => {
      validateRawStatement(text, params);
      const query = prepare ? preparedRawQuery(text, params) : CompiledQuery.raw(text, [...params]);
      if (replica) markReplicaRead(query);
      const result = await kysely.executeQuery<Row>(query);
      return [...result.rows];
    });
}

const streamOptionsSchema = z.strictObject({ ...streamOptionsShape, replica: z.boolean().optional() });

/** `stream` and `streamRaw` on `kysely` (the database's, or a transaction's). Bad input throws at once. */
function streamsOn(kysely: Kysely<DB>): Pick<QueryScope, 'stream' | 'streamRaw'> {
  return {
    stream<Row>(query: Compilable<Row>, options: StreamOptions = {}) {
      const { batchSize, signal } = validate(streamOptionsSchema, options, 'options');
      return streamRows(kysely, query.compile(), { batchSize, signal });
    },
    streamRaw<Row>(text: string, params: readonly unknown[] = [], options: StreamRawOptions = {}) {
      const { batchSize, signal, replica } = validate(streamOptionsSchema, options, 'options');
      validateRawStatement(text, params);
      const query = CompiledQuery.raw(text, [...params]) as CompiledQuery<Row>;
      if (replica) markReplicaRead(query);
      return streamRows(kysely, query, { batchSize, signal });
    },
  };
}

/** What the repositories of one database share across its transactions. */
interface SharedState {
  telemetry: Telemetry;
  /** What every search shares: the server's configurations, and which index ranks (decided once). */
  search: SearchContext;
  /** The repositories' compiled statements: the SQL is the same in and out of transactions. */
  queries: QueryCache;
}

/**
 * The repositories over one Kysely instance (the pool's, or a transaction's); `run` executes their
 * compiled statements (default: through that Kysely instance). `traced`: each call a span.
 */
function repositoriesOn(kysely: Kysely<DB>, shared: SharedState, run?: RunCompiled, traced = true) {
  const telemetry = traced ? shared.telemetry : NO_TELEMETRY;
  const users = usersRepository(kysely, shared.queries, run);
  return {
    users: tracedCalls(telemetry, 'users', users),
    posts: tracedCalls(telemetry, 'posts', postsRepository(kysely, shared.search, shared.queries, run)),
    roles: tracedCalls(telemetry, 'roles', rolesRepository(kysely, users)),
  };
}

/** Raw SQL and streams as calls (`db.executeRaw`, `db.stream`, `db.streamRaw`), each a span. */
function tracedScope<S extends Pick<QueryScope, 'executeRaw' | 'stream' | 'streamRaw'>>(
  telemetry: Telemetry,
  scope: S,
): S {
  if (!telemetry.enabled) return scope;
  const { executeRaw, stream, streamRaw } = scope;
  const calls = tracedCalls(telemetry, 'db', { executeRaw, stream, streamRaw }, ['stream', 'streamRaw']);
  return { ...scope, ...calls };
}

function transactionScope(shared: SharedState) {
  const scopeOf = (trx: Transaction<DB>): TransactionScope => {
    const queue = { tail: Promise.resolve() as Promise<unknown> };
    const raw = executeRawOn(trx);
    const { telemetry } = shared;
    // Wrapping every call of a scope made per transaction is work worth skipping while no SDK listens.
    const traced = telemetry.listening();
    return tracedScope(traced ? telemetry : NO_TELEMETRY, {
      kysely: trx,
      ...repositoriesOn(trx, shared, undefined, traced),
      ...streamsOn(trx),
      executeRaw: <Row>(text: string, params?: readonly unknown[], options: ExecuteRawOptions = {}) => {
        const ms = options.statementTimeoutMs;
        if (ms === undefined) return raw<Row>(text, params, options.prepare);
        try {
          checkTimeout(ms, 'statementTimeoutMs');
          validateRawStatement(text, params);
        } catch (error) {
          return Promise.reject(error);
        }
        return withStatementTimeout(trx, telemetry, queue, scopeOf, ms, () =>
          raw<Row>(text, params, options.prepare),
        );
      },
      transaction: (fn, options = {}) => nestedTransaction(trx, telemetry, queue, scopeOf, fn, options),
    });
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
  const logParameters = options.logParameters ?? config.logParameters;
  const telemetry = new Telemetry(
    options.telemetry ?? true,
    `${config.pooled.database}.${config.pooled.schema}`,
    logParameters,
  );
  const report = queryReporter({
    logger,
    level: config.logLevel,
    logParameters,
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
    telemetry,
    ...(options.replicaProbeIntervalMs === undefined
      ? {}
      : { replicaProbeIntervalMs: options.replicaProbeIntervalMs }),
  });
  const schema = config.pooled.schema;
  const kysely = new Kysely<DB>({ dialect: pool.dialect }).withSchema(schema);
  const rankingCache: SearchRankingCache = {};
  const search: SearchContext = {
    configurations: {},
    ranking: (on) => searchRanking(on, schema, options.searchIndex ?? 'auto', rankingCache, logger),
  };
  const shared: SharedState = { telemetry, search, queries: new QueryCache() };
  const scopeOf = transactionScope(shared);

  /** The query API over `on` (reads routed, or on the primary alone), with `run` for compiled statements. */
  const queryScope = (on: Kysely<DB>, run: RunCompiled): QueryScope => {
    const executeRaw = executeRawOn(on);
    return tracedScope(telemetry, {
      kysely: on,
      ...repositoriesOn(on, shared, run),
      ...streamsOn(on),
      executeRaw: <Row>(text: string, params?: readonly unknown[], rawOptions: ExecuteRawOptions = {}) => {
        if (rawOptions.statementTimeoutMs === undefined)
          return executeRaw<Row>(text, params, rawOptions.prepare, rawOptions.replica);
        // Refused before the statement's transaction begins, so nothing at all is sent.
        try {
          validateRawStatement(text, params);
        } catch (error) {
          return Promise.reject(error);
        }
        return runTransaction(
          on,
          telemetry,
          owner,
          scopeOf,
          (tx) => tx.executeRaw<Row>(text, params, { prepare: rawOptions.prepare }),
          { statementTimeoutMs: rawOptions.statementTimeoutMs },
        );
      },
      transaction: (fn, transactionOptions = {}) =>
        runTransaction(on, telemetry, owner, scopeOf, fn, transactionOptions),
    });
  };
  const routed = queryScope(kysely, pool.run);
  const primary = pool.hasReplicas
    ? queryScope(new Kysely<DB>({ dialect: pool.primaryDialect }).withSchema(schema), pool.runOnPrimary)
    : routed;
  const serverCheck = executeRawOn(primary.kysely);
  const checkEvent = (event: string) => {
    if (event !== 'query') throw new TypeError(`unknown event "${event}": the only event is "query"`);
  };
  /** Whether the server answers; never throws. */
  const health = async (): Promise<HealthReport> => {
    const pgbouncer = config.pooled.pgbouncer;
    const started = performance.now();
    try {
      const [row] = await serverCheck<{ server_version: string }>('SHOW server_version');
      const roundTripMs = Math.round((performance.now() - started) * 100) / 100;
      return {
        ok: true,
        serverVersion: row?.server_version,
        roundTripMs,
        pool: pool.counts(),
        pgbouncer,
        search: searchReport(await search.ranking(primary.kysely)),
        ...(pool.hasReplicas ? { replicas: await pool.replicaHealth() } : {}),
      };
    } catch (error) {
      return {
        ok: false,
        error: error instanceof Error ? error.message : String(error),
        pool: pool.counts(),
        pgbouncer,
        ...(pool.hasReplicas ? { replicas: await pool.replicaHealth() } : {}),
      };
    }
  };
  return {
    ...routed,
    primary,
    consistency: {
      run(fn, runOptions = {}) {
        const after = runOptions.after === undefined ? 0n : decodeToken(runOptions.after);
        return pool.scopes.run(after, fn);
      },
      token: () => withDatabaseErrors(async () => encodeToken(await pool.positionForScope())),
    },
    on(event, listener) {
      checkEvent(event);
      listeners.add(listener);
    },
    off(event, listener) {
      checkEvent(event);
      listeners.delete(listener);
    },
    health: () => telemetry.call('db.health', health),
    disconnect() {
      return pool.close();
    },
    get disconnected() {
      return pool.closed;
    },
  };
}
