/**
 * The seed: one transaction that checks the target, empties it (when asked), loads the users with their
 * roles and posts through `users.createMany` (COPY, a chunk at a time), and commits; then VACUUM ANALYZE
 * (which cannot run in a transaction) and a summary read back from the database. Anything that fails
 * before COMMIT, a constraint, a dropped connection, an exception in a callback, rolls the whole seed back.
 */
import type { Kysely } from 'kysely';
import type pg from 'pg';
import type { DB } from '../../../db-types/index.js';
import { parseConnectionUrl } from '../../../src/config/connection-url.js';
import type { ConnectionSettings } from '../../../src/config/settings.js';
import { connectClient } from '../../../src/pool/connect.js';
import { usersRepository } from '../../../src/repositories/users.js';
import { kyselyOverClient } from './client-repositories.js';
import { type SeedOptions, type ValidSeedOptions, validateSeedOptions } from './options.js';
import { ProgressCounter, seededUserRows } from './seeded-rows.js';
import { readTableSummaries, type SeedSummary } from './summary.js';
import { assertMigrated, claimEmptyTables, qualified, SEEDED_TABLES } from './target.js';

/** A connected pg client (not inside a transaction), a `ConnectionSettings`, or a postgres:// URL. */
export type SeedTarget = pg.ClientBase | ConnectionSettings | string;

async function load(
  client: pg.ClientBase,
  trx: Kysely<DB>,
  schema: string,
  options: ValidSeedOptions,
): Promise<void> {
  const { seed, users, postsPerUser, onPhase } = options;
  const progress = new ProgressCounter(users + users * postsPerUser, options.onProgress);
  await assertMigrated(client, schema);
  await claimEmptyTables(client, schema, options.reset);
  onPhase?.('users');
  const loaded = await usersRepository(trx).createMany(seededUserRows(seed, users, postsPerUser, progress));
  // The server's own count: a mismatch would be a bug here, and must not commit.
  if (loaded.users !== users || loaded.posts !== users * postsPerUser) {
    throw new Error(
      `COPY wrote ${loaded.users} users and ${loaded.posts} posts, expected ${users} and ${users * postsPerUser}`,
    );
  }
}

async function seedOver(
  client: pg.ClientBase,
  schema: string,
  options: ValidSeedOptions,
): Promise<SeedSummary> {
  const started = performance.now();
  // The layer's transaction on the seed's client: rolled back when anything in it throws (a connection
  // that is gone has rolled back already), and the first error is the one reported.
  await kyselyOverClient(client, schema)
    .transaction()
    .setIsolationLevel('read committed')
    .execute(async (trx) => {
      await load(client, trx, schema, options);
      options.onPhase?.('commit');
    });
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
