import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import {
  applyClientOptions,
  type ClientOptions,
  DatabaseClient,
} from '../../src/database/database-client.js';
import { ConfigError, ConnectionError } from '../../src/errors/classes.js';
import { databaseUrl } from '../support/database-url.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();

beforeEach(() => {
  for (const [name, value] of Object.entries(testDb.env())) vi.stubEnv(name, value);
});
afterEach(async () => {
  await DatabaseClient.disconnectAll();
  vi.unstubAllEnvs();
});

async function currentDatabase(db: Awaited<ReturnType<typeof DatabaseClient.getInstance>>) {
  const [row] = await db.executeRaw<{ name: string }>('SELECT current_database() AS name');
  return row?.name;
}

describe('DatabaseClient.getInstance', () => {
  it('returns one shared, connected database object per distinct options', async () => {
    const [a, b] = await Promise.all([
      DatabaseClient.getInstance('postgres'),
      DatabaseClient.getInstance('postgres'),
    ]);
    expect(a).toBe(b);
    expect(await currentDatabase(a)).toBe(testDb.name);

    const logging = await DatabaseClient.getInstance('postgres', { log: ['warn', 'error'] });
    expect(logging).not.toBe(a);
    const reordered = await DatabaseClient.getInstance('postgres', { log: ['warn', 'error'] });
    expect(reordered).toBe(logging);
  });

  it('uses datasources.pgdb.url instead of POSTGRES_PRISMA_URL', async () => {
    vi.stubEnv('POSTGRES_PRISMA_URL', databaseUrl(testDb.url, 'no_such_database'));
    const db = await DatabaseClient.getInstance('postgres', { datasources: { pgdb: { url: testDb.url } } });
    expect(await currentDatabase(db)).toBe(testDb.name);
  });

  it('connects afresh after disconnect()', async () => {
    const first = await DatabaseClient.getInstance('postgres');
    await first.disconnect();
    await first.disconnect();
    const second = await DatabaseClient.getInstance('postgres');
    expect(second).not.toBe(first);
    expect(await currentDatabase(second)).toBe(testDb.name);
  });

  it.each([
    ['unset', undefined],
    ['false', 'false'],
  ])('refuses when ENABLE_POSTGRES is %s', async (_, value) => {
    vi.stubEnv('ENABLE_POSTGRES', value);
    const error = await DatabaseClient.getInstance('postgres').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ setting: 'ENABLE_POSTGRES' });
    expect((error as Error).message).toBe('ENABLE_POSTGRES: must be "true" to use the postgres provider');
  });

  it('refuses an unknown provider', async () => {
    // @ts-expect-error: the provider name is checked at run time too, for JavaScript callers.
    const error = await DatabaseClient.getInstance('mysql').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      'provider: unknown provider "mysql": the only provider is "postgres"',
    );
  });

  it('fails with a ConnectionError naming the server but not the password, and caches no failure', async () => {
    vi.stubEnv('POSTGRES_PRISMA_URL', 'postgres://app:Hidden-Pa55@127.0.0.1:1/app');
    vi.stubEnv('POSTGRES_POOL_TIMEOUT_MS', '2000');
    const error = await DatabaseClient.getInstance('postgres').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as Error).message).toContain('127.0.0.1:1');
    expect((error as Error).message).not.toContain('Hidden-Pa55');

    vi.stubEnv('POSTGRES_PRISMA_URL', testDb.url);
    const db = await DatabaseClient.getInstance('postgres');
    expect(await currentDatabase(db)).toBe(testDb.name);
  });

  it('fails at start-up on a bad variable, naming it', async () => {
    vi.stubEnv('POSTGRES_POOL_MAX', 'lots');
    await expect(DatabaseClient.getInstance('postgres')).rejects.toMatchObject({
      name: 'ConfigError',
      setting: 'POSTGRES_POOL_MAX',
    });
  });
});

describe('client options', () => {
  const config = loadConfig({ POSTGRES_PRISMA_URL: 'postgres://u@h/d' });

  it.each([
    [['query', 'info', 'warn', 'error'], 'debug'],
    [['info'], 'info'],
    [['warn', 'error'], 'warn'],
    [[{ emit: 'stdout', level: 'query' }], 'debug'],
    [[{ emit: 'stdout', level: 'error' }], 'error'],
    // Events are not printed: db.on('query') receives them at any level.
    [[{ emit: 'event', level: 'query' }], 'warn'],
    [[{ emit: 'event', level: 'query' }, 'error'], 'error'],
    [[], 'warn'],
  ] as const)('maps Prisma log levels %j to %s', (log, level) => {
    expect(applyClientOptions(config, { log: [...log] }).logLevel).toBe(level);
  });

  it('keeps DATABASE_LOG_LEVEL when the options only ask for query events', () => {
    const debug = loadConfig({ POSTGRES_PRISMA_URL: 'postgres://u@h/d', DATABASE_LOG_LEVEL: 'debug' });
    expect(applyClientOptions(debug, { log: [{ emit: 'event', level: 'query' }] }).logLevel).toBe('debug');
  });

  it.each([
    [{ emit: 'event', level: 'warn' }, /^log: \{ emit: 'event', level: 'warn' \} is not supported/],
    [{ emit: 'console', level: 'query' }, /^log: unknown emit "console"/],
    ['verbose', /^log: unknown level "verbose"/],
  ])('rejects the log entry %j, naming the option', (entry, message) => {
    const log = [entry] as unknown as ClientOptions['log'];
    expect(() => applyClientOptions(config, { log })).toThrow(message);
    expect(() => applyClientOptions(config, { log })).toThrow(ConfigError);
  });

  it('rejects a bad datasource URL, naming the option', () => {
    expect(() => applyClientOptions(config, { datasources: { pgdb: { url: 'mysql://u@h/d' } } })).toThrow(
      /^datasources\.pgdb\.url: /,
    );
  });
});
