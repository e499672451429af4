/**
 * Client CPU per call of seven repository operations (a user by id with relations, a nested create, a
 * soft delete + restore, the posts pages with authors, first and deep, posts by metadata, a page of
 * users), the layer against the very statement it sends written by hand and sent with `pg` as a named
 * prepared statement (`pool.query({ name, text, values })`).
 * Measured by the process's own CPU accounting (process.cpuUsage, user + system) over a fixed number of
 * calls, so a busy machine lengthens the wall time but hardly the figure; the variants alternate round by
 * round and the median round counts; a second line gives the main thread's share alone (without V8's and
 * libuv's other threads). `--variant layer --only …` runs one side alone, for `node --cpu-prof` or
 * `valgrind --tool=callgrind`.
 *
 *   taskset -c 0 node --import tsx scripts/profile-client.ts [--url postgres://…/postgres] [--calls 2000]
 *     [--rounds 7] [--concurrency 10] [--posts 20000] [--only TEXT] [--variant layer|raw] [--drop]
 *   valgrind --tool=callgrind --instr-atstart=no --smc-check=all-non-file node --import tsx \
 *     scripts/profile-client.ts --callgrind --rounds 1 --warmup 3000 --calls 500 --variant layer --only 'user by id'
 *
 * The database (`cpu_profile` on the server `--url` names) is created, migrated and seeded on first use and
 * kept for the next run; `--drop` drops it at the end. Runs at the same time on one database each take a
 * `--slot` of their own (0, 1, …): their soft deletes then touch posts of their own.
 */
import { execFileSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createId } from '@paralleldrive/cuid2';
import type pg from 'pg';
import { type Fixtures, pickFixtures } from '../bench/fixtures.js';
import * as hand from '../bench/hand-written-sql.js';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { loadConfig } from '../src/config/load-config.js';
import { createDatabase, type Database } from '../src/database/database.js';
import { migrate } from '../src/migrate/migrate.js';
import { connectClient, createPgPool } from '../src/pool/connect.js';
import { seedDatabase } from './lib/seed/index.js';
import { mainThreadMicros } from './lib/thread-cpu.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    database: { type: 'string', default: 'cpu_profile' },
    posts: { type: 'string', default: '20000' },
    calls: { type: 'string', default: '2000' },
    warmup: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '7' },
    concurrency: { type: 'string', default: '10' },
    only: { type: 'string' },
    variant: { type: 'string' },
    drop: { type: 'boolean', default: false },
    callgrind: { type: 'boolean', default: false },
    slot: { type: 'string', default: '0' },
  },
});

const POSTS_PER_USER = 20;
const POOL_SIZE = 10;
const CALLS = Number(args.calls);
const ROUNDS = Number(args.rounds);
const CONCURRENCY = Number(args.concurrency);

function databaseUrl(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Creates, migrates and seeds the database unless an earlier run did. */
async function prepareDatabase(adminUrl: string, name: string, posts: number): Promise<string> {
  const admin = await connectClient(parseConnectionUrl(adminUrl, '--url'));
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount) return databaseUrl(adminUrl, name);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(adminUrl, name);
  await migrate(parseConnectionUrl(url, '--url'), { direction: 'up' });
  const users = Math.max(1, Math.round(posts / POSTS_PER_USER));
  console.log(`seeding ${users} users, ${posts} posts`);
  await seedDatabase(url, { users, postsPerUser: POSTS_PER_USER, seed: 1 });
  return url;
}

async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  const admin = await connectClient(parseConnectionUrl(adminUrl, '--url'));
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => admin.end());
}

interface Operation {
  name: string;
  /** Call i of the layer, and of the hand-written named statement. */
  layer(i: number): Promise<unknown>;
  raw(i: number): Promise<unknown>;
}

function operations(
  db: Database,
  pool: pg.Pool,
  userIds: string[],
  postIds: string[][],
  run: string,
  fixtures: Fixtures,
) {
  const { deep, category, tag } = fixtures;
  let created = 0;
  const pick = <T>(items: readonly T[], i: number) => items[(i * 7919) % items.length] as T;
  const post = {
    title: 'A first post',
    content: 'Hello from the benchmark',
    metadata: { category: 'tutorial' },
  };
  const list: Operation[] = [
    {
      name: 'user by id with posts and roles',
      layer: (i) => db.users.getById(pick(userIds, i), { include: { posts: true, roles: true } }),
      raw: (i) =>
        pool.query({ name: 'p_user_by_id', text: hand.USER_WITH_RELATIONS, values: [pick(userIds, i), 1] }),
    },
    {
      name: 'nested create (user + post + role)',
      layer: () =>
        db.users.create({
          email: `layer-${run}-${created++}@example.com`,
          name: 'Bench',
          posts: [post],
          roles: [{ name: 'author' }],
        }),
      raw: () => {
        const user = createId();
        return pool.query({
          name: 'p_create_user',
          text: hand.CREATE_USER_WITH_POST_AND_ROLE,
          values: [
            user,
            `raw-${run}-${created++}@example.com`,
            'Bench',
            null,
            createId(),
            post.title,
            post.content,
            false,
            user,
            JSON.stringify(post.metadata),
            createId(),
            'author',
            null,
            user,
          ],
        });
      },
    },
    {
      name: 'post soft delete + restore',
      // Each concurrent worker has posts of its own (i % CONCURRENCY is the worker), so no two touch a row.
      layer: async (i) => {
        const id = pick(postIds[i % CONCURRENCY] ?? [], Math.floor(i / CONCURRENCY));
        await db.posts.softDelete(id);
        await db.posts.restore(id);
      },
      raw: async (i) => {
        const id = pick(postIds[i % CONCURRENCY] ?? [], Math.floor(i / CONCURRENCY));
        await pool.query({ name: 'p_soft_delete', text: hand.SOFT_DELETE_POST, values: [id] });
        await pool.query({ name: 'p_restore', text: hand.RESTORE_POST, values: [null, id] });
      },
    },
    {
      name: 'posts page with authors',
      layer: () => db.posts.findMany({ include: { author: true }, first: 20 }),
      raw: () => pool.query({ name: 'p_posts_page', text: hand.POSTS_FIRST_PAGE, values: [21] }),
    },
    {
      name: 'posts page deep in the table',
      layer: () => db.posts.findMany({ include: { author: true }, first: 20, after: deep.cursor }),
      raw: () =>
        pool.query({
          name: 'p_posts_after',
          text: hand.POSTS_PAGE_AFTER,
          values: [deep.createdAt, deep.id, 21],
        }),
    },
    {
      name: 'posts by metadata',
      layer: () => db.posts.findByMetadata({ category, tags: { any: [tag] } }, { first: 20 }),
      raw: () =>
        pool.query({
          name: 'p_posts_metadata',
          text: hand.POSTS_BY_METADATA,
          values: [JSON.stringify({ category }), JSON.stringify({ tags: [tag] }), 21],
        }),
    },
    {
      name: 'page of users',
      layer: () => db.users.findMany({ first: 20 }),
      // Its text is the layer's own, captured below: the same statement, sent by hand.
      raw: () => pool.query({ name: 'p_users_page', text: usersPageSql, values: [21] }),
    },
  ];
  let usersPageSql = '';
  return {
    list,
    async capture() {
      const seen: string[] = [];
      const listener = (event: { sql: string }) => seen.push(event.sql);
      db.on('query', listener);
      await db.users.findMany({ first: 20 });
      db.off('query', listener);
      usersPageSql = seen[0] ?? '';
      if (!usersPageSql) throw new Error('the page of users sent no statement');
    },
  };
}

/**
 * Under `valgrind --tool=callgrind --instr-atstart=no`, `--callgrind` turns instrumentation on for the
 * measured calls alone: their instruction count, with start-up and warm-up left out.
 */
function callgrind(state: 'on' | 'off'): void {
  if (args.callgrind)
    execFileSync('callgrind_control', ['-i', state, String(process.pid)], { stdio: 'ignore' });
}

/** CPU µs per call of `calls` calls of `fn`, `CONCURRENCY` at a time: the process's and the main thread's. */
async function cpuPerCall(
  fn: (i: number) => Promise<unknown>,
  calls: number,
  offset: number,
  measured = true,
) {
  let next = 0;
  const worker = async () => {
    while (next < calls) {
      const i = offset + next++;
      await fn(i);
    }
  };
  if (measured) callgrind('on');
  const before = process.cpuUsage();
  const mainBefore = mainThreadMicros();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(before);
  const main = mainThreadMicros() - mainBefore;
  if (measured) callgrind('off');
  return { process: (used.user + used.system) / calls, main: main / calls };
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};

async function main() {
  const url = await prepareDatabase(args.url, args.database, Number(args.posts));
  const config = loadConfig({
    ENABLE_POSTGRES: 'true',
    POSTGRES_PRISMA_URL: url,
    POSTGRES_URL_NON_POOLING: url,
    POSTGRES_POOL_MAX: String(POOL_SIZE),
    DATABASE_LOG_LEVEL: 'error',
  });
  const db = createDatabase(config, { searchIndex: 'gin' });
  const pool = createPgPool(config.pooled, { max: POOL_SIZE });
  try {
    const users = await pool.query<{ id: string }>(
      `SELECT u.id FROM pg_users u WHERE u.deleted_at IS NULL
         AND EXISTS (SELECT 1 FROM pg_posts p WHERE p."authorId" = u.id AND p.deleted_at IS NULL)
       ORDER BY md5(u.id) LIMIT 500`,
    );
    const posts = await pool.query<{ id: string }>(
      `SELECT p.id FROM pg_posts p JOIN pg_users u ON u.id = p."authorId"
        WHERE p.deleted_at IS NULL AND u.deleted_at IS NULL ORDER BY md5(p.id) LIMIT 1000 OFFSET $1`,
      [Number(args.slot) * 1000],
    );
    const postIds = Array.from({ length: CONCURRENCY }, (_, w) =>
      posts.rows.filter((_, index) => index % CONCURRENCY === w).map((row) => row.id),
    );
    const ops = operations(
      db,
      pool,
      users.rows.map((row) => row.id),
      postIds,
      Date.now().toString(36),
      await pickFixtures(pool, CONCURRENCY),
    );
    await ops.capture();
    const chosen = ops.list.filter((op) => !args.only || op.name.includes(args.only));
    console.log(`${CALLS} calls a round, ${ROUNDS} rounds, concurrency ${CONCURRENCY}; CPU µs per call`);
    for (const op of chosen) {
      const sides = (['layer', 'raw'] as const).filter((side) => !args.variant || side === args.variant);
      // Warm-up: both sides' code optimized, every connection holding its prepared statements.
      for (const side of sides) await cpuPerCall(op[side], Math.max(CALLS, Number(args.warmup)), 0, false);
      const samples: Record<string, number[]> = { layer: [], raw: [] };
      const mains: Record<string, number[]> = { layer: [], raw: [] };
      for (let round = 0; round < ROUNDS; round++) {
        for (const side of round % 2 ? [...sides].reverse() : sides) {
          const used = await cpuPerCall(op[side], CALLS, (round + 1) * CALLS);
          samples[side]?.push(used.process);
          mains[side]?.push(used.main);
        }
      }
      const layer = samples.layer?.length ? median(samples.layer) : Number.NaN;
      const raw = samples.raw?.length ? median(samples.raw) : Number.NaN;
      const ratios = sides.length === 2 ? samples.layer?.map((l, r) => l / (samples.raw?.[r] ?? 1)) : [];
      console.log(
        `${op.name.padEnd(36)} layer ${layer.toFixed(1).padStart(6)}  raw named ${raw.toFixed(1).padStart(6)}` +
          `  ratio ${(layer / raw).toFixed(2)}` +
          (ratios?.length
            ? `  (rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`
            : ''),
      );
      const mainLayer = mains.layer?.length ? median(mains.layer) : Number.NaN;
      const mainRaw = mains.raw?.length ? median(mains.raw) : Number.NaN;
      console.log(
        `${'  main thread alone'.padEnd(36)} layer ${mainLayer.toFixed(1).padStart(6)}  ` +
          `raw named ${mainRaw.toFixed(1).padStart(6)}  ratio ${(mainLayer / mainRaw).toFixed(2)}`,
      );
    }
    // The writes' rows: the created users go, the posts are all restored already.
    await pool.query(
      `DELETE FROM pg_users WHERE email LIKE 'layer-%@example.com' OR email LIKE 'raw-%@example.com'`,
    );
  } finally {
    await pool.end();
    await db.disconnect();
  }
  if (args.drop) await dropDatabase(args.url, args.database);
}

await main();
