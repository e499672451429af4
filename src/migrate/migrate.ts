/**
 * Runs the migrations in `migrations/` with node-pg-migrate, over the direct (non-pooling) connection:
 * the run holds a session-level advisory lock, which PgBouncer in transaction mode cannot keep.
 *
 * The connection is this module's own, configured before node-pg-migrate gets it:
 * - the run lock (node-pg-migrate's advisory lock, one per database) is waited for, boundedly
 *   (`advisoryLockWaitMs`), so two deploys that migrate at once run one after the other;
 * - `lock_timeout` (`lockTimeoutMs`) bounds every lock wait of the migrations, so a migration that
 *   needs a lock a long transaction holds fails fast with a `MigrationLockTimeoutError`, instead of
 *   queueing and making every reader and writer of that table queue behind it;
 * - the application's schema (`?schema=`, default `public`) is created when missing, is first on the
 *   search_path (then pg_catalog), and holds the migrations table; the migrations qualify every name
 *   with it (src/migrate/migration-schema.ts).
 *
 * With `dir`, a service's own migrations run after the package's, on the same connection and under the
 * same run lock, recorded in a table of their own (src/migrate/service-migrations.ts); `down` reverts
 * only the service's unless `includePackage` says otherwise.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { PG_MIGRATE_LOCK_ID, runner } from 'node-pg-migrate';
import type pg from 'pg';
import { INT4_MAX } from '../config/postgres-limits.js';
import type { ConnectionSettings } from '../config/settings.js';
import {
  ConfigError,
  DatabaseError,
  type LockHolder,
  MigrationInProgressError,
  MigrationLockTimeoutError,
} from '../errors/classes.js';
import { errorCode } from '../errors/error-code.js';
import { SqlState } from '../errors/sql-state.js';
import { connectClient } from '../pool/connect.js';
import { Telemetry, type TelemetrySetting } from '../telemetry/telemetry.js';
import { MigrationTrace } from './migration-trace.js';
import {
  appliedServiceMigrations,
  IGNORED_FILES,
  type ServiceMigrations,
  serviceMigrations,
} from './service-migrations.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations', import.meta.url));
export const MIGRATIONS_TABLE = 'pgmigrations';
/** node-pg-migrate's advisory lock key: a run of its own CLI and a run of `migrate()` exclude each other. */
export const MIGRATION_LOCK_KEY = PG_MIGRATE_LOCK_ID;
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;
export const DEFAULT_ADVISORY_LOCK_WAIT_MS = 60_000;

export interface MigrateOptions {
  direction: 'up' | 'down';
  /** How many migrations to run; default: all pending for `up`, one for `down`. `Infinity` means all. */
  count?: number;
  /** Receives node-pg-migrate's progress lines; default: silent. */
  log?: (message: string) => void;
  /**
   * `lock_timeout` of the migration session, in milliseconds (1 – 2147483647; default 10 000): the
   * longest any statement of a migration waits for a lock, e.g. `ALTER TABLE` behind a long transaction
   * that read the table. Past it the migration fails with `MigrationLockTimeoutError`, its transaction
   * rolled back, and whoever queued behind it goes on.
   */
  lockTimeoutMs?: number;
  /**
   * How long to wait for another migration run on the same database to finish, in milliseconds
   * (0 – 2147483647; default 60 000; 0 = fail at once). Past it: `MigrationInProgressError`, nothing done.
   */
  advisoryLockWaitMs?: number;
  /**
   * The service's own migrations folder (relative paths are resolved from the current directory). `up`
   * applies the package's pending migrations first, then the service's; `count` spans both, in that
   * order. `down` reverts the service's only. The folder must exist and hold nothing but migrations
   * (`<number>_<name>.js|ts|…`; dotfiles, `.d.ts` and `.map` files are skipped).
   */
  dir?: string;
  /**
   * With `dir`: the table that records the service's migrations, in the application's schema
   * (default `pgmigrations_service`). Services that share a schema each need their own.
   */
  migrationsTable?: string;
  /**
   * With `dir` and `down`: once the service's migrations are all reverted, go on with the package's
   * (`count` spans both, the service's first). Default false.
   */
  includePackage?: boolean;
  /**
   * Spans for the run, each migration and each statement (docs/observability.md). Default `true`: the
   * globally registered tracer provider; or `{ tracerProvider }`; `false` for none.
   */
  telemetry?: TelemetrySetting;
}

/** The direct connection migrations need, or a ConfigError that says which variable to set. */
export function migrationConnection(direct: ConnectionSettings | undefined): ConnectionSettings {
  if (direct === undefined) {
    throw new ConfigError(
      'POSTGRES_URL_NON_POOLING',
      'not set: migrations and type generation need a direct connection to PostgreSQL (not through PgBouncer)',
    );
  }
  if (direct.pgbouncer) {
    throw new ConfigError(
      'POSTGRES_URL_NON_POOLING',
      'has pgbouncer=true: migrations and type generation need a direct connection to PostgreSQL, ' +
        'because they hold a session-level lock; point POSTGRES_URL_NON_POOLING at the server itself',
    );
  }
  return direct;
}

/** Applies (or reverts) migrations; returns the names of those it ran, in order. */
export async function migrate(
  direct: ConnectionSettings | undefined,
  options: MigrateOptions,
): Promise<string[]> {
  const connection = migrationConnection(direct);
  const lockTimeoutMs = milliseconds(options.lockTimeoutMs, 'lockTimeoutMs', 1, DEFAULT_LOCK_TIMEOUT_MS);
  const advisoryLockWaitMs = milliseconds(
    options.advisoryLockWaitMs,
    'advisoryLockWaitMs',
    0,
    DEFAULT_ADVISORY_LOCK_WAIT_MS,
  );
  const count = migrationCount(options.count);
  const service = await serviceFolder(options);
  const log = options.log ?? (() => {});
  let current: RunningMigration | undefined;
  const spans = new MigrationTrace(
    new Telemetry(options.telemetry ?? true, `${connection.database}.${connection.schema}`, false),
    connection,
    options.direction,
  );
  // node-pg-migrate announces each migration before running it; the name goes into a lock-timeout error.
  const watch = (message: string) => {
    const announced = /^### MIGRATION (.+) \((UP|DOWN)\) ###$/.exec(message);
    if (announced?.[1] !== undefined) {
      current = { name: announced[1], direction: announced[2] ?? '' };
      spans.announce(announced[1]);
    }
    log(message);
  };

  const runAll = async (): Promise<string[]> => {
    // With the pool's sslmode attempts; a connection that cannot be made is a ConnectionError.
    const client = await connectClient(connection, {
      onError: (error) => log(`migration connection lost: ${error.message}`),
    });
    spans.traceClient(client);
    let locked = false;
    try {
      await lockRun(client, connection.database, advisoryLockWaitMs, options.direction);
      locked = true;
      await client.query("SELECT pg_catalog.set_config('lock_timeout', $1, false)", [`${lockTimeoutMs}ms`]);
      await createSchema(client, connection.schema);
      // Read before anything runs: a folder that does not match its table changes nothing.
      const applied = service && (await appliedServiceMigrations(client, connection.schema, service));
      const run = async (folder: { dir: string; table: string }, limit: number | undefined) => {
        if (limit !== undefined && limit <= 0) return [];
        const ran = await runner({
          dbClient: client,
          // The run lock is taken above, with a bounded wait.
          noLock: true,
          dir: folder.dir,
          // The built package (dist/migrations) holds each migration's .d.ts and source maps beside its .js.
          ignorePattern: IGNORED_FILES,
          migrationsTable: folder.table,
          direction: options.direction,
          count: limit,
          // The application's schema before pg_catalog: current_schema() is the schema the migrations
          // qualify their names with, and an unqualified name reaches the application's table.
          schema: [connection.schema, 'pg_catalog'],
          migrationsSchema: connection.schema,
          // One transaction per migration, so a migration that needs none (CREATE INDEX CONCURRENTLY) can run.
          singleTransaction: false,
          checkOrder: true,
          logger: { debug: watch, info: watch, warn: watch, error: watch },
        });
        return ran.map((migration) => migration.name);
      };
      const own = { dir: MIGRATIONS_DIR, table: MIGRATIONS_TABLE };
      if (service === undefined || applied === undefined) return await run(own, count);
      // The package's first on the way up, the service's first on the way down; count spans both.
      const ran: string[] = [];
      const left = (limit: number | undefined) => (limit === undefined ? undefined : limit - ran.length);
      if (options.direction === 'up') {
        ran.push(...(await run(own, count)));
        if (applied.length < service.migrations.length) ran.push(...(await run(service, left(count))));
      } else {
        if (applied.length > 0) ran.push(...(await run(service, count ?? 1)));
        if (options.includePackage) ran.push(...(await run(own, left(count ?? 1))));
      }
      return ran;
    } catch (error) {
      // node-pg-migrate leaves a failed migration's transaction open (aborted) on the connection.
      await client.query('ROLLBACK').catch(() => undefined);
      if (errorCode(error) === SqlState.lockNotAvailable && !(error instanceof DatabaseError)) {
        throw await lockTimeoutError(client, connection.schema, current, lockTimeoutMs, error);
      }
      throw error;
    } finally {
      if (locked) {
        await client
          .query('SELECT pg_catalog.pg_advisory_unlock($1::bigint)', [String(MIGRATION_LOCK_KEY)])
          .catch(() => undefined);
      }
      await client.end().catch(() => undefined);
    }
  };
  try {
    const ran = await runAll();
    spans.finish();
    return ran;
  } catch (error) {
    spans.finish(error);
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------

/** A positive whole number, or Infinity (all); undefined leaves node-pg-migrate's default. */
function migrationCount(count: number | undefined): number | undefined {
  if (count === undefined || count === Number.POSITIVE_INFINITY) return count;
  if (!Number.isInteger(count) || count < 1) {
    // node-pg-migrate would read 0 as "all" for down.
    throw new ConfigError('count', `must be a whole number from 1, or Infinity for all, got ${count}`);
  }
  return count;
}

/** The service's folder and table when `dir` is given, checked; and the options only `dir` allows. */
async function serviceFolder(options: MigrateOptions): Promise<ServiceMigrations | undefined> {
  if (options.dir === undefined) {
    if (options.migrationsTable !== undefined) {
      throw new ConfigError('migrationsTable', "names the table of a service's own migrations: pass dir too");
    }
    if (options.includePackage) {
      throw new ConfigError(
        'includePackage',
        "is for down with a service's dir: down alone reverts the package's",
      );
    }
    return undefined;
  }
  if (options.includePackage && options.direction !== 'down') {
    throw new ConfigError('includePackage', "is for down: up always applies the package's migrations first");
  }
  return serviceMigrations(options.dir, options.migrationsTable, MIGRATIONS_DIR, MIGRATIONS_TABLE);
}

function milliseconds(value: number | undefined, setting: string, min: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > INT4_MAX) {
    throw new ConfigError(
      setting,
      `must be a whole number of milliseconds from ${min} to ${INT4_MAX}, got ${value}`,
    );
  }
  return value;
}

/**
 * Takes the database's migration lock, waiting at most `waitMs` for a run that holds it.
 *
 * It polls with pg_try_advisory_lock, sleeping in between on this side, rather than blocking in
 * pg_advisory_lock: a blocked pg_advisory_lock is a statement in progress, and the run holding the lock
 * may be building an index CONCURRENTLY, which waits for every transaction in progress to end. The two
 * would wait for each other (PostgreSQL reports a deadlock and cancels one of them).
 */
async function lockRun(
  client: pg.Client,
  database: string,
  waitMs: number,
  direction: 'up' | 'down',
): Promise<void> {
  const deadline = performance.now() + waitMs;
  for (let attempt = 0; ; attempt += 1) {
    const { rows } = await client.query<{ locked: boolean }>(
      'SELECT pg_catalog.pg_try_advisory_lock($1::bigint) AS locked',
      [String(MIGRATION_LOCK_KEY)],
    );
    if (rows[0]?.locked) return;
    const left = deadline - performance.now();
    if (left <= 0) throw await inProgressError(client, database, waitMs, direction);
    await sleep(Math.min(left, 50 * 2 ** Math.min(attempt, 4)));
  }
}

async function inProgressError(
  client: pg.Client,
  database: string,
  waitMs: number,
  direction: 'up' | 'down',
): Promise<MigrationInProgressError> {
  // A bigint advisory key is stored as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
  const { rows } = await client
    .query<{ pid: number; application: string | null; seconds: number | null }>(
      `SELECT l.pid, nullif(a.application_name, '') AS application,
              round(extract(epoch FROM now() - a.backend_start))::int AS seconds
         FROM pg_catalog.pg_locks l LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
          AND (l.classid::bigint << 32) + l.objid::bigint = $1::bigint
        LIMIT 1`,
      [String(MIGRATION_LOCK_KEY)],
    )
    .catch(() => ({ rows: [] }));
  const holder = rows[0];
  const who =
    holder === undefined
      ? ''
      : ` (pid ${holder.pid}${holder.application ? `, "${holder.application}"` : ''}` +
        `${holder.seconds === null ? '' : `, connected ${holder.seconds} s ago`})`;
  const waited = waitMs > 0 ? `waited ${waitMs} ms for it and ` : '';
  return new MigrationInProgressError(
    `another migration run holds the migration lock of database "${database}"${who}; ${waited}changed nothing. ` +
      `Run migrate ${direction} again when it has finished` +
      (direction === 'up' ? ' (it applies whatever is still pending), ' : ', ') +
      'or wait longer with --advisory-lock-wait=MS (advisoryLockWaitMs)',
    { holderPid: holder?.pid },
  );
}

/** Creates the application's schema when it is missing (without needing CREATE on the database otherwise). */
async function createSchema(client: pg.Client, schema: string): Promise<void> {
  const { rowCount } = await client.query('SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1', [
    schema,
  ]);
  if (!rowCount) await client.query(`CREATE SCHEMA IF NOT EXISTS ${client.escapeIdentifier(schema)}`);
}

interface RunningMigration {
  name: string;
  direction: string;
}

async function lockTimeoutError(
  client: pg.Client,
  schema: string,
  migration: RunningMigration | undefined,
  lockTimeoutMs: number,
  cause: unknown,
): Promise<MigrationLockTimeoutError> {
  // The holders still hold their locks: the tables of the schema other sessions have locked, oldest
  // transaction first (the wait itself is over, so which of them it was cannot be read any more).
  const { rows } = await client
    .query<{ table: string; pid: number; mode: string; seconds: number | null }>(
      `SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS table, l.pid, l.mode,
              round(extract(epoch FROM now() - a.xact_start)::numeric, 1)::float8 AS seconds
         FROM pg_catalog.pg_locks l
         JOIN pg_catalog.pg_class c ON c.oid = l.relation
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'relation' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
          AND n.nspname = $1 AND c.relkind IN ('r', 'p')
        ORDER BY a.xact_start NULLS LAST, l.pid, c.relname
        LIMIT 5`,
      [schema],
    )
    .catch(() => ({ rows: [] }));
  const holders: LockHolder[] = rows.map((row) => ({
    table: row.table,
    pid: row.pid,
    mode: row.mode,
    transactionSeconds: row.seconds ?? undefined,
  }));
  const tables = [...new Set(holders.map((holder) => holder.table))];
  const what = tables.length > 0 ? tables.join(', ') : 'a table this migration changes';
  const who = holders
    .map(
      (holder) =>
        `pid ${holder.pid} ${holder.mode} on ${holder.table}` +
        (holder.transactionSeconds === undefined
          ? ''
          : `, its transaction open ${holder.transactionSeconds} s`),
    )
    .join('; ');
  const stopped =
    migration === undefined
      ? `the migration run waited ${lockTimeoutMs} ms (lock_timeout) and stopped`
      : `migration ${migration.name} waited ${lockTimeoutMs} ms (lock_timeout) and stopped, ` +
        (migration.direction === 'DOWN' ? 'not reverted' : 'not applied');
  return new MigrationLockTimeoutError(
    `lock timeout: another transaction holds a lock on ${what}${who ? ` (${who})` : ''}; ${stopped}. ` +
      'Try again when it ends (or allow a longer wait with --lock-timeout=MS)',
    { migration: migration?.name, holders, lockTimeoutMs, cause },
  );
}
