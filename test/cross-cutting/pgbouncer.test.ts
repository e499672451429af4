/**
 * The layer through a real PgBouncer in transaction pooling mode, with `pgbouncer=true`: it works, and
 * nothing in it relies on session state, since consecutive statements outside a transaction may run on
 * different server connections and a server connection passes from client to client.
 *
 * Runs in every mode: under TEST_THROUGH_PGBOUNCER=1 on the suite's PgBouncer, otherwise on one of its
 * own (test/support/pgbouncer.ts). Without pgbouncer installed it fails under CI=true (.ci/run installs
 * it); on a developer's machine it is skipped with a notice, so `npm test` needs nothing installed.
 *
 * Named prepared statements: off by default behind pgbouncer=true, since PgBouncer before 1.21 (Debian
 * 12's 1.18, or any with max_prepared_statements = 0) passes them to whichever server connection is
 * there; on through a PgBouncer 1.21 or newer with max_prepared_statements. Those tests need such a
 * PgBouncer (scripts/build-pgbouncer.sh builds one): under CI=true they fail without it, elsewhere they
 * are skipped with a notice.
 */
import { randomBytes } from 'node:crypto';
import { createId } from '@paralleldrive/cuid2';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import { ConfigError, QueryTimeoutError, StalePreparedStatementError } from '../../src/errors/classes.js';
import { migrate } from '../../src/migrate/migrate.js';
import { barrier } from '../support/barrier.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { databaseUrl } from '../support/database-url.js';
import {
  findPgBouncer,
  findPreparedPgBouncer,
  PGBOUNCER_SETTINGS,
  type PgBouncer,
  PgBouncerMissingError,
  PREPARED_PGBOUNCER_HINT,
  type StartPgBouncerOptions,
  startPgBouncer,
} from '../support/pgbouncer.js';
import { queryOnce } from '../support/query-once.js';
import { rejectionReason } from '../support/rejection.js';
import { pgbouncerDatabaseUrl, useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const ci = process.env.CI === 'true';
const sharedPgBouncerUrl = inject('pgbouncerUrl');
/** The suite's PgBouncer tracks named statements (TEST_PGBOUNCER_PREPARED=1). */
const sharedTracksStatements = (inject('pgbouncerMaxPreparedStatements') ?? 0) > 0;
const runsHere = sharedPgBouncerUrl !== undefined || findPgBouncer() !== undefined || ci;
if (!runsHere)
  console.warn('pgbouncer is not installed: the PgBouncer tests run in CI only (apt-get install pgbouncer)');
/** Debian's PgBouncer, for the tests that need one that does not track named statements. */
const untrackedRunsHere = (sharedPgBouncerUrl !== undefined && !sharedTracksStatements) || runsHere;
/** A PgBouncer 1.21 or newer to start, when the suite's is not one already. */
const preparedBinary = sharedTracksStatements ? undefined : findPreparedPgBouncer();
const trackedRunsHere = sharedTracksStatements || preparedBinary !== undefined || ci;
if (!trackedRunsHere)
  console.warn(
    'no PgBouncer 1.21 or newer: the tests of named prepared statements through PgBouncer are skipped; ' +
      PREPARED_PGBOUNCER_HINT,
  );

/** PgBouncer's URL (maintenance database): the suite's, or this file's own. */
let pgbouncerUrl: string;
const stops: Array<() => Promise<void>> = [];
const databases: Database[] = [];

/** A PgBouncer of this file's own, stopped after the file. */
async function ownPgBouncer(options: StartPgBouncerOptions = {}): Promise<PgBouncer> {
  const own = await startPgBouncer(inject('adminUrl'), options);
  stops.push(() => own.stop());
  return own;
}

/** Debian's PgBouncer of this file's own; never skipped under CI: this file tests the layer behind it. */
async function ownDebianPgBouncer(): Promise<PgBouncer> {
  try {
    return await ownPgBouncer();
  } catch (error) {
    if (!(error instanceof PgBouncerMissingError)) throw error;
    throw new PgBouncerMissingError(
      ci
        ? 'CI=true, but pgbouncer is not installed (.ci/run installs it)'
        : 'test/cross-cutting/pgbouncer.test.ts runs the layer through a real PgBouncer, but pgbouncer is not installed',
    );
  }
}

beforeAll(async () => {
  if (!runsHere) return;
  pgbouncerUrl = sharedPgBouncerUrl ?? (await ownDebianPgBouncer()).url('postgres');
});
afterAll(async () => {
  await Promise.all(databases.map((db) => db.disconnect()));
  await Promise.all(stops.map((stop) => stop()));
});

/**
 * The environment of an application behind PgBouncer (default: the one above): pooled through it,
 * direct to the server. Like testDb.env(), it turns named statements on behind the suite's PgBouncer
 * when that one tracks them.
 */
function env(extra: Environment = {}, through = pgbouncerUrl): Environment {
  const prepared = through === sharedPgBouncerUrl && sharedTracksStatements;
  return {
    ENABLE_POSTGRES: 'true',
    POSTGRES_PRISMA_URL: pgbouncerDatabaseUrl(through, testDb.name),
    POSTGRES_URL_NON_POOLING: testDb.url,
    ...(prepared ? { DATABASE_PREPARED_STATEMENTS: 'true' } : {}),
    ...extra,
  };
}

function database(extra: Environment = {}, logger = collectingLogger(), through = pgbouncerUrl): Database {
  const db = createDatabase(loadConfig(env(extra, through)), { logger });
  databases.push(db);
  return db;
}

/** A plain client through PgBouncer to this file's database: another application, or the console. */
async function pgbouncerClient(database = testDb.name, through = pgbouncerUrl): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl(through, database) });
  await client.connect();
  return client;
}

async function withClient<T>(
  work: (client: pg.Client) => Promise<T>,
  database?: string,
  through = pgbouncerUrl,
): Promise<T> {
  const client = await pgbouncerClient(database, through);
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Simple-protocol queries on PgBouncer's admin console. */
const console_ = <Row>(text: string, through = pgbouncerUrl) =>
  withClient(async (client) => (await client.query(text)).rows as Row[], 'pgbouncer', through);

const pidOf = async (scope: Pick<Database, 'executeRaw'>) => {
  const [row] = await scope.executeRaw<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return row?.pid;
};

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
    // 1.18 has no such setting; 1.24 would default to 200, so the suite states it.
    expect(Number(setting('max_prepared_statements') ?? 0)).toBe(
      sharedTracksStatements ? PGBOUNCER_SETTINGS.maxPreparedStatements : 0,
    );
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
      email: uniqueEmail(tag),
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
      const author = await tx.users.create({ email: uniqueEmail(tag), name: 'Content Author' });
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
    // The first two to arrive stay open together, so at least two server connections serve them.
    const two = barrier(2);
    const runs = await Promise.all(
      Array.from({ length: clients }, (_, index) =>
        db.transaction(async (tx) => {
          const mark = `${tag}-${index}`;
          const pid = await pidOf(tx);
          await two.arrive();
          await tx.executeRaw("SELECT set_config('shared_db.mark', $1, true)", [mark]);
          const user = await tx.users.create({ email: uniqueEmail(mark), posts: [{ title: mark }] });
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

  it('is not left behind by a raw BEGIN or a failed statement after one: no later client sees the transaction or 25P02', async () => {
    const db = database({ POSTGRES_POOL_MAX: '1' });
    const begun = await rejectionReason(db.executeRaw('BEGIN'));
    expect(begun).toMatchObject({ name: 'TransactionLeftOpenError', state: 'open' });
    const email = uniqueEmail();
    await db.users.create({ email });
    const failed = await rejectionReason(db.executeRaw('BEGIN; SELECT 1 / 0'));
    expect(failed).toMatchObject({ name: 'TransactionLeftOpenError', state: 'failed' });
    // Another client of PgBouncer, likely on the same server connection, and the layer's next calls.
    const seen = await withClient(
      async (client) =>
        (await client.query('SELECT count(*)::int AS n FROM pg_users WHERE email = $1', [email])).rows,
    );
    expect(seen).toEqual([{ n: 1 }]);
    for (let call = 0; call < 3; call += 1) {
      await expect(
        db.executeRaw('SELECT count(*)::int AS n FROM pg_users WHERE email = $1', [email]),
      ).resolves.toEqual([{ n: 1 }]);
    }
    // No server connection of this database was left in a transaction.
    const stuck = await queryOnce(
      testDb.url,
      "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'",
      [testDb.name],
    );
    expect(stuck).toEqual([]);
  });
});

describe.runIf(runsHere)('streams through PgBouncer', () => {
  it('keep one server connection for the whole loop (their read-only transaction) while other clients come and go', async () => {
    // All but one of PgBouncer's server connections held by streams; the other clients share the last.
    const streams = PGBOUNCER_SETTINGS.defaultPoolSize - 1;
    const db = database({ POSTGRES_POOL_MAX: String(streams) });
    const others = database();
    const ROWS = 200;
    const runs = await Promise.all(
      Array.from({ length: streams }, async () => {
        const seen: number[] = [];
        const pids = new Set<number>();
        for await (const row of db.streamRaw<{ i: number; pid: number }>(
          'SELECT i, pg_backend_pid() AS pid FROM generate_series(1, $1::int) AS i',
          [ROWS],
          { batchSize: 7 },
        )) {
          seen.push(row.i);
          pids.add(row.pid);
          // Other clients' statements between the batches: PgBouncer must not lend the server connection.
          if (row.i % 50 === 0) await pidOf(others);
        }
        return { seen, pids: [...pids] };
      }),
    );
    for (const { seen, pids } of runs) {
      expect(seen).toEqual(Array.from({ length: ROWS }, (_, index) => index + 1));
      expect(pids).toHaveLength(1);
    }
    const { pool } = await db.health();
    expect(pool.total - pool.idle).toBe(0);
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

/**
 * The names of the prepared statements on every server connection of this database's pool, by backend
 * pid: as many clients as the pool has server connections each hold one in an open transaction, so each
 * connection is looked at once (PgBouncer opens the missing ones, which have none).
 */
async function serverStatements(through: string): Promise<Map<number, string[]>> {
  const clients = await Promise.all(
    Array.from({ length: PGBOUNCER_SETTINGS.defaultPoolSize }, () => pgbouncerClient(testDb.name, through)),
  );
  try {
    const rows = await Promise.all(
      clients.map(async (client) => {
        await client.query('BEGIN');
        const { rows } = await client.query<{ pid: number; names: string[] }>(
          'SELECT pg_backend_pid() AS pid, array(SELECT name FROM pg_prepared_statements ORDER BY name) AS names',
        );
        return rows[0] as { pid: number; names: string[] };
      }),
    );
    await Promise.all(clients.map((client) => client.query('COMMIT')));
    return new Map(rows.map((row) => [row.pid, row.names]));
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
}

const layerNames = (names: Iterable<string[]>) =>
  [...names].flat().filter((name) => name.startsWith('shared_db_'));

/** Users with a post each, created concurrently, then read back by id concurrently `rounds` times. */
async function createAndReadBack(db: Database, count: number, rounds: number): Promise<void> {
  const tag = createId();
  const users = await Promise.all(
    Array.from({ length: count }, (_, index) =>
      db.users.create({ email: uniqueEmail(`${tag}-${index}`), posts: [{ title: `${tag}-${index}` }] }),
    ),
  );
  for (let round = 0; round < rounds; round++) {
    const found = await Promise.all(
      users.map((user) => db.users.getById(user.id, { include: { posts: true } })),
    );
    expect(found.map((user) => [user.id, user.posts.map((post) => post.title)])).toEqual(
      users.map((user, index) => [user.id, [`${tag}-${index}`]]),
    );
    const page = await db.users.findMany({ where: { emailContains: tag }, first: count });
    expect(page.items.map((user) => user.id).sort()).toEqual(users.map((user) => user.id).sort());
  }
}

describe.runIf(untrackedRunsHere)(
  'named prepared statements through a PgBouncer that does not track them (1.18)',
  () => {
    /** Debian's PgBouncer: the suite's when it is that one, else one of this file's own. */
    let untrackedUrl: string;
    beforeAll(async () => {
      untrackedUrl =
        sharedPgBouncerUrl !== undefined && !sharedTracksStatements
          ? sharedPgBouncerUrl
          : (await ownDebianPgBouncer()).url('postgres');
    });

    // First: the tests after it turn them on and leave the layer's names on server connections.
    it('are off by default behind pgbouncer=true: concurrent calls work and no server connection holds one of the layer', async () => {
      // A named statement of another client stays on the server connection it was parsed on, where the
      // look below finds it: so it would find the layer's too.
      const control = `control_${randomBytes(4).toString('hex')}`;
      await withClient(
        async (client) => {
          await client.query('BEGIN');
          await client.query({ name: control, text: 'SELECT 1' });
          await client.query('COMMIT');
        },
        testDb.name,
        untrackedUrl,
      );

      // More client connections than server connections, so each client changes server connections.
      const clients = 2 * PGBOUNCER_SETTINGS.defaultPoolSize;
      expect(loadConfig(env({}, untrackedUrl)).preparedStatements.enabled).toBe(false);
      const db = database({ POSTGRES_POOL_MAX: String(clients) }, collectingLogger(), untrackedUrl);
      const events: QueryEvent[] = [];
      db.on('query', (event) => events.push(event));
      await createAndReadBack(db, clients, 3);
      expect(events.length).toBeGreaterThan(clients);
      expect(events.filter((event) => event.prepared)).toEqual([]);
      expect((await db.health()).pool.total).toBeGreaterThan(PGBOUNCER_SETTINGS.defaultPoolSize);

      const servers = await serverStatements(untrackedUrl);
      expect(servers.size).toBe(PGBOUNCER_SETTINGS.defaultPoolSize);
      expect([...servers.values()].flat()).toContain(control);
      expect(layerNames(servers.values())).toEqual([]);
    });

    it('turned on anyway, break when two client connections meet on one server connection: 42P05, already exists', async () => {
      // Two applications (or two connections of one pool) with the same statement.
      const turnedOn = { POSTGRES_POOL_MAX: '1', DATABASE_PREPARED_STATEMENTS: 'true' };
      const one = database(turnedOn, collectingLogger(), untrackedUrl);
      const two = database(turnedOn, collectingLogger(), untrackedUrl);
      // A text of its own, so a name no other test left on a server connection.
      const statement = `SELECT pg_backend_pid() AS pid /* ${createId()} */`;
      await one.executeRaw(statement, [], { prepare: true });
      // PgBouncer hands `two` the server connection `one` just released, where the name is taken; the
      // layer prepares again only a statement that went missing, so the call fails.
      await expect(two.executeRaw(statement, [], { prepare: true })).rejects.toMatchObject({
        code: '42P05',
        message: expect.stringMatching(/prepared statement "shared_db_\w+" already exists/),
      });
    });

    it('turned on anyway, break when a client changes server connections: 26000, prepared statement does not exist', async () => {
      // One client connection, so the layer's statement cache is that of one connection to PgBouncer.
      const db = database(
        { POSTGRES_POOL_MAX: '1', DATABASE_PREPARED_STATEMENTS: 'true' },
        collectingLogger(),
        untrackedUrl,
      );
      const events: QueryEvent[] = [];
      db.on('query', (event) => events.push(event));
      // A text of its own, so a name no other test left on a server connection.
      const statement = `SELECT pg_backend_pid() AS pid /* ${createId()} */`;
      const pidOfNamed = async (scope: Pick<Database, 'executeRaw'>) =>
        (await scope.executeRaw<{ pid: number }>(statement, [], { prepare: true }))[0]?.pid;
      const backendPid = async (client: pg.Client) =>
        (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;

      const parsedOn = await pidOfNamed(db); // server connection A
      const [first, second] = [
        await pgbouncerClient(testDb.name, untrackedUrl),
        await pgbouncerClient(testDb.name, untrackedUrl),
      ];
      try {
        // Another application takes A (PgBouncer hands out the most recently released one) …
        await first.query('BEGIN');
        expect(await backendPid(first)).toBe(parsedOn);
        // … so the layer binds its statement on B, which never saw it. Outside a transaction the layer
        // parses it again there and runs it once more: the call works, at the price of a failed round trip.
        events.length = 0;
        const reparsedOn = await pidOfNamed(db);
        expect(reparsedOn).not.toBe(parsedOn);
        expect(events.map((event) => [event.prepared, event.error?.code])).toEqual([
          [true, '26000'],
          [true, undefined],
        ]);
        await first.query('COMMIT');

        // Inside a transaction there is no second try: with A and B taken, the transaction runs on a
        // third server connection, and the statement the layer believes prepared is not there.
        await first.query('BEGIN');
        await second.query('BEGIN');
        expect(new Set([await backendPid(first), await backendPid(second)])).toEqual(
          new Set([parsedOn, reparsedOn]),
        );
        let ranOn: number | undefined;
        const failed = db.transaction(async (tx) => {
          ranOn = await pidOf(tx);
          return pidOfNamed(tx);
        });
        await expect(failed).rejects.toBeInstanceOf(StalePreparedStatementError);
        await expect(failed).rejects.toMatchObject({
          code: '26000',
          message: expect.stringMatching(/prepared statement "shared_db_\w+" does not exist/),
        });
        expect([parsedOn, reparsedOn]).not.toContain(ranOn);
      } finally {
        await Promise.all([first, second].map((client) => client.end()));
      }
    });
  },
);

describe.runIf(trackedRunsHere)(
  'named prepared statements through PgBouncer 1.21+ with max_prepared_statements',
  () => {
    /** The suite's PgBouncer when it tracks named statements, else one of this file's own. */
    let trackedUrl: string;
    beforeAll(async () => {
      if (sharedTracksStatements && sharedPgBouncerUrl !== undefined) {
        trackedUrl = sharedPgBouncerUrl;
        return;
      }
      // Only under CI=true without one: fail, never skip.
      if (preparedBinary === undefined) {
        throw new PgBouncerMissingError(
          'CI=true, but there is no PgBouncer 1.21 or newer (.ci/run builds it)',
          PREPARED_PGBOUNCER_HINT,
        );
      }
      const own = await ownPgBouncer({
        binary: preparedBinary,
        maxPreparedStatements: PGBOUNCER_SETTINGS.maxPreparedStatements,
      });
      trackedUrl = own.url('postgres');
    });

    /**
     * The layer with named statements on, its connections to PgBouncer marked with `app`; they stay open
     * until the test reads PgBouncer's view of them, however long that takes on a busy machine.
     */
    function preparedDatabase(app: string, extra: Environment = {}): Database {
      return database(
        {
          DATABASE_PREPARED_STATEMENTS: 'true',
          POSTGRES_POOL_IDLE_TIMEOUT_MS: '0',
          POSTGRES_PRISMA_URL: `${pgbouncerDatabaseUrl(trackedUrl, testDb.name)}&application_name=${app}`,
          ...extra,
        },
        collectingLogger(),
        trackedUrl,
      );
    }

    /** PgBouncer's per-client count of the named statements a client has prepared (SHOW CLIENTS). */
    async function clientStatementCounts(app: string): Promise<number[]> {
      const clients = await console_<{ application_name: string; prepared_statements: number }>(
        'SHOW CLIENTS',
        trackedUrl,
      );
      return clients
        .filter((row) => row.application_name === app)
        .map((row) => Number(row.prepared_statements));
    }

    /** PgBouncer's counters of this database (SHOW STATS): Parses from clients, to servers, and Binds. */
    async function statementStats(): Promise<{ clientParses: number; serverParses: number; binds: number }> {
      const stats = await console_<Record<string, string>>('SHOW STATS', trackedUrl);
      const row = stats.find((candidate) => candidate.database === testDb.name);
      return {
        clientParses: Number(row?.total_client_parse_count ?? 0),
        serverParses: Number(row?.total_server_parse_count ?? 0),
        binds: Number(row?.total_bind_count ?? 0),
      };
    }

    it('carry the layer’s statements from one server connection to the next: concurrent calls work and return their rows', async () => {
      const app = `shared_db_${randomBytes(4).toString('hex')}`;
      const clients = 2 * PGBOUNCER_SETTINGS.defaultPoolSize;
      const db = preparedDatabase(app, { POSTGRES_POOL_MAX: String(clients) });
      const before = await statementStats();
      await createAndReadBack(db, clients, 3);
      const after = await statementStats();

      // Every connection of the layer prepared named statements, which PgBouncer tracked …
      const counts = await clientStatementCounts(app);
      expect(counts.length).toBeGreaterThan(PGBOUNCER_SETTINGS.defaultPoolSize);
      expect(counts.every((count) => count > 0)).toBe(true);
      // … parsed once per client connection and then bound again and again …
      const clientParses = after.clientParses - before.clientParses;
      expect(clientParses).toBeGreaterThan(0);
      expect(after.binds - before.binds).toBeGreaterThan(clientParses);
      expect(after.serverParses - before.serverParses).toBeGreaterThan(0);
      // … and prepared on the server under PgBouncer's own names, never the layer's.
      const servers = await serverStatements(trackedUrl);
      const names = [...servers.values()].flat();
      expect(names.filter((name) => /^PGBOUNCER_\d+$/.test(name)).length).toBeGreaterThan(0);
      expect(layerNames(servers.values())).toEqual([]);
    });

    it('keep working with a small statement cache: the least recently used are closed, and PgBouncer forgets them', async () => {
      const app = `shared_db_${randomBytes(4).toString('hex')}`;
      const cacheSize = 2;
      const distinct = 10;
      const rounds = 3;
      // One connection first: the statements take turns in its cache of 2, so each use is a new Parse.
      const one = preparedDatabase(app, {
        POSTGRES_POOL_MAX: '1',
        DATABASE_STATEMENT_CACHE_SIZE: String(cacheSize),
      });
      const before = await statementStats();
      for (let round = 0; round < rounds; round++) {
        for (let index = 0; index < distinct; index++) {
          const rows = await one.executeRaw<{ value: number }>(
            `SELECT $1::int + ${index} AS value`,
            [round],
            {
              prepare: true,
            },
          );
          expect(rows).toEqual([{ value: round + index }]);
        }
      }
      const after = await statementStats();
      expect(after.clientParses - before.clientParses).toBeGreaterThanOrEqual(rounds * distinct);
      // Had the evicted ones not been closed, PgBouncer would still hold all of them for this client.
      const [count, ...others] = await clientStatementCounts(app);
      expect(others).toEqual([]);
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThanOrEqual(cacheSize);

      // Then many connections, repository calls and raw statements at once.
      const many = preparedDatabase(app, {
        POSTGRES_POOL_MAX: String(2 * PGBOUNCER_SETTINGS.defaultPoolSize),
        DATABASE_STATEMENT_CACHE_SIZE: String(cacheSize),
      });
      await Promise.all([
        createAndReadBack(many, PGBOUNCER_SETTINGS.defaultPoolSize, 2),
        ...Array.from({ length: 2 * distinct }, async (_, index) => {
          const rows = await many.executeRaw<{ value: number }>(
            `SELECT $1::int + ${index % distinct} AS value`,
            [index],
            {
              prepare: true,
            },
          );
          expect(rows).toEqual([{ value: index + (index % distinct) }]);
        }),
      ]);

      // Closed statements are gone from PgBouncer's view of each client: no client holds more than the cache.
      const counts = await clientStatementCounts(app);
      expect(counts.length).toBeGreaterThan(1);
      expect(Math.max(...counts)).toBeLessThanOrEqual(cacheSize);
      expect(Math.max(...counts)).toBeGreaterThan(0);
    });
  },
);
