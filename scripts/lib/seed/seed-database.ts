/**
 * The seed: one transaction that checks the target, empties it (when asked), COPYs the users, their
 * roles and their posts, and commits; then VACUUM ANALYZE (which cannot run in a transaction) and a
 * summary read back from the database. Anything that fails before COMMIT, a constraint, a dropped
 * connection, an exception in a callback, rolls the whole seed back.
 */
import type pg from 'pg';
import { parseConnectionUrl } from '../../../src/config/connection-url.js';
import type { ConnectionSettings } from '../../../src/config/settings.js';
import { connectClient } from '../../../src/pool/connect.js';
import { copyLines } from './copy-writer.js';
import { type SeedOptions, type ValidSeedOptions, validateSeedOptions } from './options.js';
import { readTableSummaries, type SeedSummary } from './summary.js';
import {
  POST_COLUMNS,
  ProgressCounter,
  postLines,
  ROLE_COLUMNS,
  roleLines,
  USER_COLUMNS,
  userLines,
} from './table-lines.js';
import { assertMigrated, claimEmptyTables, qualified, SEEDED_TABLES, type SeededTable } from './target.js';

/** A connected pg client (not inside a transaction), a `ConnectionSettings`, or a postgres:// URL. */
export type SeedTarget = pg.ClientBase | ConnectionSettings | string;

async function load(client: pg.ClientBase, schema: string, options: ValidSeedOptions): Promise<void> {
  const { seed, users, postsPerUser, onPhase } = options;
  const progress = new ProgressCounter(users + users * postsPerUser, options.onProgress);
  const copy = (table: SeededTable, columns: readonly string[], lines: Iterable<string>) =>
    copyLines(client, qualified(client, schema, table), columns, lines);

  await assertMigrated(client, schema);
  await claimEmptyTables(client, schema, options.reset);
  onPhase?.('users');
  const userCount = await copy('pg_users', USER_COLUMNS, userLines(seed, users, progress));
  onPhase?.('roles');
  await copy('pg_roles', ROLE_COLUMNS, roleLines(seed, users));
  onPhase?.('posts');
  const postCount = await copy('pg_posts', POST_COLUMNS, postLines(seed, users, postsPerUser, progress));
  // The server's own count: a mismatch would be a bug here, and must not commit.
  if (userCount !== users || postCount !== users * postsPerUser) {
    throw new Error(
      `COPY wrote ${userCount} users and ${postCount} posts, expected ${users} and ${users * postsPerUser}`,
    );
  }
}

async function seedOver(
  client: pg.ClientBase,
  schema: string,
  options: ValidSeedOptions,
): Promise<SeedSummary> {
  const started = performance.now();
  await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
  try {
    await load(client, schema, options);
    options.onPhase?.('commit');
    await client.query('COMMIT');
  } catch (error) {
    // A connection that is gone has rolled back already; the first error is the one to report.
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  const loaded = performance.now();
  if (options.vacuum) {
    options.onPhase?.('vacuum');
    const tables = SEEDED_TABLES.map((table) => qualified(client, schema, table));
    await client.query(`VACUUM (ANALYZE) ${tables.join(', ')}`);
  }
  const vacuumed = performance.now();
  options.onPhase?.('summary');
  const tables = await readTableSummaries(client, schema);
  const rows = tables.reduce((total, table) => total + table.rows, 0);
  const loadMs = loaded - started;
  return {
    schema,
    seed: options.seed,
    users: options.users,
    postsPerUser: options.postsPerUser,
    tables,
    rows,
    loadMs,
    vacuumMs: vacuumed - loaded,
    elapsedMs: performance.now() - started,
    rowsPerSecond: rows / (loadMs / 1000),
  };
}

const isClient = (target: SeedTarget): target is pg.ClientBase =>
  typeof target === 'object' && typeof (target as pg.ClientBase).query === 'function';

/**
 * Seeds `target` (see index.ts for the whole contract). A client is used as it is and left open; for
 * a connection or URL the seed opens its own client and closes it.
 */
export async function seedDatabase(target: SeedTarget, options: SeedOptions): Promise<SeedSummary> {
  const valid = validateSeedOptions(options);
  if (isClient(target)) return seedOver(target, valid.schema ?? 'public', valid);
  const settings = typeof target === 'string' ? parseConnectionUrl(target, 'seed target') : target;
  // A connection the server drops makes the running query fail (connectClient listens for its 'error').
  const client = await connectClient(settings);
  try {
    return await seedOver(client, valid.schema ?? settings.schema, valid);
  } finally {
    await client.end().catch(() => undefined);
  }
}
