/**
 * The layer's spans, recorded by the OpenTelemetry SDK into memory against a real PostgreSQL: the tree of
 * a nested create (the call, its one statement) under the service's own span, with the database
 * conventions' attributes and no values; a transaction with a savepoint and a retry; failed calls (the
 * server's error, a validation error); a stream; migrations. CI runs this file through PgBouncer too.
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { ConnectionSettings } from '../../src/config/settings.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import { SerializationError, UniqueViolationError, ValidationError } from '../../src/errors/classes.js';
import { migrate } from '../../src/migrate/migrate.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { rejection } from '../support/rejection.js';
import { childrenOf, onlySpan, type RecordingSdk, recordingSdk, spanTree } from '../support/telemetry.js';
import { useEmptyDatabases, useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const emptyDatabase = useEmptyDatabases('shared_db_traces');
let sdk: RecordingSdk;
let db: Database;
let settings: ConnectionSettings;
const events: QueryEvent[] = [];

beforeAll(() => {
  sdk = recordingSdk();
  const config = loadConfig(testDb.env());
  settings = config.pooled;
  db = createDatabase(config, {
    logger: collectingLogger(),
    telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider },
  });
  db.on('query', (event) => events.push(event));
});
afterAll(async () => {
  await db?.disconnect();
  await sdk?.shutdown();
});
beforeEach(() => {
  sdk.reset();
  events.length = 0;
});

const tracer = () => sdk.tracerProvider.getTracer('the service');

/** Runs `work` under a span of the service's own, as a request handler would; returns that span. */
async function inRequest(work: () => Promise<unknown>): Promise<ReadableSpan> {
  const request = tracer().startSpan('GET /users');
  await context.with(trace.setSpan(context.active(), request), work).finally(() => request.end());
  return onlySpan(sdk.spans(), 'GET /users');
}

describe('a nested create', () => {
  it('is one span named for the call, with one child span for its one statement, under the caller’s span', async () => {
    const email = uniqueEmail();
    const request = await inRequest(() =>
      db.users.create({
        email,
        name: 'Ada',
        posts: [{ title: 'One' }, { title: 'Two' }],
        roles: [{ name: 'admin' }],
      }),
    );
    const spans = sdk.spans();
    expect(spanTree(spans, request)).toBe(
      [
        'GET /users',
        '  users.create',
        '    INSERT pg_users INSERT pg_posts INSERT pg_roles SELECT new_user',
      ].join('\n'),
    );
    const call = onlySpan(spans, 'users.create');
    const [statement] = childrenOf(spans, call);
    expect(call.kind).toBe(SpanKind.INTERNAL);
    expect(call.status.code).toBe(SpanStatusCode.UNSET);
    expect(statement?.kind).toBe(SpanKind.CLIENT);
    expect(statement?.spanContext().traceId).toBe(request.spanContext().traceId);
    const [event] = events;
    expect(statement?.attributes).toEqual({
      'db.system.name': 'postgresql',
      'db.namespace': `${settings.database}.${settings.schema}`,
      'server.address': settings.host,
      'server.port': settings.port,
      'shared_db.server': 'primary',
      'db.query.text': event?.sql,
      'db.query.summary': 'INSERT pg_users INSERT pg_posts INSERT pg_roles SELECT new_user',
      'db.operation.name': 'INSERT',
      'db.collection.name': `${settings.schema}.pg_users`,
      'shared_db.statement.named': event?.prepared,
      'shared_db.connection.wait_ms': expect.any(Number),
      'db.response.returned_rows': 1,
    });
    // Values travel as parameters, and stay out of the span.
    expect(JSON.stringify(statement?.attributes)).not.toContain(email);
    expect(event?.sql).not.toContain(email);
  });

  it('adds nothing to the SQL sent: the text is the same with telemetry off', async () => {
    const texts = async (database: Database) => {
      const sent: string[] = [];
      database.on('query', (event) => sent.push(event.sql));
      await database.users.create({
        email: uniqueEmail(),
        posts: [{ title: 'One' }],
        roles: [{ name: 'r' }],
      });
      return sent;
    };
    const off = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger(), telemetry: false });
    try {
      const traced = await texts(db);
      expect(sdk.spans().map((span) => span.name)).toContain('users.create');
      expect(traced).toEqual(await texts(off));
      expect(traced.join('\n')).not.toMatch(/traceparent|\/\*/);
    } finally {
      await off.disconnect();
    }
  });

  it('carries the parameters as db.query.parameter.<n> only when parameters are logged', async () => {
    const logged = createDatabase(loadConfig(testDb.env()), {
      logger: collectingLogger(),
      logParameters: true,
      telemetry: { tracerProvider: sdk.tracerProvider },
    });
    try {
      const email = uniqueEmail();
      await logged.users.create({ email });
      const statement = childrenOf(sdk.spans(), onlySpan(sdk.spans(), 'users.create'))[0];
      const parameters = Object.entries(statement?.attributes ?? {}).filter(([key]) =>
        key.startsWith('db.query.parameter.'),
      );
      expect(parameters.map(([, value]) => value)).toContain(email);
    } finally {
      await logged.disconnect();
    }
  });
});

describe('a transaction', () => {
  it('is a span per attempt, with its statements and its savepoint under it; a retried attempt records why', async () => {
    let attempt = 0;
    const request = await inRequest(() =>
      db.transaction(
        async (tx) => {
          attempt += 1;
          const user = await tx.users.create({ email: uniqueEmail() });
          await tx.transaction(async (inner) => {
            await inner.posts.create({ title: 'In a savepoint', authorId: user.id });
          });
          // The server raises a serialization failure (40001) on the first attempt: the layer retries.
          if (attempt === 1) {
            await tx.executeRaw(`DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$`);
          }
        },
        { retry: { attempts: 2, baseDelayMs: 1 }, isolationLevel: 'serializable' },
      ),
    );
    const spans = sdk.spans();
    // Both attempts run the callback's work; the first ends with the failed statement and ROLLBACK.
    const work = [
      '    START TRANSACTION',
      '    users.create',
      '      INSERT pg_users SELECT new_user',
      '    savepoint',
      '      SAVEPOINT',
      '      posts.create',
      '        INSERT pg_posts SELECT',
      '      RELEASE',
    ];
    expect(spanTree(spans, request)).toBe(
      [
        'GET /users',
        '  transaction',
        ...work,
        '    db.executeRaw',
        '      DO',
        '    ROLLBACK',
        '  transaction',
        ...work,
        '    COMMIT',
      ].join('\n'),
    );
    const [first, second] = childrenOf(spans, request);
    expect(first?.attributes).toMatchObject({
      'shared_db.transaction.attempt': 1,
      'shared_db.transaction.isolation_level': 'serializable',
      'error.type': SerializationError.name,
      'db.response.status_code': '40001',
    });
    expect(first?.status.code).toBe(SpanStatusCode.ERROR);
    expect(second?.attributes).toMatchObject({ 'shared_db.transaction.attempt': 2 });
    expect(second?.attributes['error.type']).toBeUndefined();
    expect(second?.status.code).toBe(SpanStatusCode.UNSET);
    const failed = onlySpan(spans, 'DO');
    expect(failed.attributes['db.response.status_code']).toBe('40001');
  });
});

describe('a failed call', () => {
  it('records the typed error and its SQLSTATE on the call and on the statement that failed', async () => {
    const email = uniqueEmail();
    await db.users.create({ email });
    sdk.reset();
    const error = await rejection(db.users.create({ email: email.toUpperCase() }));
    expect(error).toBeInstanceOf(UniqueViolationError);
    const spans = sdk.spans();
    const call = onlySpan(spans, 'users.create');
    const [statement] = childrenOf(spans, call);
    for (const span of [call, statement]) {
      expect(span?.status).toEqual({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      expect(span?.attributes).toMatchObject({
        'error.type': 'UniqueViolationError',
        'db.response.status_code': '23505',
      });
      expect(span?.events.map((event) => event.name)).toEqual(['exception']);
    }
    expect(call.events[0]?.attributes?.['exception.type']).toBe('UniqueViolationError');
    expect(JSON.stringify(spans.map((span) => [span.attributes, span.events]))).not.toContain(email);
  });

  it('a call refused before any statement is one failed span with no children', async () => {
    const error = await rejection(db.users.findById(''));
    expect(error).toBeInstanceOf(ValidationError);
    const spans = sdk.spans();
    expect(spans.map((span) => span.name)).toEqual(['users.findById']);
    expect(spans[0]?.attributes['error.type']).toBe('ValidationError');
    expect(spans[0]?.attributes['db.response.status_code']).toBeUndefined();
  });
});

describe('a stream', () => {
  it('is one span for the whole loop, with the read-only transaction and the cursor statement under it', async () => {
    const author = await db.users.create({
      email: uniqueEmail(),
      posts: Array.from({ length: 5 }, (_, i) => ({ title: `Streamed ${i}` })),
    });
    sdk.reset();
    const request = await inRequest(async () => {
      let rows = 0;
      for await (const _post of db.posts.stream({ where: { authorId: author.id }, batchSize: 2 })) rows += 1;
      expect(rows).toBe(5);
    });
    const spans = sdk.spans();
    expect(spanTree(spans, request)).toBe(
      ['GET /users', '  posts.stream', '    BEGIN', '    SELECT pg_posts', '    COMMIT'].join('\n'),
    );
    expect(onlySpan(spans, 'posts.stream').attributes['db.response.returned_rows']).toBe(5);
    expect(onlySpan(spans, 'SELECT pg_posts').attributes['db.response.returned_rows']).toBe(5);
  });

  it('a loop left with break ends the span too', async () => {
    for await (const _row of db.streamRaw('SELECT generate_series(1, 10) AS n', [], { batchSize: 3 })) break;
    const spans = sdk.spans();
    expect(onlySpan(spans, 'db.streamRaw').attributes['db.response.returned_rows']).toBe(1);
    expect(childrenOf(spans, onlySpan(spans, 'db.streamRaw')).map((span) => span.name)).toEqual([
      'BEGIN',
      'SELECT',
      'COMMIT',
    ]);
  });
});

describe('telemetry: false', () => {
  it('records nothing, even with a tracer provider registered', async () => {
    trace.setGlobalTracerProvider(sdk.tracerProvider);
    const quiet = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger(), telemetry: false });
    const global = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
    try {
      await quiet.users.findByEmail(uniqueEmail());
      expect(sdk.spans()).toEqual([]);
      // The default: the globally registered provider.
      await global.users.findByEmail(uniqueEmail());
      expect(sdk.spans().map((span) => span.name)).toEqual(['SELECT pg_users', 'users.findByEmail']);
    } finally {
      trace.disable();
      await Promise.all([quiet.disconnect(), global.disconnect()]);
    }
  });
});

describe('a tracer provider registered after the database is created', () => {
  it('is used from then on, for the calls inside transactions too', async () => {
    trace.disable();
    const late = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
    const email = uniqueEmail();
    const lookUp = () => late.transaction((tx) => tx.users.findByEmail(email));
    try {
      await lookUp();
      expect(sdk.spans()).toEqual([]);
      trace.setGlobalTracerProvider(sdk.tracerProvider);
      await lookUp();
      const spans = sdk.spans();
      const call = onlySpan(spans, 'users.findByEmail');
      expect(call.parentSpanContext?.spanId).toBe(onlySpan(spans, 'transaction').spanContext().spanId);
      expect(childrenOf(spans, call).map((span) => span.name)).toEqual(['SELECT pg_users']);
    } finally {
      trace.disable();
      await late.disconnect();
    }
  });
});

describe('migrations', () => {
  it('are a span per run, with a span per migration holding its statements', async () => {
    const url = await emptyDatabase();
    const connection = loadConfig({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: url,
      POSTGRES_URL_NON_POOLING: url,
    }).direct as ConnectionSettings;
    const ran = await migrate(connection, {
      direction: 'up',
      telemetry: { tracerProvider: sdk.tracerProvider },
    });
    const spans = sdk.spans();
    const run = onlySpan(spans, 'migrate up');
    const children = childrenOf(spans, run);
    const migrations = children.filter((span) => span.name.startsWith('migration '));
    expect(migrations.map((span) => span.name)).toEqual(ran.map((name) => `migration ${name}`));
    for (const migration of migrations) {
      const statements = childrenOf(spans, migration);
      expect(statements.length).toBeGreaterThan(0);
      expect(statements.every((span) => span.kind === SpanKind.CLIENT)).toBe(true);
    }
    // The run's own statements (its lock, its schema) are under the run itself.
    expect(children.some((span) => span.kind === SpanKind.CLIENT)).toBe(true);
  });
});
