/**
 * Named prepared statements on a direct connection: the layer's statements are prepared once per
 * connection and reused, raw SQL only when asked, at most DATABASE_STATEMENT_CACHE_SIZE per connection,
 * and a migration between two calls (a changed result type, a session that lost its statements) is
 * survived by preparing again. What the server holds is read from its own `pg_prepared_statements`, on
 * the same connection (a pool of one).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { runner } from 'node-pg-migrate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import { StalePreparedStatementError, TransactionRollbackError } from '../../src/errors/classes.js';
import { statementName } from '../../src/pool/prepared-statements.js';
import { queryOnce } from '../support/query-once.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
const open: Database[] = [];
afterAll(() => Promise.all(open.map((db) => db.disconnect())));

/** A database on a direct connection (never through PgBouncer: this file is about the server's view). */
function database(extra: Environment = {}): { db: Database; events: QueryEvent[] } {
  const env = testDb.env({ POSTGRES_PRISMA_URL: testDb.url, POSTGRES_POOL_MAX: '1', ...extra });
  const db = createDatabase(loadConfig(env), { logParameters: true });
  open.push(db);
  const events: QueryEvent[] = [];
  db.on('query', (event) => events.push(event));
  return { db, events };
}

interface ServerStatement {
  name: string;
  statement: string;
  runs: number;
}

/** The layer's statements prepared on the session this (one-connection) database runs on. */
async function serverStatements(db: Database): Promise<ServerStatement[]> {
  return db.executeRaw<ServerStatement>(
    `SELECT name, statement, (generic_plans + custom_plans)::int AS runs
       FROM pg_catalog.pg_prepared_statements WHERE name LIKE 'shared\\_db\\_%' ORDER BY prepare_time, name`,
  );
}

let aliceId: string;
let bobId: string;
beforeAll(async () => {
  const { db } = database();
  aliceId = (
    await db.users.create({ email: 'alice@example.com', name: 'Alice', roles: [{ name: 'author' }] })
  ).id;
  bobId = (await db.users.create({ email: 'bob@example.com', name: 'Bob' })).id;
  await db.posts.create({ authorId: aliceId, title: 'Prepared', content: 'once per connection' });
});

describe('on a direct connection', () => {
  it('prepares a repository statement once per connection and runs it again by name', async () => {
    const { db, events } = database();
    for (const id of [aliceId, bobId, aliceId]) {
      await db.users.getById(id, { include: { posts: true, roles: true } });
    }
    const sent = events.map((e) => e.sql);
    expect(new Set(sent).size).toBe(1);
    expect(events.every((e) => e.prepared)).toBe(true);
    const [statement] = await serverStatements(db);
    expect(statement).toEqual({ name: statementName(sent[0] as string), statement: sent[0], runs: 3 });
    // The name comes from the text alone: the same on every connection and in every process.
    expect(statement?.name).toMatch(/^shared_db_[0-9a-f]{32}$/);
  });

  it("prepares the query builder's statements, but not raw SQL unless asked, nor BEGIN and COMMIT", async () => {
    const { db, events } = database();
    await db.kysely.selectFrom('pg_users').select('email').where('id', '=', aliceId).execute();
    await sql`SELECT ${'raw'}::text AS raw`.execute(db.kysely);
    await db.executeRaw('SELECT $1::text AS unnamed', ['x']);
    await db.executeRaw('SELECT $1::text AS named', ['x'], { prepare: true });
    await db.executeRaw('SELECT $1::text AS named', ['y'], { prepare: true });
    await db.transaction(async (tx) => {
      await tx.executeRaw('SELECT $1::int AS in_transaction', [1], { prepare: true });
      await tx.users.findById(bobId);
    });
    expect(events.map((e) => [e.sql.slice(0, 40), e.prepared])).toEqual([
      [expect.stringMatching(/^select "email" from "public"."pg_users"/), true],
      ['SELECT $1::text AS raw', false],
      ['SELECT $1::text AS unnamed', false],
      ['SELECT $1::text AS named', true],
      ['SELECT $1::text AS named', true],
      ['begin', false],
      ['SELECT $1::int AS in_transaction', true],
      [expect.stringMatching(/^select/), true],
      ['commit', false],
    ]);
    const onServer = await serverStatements(db);
    expect(onServer.map((s) => s.statement)).not.toContain('SELECT $1::text AS unnamed');
    expect(onServer.find((s) => s.statement === 'SELECT $1::text AS named')?.runs).toBe(2);
    expect(onServer).toHaveLength(4);
  });

  it('sends search and metadata filters unnamed, in and out of transactions: their best plans depend on the values', async () => {
    const { db, events } = database();
    const calls = async (scope: Pick<Database, 'posts'>) => {
      await scope.posts.search('prepared');
      await scope.posts.search('prep', { mode: 'prefix' });
      await scope.posts.findByMetadata({ category: 'none' });
      await scope.posts.findMany({ first: 5 });
    };
    await db.posts.search('warm'); // reads the text search configurations once
    events.length = 0;
    await calls(db);
    await db.transaction(calls);
    const named = events.filter((e) => !/^(begin|commit)$/.test(e.sql)).map((e) => e.prepared);
    expect(named).toEqual([false, false, false, true, false, false, false, true]);
    const found = await db.posts.search('prepared', { includeUnpublished: true });
    expect(found.items.map((p) => p.title)).toEqual(['Prepared']);
  });

  it('keeps at most DATABASE_STATEMENT_CACHE_SIZE per connection, closing the least recently used', async () => {
    const { db } = database({ DATABASE_STATEMENT_CACHE_SIZE: '3' });
    const run = (n: number) => db.executeRaw(`SELECT $1::int + ${n} AS n`, [1], { prepare: true });
    for (const n of [1, 2, 3]) await run(n);
    await run(1); // now 2 is the least recently used
    await run(4);
    const texts = async () => (await serverStatements(db)).map((s) => s.statement).sort();
    expect(await texts()).toEqual([
      'SELECT $1::int + 1 AS n',
      'SELECT $1::int + 3 AS n',
      'SELECT $1::int + 4 AS n',
    ]);
    // A closed statement comes back as a new one, and the results stay right throughout.
    expect(await run(2)).toEqual([{ n: 3 }]);
    expect(await texts()).toEqual([
      'SELECT $1::int + 1 AS n',
      'SELECT $1::int + 2 AS n',
      'SELECT $1::int + 4 AS n',
    ]);
  });

  it('never holds more than the limit on the server, however many distinct statements run', async () => {
    const { db } = database({ DATABASE_STATEMENT_CACHE_SIZE: '10' });
    for (let n = 0; n < 500; n += 1) {
      const [row] = await db.executeRaw<{ n: number }>(`SELECT $1::int * ${n} AS n`, [2], { prepare: true });
      expect(row?.n).toBe(2 * n);
    }
    expect(await serverStatements(db)).toHaveLength(10);
  });

  it('sends nothing named with DATABASE_PREPARED_STATEMENTS=false', async () => {
    const { db, events } = database({ DATABASE_PREPARED_STATEMENTS: 'false' });
    await db.users.getById(aliceId, { include: { posts: true } });
    await db.executeRaw('SELECT 1 AS one', [], { prepare: true });
    expect(events.some((e) => e.prepared)).toBe(false);
    expect(await serverStatements(db)).toEqual([]);
  });
});

describe('a migration while the application runs', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one node-pg-migrate migration (its `up`, as JavaScript) on the server, in its own session. */
  async function runMigration(name: string, up: string): Promise<void> {
    const dir = mkdtempSync(join(tmpdir(), 'shared-db-prepared-'));
    dirs.push(dir);
    writeFileSync(join(dir, `${Date.now()}_${name}.cjs`), `exports.up = (pgm) => { ${up} };\n`);
    await runner({
      databaseUrl: testDb.url,
      dir,
      migrationsTable: `prepared_test_${name}`,
      direction: 'up',
      log: () => {},
      checkOrder: false,
    });
  }

  const adminQuery = (text: string) => queryOnce(testDb.url, text);

  it('survives a column type change between two calls on the same connection by preparing again, once', async () => {
    const { db, events } = database();
    const before = await db.users.getById(aliceId, { include: { posts: true, roles: true } });
    await runMigration('name_type', "pgm.alterColumn('pg_users', 'name', { type: 'varchar(300)' });");
    events.length = 0;
    const after = await db.users.getById(aliceId, { include: { posts: true, roles: true } });
    expect(after).toEqual(before);
    // The server refused the stale statement once; the layer closed it, prepared it again and reran it.
    expect(events.map((e) => [e.prepared, e.error?.name, e.error?.code])).toEqual([
      [true, 'StalePreparedStatementError', '0A000'],
      [true, undefined, undefined],
    ]);
    events.length = 0;
    await db.users.getById(bobId);
    await db.users.getById(aliceId, { include: { posts: true, roles: true } });
    expect(events.map((e) => e.error)).toEqual([undefined, undefined]);
  });

  it("survives a new column under a query builder's select *, and returns it", async () => {
    const { db } = database();
    const all = () => db.kysely.selectFrom('pg_roles').selectAll().where('userId', '=', aliceId).execute();
    expect(Object.keys((await all())[0] ?? {})).not.toContain('note');
    await runMigration('role_note', "pgm.addColumn('pg_roles', { note: { type: 'text', default: 'n/a' } });");
    const [role] = (await all()) as Array<Record<string, unknown>>;
    expect(role?.note).toBe('n/a');
    await adminQuery('ALTER TABLE public.pg_roles DROP COLUMN note');
    expect(Object.keys((await all())[0] ?? {})).not.toContain('note');
  });

  it('prepares again after the session lost its statements (DISCARD ALL)', async () => {
    const { db, events } = database();
    await db.users.getById(aliceId);
    await db.executeRaw('DISCARD ALL');
    events.length = 0;
    expect((await db.users.getById(aliceId)).email).toBe('alice@example.com');
    expect(events.map((e) => e.error?.code)).toEqual(['26000', undefined]);
    expect(await serverStatements(db)).toHaveLength(1);
  });

  it('inside a transaction: rolls it back with StalePreparedStatementError, and `retry` runs it again', async () => {
    const { db, events } = database();
    await db.users.getById(bobId);
    await adminQuery('ALTER TABLE public.pg_users ALTER COLUMN name TYPE varchar(400)');
    let attempt = 0;
    const work = async (tx: Parameters<Parameters<Database['transaction']>[0]>[0]) => {
      await tx.users.create({ email: `in-transaction-${attempt++}@example.com` });
      return tx.users.getById(bobId);
    };
    const stale = db.transaction(work);
    await expect(stale).rejects.toBeInstanceOf(StalePreparedStatementError);
    // A caller's retry on TransactionRollbackError (as for a serialization failure) covers it too.
    await expect(stale).rejects.toBeInstanceOf(TransactionRollbackError);
    // Nothing of it was kept.
    expect(await db.users.findByEmail('in-transaction-0@example.com')).toBeUndefined();

    await db.users.getById(bobId); // prepared again, then stale again:
    await adminQuery('ALTER TABLE public.pg_users ALTER COLUMN name TYPE varchar(500)');
    const bob = await db.transaction(work, { retry: true });
    expect(bob.email).toBe('bob@example.com');
    expect(attempt).toBe(3);
    expect(await db.users.findByEmail('in-transaction-1@example.com')).toBeUndefined();
    expect(await db.users.findByEmail('in-transaction-2@example.com')).toBeDefined();
    expect(events.filter((e) => e.error?.name === 'StalePreparedStatementError')).toHaveLength(2);
  });

  it("after one connection finds a statement stale, the pool's other connections prepare theirs again", async () => {
    const { db, events } = database({ POSTGRES_POOL_MAX: '2' });
    // Both connections prepare the statement: two transactions at once hold one connection each.
    const both = () =>
      Promise.all(
        [0, 1].map(() =>
          db.transaction(async (tx) => {
            await tx.executeRaw('SELECT pg_catalog.pg_sleep(0.05)');
            return tx.users.getById(aliceId);
          }),
        ),
      );
    await both();
    await adminQuery('ALTER TABLE public.pg_users ALTER COLUMN name TYPE varchar(600)');
    events.length = 0;
    await db.users.getById(aliceId); // one connection: stale, prepared again
    const stale = events.filter((e) => e.error).length;
    expect(stale).toBe(1);
    // The other connection, in a transaction, where a stale statement could not be retried, prepares
    // it again before running it.
    const users = await both();
    expect(users.map((u) => u.email)).toEqual(['alice@example.com', 'alice@example.com']);
    expect(events.filter((e) => e.error)).toHaveLength(stale);
  });
});
