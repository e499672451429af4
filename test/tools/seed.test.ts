/**
 * `npm run db:seed` and its library (scripts/lib/seed): counts, determinism, atomicity (a refused, a
 * failing and a killed seed leave nothing), the searchable words and their document frequencies, the
 * metadata, the configured schema, and the command line's arguments and summary.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CATEGORIES,
  HISTORY_END_MS,
  HISTORY_START_MS,
  type SeedOptions,
  SeedRefusedError,
  type SeedSummary,
  searchWords,
  seedDatabase,
  TAGS,
  wordWithFrequency,
} from '../../scripts/lib/seed/index.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { migrate } from '../../src/migrate/migrate.js';
import { tableCounts } from '../support/row-counts.js';
import { runScript } from '../support/run-script.js';
import {
  createEmptyDatabase,
  dropDatabase,
  uniqueDatabaseName,
  useTestDatabase,
} from '../support/test-database.js';

const testDb = useTestDatabase();
const USERS = 150;
const POSTS_PER_USER = 20;
const POSTS = USERS * POSTS_PER_USER;
let admin: pg.Client;
let db: Database;
let emptyDir: string;

beforeAll(async () => {
  admin = new pg.Client({ connectionString: testDb.url });
  await admin.connect();
  db = createDatabase(loadConfig(testDb.env()));
  // A working directory without .env: the command line sees only the environment it is given.
  emptyDir = await mkdtemp(join(tmpdir(), 'shared-db-seed-'));
});
afterAll(async () => {
  await admin.end();
  await db.disconnect();
  await rm(emptyDir, { recursive: true, force: true });
});

const seed = (options: Partial<SeedOptions> = {}) =>
  seedDatabase(testDb.url, { users: USERS, postsPerUser: POSTS_PER_USER, ...options });

/** One md5 over every column of every row of the three tables, in id order. */
async function digest(): Promise<string> {
  const { rows } = await admin.query(
    `SELECT md5(concat_ws('|',
       (SELECT string_agg(u::text, E'\\n' ORDER BY u.id) FROM public.pg_users u),
       (SELECT string_agg(p::text, E'\\n' ORDER BY p.id) FROM public.pg_posts p),
       (SELECT string_agg(r::text, E'\\n' ORDER BY r.id) FROM public.pg_roles r))) AS digest`,
  );
  return rows[0].digest;
}

const seedCli = (args: string[], env = testDb.env()) =>
  runScript(['scripts/seed.ts', ...args], { cwd: emptyDir, env });

describe('seedDatabase', () => {
  let summary: SeedSummary;
  let firstDigest: string;

  it('writes the asked-for users and posts, roles for everyone, and says so in its summary', async () => {
    summary = await seed();
    const rows = await tableCounts(testDb.url);
    expect(rows.users).toBe(USERS);
    expect(rows.posts).toBe(POSTS);
    // Everyone is a 'user'; some are also editors, moderators or admins.
    expect(rows.roles).toBeGreaterThan(USERS);
    const byTable = Object.fromEntries(summary.tables.map((table) => [table.table, table]));
    expect(byTable.pg_users?.rows).toBe(USERS);
    expect(byTable.pg_posts?.rows).toBe(POSTS);
    expect(byTable.pg_roles?.rows).toBe(rows.roles);
    expect(summary.rows).toBe(USERS + POSTS + rows.roles);
    expect(byTable.pg_posts?.indexBytes).toBeGreaterThan(0);
    expect(summary.rowsPerSecond).toBeGreaterThan(0);
    firstDigest = await digest();
  });

  it('leaves no GIN index with a pending list (searches would read through it)', async () => {
    // gin_clean_pending_list returns the pending pages it merged: none are left to merge.
    const { rows } = await admin.query<{ index: string; merged: number }>(
      `SELECT c.relname AS index, pg_catalog.gin_clean_pending_list(c.oid)::int AS merged
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_am am ON am.oid = c.relam
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE am.amname = 'gin' AND n.nspname = 'public' ORDER BY 1`,
    );
    expect(rows.map((row) => row.index)).toContain('pg_posts_search_vector_idx');
    expect(rows.filter((row) => row.merged > 0)).toEqual([]);
  });

  it('writes realistic rows: cuid-shaped ids, unique emails, spread timestamps, mostly published', async () => {
    const { rows } = await admin.query(`
      SELECT (SELECT bool_and(id ~ '^[a-z][a-z0-9]{23}$') FROM pg_users) AND
             (SELECT bool_and(id ~ '^[a-z][a-z0-9]{23}$') FROM pg_posts) AND
             (SELECT bool_and(id ~ '^[a-z][a-z0-9]{23}$') FROM pg_roles) AS ids,
             (SELECT count(DISTINCT lower(email)) FROM pg_users)::int AS emails,
             (SELECT bool_and(email ~ '^[a-z._0-9]+@example\\.(com|org|net)$') FROM pg_users) AS email_shape,
             (SELECT min(created_at) FROM pg_users) AS first_user,
             (SELECT max(created_at) FROM pg_posts) AS last_post,
             (SELECT avg(published::int) FROM pg_posts)::float AS published,
             (SELECT count(*) FROM pg_roles WHERE name = 'user')::int AS user_roles,
             (SELECT count(*) FROM pg_roles WHERE name <> 'user')::int AS other_roles,
             (SELECT count(*) FROM pg_users WHERE profile_image IS NOT NULL)::int AS images,
             (SELECT bool_and(updated_at >= created_at) FROM pg_posts) AS updated_after_created`);
    const row = rows[0];
    expect(row.ids).toBe(true);
    expect(row.emails).toBe(USERS);
    expect(row.email_shape).toBe(true);
    expect(row.first_user.getTime()).toBeGreaterThanOrEqual(HISTORY_START_MS);
    expect(row.last_post.getTime()).toBeLessThan(HISTORY_END_MS);
    expect(row.published).toBeGreaterThan(0.75);
    expect(row.published).toBeLessThan(0.85);
    expect(row.user_roles).toBe(USERS);
    expect(row.other_roles).toBeGreaterThan(0);
    expect(row.images).toBeGreaterThan(0);
    expect(row.updated_after_created).toBe(true);
  });

  it('soft-deletes users with their posts as users.softDelete does, and single posts', async () => {
    const { rows } = await admin.query(`
      SELECT (SELECT count(*) FROM pg_users WHERE deleted_at IS NOT NULL)::int AS users,
             (SELECT count(*) FROM pg_posts p JOIN pg_users u ON u.id = p."authorId"
               WHERE u.deleted_at IS NULL AND p.deleted_at IS NOT NULL)::int AS own_posts,
             (SELECT count(*) FROM pg_posts p JOIN pg_users u ON u.id = p."authorId"
               WHERE u.deleted_at IS NOT NULL AND (p.deleted_at IS NULL OR p.deleted_at > u.deleted_at))::int AS inconsistent`);
    expect(rows[0].users).toBeGreaterThan(0);
    expect(rows[0].own_posts).toBeGreaterThan(0);
    expect(rows[0].inconsistent).toBe(0);
    // The marker the layer relies on: restore brings back exactly the posts the user's deletion took.
    const deleted = await admin.query(`
      SELECT u.id, count(p.id) FILTER (WHERE p.deleted_at = u.deleted_at)::int AS taken
        FROM pg_users u JOIN pg_posts p ON p."authorId" = u.id
       WHERE u.deleted_at IS NOT NULL GROUP BY u.id ORDER BY u.id LIMIT 1`);
    const { id, taken } = deleted.rows[0];
    expect(taken).toBeGreaterThan(0);
    const visible = async () => (await db.posts.countByAuthor({ authorIds: [id] })).get(id) ?? 0;
    const before = await visible();
    await db.users.restore(id);
    expect(await visible()).toBe(before + taken);
    await db.users.softDelete(id);
  });

  it('gives byte-identical data for the same seed, and different data for another seed', async () => {
    await seed({ reset: true });
    expect(await digest()).toBe(firstDigest);
    await seed({ seed: 2, reset: true });
    expect(await digest()).not.toBe(firstDigest);
    const { rows } = await admin.query('SELECT count(*)::int AS n FROM pg_users');
    expect(rows[0].n).toBe(USERS);
    await seed({ reset: true });
    expect(await digest()).toBe(firstDigest);
  });

  it('refuses a database with rows unless reset, and changes nothing', async () => {
    const error = await seed({ seed: 3 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(SeedRefusedError);
    expect((error as SeedRefusedError).reason).toBe('not-empty');
    expect((error as Error).message).toMatch(/already has data \(pg_users: 150 rows.*--reset/);
    expect(await digest()).toBe(firstDigest);
  });

  it('refuses bad options with a ValidationError before connecting', async () => {
    for (const options of [
      { users: 0, postsPerUser: 1 },
      { users: 1.5, postsPerUser: 1 },
      { users: 10, postsPerUser: -1 },
      { users: 10, postsPerUser: 1, seed: 2 ** 32 },
      { users: 10, postsPerUser: 1, schema: 'no such; schema' },
    ]) {
      await expect(seedDatabase('postgresql://nobody@127.0.0.1:1/none', options)).rejects.toThrow(
        ValidationError,
      );
    }
    expect(await digest()).toBe(firstDigest);
  });

  it('refuses a database that is not migrated, naming npm run migrate up', async () => {
    const name = uniqueDatabaseName('shared_db_seed_unmigrated');
    const url = await createEmptyDatabase(testDb.adminUrl, name);
    try {
      const error = await seedDatabase(url, { users: 1, postsPerUser: 1 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(SeedRefusedError);
      expect((error as SeedRefusedError).reason).toBe('not-migrated');
      expect((error as Error).message).toContain('npm run migrate up');
    } finally {
      await dropDatabase(testDb.adminUrl, name);
    }
  });
});

describe('a seed that fails half-way', () => {
  beforeAll(async () => {
    await admin.query('TRUNCATE pg_users, pg_posts, pg_roles');
  });

  it('rolls back everything when a row is rejected in the middle of the posts', async () => {
    // A trigger that rejects the 1500th post: the users and roles are in by then, and half the posts.
    await admin.query(`
      CREATE SEQUENCE seed_test_posts;
      CREATE FUNCTION seed_test_reject() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('seed_test_posts') >= 1500 THEN RAISE EXCEPTION 'provoked failure at post 1500'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER seed_test_reject BEFORE INSERT ON pg_posts FOR EACH ROW EXECUTE FUNCTION seed_test_reject();`);
    try {
      let reported = 0;
      await expect(seed({ onProgress: (done) => (reported = done) })).rejects.toThrow(
        'provoked failure at post 1500',
      );
      expect(reported).toBeGreaterThan(USERS);
    } finally {
      await admin.query(`
        DROP TRIGGER seed_test_reject ON pg_posts;
        DROP FUNCTION seed_test_reject();
        DROP SEQUENCE seed_test_posts;`);
    }
    expect(await tableCounts(testDb.url)).toEqual({ users: 0, posts: 0, roles: 0 });
  });

  it('leaves nothing when its connection is killed during the load', async () => {
    const client = new pg.Client({ connectionString: testDb.url });
    client.on('error', () => undefined);
    await client.connect();
    const pid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    let killed: Promise<unknown> | undefined;
    const onProgress = (done: number, total: number) => {
      if (done > total / 2) killed ??= admin.query('SELECT pg_terminate_backend($1)', [pid]);
    };
    await expect(
      seedDatabase(client, { users: USERS, postsPerUser: POSTS_PER_USER * 5, onProgress }),
    ).rejects.toThrow();
    await killed;
    await client.end().catch(() => undefined);
    expect(killed).toBeDefined();
    expect(await tableCounts(testDb.url)).toEqual({ users: 0, posts: 0, roles: 0 });
  });

  it('leaves nothing when its progress callback throws', async () => {
    const onProgress = (done: number) => {
      if (done > USERS) throw new Error('callback failed');
    };
    await expect(seedDatabase(testDb.url, { users: USERS, postsPerUser: 5, onProgress })).rejects.toThrow(
      'callback failed',
    );
    expect(await tableCounts(testDb.url)).toEqual({ users: 0, posts: 0, roles: 0 });
  });
});

describe('what the seeded posts are good for', () => {
  beforeAll(async () => {
    await seed({ reset: true });
  });

  it('offers search words whose lexemes are exactly those PostgreSQL indexes', async () => {
    const words = searchWords();
    expect(words.length).toBeGreaterThan(2000);
    const { rows } = await admin.query<{ word: string; lexemes: string[] }>(
      `SELECT w AS word, tsvector_to_array(to_tsvector('english', w)) AS lexemes FROM unnest($1::text[]) w`,
      [words.map((word) => word.word)],
    );
    const mismatched = rows.filter((row, index) => row.lexemes.join() !== words[index]?.lexeme);
    expect(mismatched).toEqual([]);
  });

  it('finds the seeded words through posts.search, about as often as wordWithFrequency says', async () => {
    for (const target of [0.2, 0.05, 0.01]) {
      const { word, documentFraction } = wordWithFrequency(target);
      expect(Math.abs(Math.log(documentFraction / target))).toBeLessThan(0.2);
      const { rows } = await admin.query(
        `SELECT avg((to_tsvector('english', title || ' ' || COALESCE(content, '')) @@ plainto_tsquery('english', $1))::int)::float AS share
           FROM pg_posts`,
        [word],
      );
      // Four standard deviations of a share measured on POSTS posts.
      const tolerance = 4 * Math.sqrt((documentFraction * (1 - documentFraction)) / POSTS);
      expect(Math.abs(rows[0].share - documentFraction)).toBeLessThan(tolerance);
    }
    const { word } = wordWithFrequency(0.025);
    const page = await db.posts.search(word, { first: 5 });
    expect(page.items.length).toBeGreaterThanOrEqual(1);
    expect(page.items[0]?.snippet).toMatch(/<b>/);
    expect(wordWithFrequency(0.025)).toEqual(wordWithFrequency(0.025));
    expect(() => wordWithFrequency(0)).toThrow(ValidationError);
  });

  it('writes metadata that the metadata filters find, with skewed categories and tags', async () => {
    const byCategory = await db.posts.findByMetadata({ category: CATEGORIES[0] }, { first: 100 });
    expect(byCategory.items.length).toBeGreaterThan(0);
    expect(byCategory.items.every((post) => post.metadata.category === CATEGORIES[0])).toBe(true);
    const byTag = await db.posts.findByMetadata({ tags: { any: [TAGS[0], TAGS[1]] } }, { first: 100 });
    expect(byTag.items.length).toBeGreaterThan(0);
    const { rows } = await admin.query(
      `SELECT count(*) FILTER (WHERE metadata->>'category' = $1)::int AS first,
              count(*) FILTER (WHERE metadata->>'category' = $2)::int AS last,
              count(*) FILTER (WHERE metadata->'tags' ? $3)::int AS first_tag,
              count(*) FILTER (WHERE metadata->'tags' ? $4)::int AS last_tag,
              count(*) FILTER (WHERE jsonb_typeof(metadata->'readingMinutes') = 'number')::int AS timed
         FROM pg_posts`,
      [CATEGORIES[0], CATEGORIES.at(-1), TAGS[0], TAGS.at(-1)],
    );
    expect(rows[0].first).toBeGreaterThan(rows[0].last * 3);
    expect(rows[0].first_tag).toBeGreaterThan(rows[0].last_tag * 5);
    expect(rows[0].timed).toBeGreaterThan(POSTS * 0.9);
  });

  it('writes into the schema of the connection (?schema=), nowhere else', async () => {
    const before = await digest();
    const url = `${testDb.url}?schema=seed_tenant`;
    await migrate(parseConnectionUrl(url, 'test'), { direction: 'up' });
    const summary = await seedDatabase(url, { users: 20, postsPerUser: 3 });
    expect(summary.schema).toBe('seed_tenant');
    expect(await tableCounts(testDb.url, 'seed_tenant')).toMatchObject({ users: 20, posts: 60 });
    expect(await digest()).toBe(before);
  });
});

describe('npm run db:seed', () => {
  it('refuses bad arguments with exit code 2 and the usage, writing nothing', async () => {
    await admin.query('TRUNCATE pg_users, pg_posts, pg_roles');
    const cases: [string[], RegExp][] = [
      [[], /--users is required/],
      [['--users', 'ten'], /--users: "ten" is not a whole number/],
      [['--users=-5'], /--users: "-5" is not a whole number/],
      [['--users', '10', '--posts-per-user', '2.5'], /--posts-per-user: "2.5" is not a whole number/],
      [['--users', '0'], /users: must be at least 1/],
      [['--users', '10', '--user', '3'], /Unknown option '--user'/],
      [['--users', '10', 'extra'], /Unexpected argument 'extra'/],
    ];
    const runs = await Promise.all(cases.map(([args]) => seedCli(args)));
    runs.forEach((run, index) => {
      expect(run.code, run.output).toBe(2);
      expect(run.output).toMatch(cases[index]?.[1] as RegExp);
      expect(run.output).toContain('usage: npm run db:seed -- --users N');
    });
    expect(await tableCounts(testDb.url)).toEqual({ users: 0, posts: 0, roles: 0 });
  });

  it('seeds the configured database and prints the summary', async () => {
    const run = await seedCli(['--users', '40', '--posts-per-user', '5', '--seed', '7']);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/pg_users\s+40\s/);
    expect(run.output).toMatch(/pg_posts\s+200\s/);
    expect(run.output).toContain('rows/s');
    // Not a terminal: a progress line per tenth instead of a bar.
    expect(run.output).toContain('100% (240 of 240 users+posts)');
    expect(await tableCounts(testDb.url)).toMatchObject({ users: 40, posts: 200 });
  });

  it('refuses the now non-empty database without --reset (exit 1), and reseeds with it', async () => {
    const refused = await seedCli(['--users', '10']);
    expect(refused.code).toBe(1);
    expect(refused.output).toContain('already has data');
    expect(await tableCounts(testDb.url)).toMatchObject({ users: 40, posts: 200 });
    const reset = await seedCli(['--users', '10', '--posts-per-user', '1', '--reset']);
    expect(reset.code, reset.output).toBe(0);
    expect(await tableCounts(testDb.url)).toMatchObject({ users: 10, posts: 10 });
  });
});
