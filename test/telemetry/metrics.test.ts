/**
 * The layer's metrics, read from the OpenTelemetry SDK after a known load against a real PostgreSQL:
 * statement durations by what they ran, the wait for a connection per checkout, failed calls by the
 * class of their error, and the pool's connections in use, idle and waiting (two transactions holding
 * both connections of a pool of two, a third call waiting). CI runs this file through PgBouncer too.
 */
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { ConnectionSettings } from '../../src/config/settings.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { UniqueViolationError, ValidationError } from '../../src/errors/classes.js';
import { barrier } from '../support/barrier.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { rejection } from '../support/rejection.js';
import { type RecordingSdk, recordingSdk } from '../support/telemetry.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let sdk: RecordingSdk;
let db: Database;
let settings: ConnectionSettings;

beforeAll(() => {
  sdk = recordingSdk();
  const config = loadConfig(testDb.env({ POSTGRES_POOL_MAX: '2' }));
  settings = config.pooled;
  db = createDatabase(config, {
    logger: collectingLogger(),
    telemetry: { meterProvider: sdk.meterProvider },
  });
});
afterAll(async () => {
  await db?.disconnect();
  await sdk?.shutdown();
});

/** This database's pool (the first in this process to that server, so its name has no `#n`). */
const pool = () => ({
  'db.client.connection.pool.name': `primary ${settings.host}:${settings.port}/${settings.database}`,
});

/** The value of the `name` point whose attributes include `attributes`. */
function pointOf<T>(name: string, attributes: Record<string, unknown>): T | undefined {
  const found = sdk
    .points<T>(name)
    .filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value));
  if (found.length > 1)
    throw new Error(`${found.length} points of ${name} match ${JSON.stringify(attributes)}`);
  return found[0]?.value;
}

describe('after a known load', () => {
  it('counts each statement by what it ran, each checkout’s wait, and each failed call by its class', async () => {
    const email = uniqueEmail();
    const user = await db.users.create({ email });
    for (let i = 0; i < 5; i++) await db.users.findById(user.id);
    expect(await rejection(db.users.create({ email }))).toBeInstanceOf(UniqueViolationError);
    expect(await rejection(db.users.findById(''))).toBeInstanceOf(ValidationError);
    await sdk.collect();

    const server = {
      'db.system.name': 'postgresql',
      'db.namespace': `${settings.database}.${settings.schema}`,
      'server.address': settings.host,
      'server.port': settings.port,
      'shared_db.server': 'primary',
    };
    const reads = pointOf<Histogram>('db.client.operation.duration', {
      ...server,
      'db.query.summary': 'SELECT pg_users',
      'db.operation.name': 'SELECT',
      'db.collection.name': `${settings.schema}.pg_users`,
    });
    expect(reads?.count).toBe(5);
    expect(reads?.sum).toBeGreaterThan(0);
    const inserts = sdk
      .points<Histogram>('db.client.operation.duration')
      .filter((point) => point.attributes['db.operation.name'] === 'INSERT');
    expect(inserts.map((point) => [point.attributes['error.type'], point.value.count])).toEqual(
      expect.arrayContaining([
        [undefined, 1],
        ['UniqueViolationError', 1],
      ]),
    );
    expect(
      inserts.find((point) => point.attributes['error.type'])?.attributes['db.response.status_code'],
    ).toBe('23505');

    // One checkout per call that reached the server: the create, five reads, the failed create.
    expect(pointOf<Histogram>('db.client.connection.wait_time', pool())?.count).toBe(7);

    expect(
      pointOf<number>('shared_db.errors', {
        'error.type': 'UniqueViolationError',
        'db.response.status_code': '23505',
        'shared_db.operation': 'users.create',
      }),
    ).toBe(1);
    expect(
      pointOf<number>('shared_db.errors', {
        'error.type': 'ValidationError',
        'shared_db.operation': 'users.findById',
      }),
    ).toBe(1);
    expect(sdk.points('shared_db.errors')).toHaveLength(2);

    // Done: nothing in use, nobody waiting.
    const { idle } = (await db.health()).pool;
    await sdk.collect();
    expect(
      pointOf<number>('db.client.connection.count', { ...pool(), 'db.client.connection.state': 'used' }),
    ).toBe(0);
    expect(
      pointOf<number>('db.client.connection.count', { ...pool(), 'db.client.connection.state': 'idle' }),
    ).toBe(idle);
    expect(pointOf<number>('db.client.connection.pending_requests', pool())).toBe(0);
    expect(pointOf<number>('db.client.connection.max', pool())).toBe(2);
  });

  it('reports connections in use and callers waiting while two transactions hold a pool of two', async () => {
    const bothOpen = barrier(3);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const hold = () =>
      db.transaction(async (tx) => {
        await tx.executeRaw('SELECT 1');
        await bothOpen.arrive();
        await released;
      });
    const holders = [hold(), hold()];
    await bothOpen.arrive();
    const waiting = db.users.findByEmail(uniqueEmail());
    // The third call is queued for a connection once the pool says so.
    while ((await poolWaiting()) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    await sdk.collect();
    expect(
      pointOf<number>('db.client.connection.count', { ...pool(), 'db.client.connection.state': 'used' }),
    ).toBe(2);
    expect(
      pointOf<number>('db.client.connection.count', { ...pool(), 'db.client.connection.state': 'idle' }),
    ).toBe(0);
    expect(pointOf<number>('db.client.connection.pending_requests', pool())).toBe(1);
    release();
    await Promise.all([...holders, waiting]);
    await sdk.collect();
    expect(
      pointOf<number>('db.client.connection.count', { ...pool(), 'db.client.connection.state': 'used' }),
    ).toBe(0);
    expect(pointOf<number>('db.client.connection.pending_requests', pool())).toBe(0);
  });
});

/** The callers waiting for a connection, as the pool counts them (health() would wait itself). */
async function poolWaiting(): Promise<number> {
  await sdk.collect();
  return pointOf<number>('db.client.connection.pending_requests', pool()) ?? 0;
}

describe('two database objects to one server', () => {
  it('report their pools under names of their own', async () => {
    const other = createDatabase(loadConfig(testDb.env({ POSTGRES_POOL_MAX: '3' })), {
      logger: collectingLogger(),
      telemetry: { meterProvider: sdk.meterProvider },
    });
    try {
      await other.users.findByEmail(uniqueEmail());
      await sdk.collect();
      const name = pool()['db.client.connection.pool.name'];
      expect(
        sdk
          .points('db.client.connection.max')
          .map((point) => [point.attributes['db.client.connection.pool.name'], point.value]),
      ).toEqual(
        expect.arrayContaining([
          [name, 2],
          [expect.stringMatching(new RegExp(`^${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} #\\d+$`)), 3],
        ]),
      );
    } finally {
      await other.disconnect();
    }
  });
});
