/**
 * Timeouts and faults against a real PostgreSQL: statement and idle-in-transaction timeouts set with
 * SET LOCAL, pool exhaustion, backends terminated mid-query and mid-transaction, a server restart while
 * the application runs, disconnect() with work in flight, and what health() reports.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createId } from '@paralleldrive/cuid2';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { freePort, startEmbeddedServer } from '../../scripts/lib/embedded-server.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import {
  ConnectionError,
  DisconnectedError,
  PoolTimeoutError,
  QueryTimeoutError,
  StatementTimeoutError,
  TransactionScopeError,
  ValidationError,
} from '../../src/errors/classes.js';
import { migrate } from '../../src/migrate/migrate.js';
import { terminateBackends, waitForBackend } from '../support/backends.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { closedGate } from '../support/lock-gate.js';
import { openDatabases } from '../support/open-databases.js';
import { openDespiteShortTimeout } from '../support/open-despite-short-timeout.js';
import { rejection } from '../support/rejection.js';
import { usersWithEmail } from '../support/row-counts.js';
import { sleep } from '../support/sleep.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const { database, named } = openDatabases(testDb);

/** Resolves once `logger` says a connection in use was lost: the client has seen the server end it. */
async function untilConnectionLost(logger: ReturnType<typeof collectingLogger>): Promise<void> {
  await expect
    .poll(() => logger.lines.map((line) => line.message), { timeout: 20_000, interval: 10 })
    .toContain('a connection in use was closed by the server; the work on it fails with ConnectionError');
}

/** Terminates the backends of `name` once one is in `state` (running `query`, when given). */
async function terminateWhen(
  name: string,
  state: 'active' | 'idle in transaction',
  query = '%',
): Promise<void> {
  await waitForBackend(testDb.url, name, state, query);
  expect(await terminateBackends(testDb.url, name)).toContain(true);
}

describe('statement timeouts', () => {
  it('per transaction: SET LOCAL, QueryTimeoutError, nothing kept, and the session setting untouched', async () => {
    const db = database({ POSTGRES_POOL_MAX: '1' });
    const events: QueryEvent[] = [];
    db.on('query', (event) => events.push(event));
    const address = uniqueEmail();
    const error = await rejection(
      db.transaction(
        async (tx) => {
          await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), address]);
          await tx.executeRaw('SELECT pg_sleep(30)');
        },
        // The INSERT runs under the limit too: a limit long enough for it on a busy server.
        { statementTimeoutMs: 1000 },
      ),
    );
    // The timeout cut the sleep short: it ends in the server's cancel, not in the sleep's end.
    expect(error).toBeInstanceOf(StatementTimeoutError);
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(error).toMatchObject({ code: '57014' });
    expect(await usersWithEmail(testDb.url, address)).toBe(0);
    expect(events.map((event) => event.sql)).toEqual([
      'begin',
      'set local statement_timeout = 1000',
      'INSERT INTO pg_users (id, email) VALUES ($1, $2)',
      'SELECT pg_sleep(30)',
      'rollback',
    ]);
    // The same (only) connection afterwards: the limit ended with the transaction.
    expect(await db.executeRaw('SHOW statement_timeout')).toEqual([{ statement_timeout: '0' }]);
  });

  it('per transaction: a tx.kysely query that runs too long is a QueryTimeoutError too', async () => {
    const db = database();
    const error = await rejection(
      db.transaction((tx) => tx.kysely.selectNoFrom(sql<string>`pg_sleep(2)`.as('slept')).execute(), {
        statementTimeoutMs: 100,
      }),
    );
    expect(error).toBeInstanceOf(QueryTimeoutError);
  });

  it('per query: executeRaw runs in a short transaction with SET LOCAL', async () => {
    const db = database({ POSTGRES_POOL_MAX: '1' });
    const events: QueryEvent[] = [];
    db.on('query', (event) => events.push(event));
    const error = await rejection(db.executeRaw('SELECT pg_sleep(2)', [], { statementTimeoutMs: 100 }));
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(events.map((event) => event.sql)).toEqual([
      'begin',
      'set local statement_timeout = 100',
      'SELECT pg_sleep(2)',
      'rollback',
    ]);
    expect(
      await db.executeRaw<{ n: number }>('SELECT $1::int AS n', [7], { statementTimeoutMs: 30_000 }),
    ).toEqual([{ n: 7 }]);
    expect(await db.executeRaw('SHOW statement_timeout')).toEqual([{ statement_timeout: '0' }]);
  });

  it('per query inside a transaction: in a savepoint, the transaction goes on with its own limit', async () => {
    const db = database();
    const address = uniqueEmail();
    const limits = await db.transaction(
      async (tx) => {
        await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), address]);
        const failed = await rejection(tx.executeRaw('SELECT pg_sleep(2)', [], { statementTimeoutMs: 50 }));
        expect(failed).toBeInstanceOf(QueryTimeoutError);
        const inside = await tx.executeRaw('SHOW statement_timeout', [], { statementTimeoutMs: 4000 });
        const after = await tx.executeRaw('SHOW statement_timeout');
        return { inside, after };
      },
      { statementTimeoutMs: 3000 },
    );
    expect(limits).toEqual({ inside: [{ statement_timeout: '4s' }], after: [{ statement_timeout: '3s' }] });
    expect(await usersWithEmail(testDb.url, address)).toBe(1);
  });

  it('refuses a bad limit, and a limit on a nested transaction', async () => {
    const db = database();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 31]) {
      await expect(db.executeRaw('SELECT 1', [], { statementTimeoutMs: bad })).rejects.toBeInstanceOf(
        ValidationError,
      );
      await expect(db.transaction(async () => 1, { idleInTransactionTimeoutMs: bad })).rejects.toMatchObject({
        name: 'ValidationError',
        field: 'idleInTransactionTimeoutMs',
      });
    }
    await expect(
      db.transaction((tx) => tx.transaction(async () => 1, { statementTimeoutMs: 10 })),
    ).rejects.toBeInstanceOf(TransactionScopeError);
  });
});

describe('idle in transaction', () => {
  it('a callback that idles past idleInTransactionTimeoutMs fails with ConnectionError; nothing is kept; the pool recovers', async () => {
    const logger = collectingLogger();
    const db = database({ POSTGRES_POOL_MAX: '1' }, { logger });
    const address = uniqueEmail();
    const error = await rejection(
      db.transaction(
        async (tx) => {
          await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), address]);
          // Idle until the server has ended the session and the client has been told.
          await untilConnectionLost(logger);
          await tx.executeRaw('SELECT 1');
        },
        { idleInTransactionTimeoutMs: 150 },
      ),
    );
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: '25P03' });
    expect(error.message).toMatch(/idle-in-transaction timeout/);
    expect(await usersWithEmail(testDb.url, address)).toBe(0);
    expect(logger.lines).toContainEqual({
      level: 'warn',
      message: 'a connection in use was closed by the server; the work on it fails with ConnectionError',
      fields: { error: expect.stringMatching(/idle-in-transaction timeout/) },
    });
    // The only connection was replaced.
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    // A callback that keeps within the limit commits.
    await db.transaction(
      async (tx) => {
        await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), address]);
        await sleep(50);
      },
      { idleInTransactionTimeoutMs: 60_000 },
    );
    expect(await usersWithEmail(testDb.url, address)).toBe(1);
  });
});

describe('pool exhaustion', () => {
  it('ends in PoolTimeoutError for every API after POSTGRES_POOL_TIMEOUT_MS, and the pool recovers', async () => {
    const db = database({ POSTGRES_POOL_MAX: '1', POSTGRES_POOL_TIMEOUT_MS: '200' });
    await openDespiteShortTimeout(() => db.executeRaw('SELECT 1'));
    const gate = await closedGate(testDb.url);
    const holding = db.executeRaw(gate.sql, gate.params);
    await gate.waiting();
    // The only connection stays held until the gate opens, after every call has failed.
    const errors = await Promise.all([
      rejection(db.users.count()),
      rejection(db.executeRaw('SELECT 1')),
      rejection(db.kysely.selectFrom('pg_users').select('id').execute()),
      rejection(db.transaction(async (tx) => tx.executeRaw('SELECT 1'))),
    ]);
    for (const error of errors) {
      expect(error).toBeInstanceOf(PoolTimeoutError);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.message).toMatch(/POSTGRES_POOL_TIMEOUT_MS/);
    }
    await gate.open();
    await holding;
    expect(await db.users.count()).toBeGreaterThanOrEqual(0);
    expect(await db.kysely.selectNoFrom(sql<number>`1`.as('one')).execute()).toEqual([{ one: 1 }]);
    expect(await db.transaction(async (tx) => tx.executeRaw('SELECT 2 AS two'))).toEqual([{ two: 2 }]);
    expect((await db.health()).pool).toEqual({ total: 1, idle: 1, waiting: 0 });
  });
});

describe('a terminated backend', () => {
  it('mid-query: ConnectionError from executeRaw and db.kysely; the next call succeeds', async () => {
    const name = `fault_query_${createId()}`;
    const db = named(name, { POSTGRES_POOL_MAX: '1' });
    // Awaited in an async function, as callers do: that is the frame the stack starts at.
    const sleepRaw = async () => {
      await db.executeRaw('SELECT pg_sleep(10)');
    };
    const sleepBuilt = async () => {
      await db.kysely.selectNoFrom(sql<string>`pg_sleep(10)`.as('slept')).execute();
    };
    const firstFrame = (error: Error) => error.stack?.split('\n').find((line) => line.startsWith('    at '));

    const running = rejection(sleepRaw());
    await terminateWhen(name, 'active', '%pg_sleep%');
    const error = await running;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: '57P01' });
    // The stack starts at the caller, without the driver's or Kysely's frames appended.
    expect(firstFrame(error)).toMatch(/at (async )?sleepRaw .*test[\\/]cross-cutting[\\/]faults\.test\.ts/);
    expect(error.stack).not.toMatch(/node_modules[\\/](kysely|pg|pg-pool|pg-protocol)[\\/]/);
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);

    const built = rejection(sleepBuilt());
    await terminateWhen(name, 'active', '%pg_sleep%');
    const builtError = await built;
    expect(builtError).toBeInstanceOf(ConnectionError);
    expect(firstFrame(builtError)).toMatch(
      /at (async )?sleepBuilt .*test[\\/]cross-cutting[\\/]faults\.test\.ts/,
    );
    expect(builtError.stack).not.toMatch(/node_modules[\\/](kysely|pg|pg-pool|pg-protocol)[\\/]/);
    expect(await db.users.count()).toBeGreaterThanOrEqual(0);
  });

  it('mid-transaction, during a statement: ConnectionError, the rows it inserted are gone', async () => {
    const name = `fault_tx_${createId()}`;
    const db = named(name, { POSTGRES_POOL_MAX: '1' });
    const address = uniqueEmail();
    const running = rejection(
      db.transaction(async (tx) => {
        await tx.users.create({ email: address, posts: [{ title: 'half-written' }] });
        await tx.executeRaw('SELECT pg_sleep(10)');
      }),
    );
    await terminateWhen(name, 'active', '%pg_sleep%');
    expect(await running).toBeInstanceOf(ConnectionError);
    expect(await usersWithEmail(testDb.url, address)).toBe(0);
    const created = await db.transaction((tx) => tx.users.create({ email: address }));
    expect(created.email).toBe(address);
  });

  it('mid-transaction, between statements: the next statement fails with ConnectionError, the process lives on', async () => {
    const name = `fault_idle_${createId()}`;
    const logger = collectingLogger();
    const db = named(name, { POSTGRES_POOL_MAX: '1' }, { logger });
    const address = uniqueEmail();
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const running = rejection(
      db.transaction(async (tx) => {
        await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), address]);
        await paused;
        await tx.executeRaw('SELECT 1');
      }),
    );
    await terminateWhen(name, 'idle in transaction');
    // The client sees the connection end while the callback still holds it.
    await untilConnectionLost(logger);
    resume();
    const error = await running;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: '57P01' });
    expect(await usersWithEmail(testDb.url, address)).toBe(0);
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('mid-transaction, when the callback then throws its own error: that error comes out', async () => {
    const name = `fault_own_${createId()}`;
    const logger = collectingLogger();
    const db = named(name, { POSTGRES_POOL_MAX: '1' }, { logger });
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const running = rejection(
      db.transaction(async (tx) => {
        await tx.executeRaw('SELECT 1');
        await paused;
        throw new Error('my own reason');
      }),
    );
    await terminateWhen(name, 'idle in transaction');
    await untilConnectionLost(logger);
    resume();
    // The server already rolled the transaction back with the session: no ROLLBACK error hides this one.
    expect((await running).message).toBe('my own reason');
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('a PostgreSQL restart while the application runs', () => {
  it('fails calls with ConnectionError during the outage, without crashing, and serves again after', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'shared-db-restart-'));
    const port = await freePort();
    const serverOptions = { dataDir, port, password: 'restart-pw', ephemeral: false };
    let server = await startEmbeddedServer(serverOptions);
    const unhandled: unknown[] = [];
    const record = (error: unknown) => unhandled.push(error);
    process.on('unhandledRejection', record);
    process.on('uncaughtException', record);
    const logger = collectingLogger();
    let db: Database | undefined;
    try {
      const url = server.url();
      await migrate(parseConnectionUrl(url, 'x'), { direction: 'up' });
      db = createDatabase(
        loadConfig({
          ENABLE_POSTGRES: 'true',
          POSTGRES_PRISMA_URL: url,
          POSTGRES_URL_NON_POOLING: url,
          // Calls fail at once while the server is down (connection refused); a new connection after the
          // restart gets all the time a busy machine needs.
          POSTGRES_POOL_TIMEOUT_MS: '30000',
        }),
        { logger },
      );
      const before = await db.users.create({ email: uniqueEmail() });
      await db.executeRaw('SELECT 1');

      await server.stop();
      const outage = await Promise.all([
        rejection(db.users.getById(before.id)),
        rejection(db.executeRaw('SELECT 1')),
        rejection(db.kysely.selectFrom('pg_users').select('id').execute()),
        rejection(db.transaction((tx) => tx.users.create({ email: uniqueEmail() }))),
      ]);
      for (const error of outage) expect(error).toBeInstanceOf(ConnectionError);
      const down = await db.health();
      expect(down.ok).toBe(false);
      expect(down.error).toMatch(/ECONNREFUSED/);

      server = await startEmbeddedServer(serverOptions);
      const after = await db.users.getById(before.id);
      expect(after.email).toBe(before.email);
      expect(await db.transaction((tx) => tx.users.count())).toBe(1);
      expect((await db.health()).ok).toBe(true);
      // The idle connection the shutdown closed was logged, not thrown.
      expect(logger.lines.map((line) => line.message)).toContain(
        'an idle connection was closed by the server; the pool will open a new one',
      );
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
      process.off('uncaughtException', record);
      await db?.disconnect();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('disconnect', () => {
  it('lets a running transaction commit, then refuses new work with DisconnectedError', async () => {
    const db = database();
    const address = uniqueEmail();
    const gate = await closedGate(testDb.url);
    const running = db.transaction(async (tx) => {
      await tx.executeRaw(gate.sql, gate.params);
      return tx.users.create({ email: address });
    });
    await gate.waiting();
    const closing = db.disconnect();
    expect(db.disconnected).toBe(true);
    await gate.open();
    expect((await running).email).toBe(address);
    await closing;
    expect(await usersWithEmail(testDb.url, address)).toBe(1);
    await expect(db.users.count()).rejects.toBeInstanceOf(DisconnectedError);
    await expect(db.executeRaw('SELECT 1', [], { statementTimeoutMs: 100 })).rejects.toBeInstanceOf(
      DisconnectedError,
    );
    await expect(db.kysely.selectFrom('pg_users').select('id').execute()).rejects.toThrow(
      /has been disconnected/,
    );
  });
});

describe('health', () => {
  it('reports the version, the round trip, the pool counts and whether PgBouncer is in the way', async () => {
    const db = database({ POSTGRES_PRISMA_URL: `${testDb.url}?pgbouncer=true`, POSTGRES_POOL_MAX: '3' });
    const gate = await closedGate(testDb.url);
    const holding = db.executeRaw(gate.sql, gate.params);
    await gate.waiting();
    const report = await db.health();
    await gate.open();
    await holding;
    expect(report).toEqual({
      ok: true,
      serverVersion: expect.stringMatching(/^\d+(\.\d+)?/),
      roundTripMs: expect.any(Number),
      pool: { total: 2, idle: 1, waiting: 0 },
      pgbouncer: true,
      search: expect.objectContaining({ index: expect.stringMatching(/^(rum|gin)$/) }),
    });
    expect(report.roundTripMs).toBeGreaterThan(0);
    expect((await database().health()).pgbouncer).toBe(false);
  });
});
