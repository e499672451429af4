import { createId } from '@paralleldrive/cuid2';
import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { SPEC_USER_SUMMARY_SQL } from '../../scripts/lib/spec-queries.js';
import type { Database } from '../../src/database/database.js';
import { DisconnectedError } from '../../src/errors/classes.js';
import { terminateBackends, withApplicationName } from '../support/backends.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { closedGate } from '../support/lock-gate.js';
import { openDatabases } from '../support/open-databases.js';
import { openDespiteShortTimeout } from '../support/open-despite-short-timeout.js';
import { queryOnce } from '../support/query-once.js';
import { sleep } from '../support/sleep.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const { database } = openDatabases(testDb);

const adminQuery = <Row extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  params?: unknown[],
) => queryOnce<Row>(testDb.url, text, params);

async function updatedAtOf(id: string): Promise<Date> {
  const [row] = await adminQuery<{ updated_at: Date }>('SELECT updated_at FROM pg_users WHERE id = $1', [id]);
  if (!row) throw new Error(`no user ${id}`);
  return row.updated_at;
}

let db: Database;
beforeAll(() => {
  db = database();
});

async function insertUser(email = uniqueEmail()) {
  return db.kysely
    .insertInto('pg_users')
    .values({ id: createId(), email })
    .returningAll()
    .executeTakeFirstOrThrow();
}

describe('the typed query builder', () => {
  it('qualifies every table with the application schema, so pg_roles is never the system view', async () => {
    const query = db.kysely.selectFrom('pg_roles').select(['id', 'name']).where('name', '=', 'author');
    expect(query.compile().sql).toBe('select "id", "name" from "public"."pg_roles" where "name" = $1');
    expect(query.compile().parameters).toEqual(['author']);
    const user = await insertUser();
    await db.kysely
      .insertInto('pg_roles')
      .values({ id: createId(), name: 'author', userId: user.id })
      .execute();
    const rows = await db.kysely
      .selectFrom('pg_roles')
      .select('userId')
      .where('userId', '=', user.id)
      .execute();
    expect(rows).toEqual([{ userId: user.id }]);
  });

  it('returns timestamps as Date and metadata as an object', async () => {
    const user = await insertUser();
    const post = await db.kysely
      .insertInto('pg_posts')
      .values({
        id: createId(),
        title: 'T',
        authorId: user.id,
        metadata: JSON.stringify({ tags: ['a', 'b'] }),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    expect(post.created_at).toBeInstanceOf(Date);
    expect(post.metadata).toEqual({ tags: ['a', 'b'] });
    expect(post.published).toBe(false);
  });
});

describe('executeRaw', () => {
  it('binds $1-style parameters and keeps hostile text literal', async () => {
    const hostile = "x'); DROP TABLE pg_users; --";
    const user = await insertUser(uniqueEmail());
    await db.executeRaw('UPDATE pg_users SET name = $1 WHERE id = $2', [hostile, user.id]);
    const rows = await db.executeRaw<{ name: string }>('SELECT name FROM pg_users WHERE id = $1', [user.id]);
    expect(rows).toEqual([{ name: hostile }]);
  });

  it("runs the spec's raw aggregate query verbatim, reaching the application's pg_roles", async () => {
    const user = await insertUser();
    await db.executeRaw('INSERT INTO pg_roles (id, name, "userId") VALUES ($1, $2, $3), ($4, $5, $3)', [
      createId(),
      'author',
      user.id,
      createId(),
      'editor',
    ]);
    const result = await db.executeRaw<{ id: string; post_count: string; roles: string }>(
      SPEC_USER_SUMMARY_SQL,
    );
    const row = result.find((each) => each.id === user.id);
    expect(row?.post_count).toBe('0');
    expect(row?.roles.split(', ').sort()).toEqual(['author', 'editor']);
  });

  it('fails on a parameter count that does not match, without running anything', async () => {
    await expect(db.executeRaw('SELECT $1::int + $2::int AS sum', [1])).rejects.toThrow(
      /bind message supplies 1/,
    );
  });
});

describe('transaction', () => {
  it('commits when the callback resolves', async () => {
    const email = uniqueEmail();
    const id = await db.transaction(async (tx) => {
      const user = await tx.kysely
        .insertInto('pg_users')
        .values({ id: createId(), email })
        .returning('id')
        .executeTakeFirstOrThrow();
      await tx.executeRaw('INSERT INTO pg_posts (id, title, "authorId") VALUES ($1, $2, $3)', [
        createId(),
        'P',
        user.id,
      ]);
      return user.id;
    });
    expect(await adminQuery('SELECT count(*)::int AS n FROM pg_posts WHERE "authorId" = $1', [id])).toEqual([
      { n: 1 },
    ]);
  });

  it('rolls everything back when the callback throws', async () => {
    const email = uniqueEmail();
    await expect(
      db.transaction(async (tx) => {
        await tx.kysely.insertInto('pg_users').values({ id: createId(), email }).execute();
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(await adminQuery('SELECT count(*)::int AS n FROM pg_users WHERE email = $1', [email])).toEqual([
      { n: 0 },
    ]);
  });

  it('runs at the isolation level asked for', async () => {
    const level = await db.transaction(
      (tx) => tx.executeRaw<{ transaction_isolation: string }>('SHOW transaction_isolation'),
      {
        isolationLevel: 'serializable',
      },
    );
    expect(level).toEqual([{ transaction_isolation: 'serializable' }]);
  });
});

describe('the schema', () => {
  it('keeps updated_at by trigger, also for raw SQL, and not on a no-op update', async () => {
    const user = await insertUser();
    await adminQuery(
      "UPDATE pg_users SET created_at = now() - interval '1 day', updated_at = now() - interval '1 day' WHERE id = $1",
      [user.id],
    );
    const before = await updatedAtOf(user.id);
    await db.executeRaw('UPDATE pg_users SET name = name WHERE id = $1', [user.id]);
    expect(await updatedAtOf(user.id)).toEqual(before);
    await db.executeRaw('UPDATE pg_users SET name = $1 WHERE id = $2', ['New', user.id]);
    const after = await updatedAtOf(user.id);
    expect(after.getTime()).toBeGreaterThan(before.getTime());
  });

  it('keeps an updated_at that an UPDATE sets itself (a backfill)', async () => {
    const user = await insertUser();
    const backfilled = new Date('2020-01-02T03:04:05.678Z');
    await db.executeRaw('UPDATE pg_users SET name = $1, updated_at = $2 WHERE id = $3', [
      'Old',
      backfilled,
      user.id,
    ]);
    expect(await updatedAtOf(user.id)).toEqual(backfilled);
  });

  it('keeps one live user per email, case-insensitively, and frees it on soft delete', async () => {
    const email = `Mixed.${createId()}@Example.com`;
    const first = await insertUser(email);
    await expect(insertUser(email.toLowerCase())).rejects.toMatchObject({ code: '23505' });
    await db.kysely
      .updateTable('pg_users')
      .set({ deleted_at: new Date() })
      .where('id', '=', first.id)
      .execute();
    await expect(insertUser(email.toUpperCase())).resolves.toMatchObject({ email: email.toUpperCase() });
  });

  it('rejects blank emails, titles and role names, and metadata that is not an object', async () => {
    await expect(insertUser('  ')).rejects.toMatchObject({ code: '23514' });
    const user = await insertUser();
    await expect(
      db.kysely.insertInto('pg_posts').values({ id: createId(), title: ' ', authorId: user.id }).execute(),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.kysely
        .insertInto('pg_posts')
        .values({ id: createId(), title: 'T', authorId: user.id, metadata: '[1]' })
        .execute(),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.kysely.insertInto('pg_roles').values({ id: createId(), name: '', userId: user.id }).execute(),
    ).rejects.toMatchObject({ code: '23514' });
  });
});

describe('health', () => {
  it('reports the server version, the round trip and the pool', async () => {
    const report = await db.health();
    expect(report.ok).toBe(true);
    expect(report.serverVersion).toMatch(/^\d+(\.\d+)?/);
    expect(report.roundTripMs).toBeGreaterThan(0);
    expect(report.pool.total).toBeGreaterThanOrEqual(1);
    expect(report.pool.waiting).toBe(0);
    expect(report.pgbouncer).toBe(false);
    expect(['rum', 'gin']).toContain(report.search?.index);
  });

  it('reports an unreachable server without throwing and without the password', async () => {
    const unreachable = database({
      POSTGRES_PRISMA_URL: 'postgres://app:Hidden-Pa55@127.0.0.1:1/db',
      POSTGRES_POOL_TIMEOUT_MS: '2000',
    });
    const report = await unreachable.health();
    expect(report.ok).toBe(false);
    expect(report.error).toMatch(/ECONNREFUSED/);
    expect(report.search).toBeUndefined();
    expect(JSON.stringify(report)).not.toContain('Hidden-Pa55');
  });
});

describe('the pool', () => {
  it('survives a connection the server drops while idle, and the next query succeeds', async () => {
    const logger = collectingLogger();
    // Backends are found by name across the server, which another test run may share.
    const name = `dropped_idle_${createId()}`;
    const own = database({ POSTGRES_PRISMA_URL: withApplicationName(testDb.url, name) }, { logger });
    await own.executeRaw('SELECT 1');
    expect(await terminateBackends(testDb.url, name)).toEqual([true]);
    const warnings = () => logger.lines.filter((line) => line.level === 'warn');
    await expect.poll(() => warnings().length, { timeout: 20_000 }).toBe(1);
    expect(warnings()[0]?.message).toMatch(/idle connection was closed/);
    expect(await own.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('bounds the wait for a free connection', async () => {
    const small = database({ POSTGRES_POOL_MAX: '1', POSTGRES_POOL_TIMEOUT_MS: '300' });
    await openDespiteShortTimeout(() => small.executeRaw('SELECT 1'));
    const gate = await closedGate(testDb.url);
    const holding = small.executeRaw(gate.sql, gate.params);
    await gate.waiting();
    // The wait ends in a timeout while the only connection is still held (the gate is closed).
    await expect(small.executeRaw('SELECT 1')).rejects.toThrow(/timeout/i);
    await gate.open();
    await holding;
    expect(await small.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('logs every query with its duration and wait at DATABASE_LOG_LEVEL=debug, parameters redacted', async () => {
    const logger = collectingLogger();
    const verbose = database({ DATABASE_LOG_LEVEL: 'debug' }, { logger });
    await verbose.executeRaw('SELECT $1::text AS x', ['secret-value']);
    expect(logger.lines).toEqual([
      {
        level: 'debug',
        message: 'query',
        fields: {
          sql: 'SELECT $1::text AS x',
          params: ['[redacted]'],
          durationMs: expect.any(Number),
          waitMs: expect.any(Number),
          prepared: false,
          server: 'primary',
        },
      },
    ]);
  });

  it('passes a plugged-in logger only the lines at DATABASE_LOG_LEVEL or above', async () => {
    const logger = collectingLogger();
    const quiet = database({ DATABASE_LOG_LEVEL: 'warn' }, { logger });
    await quiet.executeRaw('SELECT 1');
    expect(logger.lines).toEqual([]);
  });
});

describe('disconnect', () => {
  it('waits for queries in flight, is idempotent, then refuses new work clearly', async () => {
    const closing = database();
    const inFlight = closing.executeRaw<{ done: string }>("SELECT pg_sleep(0.3), 'finished' AS done");
    await sleep(50);
    const first = closing.disconnect();
    const second = closing.disconnect();
    expect(second).toBe(first);
    await expect(inFlight).resolves.toEqual([{ pg_sleep: '', done: 'finished' }]);
    await first;
    expect(closing.disconnected).toBe(true);
    await expect(closing.executeRaw('SELECT 1')).rejects.toBeInstanceOf(DisconnectedError);
    await expect(closing.kysely.selectFrom('pg_users').selectAll().execute()).rejects.toBeInstanceOf(
      DisconnectedError,
    );
    await expect(closing.transaction(async () => 1)).rejects.toBeInstanceOf(DisconnectedError);
    expect((await closing.health()).ok).toBe(false);
  });

  it('disconnects a database that never ran a query', async () => {
    const unused = database();
    await expect(unused.disconnect()).resolves.toBeUndefined();
  });
});
