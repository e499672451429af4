/**
 * Makes sure the seed may write: the schema is migrated, and the three tables are empty (or `reset`
 * empties them). Runs inside the seed's transaction, which then holds the tables locked until it ends.
 */
import { readdir } from 'node:fs/promises';
import { extname } from 'node:path';
import type pg from 'pg';
import { MIGRATIONS_DIR, MIGRATIONS_TABLE } from '../../../src/migrate/migrate.js';
import { SeedRefusedError } from './errors.js';

export const SEEDED_TABLES = ['pg_users', 'pg_posts', 'pg_roles'] as const;
export type SeededTable = (typeof SEEDED_TABLES)[number];

/** How long the seed waits for a session that uses the tables (the application, psql) before giving up. */
const LOCK_TIMEOUT = '10s';

export const qualified = (client: pg.ClientBase, schema: string, name: string) =>
  `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(name)}`;

async function localMigrations(): Promise<string[]> {
  const files = await readdir(MIGRATIONS_DIR);
  return files
    .filter((file) => ['.ts', '.js'].includes(extname(file)))
    .map((file) => file.slice(0, -extname(file).length))
    .sort();
}

/** Refuses a schema where a migration of migrations/ has not run (or no migration at all). */
export async function assertMigrated(client: pg.ClientBase, schema: string): Promise<void> {
  const hint = `run \`npm run migrate up\` on it first`;
  const { rows } = await client.query<{ exists: boolean }>(
    "SELECT pg_catalog.to_regclass(pg_catalog.format('%I.%I', $1::text, $2::text)) IS NOT NULL AS exists",
    [schema, MIGRATIONS_TABLE],
  );
  if (!rows[0]?.exists) {
    throw new SeedRefusedError('not-migrated', `schema "${schema}" has never been migrated: ${hint}`);
  }
  const applied = await client.query<{ name: string }>(
    `SELECT name FROM ${qualified(client, schema, MIGRATIONS_TABLE)}`,
  );
  const done = new Set(applied.rows.map((row) => row.name));
  const pending = (await localMigrations()).filter((name) => !done.has(name));
  if (pending.length > 0) {
    throw new SeedRefusedError(
      'not-migrated',
      `schema "${schema}" has ${pending.length} pending migration(s) (${pending.join(', ')}): ${hint}`,
    );
  }
}

/**
 * Locks the three tables against every other session, then refuses rows (unless `reset`) and
 * truncates: an empty table that was truncated in this transaction lets COPY write frozen rows.
 */
export async function claimEmptyTables(client: pg.ClientBase, schema: string, reset: boolean): Promise<void> {
  const tables = SEEDED_TABLES.map((table) => qualified(client, schema, table)).join(', ');
  await client.query("SELECT pg_catalog.set_config('lock_timeout', $1, true)", [LOCK_TIMEOUT]);
  await client.query(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE`);
  if (!reset) {
    const counts = SEEDED_TABLES.map(
      (table) => `(SELECT count(*) FROM ${qualified(client, schema, table)})::int AS ${table}`,
    );
    const { rows } = await client.query<Record<SeededTable, number>>(`SELECT ${counts.join(', ')}`);
    const found = SEEDED_TABLES.filter((table) => (rows[0]?.[table] ?? 0) > 0);
    if (found.length > 0) {
      const listed = found.map((table) => `${table}: ${rows[0]?.[table]} rows`).join(', ');
      throw new SeedRefusedError(
        'not-empty',
        `schema "${schema}" already has data (${listed}): seeding adds to empty tables only; ` +
          'pass --reset (reset: true) to empty them first',
      );
    }
  }
  await client.query(`TRUNCATE ${tables}`);
}
