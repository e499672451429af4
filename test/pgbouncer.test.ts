/**
 * The layer through a real PgBouncer in transaction pooling mode, with `pgbouncer=true`: it works, and
 * nothing in it relies on session state, since consecutive statements outside a transaction may run on
 * different server connections and a server connection passes from client to client.
 *
 * Runs in every mode: under TEST_THROUGH_PGBOUNCER=1 on the suite's PgBouncer, otherwise on one of its
 * own (test/support/pgbouncer.ts). Without pgbouncer installed it fails under CI=true (.ci/run installs
 * it); on a developer's machine it is skipped with a notice, so `npm test` needs nothing installed.
 */
import { createId } from '@paralleldrive/cuid2';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Environment, loadConfig, parseConnectionUrl } from '../src/config.js';
import { createDatabase, type Database } from '../src/database.js';
import { ConfigError, QueryTimeoutError } from '../src/errors.js';
import { migrate } from '../src/migrate.js';
import { collectingLogger } from './support/collecting-logger.js';
import { databaseUrl } from './support/database-url.js';
import {
  findPgBouncer,
  PGBOUNCER_SETTINGS,
  type PgBouncer,
  PgBouncerMissingError,
  startPgBouncer,
} from './support/pgbouncer.js';
import { pgbouncerDatabaseUrl, useTestDatabase } from './support/test-database.js';

const testDb = useTestDatabase();
const sharedPgBouncerUrl = inject('pgbouncerUrl');
const runsHere =
  sharedPgBouncerUrl !== undefined || findPgBouncer() !== undefined || process.env.CI === 'true';
if (!runsHere)
  console.warn('pgbouncer is not installed: the PgBouncer tests run in CI only (apt-get install pgbouncer)');

/** PgBouncer's URL (maintenance database): the suite's, or this file's own. */
let pgbouncerUrl: string;
let stopOwnPgBouncer = async () => {};
const databases: Database[] = [];

beforeAll(async () => {
  if (!runsHere) return;
  if (sharedPgBouncerUrl !== undefined) {
    pgbouncerUrl = sharedPgBouncerUrl;
    return;
  }
  let own: PgBouncer;
  try {
    own = await startPgBouncer(inject('adminUrl'));
  } catch (error) {
    if (!(error instanceof PgBouncerMissingError)) throw error;
    // Never skipped: this file is what tests the layer behind a real PgBouncer.
    throw new PgBouncerMissingError(
      process.env.CI === 'true'
        ? 'CI=true, but pgbouncer is not installed (.ci/run installs it)'
        : 'test/pgbouncer.test.ts runs the layer through a real PgBouncer, but pgbouncer is not installed',
    );
  }
  pgbouncerUrl = own.url('postgres');
  stopOwnPgBouncer = () => own.stop();
});
afterAll(async () => {
  await Promise.all(databases.map((db) => db.disconnect()));
  await stopOwnPgBouncer();
});

/** The environment of an application behind PgBouncer: pooled through it, direct to the server. */
function env(extra: Environment = {}): Environment {
  return {
    ENABLE_POSTGRES: 'true',
    POSTGRES_PRISMA_URL: pgbouncerDatabaseUrl(pgbouncerUrl, testDb.name),
    POSTGRES_URL_NON_POOLING: testDb.url,
    ...extra,
  };
}

function database(extra: Environment = {}, logger = collectingLogger()): Database {
  const db = createDatabase(loadConfig(env(extra)), { logger });
  databases.push(db);
  return db;
}

/** A plain client through PgBouncer to this file's database: another application, or the console. */
async function pgbouncerClient(database = testDb.name): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl(pgbouncerUrl, database) });
  await client.connect();
  return client;
}

async function withClient<T>(work: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const client = await pgbouncerClient(database);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Simple-protocol queries on PgBouncer's admin console. */
const console_ = <Row>(text: string) =>
  withClient(async (client) => (await client.query(text)).rows as Row[], 'pgbouncer');

const pidOf = async (scope: Pick<Database, 'executeRaw'>) => {
  const [row] = await scope.executeRaw<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return row?.pid;
};

const email = (tag: string) => `${tag}.${createId()}@example.com`;

describe.runIf(runsHere)('the connection through PgBouncer', () => {
  it('is configured as production is: pooled through PgBouncer with pgbouncer=true, direct to the server', () => {
    if (testDb.throughPgBouncer) expect(testDb.env()).toEqual(env());
    const config = loadConfig(env());
    expect(config.pooled).toMatchObject({ pgbouncer: true, port: Number(new URL(pgbouncerUrl).port) });
    expect(config.direct).toMatchObject({ pgbouncer: false, port: Number(new URL(testDb.url).port) });
  });

  it('runs in transaction pooling mode', async () => {
    const settings = await console_<{ key: string; value: string }>('SHOW CONFIG');
    const setting = (key: string) => settings.find((row) => row.key === key)?.value;
    expect(setting('pool_mode')).toBe('transaction');
    expect(Number(setting('default_pool_size'))).toBe(PGBOUNCER_SETTINGS.defaultPoolSize);
  });

  it('answers health() and shows the layer as a client of this database', async () => {
    const db = database();
    const report = await db.health();
    expect(report).toMatchObject({ ok: true, serverVersion: expect.any(String) });
    const pools = await console_<{ database: string }>('SHOW POOLS');
    expect(pools.map((pool) => pool.database)).toContain(testDb.name);
  });
});

describe.runIf(runsHere)('the repositories through PgBouncer', () => {
  it('create with nested posts and roles, find with relations, and run a transaction of concurrent creates', async () => {
    const logger = collectingLogger();
    const db = database({ DATABASE_LOG_LEVEL: 'debug' }, logger);
    const tag = createId();

    const user = await db.users.create({
      email: email(tag),
      name: 'John Doe',
      posts: [{ title: 'First Post', content: 'Hello World!', published: true }],
      roles: [{ name: 'author', description: 'Content author role' }],
    });
    expect(user.posts).toMatchObject([{ title: 'First Post', authorId: user.id }]);
    expect(user.roles).toMatchObject([{ name: 'author', userId: user.id }]);

    const page = await db.users.findMany({
      where: { emailContains: tag },
      include: { posts: true, roles: true },
    });
    expect(page.items).toEqual([user]);

    const { author, posts } = await db.transaction(async (tx) => {
      const author = await tx.users.create({ email: email(tag), name: 'Content Author' });
      const posts = await Promise.all([
        tx.posts.create({ title: 'Post 1', content: 'Content 1', authorId: author.id, published: true }),
        tx.posts.create({ title: 'Post 2', content: 'Content 2', authorId: author.id, published: false }),
      ]);
      return { author, posts };
    });
    const stored = await db.users.getById(author.id, { include: { posts: true } });
    expect(stored.posts.map((post) => post.id).sort()).toEqual(posts.map((post) => post.id).sort());

    // Nothing the layer sent sets session state, which would stay on a server connection PgBouncer
    // hands to the next client: only transaction-scoped statements.
    const statements = logger.lines
      .filter((line) => line.message.startsWith('query'))
      .map((line) => String(line.fields?.sql));
    expect(statements.length).toBeGreaterThan(3);
    const sessionLevel =
      /^\s*(set\s+(?!local\b|transaction\b)|reset\b|discard\b|listen\b|prepare\b|declare\b|load\b)|pg_advisory_lock|create\s+temp/i;
    expect(statements.filter((text) => sessionLevel.test(text))).toEqual([]);
  });
});

describe.runIf(runsHere)('no session state', () => {
  it('is kept by PgBouncer: a server connection passes to another client, and a client changes server connections', async () => {
    // One client connection: every call of `db` goes through the same connection to PgBouncer.
    const db = database({ POSTGRES_POOL_MAX: '1' });
    const first = await pidOf(db);
    await withClient(async (other) => {
      // Another application takes the server connection `db` just released (PgBouncer reuses the
      // most recently released one), and keeps it in an open transaction …
      await other.query('BEGIN');
      const { rows } = await other.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      expect(rows[0]?.pid).toBe(first);
      // … so the next statement of `db`, on the same client connection, runs on another one.
      expect(await pidOf(db)).not.toBe(first);
      await other.query('COMMIT');
    });

    // Which is why a session SET would leak: it stays on the server connection for the next client.
    await withClient(async (setter) => {
      await setter.query("SET shared_db.probe = 'leaked'");
      const [setterPid] = (await setter.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
      await withClient(async (next) => {
        const { rows } = await next.query<{ pid: number; probe: string }>(
          "SELECT pg_backend_pid() AS pid, current_setting('shared_db.probe', true) AS probe",
        );
        expect(rows[0]).toEqual({ pid: setterPid?.pid, probe: 'leaked' });
        await next.query('RESET ALL');
      });
    });
  });

  it('is needed by many concurrent transactions: each keeps its server connection and sees only its own work', async () => {
    const clients = 2 * PGBOUNCER_SETTINGS.defaultPoolSize;
    const db = database({ POSTGRES_POOL_MAX: String(clients) });
    const tag = createId();
    const runs = await Promise.all(
      Array.from({ length: clients }, (_, index) =>
        db.transaction(async (tx) => {
          const mark = `${tag}-${index}`;
          const pid = await pidOf(tx);
          await tx.executeRaw("SELECT set_config('shared_db.mark', $1, true)", [mark]);
          const user = await tx.users.create({ email: email(mark), posts: [{ title: mark }] });
          await Promise.all([
            tx.posts.create({ title: mark, authorId: user.id }),
            tx.posts.create({ title: mark, authorId: user.id }),
          ]);
          await tx.executeRaw('SELECT pg_sleep($1)', [Math.random() / 50]);
          const [seen] = await tx.executeRaw<{ pid: number; mark: string; titles: string[] }>(
            `SELECT pg_backend_pid() AS pid, current_setting('shared_db.mark') AS mark,
                    array(SELECT DISTINCT title FROM pg_posts WHERE "authorId" = $1) AS titles`,
            [user.id],
          );
          expect(seen).toEqual({ pid, mark, titles: [mark] });
          return { pid, userId: user.id, mark };
        }),
      ),
    );

    const counts = await db.executeRaw<{ id: string; posts: number; titles: string[] }>(
      `SELECT u.id, count(p.id)::int AS posts, array_agg(DISTINCT p.title) AS titles
         FROM pg_users u JOIN pg_posts p ON p."authorId" = u.id
        WHERE u.email LIKE $1 GROUP BY u.id`,
      [`${tag}-%`],
    );
    expect(counts).toHaveLength(runs.length);
    const byUser = new Map(counts.map((row) => [row.id, row]));
    for (const run of runs)
      expect(byUser.get(run.userId)).toEqual({ id: run.userId, posts: 3, titles: [run.mark] });

    // The layer held `clients` connections to PgBouncer, served by at most default_pool_size servers.
    const pids = new Set(runs.map((run) => run.pid));
    expect(pids.size).toBeGreaterThan(1);
    expect(pids.size).toBeLessThanOrEqual(PGBOUNCER_SETTINGS.defaultPoolSize);
    expect((await db.health()).pool.total).toBeGreaterThan(PGBOUNCER_SETTINGS.defaultPoolSize);
    // And no mark outlived its transaction on the server connections it used.
    for (let index = 0; index < 5; index++) {
      const [row] = await db.executeRaw<{ mark: string | null }>(
        "SELECT current_setting('shared_db.mark', true) AS mark",
      );
      expect(row?.mark ?? '').toBe('');
    }
  });

  it('is not left behind by SET LOCAL: the next transaction on the same server connection has no timeout', async () => {
    const db = database({ POSTGRES_POOL_MAX: '1' });
    let timedOutOn: number | undefined;
    let defaultTimeout: string | undefined;
    const timedOut = db.transaction(async (tx) => {
      timedOutOn = await pidOf(tx);
      [{ statement_timeout: defaultTimeout } = { statement_timeout: undefined }] = await tx.executeRaw<{
        statement_timeout: string;
      }>('SHOW statement_timeout');
      await tx.executeRaw('SET LOCAL statement_timeout = 100');
      await tx.executeRaw('SELECT pg_sleep(1)');
    });
    await expect(timedOut).rejects.toBeInstanceOf(QueryTimeoutError);
    expect(defaultTimeout).toBe('0');

    const next = await db.transaction(async (tx) => {
      const [row] = await tx.executeRaw<{ pid: number; statement_timeout: string }>(
        "SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS statement_timeout",
      );
      await tx.executeRaw('SELECT pg_sleep(0.3)');
      return row;
    });
    expect(next).toEqual({ pid: timedOutOn, statement_timeout: defaultTimeout });
    // Outside a transaction too.
    await expect(db.executeRaw('SELECT pg_sleep(0.3)')).resolves.toHaveLength(1);
  });
});

describe.runIf(runsHere)('migrations behind PgBouncer', () => {
  it('refuse a pgbouncer=true URL and point at POSTGRES_URL_NON_POOLING', async () => {
    const pooled = pgbouncerDatabaseUrl(pgbouncerUrl, testDb.name);
    const refused = migrate(parseConnectionUrl(pooled, 'POSTGRES_URL_NON_POOLING'), { direction: 'up' });
    await expect(refused).rejects.toBeInstanceOf(ConfigError);
    await expect(refused).rejects.toThrow(/^POSTGRES_URL_NON_POOLING: .*pgbouncer=true/);

    // With only the pooled URL there is no direct connection to fall back on.
    const pooledOnly = loadConfig({ ENABLE_POSTGRES: 'true', POSTGRES_PRISMA_URL: pooled });
    expect(pooledOnly.direct).toBeUndefined();
    await expect(migrate(pooledOnly.direct, { direction: 'up' })).rejects.toThrow(
      /^POSTGRES_URL_NON_POOLING: /,
    );

    // The direct URL next to it is the one that migrates (nothing is pending in the cloned database).
    await expect(migrate(loadConfig(env()).direct, { direction: 'up' })).resolves.toEqual([]);
  });
});
