/**
 * Read replicas on real streaming replication: a primary and a hot standby started for this file
 * (scripts/lib/replication-pair.ts), from the embedded server's programs and, where Debian's PostgreSQL 15
 * is installed (CI installs it), from those with `pg_basebackup -R`. Which server served the reads is
 * counted on the servers themselves: the scans of `pg_users` each records in its own
 * `pg_stat_user_tables` (a hot standby keeps its own statistics), read once the layer's connections
 * have closed and flushed them. The layer's own query events are checked too, never instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/embedded-server.js';
import {
  debianPostgres15Available,
  type ReplicationBinaries,
  type ReplicationPair,
  startReplicationPair,
} from '../../scripts/lib/replication-pair.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import {
  createDatabase,
  type Database,
  type QueryEvent,
  type TelemetrySetting,
} from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { migrate } from '../../src/migrate/migrate.js';
import { connectClient } from '../../src/pool/connect.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { type PgBouncer, startPgBouncer } from '../support/pgbouncer.js';
import { sleep } from '../support/sleep.js';
import { childrenOf, onlySpan, recordingSdk } from '../support/telemetry.js';
import { uniqueEmail } from '../support/unique-email.js';

const TEMPLATE = 'replicas_template';
const APPLICATION = 'shared-db replica test';

const kinds: ReplicationBinaries[] = ['embedded'];
if (debianPostgres15Available() || process.env.CI === 'true') kinds.push('pg15');
else console.warn('Debian PostgreSQL 15 is not installed: the pg_basebackup -R pair runs in CI only');

async function query<Row = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<Row[]> {
  const client = await connectClient(parseConnectionUrl(url, 'test'));
  try {
    return (await client.query(text, params)).rows as Row[];
  } finally {
    await client.end();
  }
}

describe.each(kinds)('read replicas on streaming replication (%s)', (binaries) => {
  let pair: ReplicationPair;
  const opened: Database[] = [];

  beforeAll(async () => {
    pair = await startReplicationPair({ binaries });
    await query(pair.primary.url('postgres'), `CREATE DATABASE ${TEMPLATE}`);
    await migrate(parseConnectionUrl(pair.primary.url(TEMPLATE), 'test'), { direction: 'up' });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(opened.map((db) => db.disconnect()));
    await pair?.stop();
  }, 120_000);

  /** A database of its own on the primary, replayed on the standby; its statistics are its own too. */
  async function freshDatabase(): Promise<string> {
    const name = `replicas_${Math.random().toString(36).slice(2, 10)}`;
    await query(pair.primary.url('postgres'), `CREATE DATABASE ${name} TEMPLATE ${TEMPLATE}`);
    await pair.waitForReplay();
    return name;
  }

  interface Opened {
    db: Database;
    events: QueryEvent[];
    logger: ReturnType<typeof collectingLogger>;
  }

  function open(
    database: string,
    extra: Environment = {},
    replicaUrl = pair.standby.url(database),
    telemetry: TelemetrySetting = true,
  ): Opened {
    const primaryUrl = `${pair.primary.url(database)}?application_name=${encodeURIComponent(APPLICATION)}`;
    const logger = collectingLogger();
    const db = createDatabase(
      loadConfig({
        POSTGRES_PRISMA_URL: primaryUrl,
        POSTGRES_URL_NON_POOLING: primaryUrl,
        POSTGRES_REPLICA_URLS: replicaUrl,
        DATABASE_LOG_LEVEL: 'debug',
        ...extra,
      }),
      { logger, replicaProbeIntervalMs: 50, telemetry },
    );
    opened.push(db);
    const events: QueryEvent[] = [];
    db.on('query', (event) => events.push(event));
    return { db, events, logger };
  }

  /** Waits until the monitor has found the replicas (default: every one) in use. */
  async function replicaInUse(db: Database, servers?: string[]): Promise<void> {
    for (let attempt = 0; attempt < 200; attempt++) {
      const report = await db.health();
      const wanted = report.replicas?.filter((replica) => servers?.includes(replica.server) ?? true);
      if (wanted?.length && wanted.every((replica) => replica.inUse)) return;
      await sleep(50);
    }
    throw new Error(`the replica never came into use: ${JSON.stringify((await db.health()).replicas)}`);
  }

  /**
   * Scans of pg_users each server recorded in `database`, read after `db` disconnected: a backend
   * flushes its statistics when it ends, and the count is read once no session of the layer remains.
   */
  async function scansAfter(db: Database, database: string): Promise<{ primary: number; standby: number }> {
    await db.disconnect();
    const count = async (url: string) => {
      for (let attempt = 0; attempt < 200; attempt++) {
        const [left] = await query<{ n: number }>(
          url,
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = $2',
          [database, 'client backend'],
        );
        if (left?.n === 0) break;
        await sleep(50);
      }
      const [row] = await query<{ n: number }>(
        url,
        `SELECT (coalesce(idx_scan, 0) + coalesce(seq_scan, 0))::int AS n
           FROM pg_stat_user_tables WHERE relname = 'pg_users'`,
      );
      return row?.n ?? 0;
    };
    return {
      primary: await count(pair.primary.url(database)),
      standby: await count(pair.standby.url(database)),
    };
  }

  /** The scans of pg_users each server has recorded in `database` so far (no session of the layer open). */
  async function scansNow(database: string): Promise<{ primary: number; standby: number }> {
    const count = async (url: string) =>
      (
        await query<{ n: number }>(
          url,
          `SELECT (coalesce(idx_scan, 0) + coalesce(seq_scan, 0))::int AS n
             FROM pg_stat_user_tables WHERE relname = 'pg_users'`,
        )
      )[0]?.n ?? 0;
    return {
      primary: await count(pair.primary.url(database)),
      standby: await count(pair.standby.url(database)),
    };
  }

  async function createUser(db: Database) {
    return db.users.create({ email: uniqueEmail(), name: 'Replica Reader' });
  }

  it('sends reads to the replica, and writes, locking reads, data-modifying WITH and raw SQL to the primary', async () => {
    const database = await freshDatabase();
    const { db, events, logger } = open(database);
    const user = await createUser(db);
    await pair.waitForReplay();
    await replicaInUse(db);
    // A scope of its own: these reads depend on no write.
    await db.consistency.run(async () => {
      events.length = 0;
      expect(await db.users.findById(user.id)).toMatchObject({ id: user.id });
      await db.kysely.selectFrom('pg_users').select('id').where('id', '=', user.id).execute();
      await db.executeRaw('SELECT id FROM pg_users WHERE id = $1', [user.id], { replica: true });
      expect(events.map((event) => event.server)).toEqual(['replica-1', 'replica-1', 'replica-1']);
      expect(logger.lines.filter((line) => line.message === 'query').at(-1)?.fields).toMatchObject({
        server: 'replica-1',
      });

      events.length = 0;
      await db.kysely.selectFrom('pg_users').select('id').where('id', '=', user.id).forUpdate().execute();
      await db.kysely
        .with('touched', (qb) =>
          qb.updateTable('pg_users').set({ name: 'Touched' }).where('id', '=', user.id).returning('id'),
        )
        .selectFrom('touched')
        .select('id')
        .execute();
      await db.executeRaw('SELECT id FROM pg_users WHERE id = $1', [user.id]);
      await db.primary.users.findById(user.id);
      expect(events.map((event) => event.server)).toEqual(['primary', 'primary', 'primary', 'primary']);
    });
    const scans = await scansAfter(db, database);
    expect(scans.standby).toBe(3);
  });

  it('a statement’s span names the server that answered it', async () => {
    const database = await freshDatabase();
    const sdk = recordingSdk();
    const { db } = open(database, {}, undefined, { tracerProvider: sdk.tracerProvider });
    try {
      const user = await createUser(db);
      await pair.waitForReplay();
      await replicaInUse(db);
      sdk.reset();
      await db.consistency.run(async () => {
        await db.users.findById(user.id);
        await db.users.update(user.id, { name: 'Traced' });
      });
      const spans = sdk.spans();
      const [read] = childrenOf(spans, onlySpan(spans, 'users.findById'));
      const [write] = childrenOf(spans, onlySpan(spans, 'users.update'));
      const at = (url: string) => ({ 'server.port': Number(new URL(url).port) });
      expect(read?.attributes).toMatchObject({
        'shared_db.server': 'replica-1',
        ...at(pair.standby.url(database)),
      });
      expect(write?.attributes).toMatchObject({
        'shared_db.server': 'primary',
        ...at(pair.primary.url(database)),
      });
    } finally {
      await sdk.shutdown();
    }
  });

  it('replay paused: 1,000 write-then-read pairs all see their write, and reads that depend on no write still go to the replica', async () => {
    const database = await freshDatabase();
    // No lag bound: the paused standby falls further behind with every write, and stays in use for the
    // reads that need none of them.
    const { db } = open(database, { POSTGRES_REPLICA_MAX_LAG_MS: '0' });
    const existing = await createUser(db);
    await pair.waitForReplay();
    await replicaInUse(db);
    await pair.standby.pauseReplay();
    try {
      const before = await scansNow(database);
      let seen = 0;
      let independent = 0;
      const pairs = 1000;
      const workers = 10;
      await Promise.all(
        Array.from({ length: workers }, async () => {
          for (let i = 0; i < pairs / workers; i++) {
            await db.consistency.run(async () => {
              const user = await createUser(db);
              if ((await db.users.findById(user.id))?.id === user.id) seen++;
            });
            await db.consistency.run(async () => {
              if ((await db.users.findById(existing.id))?.id === existing.id) independent++;
            });
          }
        }),
      );
      expect(seen).toBe(pairs);
      expect(independent).toBe(pairs);
      const after = await scansAfter(db, database);
      // Every read that followed a write was on the primary, every other one on the standby.
      expect(after.primary - before.primary).toBe(pairs);
      expect(after.standby - before.standby).toBe(pairs);
    } finally {
      await pair.standby.resumeReplay();
    }
  }, 180_000);

  it('replay running: at least 95% of reads are served by the replica while another scope writes', async () => {
    const database = await freshDatabase();
    const { db } = open(database);
    const users = await Promise.all(Array.from({ length: 20 }, () => createUser(db)));
    await pair.waitForReplay();
    await replicaInUse(db);
    const before = await scansNow(database);
    let writing = true;
    const writer = db.consistency.run(async () => {
      while (writing) await createUser(db);
    });
    const reads = 1000;
    await db.consistency.run(async () => {
      await Promise.all(
        Array.from({ length: 5 }, async (_, worker) => {
          for (let i = worker; i < reads; i += 5) {
            const user = users[i % users.length];
            expect(await db.users.findById(user?.id ?? '')).toMatchObject({ id: user?.id });
          }
        }),
      );
    });
    writing = false;
    await writer;
    const after = await scansAfter(db, database);
    const onStandby = after.standby - before.standby;
    const onPrimary = after.primary - before.primary;
    expect(onStandby + onPrimary).toBe(reads);
    expect(onStandby / reads).toBeGreaterThanOrEqual(0.95);
  }, 180_000);

  it('the standby killed in the middle of a read load: no error reaches the caller; it is taken out, and used again once back', async () => {
    const database = await freshDatabase();
    const { db, logger } = open(database);
    const user = await createUser(db);
    await pair.waitForReplay();
    await replicaInUse(db);
    let reads = 0;
    let failures = 0;
    let killed = false;
    let readsAfterKill = 0;
    const load = Array.from({ length: 8 }, async () => {
      while (readsAfterKill < 400) {
        try {
          expect(await db.users.findById(user.id)).toMatchObject({ id: user.id });
          reads++;
          if (killed) readsAfterKill++;
        } catch (error) {
          failures++;
          throw error;
        }
      }
    });
    while (reads < 200) await sleep(5);
    await pair.standby.kill();
    killed = true;
    try {
      await Promise.all(load);
      expect(failures).toBe(0);
      const report = await db.health();
      expect(report.replicas?.[0]).toMatchObject({ reachable: false, inUse: false });
      expect(logger.lines.some((line) => line.message.includes('out of use'))).toBe(true);
      // Reads were in flight on the standby when it died: they failed there and ran again elsewhere.
      expect(logger.lines.some((line) => line.message.includes('runs again elsewhere'))).toBe(true);
      // Probed again later and later while it stays down.
      await sleep(2000);
      const delays = logger.lines
        .filter((line) => line.message.startsWith('a read replica'))
        .map((line) => line.fields?.retryInMs as number);
      expect(delays.slice(0, 3)).toEqual([500, 1000, 2000]);
    } finally {
      // Back up whatever happened: the next tests need it.
      await pair.standby.start();
    }
    await replicaInUse(db);
    const before = await scansNow(database);
    await db.consistency.run(async () => {
      for (let i = 0; i < 50; i++) await db.users.findById(user.id);
    });
    const after = await scansAfter(db, database);
    expect(after.standby - before.standby).toBe(50);
  }, 180_000);

  it('nothing inside db.transaction ever reaches the standby', async () => {
    const database = await freshDatabase();
    const { db, events } = open(database);
    const user = await createUser(db);
    await pair.waitForReplay();
    await replicaInUse(db);
    const before = await scansNow(database);
    events.length = 0;
    for (let i = 0; i < 20; i++) {
      await db.transaction(async (tx) => {
        await tx.users.findById(user.id);
        await tx.kysely.selectFrom('pg_users').select('id').where('id', '=', user.id).execute();
        await tx.executeRaw('SELECT id FROM pg_users WHERE id = $1', [user.id], { replica: true });
        await tx.transaction(async (inner) => inner.users.findById(user.id));
      });
      await db.kysely
        .transaction()
        .execute((trx) => trx.selectFrom('pg_users').select('id').where('id', '=', user.id).execute());
    }
    expect(new Set(events.map((event) => event.server))).toEqual(new Set(['primary']));
    const after = await scansAfter(db, database);
    expect(after.standby - before.standby).toBe(0);
    expect(after.primary - before.primary).toBe(20 * 5);
  }, 120_000);

  it('a stream reads from the replica as a read does; inside a transaction, through db.primary or after a write of its scope, from the primary', async () => {
    const database = await freshDatabase();
    const { db, events } = open(database);
    const user = await createUser(db);
    await pair.waitForReplay();
    await replicaInUse(db);
    const drain = async (rows: AsyncIterable<unknown>) => {
      let count = 0;
      for await (const _ of rows) count += 1;
      return count;
    };
    const before = await scansNow(database);
    await db.consistency.run(async () => {
      events.length = 0;
      expect(await drain(db.users.stream({ batchSize: 1 }))).toBe(1);
      expect(await drain(db.stream(db.kysely.selectFrom('pg_users').select('id')))).toBe(1);
      expect(await drain(db.streamRaw('SELECT id FROM pg_users', [], { replica: true }))).toBe(1);
      expect(new Set(events.map((event) => event.server))).toEqual(new Set(['replica-1']));

      events.length = 0;
      await drain(db.streamRaw('SELECT id FROM pg_users'));
      await drain(db.primary.users.stream());
      await db.transaction(async (tx) => drain(tx.users.stream()));
      expect(new Set(events.map((event) => event.server))).toEqual(new Set(['primary']));
    });
    await db.consistency.run(async () => {
      await db.users.update(user.id, { name: 'Streamed after a write' });
      const names: string[] = [];
      for await (const row of db.users.stream()) names.push(row.name ?? '');
      expect(names).toEqual(['Streamed after a write']);
    });
    const after = await scansAfter(db, database);
    expect(after.standby - before.standby).toBe(3);
  });

  it('a token carries read-your-writes to another scope and another database object', async () => {
    const database = await freshDatabase();
    const { db } = open(database, { POSTGRES_REPLICA_MAX_LAG_MS: '0' });
    const other = open(database, { POSTGRES_REPLICA_MAX_LAG_MS: '0' }).db;
    await replicaInUse(db);
    await replicaInUse(other);
    await pair.standby.pauseReplay();
    try {
      const { user, token } = await db.consistency.run(async () => ({
        user: await createUser(db),
        token: await db.consistency.token(),
      }));
      expect(typeof token).toBe('string');
      // Without the token, a scope that wrote nothing reads the paused standby: the user is not there yet.
      expect(await other.consistency.run(() => other.users.findById(user.id))).toBeUndefined();
      expect(
        await other.consistency.run(() => other.users.findById(user.id), { after: token }),
      ).toMatchObject({
        id: user.id,
      });
      expect(() => other.consistency.run(() => undefined, { after: 'rw1.zz' })).toThrow(ValidationError);

      // A service without replicas gives tokens too: the primary's position after its writes.
      const plain = createDatabase(
        loadConfig({ POSTGRES_PRISMA_URL: pair.primary.url(database), DATABASE_LOG_LEVEL: 'silent' }),
      );
      opened.push(plain);
      const written = await createUser(plain);
      const plainToken = await plain.consistency.token();
      expect(await other.consistency.run(() => other.users.findById(written.id))).toBeUndefined();
      expect(
        await other.consistency.run(() => other.users.findById(written.id), { after: plainToken }),
      ).toMatchObject({ id: written.id });
    } finally {
      await pair.standby.resumeReplay();
    }
  });

  it('a replica further behind than POSTGRES_REPLICA_MAX_LAG_MS is not used until it catches up', async () => {
    const database = await freshDatabase();
    const { db, events } = open(database, { POSTGRES_REPLICA_MAX_LAG_MS: '300' });
    const user = await createUser(db);
    await pair.waitForReplay();
    await replicaInUse(db);
    await pair.standby.pauseReplay();
    try {
      // Another scope writes, so the primary moves on while the standby stands still.
      await db.consistency.run(async () => {
        for (let i = 0; i < 10; i++) {
          await createUser(db);
          await sleep(60);
        }
      });
      const [report] = (await db.health()).replicas ?? [];
      expect(report).toMatchObject({ server: 'replica-1', reachable: true, inUse: false });
      expect(report?.lagMs).toBeGreaterThan(300);
      expect(report?.reason).toContain('POSTGRES_REPLICA_MAX_LAG_MS');
      events.length = 0;
      await db.consistency.run(() => db.users.findById(user.id));
      expect(events.map((event) => event.server)).toEqual(['primary']);
    } finally {
      await pair.standby.resumeReplay();
    }
    await replicaInUse(db);
    events.length = 0;
    await db.consistency.run(() => db.users.findById(user.id));
    expect(events.map((event) => event.server)).toEqual(['replica-1']);
  });

  it('a read that writes is refused by the standby and runs on the primary', async () => {
    const database = await freshDatabase();
    const { db, events } = open(database);
    await db.executeRaw('CREATE SEQUENCE replica_test_sequence');
    await pair.waitForReplay();
    await replicaInUse(db);
    events.length = 0;
    const [row] = await db.consistency.run(() =>
      db.executeRaw<{ n: string }>("SELECT nextval('replica_test_sequence') AS n", [], { replica: true }),
    );
    expect(row?.n).toBe('1');
    expect(events.map((event) => [event.server, event.error?.code])).toEqual([
      ['replica-1', '25006'],
      ['primary', undefined],
    ]);
    expect((await db.health()).replicas?.[0]?.inUse).toBe(true);
  });

  it('health() reports every replica, and a scope that wrote reads from the primary until the replica has replayed it', async () => {
    const database = await freshDatabase();
    const { db, events } = open(database);
    await replicaInUse(db);
    const report = await db.health();
    expect(report.replicas).toEqual([
      {
        server: 'replica-1',
        host: '127.0.0.1',
        port: pair.standby.port,
        reachable: true,
        lagMs: expect.any(Number),
        inUse: true,
      },
    ]);
    await db.consistency.run(async () => {
      const user = await createUser(db);
      events.length = 0;
      await db.users.findById(user.id);
      expect(events.map((event) => event.server)).toEqual(['primary']);
      await pair.waitForReplay();
      // Once the monitor has read a primary position after the write, and the replica past it.
      let served: string | undefined;
      for (let attempt = 0; attempt < 100 && served !== 'replica-1'; attempt++) {
        await db.health();
        events.length = 0;
        expect(await db.users.findById(user.id)).toMatchObject({ id: user.id });
        served = events[0]?.server;
      }
      expect(served).toBe('replica-1');
    });
  });

  describe('behind PgBouncer in transaction mode', () => {
    let pgbouncer: PgBouncer;

    beforeAll(async () => {
      pgbouncer = await startPgBouncer(pair.standby.url('postgres'));
    }, 60_000);

    afterAll(async () => {
      await pgbouncer?.stop();
    });

    it('spreads reads over the replicas in use, and leaves out one that refuses connections', async () => {
      const database = await freshDatabase();
      const refusing = `postgres://postgres:postgres@127.0.0.1:${await freePort()}/${database}`;
      const replicas = [pair.standby.url(database), `${pgbouncer.url(database)}?pgbouncer=true`, refusing];
      const { db, events } = open(database, {}, replicas.join(','));
      const user = await createUser(db);
      await pair.waitForReplay();
      await replicaInUse(db, ['replica-1', 'replica-2']);
      const [, , down] = (await db.health()).replicas ?? [];
      expect(down).toMatchObject({ server: 'replica-3', reachable: false, inUse: false });
      expect(down?.reason).toMatch(/^unreachable: /);
      events.length = 0;
      await db.consistency.run(async () => {
        for (let i = 0; i < 100; i++) expect(await db.users.findById(user.id)).toMatchObject({ id: user.id });
      });
      const served = (server: string) => events.filter((event) => event.server === server).length;
      expect(served('replica-1')).toBe(50);
      expect(served('replica-2')).toBe(50);
      expect(events).toHaveLength(100);
    }, 120_000);

    it('reads reach the standby through PgBouncer, and still see the scope’s writes', async () => {
      const database = await freshDatabase();
      const { db, events } = open(
        database,
        { POSTGRES_REPLICA_MAX_LAG_MS: '0' },
        `${pgbouncer.url(database)}?pgbouncer=true`,
      );
      const existing = await createUser(db);
      await pair.waitForReplay();
      await replicaInUse(db);
      const before = await scansNow(database);
      await pair.standby.pauseReplay();
      try {
        for (let i = 0; i < 50; i++) {
          await db.consistency.run(async () => {
            const user = await createUser(db);
            expect(await db.users.findById(user.id)).toMatchObject({ id: user.id });
          });
          await db.consistency.run(() => db.users.findById(existing.id));
        }
      } finally {
        await pair.standby.resumeReplay();
      }
      expect(events.filter((event) => event.server === 'replica-1').length).toBe(50);
      await db.disconnect();
      // PgBouncer keeps its server connections open: closed, the standby's sessions flush their statistics.
      await query(pgbouncer.adminUrl(), `KILL ${database}`);
      const after = await scansAfter(db, database);
      expect(after.standby - before.standby).toBe(50);
      expect(after.primary - before.primary).toBe(50);
    }, 120_000);
  });
});
