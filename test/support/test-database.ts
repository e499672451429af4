/**
 * Gives a test file its own database, cloned from the migrated template, so files run in parallel
 * without sharing state. Call `useTestDatabase()` at the top of a file.
 *
 * Under TEST_THROUGH_PGBOUNCER=1 (see global-setup.ts) `env()` sends the pooled connection through
 * PgBouncer in transaction mode, as production does; the direct one still goes to the server. With
 * TEST_PGBOUNCER_PREPARED=1 too, that PgBouncer tracks named prepared statements, and `env()` turns them
 * on (DATABASE_PREPARED_STATEMENTS=true), which a pgbouncer=true URL otherwise turns off.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, inject } from 'vitest';
import type { Environment } from '../../src/config/settings.js';
import { databaseUrl } from './database-url.js';

export interface TestDatabase {
  readonly name: string;
  /** Superuser URL of this file's database. */
  readonly url: string;
  /**
   * An environment that configures the layer for this database, as a user's `.env` would. Through
   * PgBouncer, POSTGRES_PRISMA_URL is PgBouncer's URL with `?pgbouncer=true`; POSTGRES_URL_NON_POOLING
   * is always `url`, the server itself.
   */
  env(extra?: Environment): Environment;
  /** Whether `env()`'s pooled connection goes through PgBouncer (TEST_THROUGH_PGBOUNCER=1). */
  readonly throughPgBouncer: boolean;
  /**
   * Whether that PgBouncer tracks named prepared statements and `env()` sets
   * DATABASE_PREPARED_STATEMENTS=true (TEST_PGBOUNCER_PREPARED=1).
   */
  readonly preparedStatementsThroughPgBouncer: boolean;
  /** A superuser connection to the server's maintenance database. */
  readonly adminUrl: string;
}

/** Creates a database from `template`, with the template's per-database settings (search_path). */
export async function cloneDatabase(adminUrl: string, template: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(
      `CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(template)}`,
    );
    // CREATE DATABASE does not copy ALTER DATABASE … SET defaults; copy them through the session so
    // every value stays a parameter: set_config, then SET … FROM CURRENT.
    const { rows } = await admin.query<{ setting: string }>(
      `SELECT unnest(s.setconfig) AS setting
         FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
        WHERE d.datname = $1 AND s.setrole = 0`,
      [template],
    );
    for (const { setting } of rows) {
      const at = setting.indexOf('=');
      const key = setting.slice(0, at);
      await admin.query('SELECT pg_catalog.set_config($1, $2, false)', [key, setting.slice(at + 1)]);
      await admin.query(
        `ALTER DATABASE ${admin.escapeIdentifier(name)} SET ${admin.escapeIdentifier(key)} FROM CURRENT`,
      );
    }
  } finally {
    await admin.end();
  }
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${admin.escapeIdentifier(name)} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** `database` through the PgBouncer at `pgbouncerUrl`, marked `?pgbouncer=true` for the layer. */
export function pgbouncerDatabaseUrl(pgbouncerUrl: string, database: string): string {
  return `${databaseUrl(pgbouncerUrl, database)}?pgbouncer=true`;
}

export function uniqueDatabaseName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export function useTestDatabase(): TestDatabase {
  const adminUrl = inject('adminUrl');
  const name = uniqueDatabaseName('shared_db_test');
  const url = databaseUrl(adminUrl, name);
  const pgbouncerUrl = inject('pgbouncerUrl');
  const pooledUrl = pgbouncerUrl === undefined ? url : pgbouncerDatabaseUrl(pgbouncerUrl, name);
  const prepared = (inject('pgbouncerMaxPreparedStatements') ?? 0) > 0;
  beforeAll(() => cloneDatabase(adminUrl, inject('templateDatabase'), name));
  afterAll(() => dropDatabase(adminUrl, name));
  return {
    name,
    url,
    adminUrl,
    throughPgBouncer: pgbouncerUrl !== undefined,
    preparedStatementsThroughPgBouncer: prepared,
    env: (extra = {}) => ({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: pooledUrl,
      POSTGRES_URL_NON_POOLING: url,
      ...(prepared ? { DATABASE_PREPARED_STATEMENTS: 'true' } : {}),
      ...extra,
    }),
  };
}

/** An empty database (no migrations), dropped by the caller with `dropDatabase`. */
export async function createEmptyDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  return databaseUrl(adminUrl, name);
}

/**
 * Empty databases (no migrations) for a file's migration tests: call at the top of the file; each call
 * of the function it returns creates one named `<prefix>_…` and gives its URL. All are dropped after
 * the file.
 */
export function useEmptyDatabases(prefix: string): () => Promise<string> {
  const adminUrl = inject('adminUrl');
  const created: string[] = [];
  afterAll(async () => {
    for (const name of created) await dropDatabase(adminUrl, name);
  });
  return () => {
    const name = uniqueDatabaseName(prefix);
    created.push(name);
    return createEmptyDatabase(adminUrl, name);
  };
}
