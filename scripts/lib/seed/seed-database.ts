/**
 * The seed: one transaction that checks the target, empties it (when asked), COPYs the users, their
 * roles and their posts, and commits; then VACUUM ANALYZE (which cannot run in a transaction) and a
 * summary read back from the database. Anything that fails before COMMIT, a constraint, a dropped
 * connection, an exception in a callback, rolls the whole seed back.
 */
import type pg from 'pg';
import { type ConnectionSettings, parseConnectionUrl, toPgClientConfig } from '../../../src/config.js';
import { connectWithSslMode, sslAttempts } from '../../../src/ssl.js';
import { copyLine } from './copy-text.js';
import { copyLines } from './copy-writer.js';
import {
  type SeedOptions,
  type SeedProgress,
  type ValidSeedOptions,
  validateSeedOptions,
} from './options.js';
import { seededPosts } from './posts.js';
import { seededRoles } from './roles.js';
import { readTableSummaries, type SeedSummary } from './summary.js';
import { assertMigrated, claimEmptyTables, qualified } from './target.js';
import { timestamp } from './timeline.js';
import { EmailBook, seededUser } from './users.js';

/** A connected pg client (not inside a transaction), a connection from config.ts, or a postgres:// URL. */
export type SeedTarget = pg.ClientBase | ConnectionSettings | string;

/** Calls onProgress at most every this many rows (and at every thousandth of the total, and at the end). */
const PROGRESS_EVERY = 5_000;

class ProgressCounter {
  private done = 0;
  private reported = 0;
  private readonly every: number;

  constructor(
    private readonly total: number,
    private readonly report: SeedProgress | undefined,
  ) {
    this.every = Math.max(1, Math.min(PROGRESS_EVERY, Math.floor(total / 1000)));
  }

  add(rows: number): void {
    this.done += rows;
    if (this.done - this.reported >= this.every || this.done === this.total) {
      this.reported = this.done;
      this.report?.(this.done, this.total);
    }
  }
}

function* userLines(seed: number, users: number, progress: ProgressCounter): Generator<string> {
  const emails = new EmailBook();
  for (let index = 0; index < users; index += 1) {
    const user = seededUser(seed, index);
    yield copyLine([
      user.id,
      emails.emailOf(user),
      user.name,
      user.profileImage,
      timestamp(user.createdAt),
      timestamp(user.updatedAt),
      user.deletedAt === null ? null : timestamp(user.deletedAt),
    ]);
    progress.add(1);
  }
}

function* roleLines(seed: number, users: number): Generator<string> {
  for (let index = 0; index < users; index += 1) {
    for (const role of seededRoles(seed, seededUser(seed, index))) {
      yield copyLine([role.id, role.name, role.description, role.userId, timestamp(role.createdAt)]);
    }
  }
}

function* postLines(seed: number, users: number, perUser: number, progress: ProgressCounter) {
  for (let index = 0; index < users; index += 1) {
    for (const post of seededPosts(seed, seededUser(seed, index), perUser)) {
      yield copyLine([
        post.id,
        post.title,
        post.content,
        post.published ? 't' : 'f',
        post.authorId,
        post.metadata,
        timestamp(post.createdAt),
        timestamp(post.updatedAt),
        post.deletedAt === null ? null : timestamp(post.deletedAt),
      ]);
      progress.add(1);
    }
  }
}

async function load(client: pg.ClientBase, schema: string, options: ValidSeedOptions): Promise<void> {
  const { seed, users, postsPerUser, onPhase } = options;
  const progress = new ProgressCounter(users + users * postsPerUser, options.onProgress);
  const table = (name: string) => qualified(client, schema, name);
  const expect = (what: string, copied: number, expected: number) => {
    if (copied !== expected) throw new Error(`COPY wrote ${copied} ${what}, expected ${expected}`);
  };

  await assertMigrated(client, schema);
  await claimEmptyTables(client, schema, options.reset);
  onPhase?.('users');
  const userColumns = ['id', 'email', 'name', 'profile_image', 'created_at', 'updated_at', 'deleted_at'];
  expect(
    'users',
    await copyLines(client, table('pg_users'), userColumns, userLines(seed, users, progress)),
    users,
  );
  onPhase?.('roles');
  await copyLines(
    client,
    table('pg_roles'),
    ['id', 'name', 'description', 'userId', 'created_at'],
    roleLines(seed, users),
  );
  onPhase?.('posts');
  const postColumns = [
    'id',
    'title',
    'content',
    'published',
    'authorId',
    'metadata',
    'created_at',
    'updated_at',
    'deleted_at',
  ];
  const posts = await copyLines(
    client,
    table('pg_posts'),
    postColumns,
    postLines(seed, users, postsPerUser, progress),
  );
  expect('posts', posts, users * postsPerUser);
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
    const tables = ['pg_users', 'pg_posts', 'pg_roles'].map((table) => qualified(client, schema, table));
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
  const client = await connectWithSslMode(
    toPgClientConfig(settings),
    sslAttempts(settings.ssl, settings.host),
  );
  // A connection the server drops makes the running query fail; without a listener it would also
  // crash the process.
  client.on('error', () => undefined);
  try {
    return await seedOver(client, valid.schema ?? settings.schema, valid);
  } finally {
    await client.end().catch(() => undefined);
  }
}
