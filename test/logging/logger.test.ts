/**
 * Query logging against a real PostgreSQL: query events (`db.on('query')`) with the statement's own
 * duration and the wait for a pooled connection, redacted parameters, debug lines, slow-query warnings,
 * Prisma-style `log` options, pino loggers, and a distinctive password that no log line or error shows.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { createId } from '@paralleldrive/cuid2';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Environment } from '../../src/config/settings.js';
import type { Database, QueryEvent } from '../../src/database/database.js';
import { DatabaseClient } from '../../src/database/database-client.js';
import { fromPino, type LogFields } from '../../src/logging/logger.js';
import { collectingLogger, type LogLine } from '../support/collecting-logger.js';
import { closedGate } from '../support/lock-gate.js';
import { openDatabases } from '../support/open-databases.js';
import { openDespiteShortTimeout } from '../support/open-despite-short-timeout.js';
import { queryOnce } from '../support/query-once.js';
import { rejection } from '../support/rejection.js';
import { sleep } from '../support/sleep.js';
import { statementsSent } from '../support/statements-sent.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const { database } = openDatabases(testDb);

describe("query events: db.on('query')", () => {
  it('reports repository calls, executeRaw, db.kysely queries and every statement of a transaction', async () => {
    const db = database();
    const events = await statementsSent(db, async () => {
      await db.users.count();
      await db.executeRaw('SELECT $1::int + $2::int AS sum', [1, 2]);
      await db.kysely.selectFrom('pg_users').select('id').where('email', '=', 'nobody@example.com').execute();
      await db.transaction((tx) => tx.executeRaw('SELECT $1::text AS x', ['in a transaction']));
    });
    expect(events.map((event) => event.sql)).toEqual([
      expect.stringMatching(/^select count\(\*\).* from "public"\."pg_users"/),
      'SELECT $1::int + $2::int AS sum',
      'select "id" from "public"."pg_users" where "email" = $1',
      'begin',
      'SELECT $1::text AS x',
      'commit',
    ]);
    for (const event of events) {
      expect(event.durationMs).toBeGreaterThanOrEqual(0);
      expect(event.waitMs).toBeGreaterThanOrEqual(0);
      expect(event.error).toBeUndefined();
      expect(Object.isFrozen(event)).toBe(true);
    }
    // Redacted, one placeholder per parameter.
    expect(events[1]?.params).toEqual(['[redacted]', '[redacted]']);
    expect(events[3]?.params).toEqual([]);
    expect(events[4]?.params).toEqual(['[redacted]']);
  });

  it('stops after off(), and refuses events it does not know', async () => {
    const db = database();
    const events: QueryEvent[] = [];
    const listener = (event: QueryEvent) => events.push(event);
    db.on('query', listener);
    db.on('query', listener);
    await db.executeRaw('SELECT 1');
    expect(events).toHaveLength(1);
    db.off('query', listener);
    await db.executeRaw('SELECT 1');
    expect(events).toHaveLength(1);
    // @ts-expect-error: JavaScript callers may pass any name.
    expect(() => db.on('error', listener)).toThrow('unknown event "error": the only event is "query"');
  });

  it('measures the wait for a pooled connection apart from the statement, on the first statement of a checkout', async () => {
    const db = database({ POSTGRES_POOL_MAX: '1' });
    await db.executeRaw('SELECT 1'); // the connection exists: the waits below are for a free one
    const gate = await closedGate(testDb.url);
    const seen: { event: QueryEvent; at: number }[] = [];
    db.on('query', (event) => seen.push({ event, at: performance.now() }));

    const holderCalled = performance.now();
    const holding = db.executeRaw(gate.sql, gate.params);
    await gate.waiting();
    const holderRunning = performance.now();
    const queued = db.transaction((tx) => tx.executeRaw('SELECT 2 AS two'));
    await sleep(1); // its checkout, a chain of promises, asked the pool for the connection before any timer fired
    const queuedBy = performance.now();
    await sleep(100);
    const openedAt = performance.now();
    await gate.open();
    await Promise.all([holding, queued]);

    expect(seen.map(({ event }) => event.sql)).toEqual([gate.sql, 'begin', 'SELECT 2 AS two', 'commit']);
    const [held, begin, select, commit] = seen as [
      (typeof seen)[0],
      (typeof seen)[0],
      (typeof seen)[0],
      (typeof seen)[0],
    ];
    // Event times are rounded to 0.01 ms.
    const rounding = 0.01;
    // The holder's statement ran from before it was seen waiting at the gate until after the gate opened;
    // its checkout found the connection free, so its wait and run fit between its call and its event.
    expect(held.event.durationMs).toBeGreaterThanOrEqual(openedAt - holderRunning - rounding);
    expect(held.event.waitMs + held.event.durationMs).toBeLessThanOrEqual(held.at - holderCalled + rounding);
    // BEGIN waited from before queuedBy until the holder let the connection go, after the gate opened;
    // its own run began only then, after the holder's statement had ended.
    expect(begin.event.waitMs).toBeGreaterThanOrEqual(openedAt - queuedBy - rounding);
    expect(begin.at - begin.event.durationMs).toBeGreaterThanOrEqual(held.at - rounding);
    // The rest of the checkout waited for nothing.
    expect(select.event.waitMs).toBe(0);
    expect(commit.event.waitMs).toBe(0);
  });

  it("carries the failed statement's error class and SQLSTATE, never its message", async () => {
    const db = database();
    const taken = uniqueEmail();
    await db.users.create({ email: taken });
    const events = await statementsSent(
      db,
      async () => {
        await db.users.create({ email: taken }).catch(() => undefined);
        await db.kysely.insertInto('pg_users').values({ id: createId(), email: ' ' }).execute();
      },
      // The db.kysely insert, refused by the email check (23514).
      { expectedRejection: (error) => (error as { code?: unknown }).code === '23514' },
    );
    expect(events.map((event) => event.error)).toEqual([
      { name: 'UniqueViolationError', code: '23505' },
      { name: 'CheckViolationError', code: '23514' },
    ]);
    expect(JSON.stringify(events)).not.toContain(taken);
  });

  it('shows parameters when asked: the logParameters option or DATABASE_LOG_PARAMETERS=true', async () => {
    const secret = `secret-${createId()}`;
    const query = (db: Database) => statementsSent(db, () => db.executeRaw('SELECT $1::text AS x', [secret]));
    expect((await query(database({}, { logParameters: true })))[0]?.params).toEqual([secret]);
    expect((await query(database({ DATABASE_LOG_PARAMETERS: 'true' })))[0]?.params).toEqual([secret]);
    // The option wins over the variable.
    const optedOut = database({ DATABASE_LOG_PARAMETERS: 'true' }, { logParameters: false });
    expect((await query(optedOut))[0]?.params).toEqual(['[redacted]']);
  });

  it('keeps delivering, and runs the query, when a listener throws', async () => {
    const logger = collectingLogger();
    const db = database({}, { logger });
    const events: QueryEvent[] = [];
    db.on('query', () => {
      throw new Error('listener bug');
    });
    db.on('query', (event) => events.push(event));
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    expect(events).toHaveLength(1);
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'a query listener threw; the query itself was not affected',
        fields: { error: 'Error: listener bug' },
      },
    ]);
  });
});

describe('log lines', () => {
  it('at debug: every statement with its duration and wait, failures with their class, values redacted', async () => {
    const logger = collectingLogger();
    const db = database({ DATABASE_LOG_LEVEL: 'debug' }, { logger });
    const secret = `secret-${createId()}`;
    await db.executeRaw('SELECT $1::text AS x', [secret]);
    await rejection(db.executeRaw('SELECT $1::int AS n', [secret]));
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
      {
        level: 'debug',
        message: 'query failed',
        fields: {
          sql: 'SELECT $1::int AS n',
          params: ['[redacted]'],
          durationMs: expect.any(Number),
          waitMs: expect.any(Number),
          prepared: false,
          server: 'primary',
          error: { name: 'DatabaseError', code: '22P02' },
        },
      },
    ]);
    // The server's message for 22P02 quotes the value: it is not logged.
    expect(JSON.stringify(logger.lines)).not.toContain(secret);
  });

  it('warns about a query whose wait and run reach DATABASE_SLOW_QUERY_MS, with sql, duration and wait', async () => {
    const logger = collectingLogger();
    const db = database({ DATABASE_SLOW_QUERY_MS: '150', POSTGRES_POOL_MAX: '1' }, { logger });
    const events: QueryEvent[] = [];
    db.on('query', (event) => events.push(event));
    await db.executeRaw('SELECT $1::text AS fast', ['quick']);
    await db.executeRaw('SELECT pg_sleep(0.2), $1::text AS slow', ['value']);
    // A fast statement that waited long for the only connection is slow for its caller too.
    const gate = await closedGate(testDb.url);
    const holding = db.executeRaw(gate.sql, gate.params);
    await gate.waiting();
    const waiting = db.executeRaw('SELECT 1 AS waited');
    await sleep(150);
    await gate.open();
    await Promise.all([holding, waiting]);

    const warnings = logger.lines.filter((line) => line.message === 'slow query');
    expect(warnings.map((line) => line.fields?.sql)).toEqual(
      expect.arrayContaining(['SELECT pg_sleep(0.2), $1::text AS slow', 'SELECT 1 AS waited']),
    );
    expect(warnings.find((line) => line.fields?.sql === 'SELECT pg_sleep(0.2), $1::text AS slow')).toEqual({
      level: 'warn',
      message: 'slow query',
      fields: {
        sql: 'SELECT pg_sleep(0.2), $1::text AS slow',
        params: ['[redacted]'],
        durationMs: expect.any(Number),
        waitMs: expect.any(Number),
        prepared: false,
        server: 'primary',
        thresholdMs: 150,
      },
    });
    expect(
      warnings.find((line) => line.fields?.sql === 'SELECT 1 AS waited')?.fields?.waitMs,
    ).toBeGreaterThanOrEqual(150);
    // Warned are exactly the statements whose wait and run reached the threshold (up to the 0.01 ms the
    // reported times are rounded to), whatever the machine made of the fast ones.
    for (const event of events) {
      const spent = event.durationMs + event.waitMs;
      const warning = warnings.find((line) => line.fields?.sql === event.sql);
      if (warning) {
        expect(warning.fields).toMatchObject({ durationMs: event.durationMs, waitMs: event.waitMs });
        expect(spent, event.sql).toBeGreaterThanOrEqual(150 - 0.01);
      } else {
        expect(spent, event.sql).toBeLessThan(150 + 0.01);
      }
    }
    expect(warnings).toHaveLength(new Set(warnings.map((line) => line.fields?.sql)).size);
  });

  it('shows the parameters of a slow query only when asked', async () => {
    const logger = collectingLogger();
    const db = database({ DATABASE_SLOW_QUERY_MS: '50', DATABASE_LOG_PARAMETERS: 'true' }, { logger });
    await db.executeRaw('SELECT pg_sleep(0.06), $1::text AS x', ['shown']);
    expect(logger.lines[0]?.fields?.params).toEqual(['shown']);
  });

  it.each([
    ['DATABASE_SLOW_QUERY_MS=0', { DATABASE_SLOW_QUERY_MS: '0' }],
    ['DATABASE_LOG_LEVEL=error', { DATABASE_SLOW_QUERY_MS: '50', DATABASE_LOG_LEVEL: 'error' }],
  ])('does not warn about slow queries with %s', async (_, env) => {
    const logger = collectingLogger();
    const db = database(env, { logger });
    await db.executeRaw('SELECT pg_sleep(0.1)');
    expect(logger.lines).toEqual([]);
  });
});

describe('pino loggers', () => {
  /** A tiny pino look-alike: `levels`, and methods that take the fields first, then the message. */
  function pinoLike() {
    const calls: { level: string; fields: LogFields; message: string }[] = [];
    const method = (level: string) =>
      function (this: unknown, fields: LogFields, message: string) {
        // pino's methods need their logger as `this`.
        expect(this).toBe(logger);
        calls.push({ level, fields, message });
      };
    const logger = {
      levels: {
        values: { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, trace: 10 },
        labels: { 60: 'fatal', 50: 'error', 40: 'warn', 30: 'info', 20: 'debug', 10: 'trace' },
      },
      error: method('error'),
      warn: method('warn'),
      info: method('info'),
      debug: method('debug'),
    };
    return { logger, calls };
  }

  it('are recognised and called as pino expects: fields first, then the message', async () => {
    const { logger, calls } = pinoLike();
    const db = database({ DATABASE_LOG_LEVEL: 'debug', DATABASE_SLOW_QUERY_MS: '50' }, { logger });
    await db.executeRaw('SELECT pg_sleep(0.06)');
    expect(calls).toEqual([
      {
        level: 'debug',
        fields: expect.objectContaining({ sql: 'SELECT pg_sleep(0.06)', durationMs: expect.any(Number) }),
        message: 'query',
      },
      {
        level: 'warn',
        fields: expect.objectContaining({ sql: 'SELECT pg_sleep(0.06)', thresholdMs: 50 }),
        message: 'slow query',
      },
    ]);
  });

  it('can be adapted explicitly with fromPino', () => {
    const { logger, calls } = pinoLike();
    fromPino(logger).info('hello', { a: 1 });
    fromPino(logger).error('bare');
    expect(calls).toEqual([
      { level: 'info', fields: { a: 1 }, message: 'hello' },
      { level: 'error', fields: {}, message: 'bare' },
    ]);
  });

  it('still pass through DATABASE_LOG_LEVEL', async () => {
    const { logger, calls } = pinoLike();
    const db = database({ DATABASE_LOG_LEVEL: 'warn' }, { logger });
    await db.executeRaw('SELECT 1');
    expect(calls).toEqual([]);
  });
});

describe("DatabaseClient's Prisma-style log option", () => {
  afterEach(async () => {
    await DatabaseClient.disconnectAll();
    vi.restoreAllMocks();
    vi.unstubAllEnvs();
  });

  function stubEnvironment() {
    for (const [name, value] of Object.entries(testDb.env({ DATABASE_LOG_LEVEL: 'warn' }))) {
      vi.stubEnv(name, value);
    }
  }

  it("{ emit: 'event', level: 'query' } emits query events and prints nothing (the spec's Debugging Queries)", async () => {
    stubEnvironment();
    const printed = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const db = await DatabaseClient.getInstance('postgres', { log: [{ emit: 'event', level: 'query' }] });
    const seen: string[] = [];
    db.on('query', (e) => {
      seen.push(`Query: ${e.sql} Params: ${JSON.stringify(e.params)} Duration: ${e.durationMs}ms`);
    });
    await db.executeRaw('SELECT $1::int AS one', [1]);
    expect(seen).toEqual([
      expect.stringMatching(/^Query: SELECT \$1::int AS one Params: \["\[redacted\]"\] Duration: [\d.]+ms$/),
    ]);
    expect(printed).not.toHaveBeenCalled();
  });

  it("'query' prints every query at debug", async () => {
    stubEnvironment();
    const printed = vi.spyOn(console, 'debug').mockImplementation(() => {});
    const db = await DatabaseClient.getInstance('postgres', { log: ['query', 'info', 'warn', 'error'] });
    await db.executeRaw('SELECT 42 AS answer');
    expect(printed).toHaveBeenCalledWith(
      '[shared-db] debug: query',
      expect.objectContaining({ sql: 'SELECT 42 AS answer', durationMs: expect.any(Number) }),
    );
  });
});

describe('the password', () => {
  const PASSWORD = `Sh4red-Db-${randomBytes(6).toString('hex')}-P@ss`;
  const role = `shared_db_logging_${randomBytes(4).toString('hex')}`;
  const host = new URL(testDb.adminUrl);
  const url = (database = testDb.name, port = host.port || '5432') =>
    `postgresql://${role}:${encodeURIComponent(PASSWORD)}@${host.hostname}:${port}/${database}`;

  const asAdmin = (text: string) => queryOnce(testDb.url, text);

  beforeAll(async () => {
    // A role of its own, so the distinctive password is the one that really connects. Created by a
    // plain pg client: nothing of this layer sees the statement.
    await asAdmin(`CREATE ROLE ${role} LOGIN PASSWORD '${PASSWORD}'`);
    await asAdmin(
      `GRANT USAGE ON SCHEMA public TO ${role}; GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`,
    );
  });
  afterAll(async () => {
    await asAdmin(`DROP OWNED BY ${role}; DROP ROLE ${role}`);
  });

  it('never appears in a log line, a query event, an error message, stack or cause', async () => {
    const lines: LogLine[] = [];
    const errors: unknown[] = [];
    const events: QueryEvent[] = [];
    const logger = collectingLogger();
    const make = (env: Environment) => {
      const db = database(
        {
          DATABASE_LOG_LEVEL: 'debug',
          DATABASE_SLOW_QUERY_MS: '1',
          // Long enough for any connection the server answers; the test's short one is set below.
          POSTGRES_POOL_TIMEOUT_MS: '30000',
          ...env,
        },
        { logger },
      );
      db.on('query', (event) => events.push(event));
      return db;
    };
    const failure = async (work: Promise<unknown>) => errors.push(await rejection(work));

    // Connections that fail: nothing listens on the port; no such database.
    const unreachable = make({ POSTGRES_PRISMA_URL: url(testDb.name, '1') });
    await failure(unreachable.executeRaw('SELECT 1'));
    await failure(unreachable.kysely.selectFrom('pg_users').selectAll().execute());
    await failure(unreachable.transaction(async () => 1));
    const unreachableHealth = await unreachable.health();
    expect(unreachableHealth.ok).toBe(false);
    errors.push(unreachableHealth.error);
    await failure(make({ POSTGRES_PRISMA_URL: url('no_such_database') }).users.count());

    // A working connection: debug lines, slow queries, failing statements, timeouts.
    const db = make({ POSTGRES_PRISMA_URL: url(), POSTGRES_POOL_MAX: '1', POSTGRES_POOL_TIMEOUT_MS: '200' });
    await openDespiteShortTimeout(() => db.executeRaw('SELECT 1'));
    const taken = uniqueEmail();
    await db.users.create({ email: taken });
    await db.executeRaw('SELECT pg_sleep(0.01)');
    await failure(db.executeRaw('SELEKT 1'));
    await failure(db.users.create({ email: taken }));
    await failure(db.executeRaw('SELECT pg_sleep(1)', [], { statementTimeoutMs: 50 }));
    const holding = db.executeRaw('SELECT pg_sleep(0.4)');
    await failure(db.executeRaw('SELECT 1'));
    await holding;
    expect((await db.health()).ok).toBe(true);

    // DatabaseClient: a server that does not answer.
    vi.stubEnv('ENABLE_POSTGRES', 'true');
    vi.stubEnv('POSTGRES_PRISMA_URL', url(testDb.name, '1'));
    vi.stubEnv('POSTGRES_POOL_TIMEOUT_MS', '1000');
    const consoleLines: unknown[][] = [];
    for (const method of ['error', 'warn', 'info', 'debug'] as const) {
      vi.spyOn(console, method).mockImplementation((...data) => consoleLines.push(data));
    }
    try {
      await failure(DatabaseClient.getInstance('postgres', { log: ['query'] }));
    } finally {
      vi.restoreAllMocks();
      vi.unstubAllEnvs();
    }

    lines.push(...logger.lines);
    // Each failure above really happened and was seen.
    expect(errors).toHaveLength(10);
    expect(errors.map((error) => (error as Error | string)?.constructor?.name)).toEqual([
      'ConnectionError',
      'ConnectionError',
      'ConnectionError',
      'String',
      'ConnectionError',
      'DatabaseError',
      'UniqueViolationError',
      'StatementTimeoutError',
      'PoolTimeoutError',
      'ConnectionError',
    ]);
    expect(lines.some((line) => line.message === 'slow query')).toBe(true);
    expect(lines.some((line) => line.message === 'query failed')).toBe(true);
    expect(lines.some((line) => line.message === 'no connection')).toBe(true);
    expect(events.length).toBeGreaterThan(5);

    const everything = [
      inspect(lines, { depth: 10 }),
      JSON.stringify(lines),
      JSON.stringify(events),
      inspect(consoleLines, { depth: 10 }),
      // What console.error would print for each error: message, stack, causes and their properties.
      ...errors.map((error) => inspect(error, { depth: 10, showHidden: true })),
    ].join('\n');
    expect(everything).toContain(role);
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(encodeURIComponent(PASSWORD));
  });
});

describe('query events from sql fragments', () => {
  it('report the statement Kysely compiled', async () => {
    const db = database();
    const events = await statementsSent(db, () => sql`SELECT ${'a'}::text AS a`.execute(db.kysely));
    expect(events).toEqual([
      {
        sql: 'SELECT $1::text AS a',
        params: ['[redacted]'],
        durationMs: expect.any(Number),
        waitMs: expect.any(Number),
        prepared: false,
        server: 'primary',
      },
    ]);
  });
});
