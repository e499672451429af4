/**
 * Unit tests for src/config/. Every test passes its own Environment; none reads the real
 * process.env (only the readEnvironment test sets, then restores, one variable of its own).
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { parse as parseDotenv } from 'dotenv';
// pg-connection-string is what node-pg-migrate and kysely-codegen use (through pg) to read a URL.
import { parse as parsePgConnectionString } from 'pg-connection-string';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ConnectionSettings,
  describeConnection,
  type Environment,
  isDatabaseConfigured,
  loadConfig,
  parseConnectionUrl,
  readEnvironment,
  toConnectionUrl,
  toPgClientConfig,
} from '../../src/config/config.js';
import { ConfigError } from '../../src/errors/classes.js';

const dir = mkdtempSync(join(tmpdir(), 'shared-db-config-'));
const CA = join(dir, 'ca.pem');
const CERT = join(dir, 'client.pem');
const KEY = join(dir, 'client.key');
writeFileSync(CA, 'CA CERTIFICATE');
writeFileSync(CERT, 'CLIENT CERTIFICATE');
writeFileSync(KEY, 'CLIENT KEY');
mkdirSync(join(dir, 'a-directory'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE_URL = 'postgresql://app:pw@db.example.com:6543/appdb';
const PARTS: Environment = {
  POSTGRES_HOST: 'parts.example.com',
  POSTGRES_USER: 'parts_user',
  POSTGRES_PASSWORD: 'parts_pw',
  POSTGRES_DATABASE: 'parts_db',
};

/** The ConfigError `fn` throws. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

function expectConfigError(fn: () => unknown, setting: string, text: string): void {
  const error = configError(fn);
  expect(error.setting).toBe(setting);
  expect(error.message).toContain(`${setting}: `);
  expect(error.message).toContain(text);
}

/** What a TLS configuration checks, whichever way it is spelled. */
function effectiveSsl(ssl: unknown): unknown {
  if (ssl === undefined || ssl === false) return false;
  const options = ssl as Record<string, unknown>;
  return {
    chain: options.rejectUnauthorized !== false,
    hostName: options.checkServerIdentity === undefined,
    ca: options.ca,
    cert: options.cert,
    key: options.key,
  };
}

function settings(overrides: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    host: 'db.example.com',
    port: 5432,
    user: 'app',
    password: 'pw',
    database: 'appdb',
    schema: 'public',
    pgbouncer: false,
    connectTimeoutSeconds: undefined,
    ssl: { mode: 'disable' },
    applicationName: undefined,
    ...overrides,
  };
}

describe('loadConfig: variables', () => {
  it.each([
    [undefined, false],
    ['', false],
    ['true', true],
    ['TRUE', true],
    ['false', false],
    ['False', false],
  ])('ENABLE_POSTGRES=%j gives enabled %s', (value, enabled) => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, ENABLE_POSTGRES: value }).enabled).toBe(enabled);
  });

  it.each(['yes', '1', 'on', 'enabled'])('rejects ENABLE_POSTGRES=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, ENABLE_POSTGRES: value }),
      'ENABLE_POSTGRES',
      `must be true or false, got "${value}"`,
    );
  });

  it.each([
    [undefined, 'warn'],
    ['silent', 'silent'],
    ['error', 'error'],
    ['warn', 'warn'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['DEBUG', 'debug'],
  ])('DATABASE_LOG_LEVEL=%j gives %s', (value, level) => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_LOG_LEVEL: value }).logLevel).toBe(level);
  });

  it.each(['verbose', 'trace', '3'])('rejects DATABASE_LOG_LEVEL=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_LOG_LEVEL: value }),
      'DATABASE_LOG_LEVEL',
      'must be one of silent, error, warn, info, debug',
    );
  });

  it.each([
    [undefined, false],
    ['', false],
    ['true', true],
    ['TRUE', true],
    ['false', false],
  ])('DATABASE_LOG_PARAMETERS=%j gives logParameters %s', (value, logParameters) => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_LOG_PARAMETERS: value }).logParameters).toBe(
      logParameters,
    );
  });

  it.each(['yes', '1', 'redacted'])('rejects DATABASE_LOG_PARAMETERS=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_LOG_PARAMETERS: value }),
      'DATABASE_LOG_PARAMETERS',
      `must be true or false, got "${value}"`,
    );
  });

  it.each([
    [undefined, 1000],
    ['', 1000],
    ['0', 0],
    ['250', 250],
    ['2147483647', 2_147_483_647],
  ])('DATABASE_SLOW_QUERY_MS=%j gives slowQueryMs %i (0 turns the warning off)', (value, ms) => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_SLOW_QUERY_MS: value }).slowQueryMs).toBe(ms);
  });

  it.each(['-1', '1.5', '1s', 'never', '2147483648'])('rejects DATABASE_SLOW_QUERY_MS=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_SLOW_QUERY_MS: value }),
      'DATABASE_SLOW_QUERY_MS',
      `must be an integer from 0 to 2147483647, got "${value}"`,
    );
  });

  it.each([
    [BASE_URL, undefined, true],
    [`${BASE_URL}?pgbouncer=true`, undefined, false],
    [`${BASE_URL}?pgbouncer=true`, 'true', true],
    [BASE_URL, 'false', false],
    [BASE_URL, '', true],
  ])(
    '%s with DATABASE_PREPARED_STATEMENTS=%j: prepared statements %s (off by default behind PgBouncer)',
    (url, value, enabled) => {
      const config = loadConfig({ POSTGRES_PRISMA_URL: url, DATABASE_PREPARED_STATEMENTS: value });
      expect(config.preparedStatements.enabled).toBe(enabled);
    },
  );

  it.each([
    [undefined, 100],
    ['1', 1],
    ['10000', 10_000],
  ])('DATABASE_STATEMENT_CACHE_SIZE=%j keeps %i statements per connection', (value, size) => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_STATEMENT_CACHE_SIZE: value });
    expect(config.preparedStatements.perConnection).toBe(size);
  });

  it.each(['0', '-1', '10001', 'lots'])('rejects DATABASE_STATEMENT_CACHE_SIZE=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_STATEMENT_CACHE_SIZE: value }),
      'DATABASE_STATEMENT_CACHE_SIZE',
      `must be an integer from 1 to 10000, got "${value}"`,
    );
  });

  it('rejects DATABASE_PREPARED_STATEMENTS=maybe', () => {
    expect(() =>
      loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, DATABASE_PREPARED_STATEMENTS: 'maybe' }),
    ).toThrow(/DATABASE_PREPARED_STATEMENTS/);
  });

  it.each([
    [undefined, 5432],
    ['6543', 6543],
    ['1', 1],
    ['65535', 65535],
  ])('POSTGRES_PORT=%j gives port %i for the parts', (value, port) => {
    const config = loadConfig({ ...PARTS, POSTGRES_PORT: value });
    expect(config.pooled.port).toBe(port);
    expect(config.direct?.port).toBe(port);
  });

  it.each(['0', '65536', 'abc', '54.32', '-1', '5432x', '1e3'])('rejects POSTGRES_PORT=%j', (value) => {
    expectConfigError(
      () => loadConfig({ ...PARTS, POSTGRES_PORT: value }),
      'POSTGRES_PORT',
      `must be an integer from 1 to 65535, got "${value}"`,
    );
  });

  it('does not apply POSTGRES_PORT to a URL, which carries its own port', () => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_PORT: '7000' }).pooled.port).toBe(6543);
  });

  it.each([
    [undefined, 10],
    ['1', 1],
    ['25', 25],
    ['1000', 1000],
  ])('POSTGRES_POOL_MAX=%j gives max %i', (value, max) => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_POOL_MAX: value }).pool.max).toBe(max);
  });

  it.each(['0', '1001', 'ten', '1.5', '-3'])('rejects POSTGRES_POOL_MAX=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_POOL_MAX: value }),
      'POSTGRES_POOL_MAX',
      'must be an integer from 1 to 1000',
    );
  });

  it.each([
    [undefined, 10_000],
    ['1', 1],
    ['2500', 2500],
  ])('POSTGRES_POOL_TIMEOUT_MS=%j gives %i', (value, ms) => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_POOL_TIMEOUT_MS: value });
    expect(config.pool.connectionTimeoutMillis).toBe(ms);
  });

  it.each(['0', '-5', 'abc', '2147483648'])(
    'rejects POSTGRES_POOL_TIMEOUT_MS=%j (never unbounded)',
    (value) => {
      expectConfigError(
        () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_POOL_TIMEOUT_MS: value }),
        'POSTGRES_POOL_TIMEOUT_MS',
        'must be an integer from 1 to 2147483647',
      );
    },
  );

  it.each([
    [undefined, 10_000],
    ['0', 0],
    ['30000', 30_000],
  ])('POSTGRES_POOL_IDLE_TIMEOUT_MS=%j gives %i', (value, ms) => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_POOL_IDLE_TIMEOUT_MS: value });
    expect(config.pool.idleTimeoutMillis).toBe(ms);
  });

  it.each(['-1', 'x', '2147483648'])('rejects POSTGRES_POOL_IDLE_TIMEOUT_MS=%j', (value) => {
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_POOL_IDLE_TIMEOUT_MS: value }),
      'POSTGRES_POOL_IDLE_TIMEOUT_MS',
      'must be an integer from 0 to 2147483647',
    );
  });

  it('builds both connections from POSTGRES_HOST, USER, PASSWORD, DATABASE and PORT', () => {
    const config = loadConfig({ ...PARTS, POSTGRES_PORT: '5433' });
    const expected = settings({
      host: 'parts.example.com',
      port: 5433,
      user: 'parts_user',
      password: 'parts_pw',
      database: 'parts_db',
    });
    expect(config.pooled).toEqual(expected);
    expect(config.direct).toEqual(expected);
    expect(config.direct).not.toBe(config.pooled);
  });

  it('treats POSTGRES_PASSWORD as optional and keeps its spaces', () => {
    expect(loadConfig({ ...PARTS, POSTGRES_PASSWORD: undefined }).pooled.password).toBeUndefined();
    expect(loadConfig({ ...PARTS, POSTGRES_PASSWORD: '' }).pooled.password).toBeUndefined();
    expect(loadConfig({ ...PARTS, POSTGRES_PASSWORD: ' pw ' }).pooled.password).toBe(' pw ');
  });

  it('accepts a unix-socket directory in POSTGRES_HOST', () => {
    expect(loadConfig({ ...PARTS, POSTGRES_HOST: '/var/run/postgresql' }).pooled.host).toBe(
      '/var/run/postgresql',
    );
  });

  it.each(['POSTGRES_HOST', 'POSTGRES_USER', 'POSTGRES_DATABASE'])(
    'names %s when only it is missing',
    (name) => {
      const error = configError(() => loadConfig({ ...PARTS, [name]: undefined }));
      expect(error.setting).toBe(name);
      expect(error.message).toContain(`${name}: not set, but `);
      expect(error.message).toContain('or set POSTGRES_PRISMA_URL and POSTGRES_URL_NON_POOLING');
    },
  );

  it('names the first missing part and the URL variable that would cover it', () => {
    const error = configError(() =>
      loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_USER: 'docker_user' }),
    );
    expect(error.setting).toBe('POSTGRES_HOST');
    expect(error.message).toBe(
      'POSTGRES_HOST: not set, but POSTGRES_USER is: set POSTGRES_HOST, POSTGRES_USER and POSTGRES_DATABASE ' +
        'together, or set POSTGRES_URL_NON_POOLING',
    );
  });

  it('ignores incomplete parts when both URLs are set', () => {
    const config = loadConfig({
      POSTGRES_PRISMA_URL: BASE_URL,
      POSTGRES_URL_NON_POOLING: BASE_URL,
      POSTGRES_USER: 'docker_user',
    });
    expect(config.pooled.user).toBe('app');
  });

  it.each([
    ['postgresql://u:p@h/db', 'looks like a URL'],
    ['localhost:5432', 'must not include the port: set POSTGRES_PORT instead'],
  ])('rejects POSTGRES_HOST=%j', (host, text) => {
    expectConfigError(() => loadConfig({ ...PARTS, POSTGRES_HOST: host }), 'POSTGRES_HOST', text);
  });

  it.each(['POSTGRES_PRISMA_URL', 'POSTGRES_URL_NON_POOLING'])('names %s when its URL is bad', (name) => {
    expectConfigError(() => loadConfig({ [name]: 'mysql://u@h/db' }), name, 'must be a URL like');
  });

  it('counts empty and blank strings as unset', () => {
    const error = configError(() =>
      loadConfig({
        ENABLE_POSTGRES: '',
        POSTGRES_PRISMA_URL: '',
        POSTGRES_URL_NON_POOLING: '  ',
        POSTGRES_HOST: '',
        POSTGRES_USER: '',
        POSTGRES_DATABASE: '',
        POSTGRES_PORT: '',
        POSTGRES_POOL_MAX: '',
        DATABASE_LOG_LEVEL: '',
      }),
    );
    expect(error.setting).toBe('POSTGRES_PRISMA_URL');
  });

  it('reports a missing connection with the variables that would provide one', () => {
    const error = configError(() => loadConfig({ ENABLE_POSTGRES: 'true' }));
    expect(error.message).toBe(
      'POSTGRES_PRISMA_URL: not set: set POSTGRES_PRISMA_URL (or POSTGRES_URL_NON_POOLING, or POSTGRES_HOST, ' +
        'POSTGRES_USER and POSTGRES_DATABASE)',
    );
  });

  it('gives the defaults for a bare URL', () => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: BASE_URL })).toEqual({
      enabled: false,
      pooled: settings({ port: 6543 }),
      direct: settings({ port: 6543 }),
      pool: { max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 10_000 },
      logLevel: 'warn',
      logParameters: false,
      slowQueryMs: 1000,
      preparedStatements: { enabled: true, perConnection: 100 },
    });
  });
});

describe('loadConfig: deriving the pooled and direct connections', () => {
  const POOLED = 'postgresql://app:pw@bouncer:6432/appdb?pgbouncer=true';
  const DIRECT = 'postgresql://owner:pw2@server:5432/appdb';

  it('uses a pooled URL without pgbouncer for migrations too', () => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: BASE_URL });
    expect(config.direct).toEqual(config.pooled);
    expect(config.direct).not.toBe(config.pooled);
  });

  it('leaves direct undefined for a pgbouncer URL alone', () => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: POOLED });
    expect(config.pooled.pgbouncer).toBe(true);
    expect(config.direct).toBeUndefined();
  });

  it('takes direct from the parts next to a pgbouncer URL', () => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: POOLED, ...PARTS });
    expect(config.pooled.host).toBe('bouncer');
    expect(config.direct?.host).toBe('parts.example.com');
  });

  it('uses POSTGRES_URL_NON_POOLING alone for both', () => {
    const config = loadConfig({ POSTGRES_URL_NON_POOLING: DIRECT });
    expect(config.pooled.user).toBe('owner');
    expect(config.direct?.user).toBe('owner');
  });

  it('uses each URL for its own connection', () => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: POOLED, POSTGRES_URL_NON_POOLING: DIRECT });
    expect(config.pooled.host).toBe('bouncer');
    expect(config.direct?.host).toBe('server');
  });

  it('prefers the parts over POSTGRES_URL_NON_POOLING for the pooled connection', () => {
    const config = loadConfig({ POSTGRES_URL_NON_POOLING: DIRECT, ...PARTS });
    expect(config.pooled.host).toBe('parts.example.com');
    expect(config.direct?.host).toBe('server');
  });

  it("lets the URLs win over the parts (the spec's example)", () => {
    const config = loadConfig({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL:
        'postgresql://user:password@localhost:5432/nexpo_db?pgbouncer=true&connect_timeout=15',
      POSTGRES_URL_NON_POOLING: 'postgresql://user:password@localhost:5432/nexpo_db',
      POSTGRES_USER: 'nexpo_user',
      POSTGRES_PASSWORD: 'secure_password',
      POSTGRES_DATABASE: 'nexpo_db',
      POSTGRES_HOST: 'localhost',
      POSTGRES_PORT: '5432',
    });
    expect(config.enabled).toBe(true);
    expect(config.pooled).toMatchObject({ user: 'user', password: 'password', pgbouncer: true });
    expect(config.direct).toMatchObject({ user: 'user', password: 'password', pgbouncer: false });
    expect(config.pool.connectionTimeoutMillis).toBe(15_000);
  });
});

describe('loadConfig: pool settings from the pooled URL', () => {
  it('takes connection_limit as the pool size unless POSTGRES_POOL_MAX is set', () => {
    expect(loadConfig({ POSTGRES_PRISMA_URL: `${BASE_URL}?connection_limit=5` }).pool.max).toBe(5);
    expect(
      loadConfig({ POSTGRES_PRISMA_URL: `${BASE_URL}?connection_limit=5`, POSTGRES_POOL_MAX: '20' }).pool.max,
    ).toBe(20);
  });

  it('takes pool_timeout (seconds) unless POSTGRES_POOL_TIMEOUT_MS is set', () => {
    const env = { POSTGRES_PRISMA_URL: `${BASE_URL}?pool_timeout=3` };
    expect(loadConfig(env).pool.connectionTimeoutMillis).toBe(3000);
    expect(loadConfig({ ...env, POSTGRES_POOL_TIMEOUT_MS: '750' }).pool.connectionTimeoutMillis).toBe(750);
  });

  it('falls back to connect_timeout, after pool_timeout', () => {
    expect(
      loadConfig({ POSTGRES_PRISMA_URL: `${BASE_URL}?connect_timeout=15` }).pool.connectionTimeoutMillis,
    ).toBe(15_000);
    const both = { POSTGRES_PRISMA_URL: `${BASE_URL}?connect_timeout=15&pool_timeout=4` };
    expect(loadConfig(both).pool.connectionTimeoutMillis).toBe(4000);
    expect(loadConfig({ ...both, POSTGRES_POOL_TIMEOUT_MS: '100' }).pool.connectionTimeoutMillis).toBe(100);
  });

  it("ignores the direct URL's pool parameters when there is a pooled URL", () => {
    const config = loadConfig({
      POSTGRES_PRISMA_URL: BASE_URL,
      POSTGRES_URL_NON_POOLING: `${BASE_URL}?connection_limit=1&pool_timeout=2&connect_timeout=3`,
    });
    expect(config.pool).toEqual({ max: 10, connectionTimeoutMillis: 10_000, idleTimeoutMillis: 10_000 });
  });

  it('uses the direct URL pool parameters when it serves as the pooled connection too', () => {
    const config = loadConfig({ POSTGRES_URL_NON_POOLING: `${BASE_URL}?connection_limit=2&pool_timeout=7` });
    expect(config.pool).toMatchObject({ max: 2, connectionTimeoutMillis: 7000 });
  });
});

describe('parseConnectionUrl', () => {
  it('reads every part of a URL', () => {
    expect(parseConnectionUrl(BASE_URL, 'X')).toEqual(settings({ port: 6543 }));
  });

  it.each([
    ['postgres://app@h/db', { host: 'h', port: 5432, password: undefined }],
    ['POSTGRESQL://app:@h/db', { host: 'h', password: undefined }],
    ['postgresql://app@[::1]:5433/db', { host: '::1', port: 5433 }],
    ['postgresql://app@%2Fvar%2Frun%2Fpostgresql/db', { host: '/var/run/postgresql' }],
    ['postgresql://app@/db?host=/tmp', { host: '/tmp', port: 5432 }],
    ['postgresql://app@:5433/db?host=/tmp', { host: '/tmp', port: 5433 }],
    ['postgresql://app@ignored/db?host=/var/run/postgresql', { host: '/var/run/postgresql' }],
    ['postgresql://app@h/db?host=other.example.com', { host: 'other.example.com' }],
    ['postgresql://%C3%BCser:p%20w@h/my%20db', { user: 'üser', password: 'p w', database: 'my db' }],
    ['  postgresql://app@h/db  ', { host: 'h', database: 'db' }],
  ])('parses %s', (url, expected) => {
    expect(parseConnectionUrl(url, 'X')).toMatchObject(expected);
  });

  it.each([
    ['pgbouncer=true', { pgbouncer: true }],
    ['pgbouncer=false', { pgbouncer: false }],
    ['connect_timeout=15', { connectTimeoutSeconds: 15 }],
    ['sslmode=disable', { ssl: { mode: 'disable' } }],
    ['sslmode=allow', { ssl: { mode: 'allow' } }],
    ['sslmode=prefer', { ssl: { mode: 'prefer' } }],
    ['sslmode=require', { ssl: { mode: 'require' } }],
    [`sslmode=verify-ca&sslrootcert=${CA}`, { ssl: { mode: 'verify-ca', rootCertPath: CA } }],
    ['sslmode=verify-full', { ssl: { mode: 'verify-full' } }],
    [
      `sslmode=require&sslcert=${CERT}&sslkey=${KEY}&sslrootcert=${CA}`,
      { ssl: { mode: 'require', certPath: CERT, keyPath: KEY, rootCertPath: CA } },
    ],
    ['schema=app_2', { schema: 'app_2' }],
    ['application_name=my%20app%2Bworker', { applicationName: 'my app+worker' }],
    ['host=/var/run/postgresql', { host: '/var/run/postgresql' }],
    ['connection_limit=5', {}],
    ['pool_timeout=20', {}],
    ['uselibpqcompat=true', {}],
  ])('accepts ?%s', (query, expected) => {
    expect(parseConnectionUrl(`${BASE_URL}?${query}`, 'X')).toMatchObject(expected);
  });

  it('defaults to schema public, no pgbouncer, no timeout, sslmode disable, no application name', () => {
    expect(parseConnectionUrl(BASE_URL, 'X')).toMatchObject({
      schema: 'public',
      pgbouncer: false,
      connectTimeoutSeconds: undefined,
      ssl: { mode: 'disable' },
      applicationName: undefined,
    });
  });

  it('resolves relative certificate paths against the working directory', () => {
    const relativeCa = relative(process.cwd(), CA);
    expect(
      parseConnectionUrl(`${BASE_URL}?sslmode=verify-full&sslrootcert=${relativeCa}`, 'X').ssl.rootCertPath,
    ).toBe(CA);
  });

  it.each([
    ['pgbouncer=yes', 'URL parameter "pgbouncer" must be true or false, got "yes"'],
    ['connect_timeout=0', 'URL parameter "connect_timeout" must be an integer from 1 to 2147483'],
    ['connect_timeout=abc', 'URL parameter "connect_timeout" must be an integer'],
    [
      'sslmode=no-verify',
      'URL parameter "sslmode" must be one of disable, allow, prefer, require, verify-ca',
    ],
    ['sslmode=verify-full&sslrootcert=missing.pem', 'URL parameter "sslrootcert": cannot read'],
    [`sslmode=verify-full&sslrootcert=${join(dir, 'a-directory')}`, '(not a file)'],
    [
      `sslmode=require&sslcert=${join(dir, 'nope.pem')}&sslkey=${KEY}`,
      'URL parameter "sslcert": cannot read',
    ],
    [
      `sslmode=require&sslcert=${CERT}&sslkey=${join(dir, 'nope.key')}`,
      'URL parameter "sslkey": cannot read',
    ],
    [`sslmode=require&sslkey=${KEY}`, 'has sslkey without sslcert'],
    [`sslmode=require&sslcert=${CERT}`, 'has sslcert without sslkey'],
    [`sslrootcert=${CA}`, 'has sslrootcert but no sslmode'],
    ['sslmode=verify-ca', 'sslmode=verify-ca needs sslrootcert'],
    ['schema=my-schema', 'URL parameter "schema" must be an identifier'],
    ['schema=1abc', 'URL parameter "schema" must be an identifier'],
    [`schema=${'s'.repeat(64)}`, 'at most 63 bytes'],
    ['schema=', 'URL parameter "schema" is empty'],
    ['application_name=', 'URL parameter "application_name" is empty'],
    ['host=', 'URL parameter "host" is empty'],
    ['host=a,b', 'lists several hosts'],
    ['connection_limit=0', 'URL parameter "connection_limit" must be an integer from 1 to 1000'],
    ['connection_limit=many', 'URL parameter "connection_limit" must be an integer'],
    ['pool_timeout=0', 'URL parameter "pool_timeout" must be an integer from 1'],
    ['uselibpqcompat=false', 'URL parameter "uselibpqcompat" can only be true'],
    ['sslmode=require&sslmode=disable', 'URL parameter "sslmode" is given more than once'],
    ['schema=%E0%A4%A', 'URL parameter "schema" is not correctly percent-encoded'],
    ['sslmode=require?sslcert=client.pem', 'has a second "?": separate URL parameters with "&"'],
  ])('rejects ?%s', (query, text) => {
    expectConfigError(
      () => parseConnectionUrl(`${BASE_URL}?${query}`, 'POSTGRES_PRISMA_URL'),
      'POSTGRES_PRISMA_URL',
      text,
    );
  });

  it('lists the known parameters for an unknown one', () => {
    const error = configError(() =>
      parseConnectionUrl(`${BASE_URL}?schema=app&foo=1`, 'POSTGRES_PRISMA_URL'),
    );
    expect(error.message).toBe(
      'POSTGRES_PRISMA_URL: unknown URL parameter "foo" (known: pgbouncer, connect_timeout, sslmode, sslcert, ' +
        'sslkey, sslrootcert, schema, application_name, host, connection_limit, pool_timeout, uselibpqcompat)',
    );
  });

  it.each([
    ['mysql://app@h/db', 'must be a URL like postgresql://user:password@host:5432/database'],
    ['localhost:5432/db', 'must be a URL like'],
    ['postgresql:app@h/db', 'must be a URL like'],
    ['postgresql://h/db', 'has no user name'],
    ['postgresql://app@h', 'has no database name'],
    ['postgresql://app@h/', 'has no database name'],
    ['postgresql://app@/db', 'has no host'],
    ['postgresql://app@h:0/db', 'the port must be an integer from 1 to 65535, got "0"'],
    ['postgresql://app@h:99999/db', 'is not a valid URL'],
    ['postgresql://app@h st/db', 'is not a valid URL'],
    ['postgresql://app@h1,h2/db', 'lists several hosts'],
    ['postgresql://app:p%zz@h/db', 'the password is not correctly percent-encoded'],
    ['postgresql://app:pa/ss@h/db', 'has "@" after the host'],
    ['postgresql://app:pa?ss@h/db', 'has "@" after the host'],
    ['postgresql://app:pa#ss@h/db', 'has "@" after the host'],
    ['postgresql://app@h/db#fragment', 'must not contain "#"'],
  ])('rejects %s', (url, text) => {
    expectConfigError(
      () => parseConnectionUrl(url, 'POSTGRES_URL_NON_POOLING'),
      'POSTGRES_URL_NON_POOLING',
      text,
    );
  });
});

describe('describeConnection', () => {
  it('replaces the password with ***', () => {
    const text = describeConnection(parseConnectionUrl('postgresql://app:S3cret%40x@h:5432/db', 'X'));
    expect(text).toBe('postgresql://app:***@h:5432/db');
    expect(text).not.toContain('S3cret');
  });

  it('leaves out the password part when there is none', () => {
    expect(describeConnection(settings({ password: undefined }))).toBe(
      'postgresql://app@db.example.com:5432/appdb',
    );
  });

  it('shows every non-default setting', () => {
    const parsed = parseConnectionUrl(
      `postgresql://app:pw@h:6432/db?pgbouncer=true&schema=app&sslmode=verify-full&sslrootcert=${CA}` +
        '&connect_timeout=5&application_name=web',
      'X',
    );
    expect(describeConnection(parsed)).toBe(
      `postgresql://app:***@h:6432/db?schema=app&pgbouncer=true&sslmode=verify-full&sslrootcert=${CA}` +
        '&connect_timeout=5&application_name=web',
    );
  });

  it('shows a socket directory as ?host=', () => {
    expect(describeConnection(settings({ host: '/var/run/postgresql', password: undefined }))).toBe(
      'postgresql://app@localhost:5432/appdb?host=/var/run/postgresql',
    );
  });
});

describe('toConnectionUrl', () => {
  const SPECIAL = 'p@ss:w/rd?#%&= +ü';

  it('percent-encodes a password with @:/?# so that it round-trips', () => {
    const original = settings({ user: 'us@er', password: SPECIAL, database: 'my/db' });
    const url = toConnectionUrl(original);
    expect(url).toBe(
      'postgresql://us%40er:p%40ss%3Aw%2Frd%3F%23%25%26%3D%20%2B%C3%BC@db.example.com:5432/my%2Fdb',
    );
    expect(parseConnectionUrl(url, 'X')).toEqual(original);
  });

  it('gives node-postgres the same password', () => {
    const parsed = parsePgConnectionString(toConnectionUrl(settings({ password: SPECIAL })));
    expect(parsed.password).toBe(SPECIAL);
    expect(parsed.user).toBe('app');
    expect(parsed.host).toBe('db.example.com');
  });

  it('drops pgbouncer and schema, keeps connect_timeout and application_name', () => {
    const parsed = parseConnectionUrl(
      `${BASE_URL}?pgbouncer=true&schema=app&connect_timeout=15&application_name=worker`,
      'X',
    );
    expect(toConnectionUrl(parsed)).toBe(
      'postgresql://app:pw@db.example.com:6543/appdb?connect_timeout=15&application_name=worker',
    );
  });

  it('round-trips a socket directory, an IPv6 address and a URL without a password', () => {
    for (const original of [
      settings({ host: '/var/run/postgresql', port: 5433 }),
      settings({ host: '::1' }),
      settings({ password: undefined }),
    ]) {
      expect(parseConnectionUrl(toConnectionUrl(original), 'X')).toEqual(original);
    }
    expect(toConnectionUrl(settings({ host: '::1' }))).toBe('postgresql://app:pw@[::1]:5432/appdb');
  });

  it.each([
    ['disable', {}, ''],
    ['allow', { rootCertPath: CA }, ''],
    ['prefer', { certPath: CERT, keyPath: KEY }, ''],
    ['require', {}, '?sslmode=require&uselibpqcompat=true'],
    [
      'require',
      { rootCertPath: CA, certPath: CERT, keyPath: KEY },
      `?sslmode=require&sslrootcert=${CA}&sslcert=${CERT}&sslkey=${KEY}&uselibpqcompat=true`,
    ],
    ['verify-ca', { rootCertPath: CA }, `?sslmode=verify-ca&sslrootcert=${CA}&uselibpqcompat=true`],
    ['verify-full', {}, '?sslmode=verify-full'],
  ] as const)(
    'writes sslmode=%s so that node-postgres tools connect as the application does',
    (mode, files, query) => {
      const original = settings({ ssl: { mode, ...files } });
      const url = toConnectionUrl(original);
      expect(url).toBe(`postgresql://app:pw@db.example.com:5432/appdb${query}`);
      // pg-connection-string's reading of the URL verifies what toPgClientConfig's ssl verifies.
      expect(effectiveSsl(parsePgConnectionString(url).ssl)).toEqual(
        effectiveSsl(toPgClientConfig(original).ssl),
      );
    },
  );
});

describe('toPgClientConfig', () => {
  it('passes the connection fields, never a connectionString', () => {
    const config = toPgClientConfig(
      parseConnectionUrl(`${BASE_URL}?connect_timeout=7&application_name=web&pgbouncer=true&schema=app`, 'X'),
    );
    expect(config).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'app',
      password: 'pw',
      database: 'appdb',
      ssl: false,
      application_name: 'web',
      connectionTimeoutMillis: 7000,
    });
    expect(config).not.toHaveProperty('connectionString');
  });

  it('leaves out what is not set', () => {
    const config = toPgClientConfig(settings({ password: undefined }));
    expect(Object.keys(config).sort()).toEqual(['database', 'host', 'port', 'ssl', 'user']);
  });

  const noIdentityCheck = expect.any(Function);
  it.each([
    ['disable', {}, false],
    ['allow', { rootCertPath: CA }, false],
    ['prefer', { rootCertPath: CA, certPath: CERT, keyPath: KEY }, false],
    ['require', {}, { rejectUnauthorized: false }],
    [
      'require',
      { certPath: CERT, keyPath: KEY },
      { rejectUnauthorized: false, cert: 'CLIENT CERTIFICATE', key: 'CLIENT KEY' },
    ],
    [
      'require',
      { rootCertPath: CA },
      { ca: 'CA CERTIFICATE', rejectUnauthorized: true, checkServerIdentity: noIdentityCheck },
    ],
    [
      'verify-ca',
      { rootCertPath: CA, certPath: CERT, keyPath: KEY },
      {
        ca: 'CA CERTIFICATE',
        rejectUnauthorized: true,
        checkServerIdentity: noIdentityCheck,
        cert: 'CLIENT CERTIFICATE',
        key: 'CLIENT KEY',
      },
    ],
    ['verify-full', {}, { rejectUnauthorized: true }],
    ['verify-full', { rootCertPath: CA }, { ca: 'CA CERTIFICATE', rejectUnauthorized: true }],
  ] as const)('maps sslmode=%s (case %#)', (mode, files, ssl) => {
    const config = toPgClientConfig(settings({ ssl: { mode, ...files } }));
    expect(config.ssl).toEqual(ssl);
    if (typeof config.ssl === 'object' && config.ssl.checkServerIdentity) {
      expect(config.ssl.checkServerIdentity('db.example.com', {} as never)).toBeUndefined();
    }
  });

  it('rejects verify-ca without a CA and names an unreadable certificate', () => {
    expectConfigError(
      () => toPgClientConfig(settings({ ssl: { mode: 'verify-ca' } })),
      'sslrootcert',
      'sslmode=verify-ca needs sslrootcert',
    );
    expectConfigError(
      () => toPgClientConfig(settings({ ssl: { mode: 'verify-full', rootCertPath: join(dir, 'gone.pem') } })),
      'sslrootcert',
      'cannot read',
    );
  });
});

describe('isDatabaseConfigured', () => {
  it.each([
    [{}, false],
    [{ POSTGRES_PRISMA_URL: '' }, false],
    [{ POSTGRES_USER: 'u', POSTGRES_DATABASE: 'd', ENABLE_POSTGRES: 'true' }, false],
    [{ POSTGRES_PRISMA_URL: BASE_URL }, true],
    [{ POSTGRES_URL_NON_POOLING: BASE_URL }, true],
    [{ POSTGRES_HOST: 'localhost' }, true],
    [{ POSTGRES_PRISMA_URL: 'not even a URL' }, true],
  ])('%o → %s', (env, configured) => {
    expect(isDatabaseConfigured(env)).toBe(configured);
  });
});

describe('readEnvironment', () => {
  it('reads .env under process.env without changing process.env', () => {
    const envDir = mkdtempSync(join(dir, 'env-'));
    writeFileSync(
      join(envDir, '.env'),
      '# comment\nSHARED_DB_TEST_FROM_FILE=file\nSHARED_DB_TEST_BOTH="file value"\nPOSTGRES_PORT=6000\n',
    );
    const previous = process.env.SHARED_DB_TEST_BOTH;
    process.env.SHARED_DB_TEST_BOTH = 'process';
    try {
      const env = readEnvironment(envDir);
      expect(env.SHARED_DB_TEST_FROM_FILE).toBe('file');
      expect(env.SHARED_DB_TEST_BOTH).toBe('process');
      expect(process.env.SHARED_DB_TEST_FROM_FILE).toBeUndefined();
      expect(env).not.toBe(process.env);
    } finally {
      if (previous === undefined) delete process.env.SHARED_DB_TEST_BOTH;
      else process.env.SHARED_DB_TEST_BOTH = previous;
    }
  });

  it('is fine without a .env', () => {
    const env = readEnvironment(mkdtempSync(join(dir, 'empty-')));
    expect(env.PATH).toBe(process.env.PATH);
    expect(env.SHARED_DB_TEST_FROM_FILE).toBeUndefined();
  });

  it('reports a .env that cannot be read', () => {
    const envDir = mkdtempSync(join(dir, 'unreadable-'));
    mkdirSync(join(envDir, '.env'));
    expectConfigError(() => readEnvironment(envDir), '.env', 'cannot read');
  });
});

describe('errors never contain the password', () => {
  const PASSWORD = 'S3cret-Pa55word';
  const VARIABLES = ['POSTGRES_PRISMA_URL', 'POSTGRES_URL_NON_POOLING', 'POSTGRES_DATABASE', 'POSTGRES_PORT'];
  const url = (rest: string) => `postgresql://app:${PASSWORD}${rest}`;
  const cases: [string, Environment][] = [
    ['unknown parameter', { POSTGRES_PRISMA_URL: url('@h/db?foo=1') }],
    ['bad sslmode', { POSTGRES_PRISMA_URL: url('@h/db?sslmode=bogus') }],
    ['bad connect_timeout', { POSTGRES_PRISMA_URL: url('@h/db?connect_timeout=soon') }],
    ['missing certificate', { POSTGRES_PRISMA_URL: url('@h/db?sslmode=require&sslrootcert=nope.pem') }],
    ['port 0', { POSTGRES_PRISMA_URL: url('@h:0/db') }],
    ['port out of range', { POSTGRES_PRISMA_URL: url('@h:99999/db') }],
    ['space in host', { POSTGRES_PRISMA_URL: url('@h st/db') }],
    ['no host', { POSTGRES_PRISMA_URL: url('@/db') }],
    ['no database', { POSTGRES_PRISMA_URL: url('@h') }],
    ['fragment', { POSTGRES_PRISMA_URL: url('@h/db#x') }],
    ['second ?', { POSTGRES_PRISMA_URL: url('@h/db?pgbouncer=true?sslmode=require') }],
    ['wrong scheme', { POSTGRES_PRISMA_URL: `mysql://app:${PASSWORD}@h/db` }],
    ['no scheme', { POSTGRES_PRISMA_URL: `app:${PASSWORD}@h/db` }],
    ['bad percent-encoding', { POSTGRES_PRISMA_URL: url('%zz@h/db') }],
    ['raw / in the password', { POSTGRES_PRISMA_URL: `postgresql://app:ab/${PASSWORD}@h/db` }],
    ['raw ? in the password', { POSTGRES_PRISMA_URL: `postgresql://app:ab?${PASSWORD}=1@h/db` }],
    ['raw # in the password', { POSTGRES_PRISMA_URL: `postgresql://app:ab#${PASSWORD}@h/db` }],
    [
      'bad direct BASE_URL',
      { POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_URL_NON_POOLING: url('@h/db?schema=a-b') },
    ],
    ['incomplete parts', { POSTGRES_HOST: 'h', POSTGRES_USER: 'app', POSTGRES_PASSWORD: PASSWORD }],
    ['bad port with parts', { ...PARTS, POSTGRES_PASSWORD: PASSWORD, POSTGRES_PORT: 'x' }],
  ];

  it.each(cases)('%s', (_name, env) => {
    const error = configError(() => loadConfig(env));
    expect(error.message).not.toContain(PASSWORD);
    expect(error.message.startsWith(`${error.setting}: `)).toBe(true);
    expect(VARIABLES).toContain(error.setting);
    expect(String(error.cause ?? '')).not.toContain(PASSWORD);
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
    // What console.error would print, causes and their properties included.
    expect(inspect(error, { depth: 10, showHidden: true })).not.toContain(PASSWORD);
  });
});

describe('.env.example', () => {
  it('loads, with every variable this module reads', () => {
    const text = readFileSync(fileURLToPath(new URL('../../.env.example', import.meta.url)), 'utf8');
    const config = loadConfig(parseDotenv(text));
    expect(config.enabled).toBe(true);
    expect(config.pooled).toMatchObject({ pgbouncer: true, connectTimeoutSeconds: 15 });
    expect(config.direct).toMatchObject({ user: 'user', database: 'nexpo_db', pgbouncer: false });
    const commentedOut = parseDotenv(text.replace(/^# (?=[A-Z_]+=)/gm, ''));
    for (const name of [
      'DATABASE_LOG_LEVEL',
      'DATABASE_LOG_PARAMETERS',
      'DATABASE_SLOW_QUERY_MS',
      'DATABASE_PREPARED_STATEMENTS',
      'DATABASE_STATEMENT_CACHE_SIZE',
      'POSTGRES_POOL_MAX',
      'POSTGRES_POOL_TIMEOUT_MS',
      'POSTGRES_POOL_IDLE_TIMEOUT_MS',
    ]) {
      expect(commentedOut).toHaveProperty(name);
    }
    // The values shown commented out are the defaults (.env.example's pooled URL has pgbouncer=true).
    const logging = [
      'DATABASE_LOG_LEVEL',
      'DATABASE_LOG_PARAMETERS',
      'DATABASE_SLOW_QUERY_MS',
      'DATABASE_PREPARED_STATEMENTS',
      'DATABASE_STATEMENT_CACHE_SIZE',
    ];
    const shown = Object.fromEntries(logging.map((name) => [name, commentedOut[name]]));
    const defaults = {
      logLevel: 'warn',
      logParameters: false,
      slowQueryMs: 1000,
      preparedStatements: { enabled: false, perConnection: 100 },
    };
    expect(loadConfig({ ...parseDotenv(text), ...shown })).toMatchObject(defaults);
    expect(loadConfig(parseDotenv(text))).toMatchObject(defaults);
  });
});

describe('POSTGRES_SCHEMA', () => {
  const base = {
    POSTGRES_PRISMA_URL: 'postgresql://app@db:6432/app?pgbouncer=true',
    POSTGRES_URL_NON_POOLING: 'postgresql://app@db:5432/app',
  };

  it('puts both connections in the schema', () => {
    const config = loadConfig({ ...base, POSTGRES_SCHEMA: 'tenant_a' });
    expect(config.pooled.schema).toBe('tenant_a');
    expect(config.direct?.schema).toBe('tenant_a');
  });

  it('agrees with a URL that names the same schema, and refuses one that names another', () => {
    const same = loadConfig({
      ...base,
      POSTGRES_PRISMA_URL: `${base.POSTGRES_PRISMA_URL}&schema=tenant_a`,
      POSTGRES_SCHEMA: 'tenant_a',
    });
    expect(same.pooled.schema).toBe('tenant_a');
    expect(() =>
      loadConfig({
        ...base,
        POSTGRES_URL_NON_POOLING: `${base.POSTGRES_URL_NON_POOLING}?schema=tenant_b`,
        POSTGRES_SCHEMA: 'tenant_a',
      }),
    ).toThrow('POSTGRES_SCHEMA: is "tenant_a", but POSTGRES_URL_NON_POOLING has ?schema=tenant_b');
  });

  it.each(['1tenant', 'tenant-a', 'a b', 'x'.repeat(64), 'ten"ant'])(
    'refuses %j, naming the variable',
    (schema) => {
      expect(() => loadConfig({ ...base, POSTGRES_SCHEMA: schema })).toThrow(
        /^POSTGRES_SCHEMA: must be an identifier/,
      );
    },
  );

  it('leaves public when unset', () => {
    expect(loadConfig(base).pooled.schema).toBe('public');
  });
});
