/**
 * Unit tests for src/config/load-config.ts. Every test passes its own Environment; none reads the real
 * process.env (only the readEnvironment test sets, then restores, one variable of its own).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { parse as parseDotenv } from 'dotenv';
import { describe, expect, it } from 'vitest';
import { isDatabaseConfigured, loadConfig, readEnvironment } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import {
  BASE_URL,
  configError,
  expectConfigError,
  settings,
  useConfigFiles,
} from '../support/config-fixtures.js';

const { dir, CA, CERT, KEY } = useConfigFiles();
const PARTS: Environment = {
  POSTGRES_HOST: 'parts.example.com',
  POSTGRES_USER: 'parts_user',
  POSTGRES_PASSWORD: 'parts_pw',
  POSTGRES_DATABASE: 'parts_db',
};

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
      replicas: { servers: [], maxLagMs: 1000 },
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
  const VARIABLES = [
    'POSTGRES_PRISMA_URL',
    'POSTGRES_URL_NON_POOLING',
    'POSTGRES_DATABASE',
    'POSTGRES_PORT',
    'POSTGRES_REPLICA_URLS',
  ];
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
    ...(
      [
        ['unknown parameter', url('@r1/db?foo=1')],
        ['bad sslmode', url('@r1/db?sslmode=bogus')],
        ['missing certificate', url('@r1/db?sslmode=require&sslrootcert=nope.pem')],
        ['port out of range', url('@r1:99999/db')],
        ['space in host', url('@r 1/db')],
        ['no host', url('@/db')],
        ['no database', url('@r1')],
        ['fragment', url('@r1/db#x')],
        ['second ?', url('@r1/db?pgbouncer=true?sslmode=require')],
        ['wrong scheme', `mysql://app:${PASSWORD}@r1/db`],
        ['bad percent-encoding', url('%zz@r1/db')],
        ['raw / in the password', `postgresql://app:ab/${PASSWORD}@r1/db`],
        ['raw ? in the password', `postgresql://app:ab?${PASSWORD}=1@r1/db`],
        ['raw # in the password', `postgresql://app:ab#${PASSWORD}@r1/db`],
        ['raw , in the password', `postgresql://app:ab,${PASSWORD}@r1/db`],
        ['raw , in the password, after a URL', `${url('@r1/db')}, postgresql://app:ab,${PASSWORD}@r2/db`],
        ['the host forgotten', url('/db')],
        ['another schema', url('@r1/db?schema=other')],
        ['another connection_limit', url('@r1/db?connection_limit=3')],
        ['listed twice', `${url('@r1/db')},${url('@r1/db')}`],
        ['the primary', url('@db.example.com:6543/appdb')],
      ] as const
    ).map(([name, replicas]): [string, Environment] => [
      `replica: ${name}`,
      { POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_REPLICA_URLS: replicas },
    ]),
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
      'POSTGRES_REPLICA_URLS',
      'POSTGRES_REPLICA_MAX_LAG_MS',
    ]) {
      expect(commentedOut).toHaveProperty(name);
    }
    const replicas = ['POSTGRES_REPLICA_URLS', 'POSTGRES_REPLICA_MAX_LAG_MS'];
    const withReplicas = loadConfig({
      ...parseDotenv(text),
      ...Object.fromEntries(replicas.map((name) => [name, commentedOut[name]])),
    });
    expect(withReplicas.replicas.servers.map((server) => server.host)).toEqual([
      'replica-1.example.com',
      'replica-2.example.com',
    ]);
    expect(withReplicas.replicas.maxLagMs).toBe(1000);
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
      replicas: { servers: [], maxLagMs: 1000 },
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

describe('POSTGRES_REPLICA_URLS', () => {
  const REPLICA_1 = 'postgresql://reader:pw1@replica-1.example.com:5432/appdb';
  const REPLICA_2 = 'postgresql://reader:pw2@replica-2.example.com:5433/appdb';
  const replicas = (urls: string | undefined, env: Environment = {}) =>
    loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, ...env, POSTGRES_REPLICA_URLS: urls }).replicas;
  const refusal = (urls: string, env: Environment = {}) =>
    configError(() => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, ...env, POSTGRES_REPLICA_URLS: urls }));
  /** The problem of a ConfigError's message, without the variable. */
  const problemOf = (fn: () => unknown) => {
    const error = configError(fn);
    return error.message.slice(`${error.setting}: `.length);
  };

  it.each([undefined, '', '  '])('=%j: no replicas, the default lag bound', (urls) => {
    expect(replicas(urls)).toEqual({ servers: [], maxLagMs: 1000 });
  });

  it('reads the URLs in order, trimming the spaces around the commas', () => {
    expect(replicas(` ${REPLICA_1} ,\t${REPLICA_2} `).servers).toEqual([
      settings({ host: 'replica-1.example.com', user: 'reader', password: 'pw1' }),
      settings({ host: 'replica-2.example.com', port: 5433, user: 'reader', password: 'pw2' }),
    ]);
  });

  it("reads every parameter the pooled URL's grammar has", () => {
    const query =
      `?pgbouncer=true&connect_timeout=7&application_name=reader%20app&sslmode=verify-full` +
      `&sslrootcert=${encodeURIComponent(CA)}&sslcert=${encodeURIComponent(CERT)}&sslkey=${encodeURIComponent(KEY)}`;
    const expected = settings({
      host: 'replica-1.example.com',
      user: 'reader',
      password: 'pw1',
      pgbouncer: true,
      connectTimeoutSeconds: 7,
      applicationName: 'reader app',
      ssl: { mode: 'verify-full', rootCertPath: CA, certPath: CERT, keyPath: KEY },
    });
    expect(replicas(`${REPLICA_1}${query}`).servers).toEqual([expected]);
    // The same URL as the pooled one reads the same.
    const asPooled = loadConfig({ POSTGRES_PRISMA_URL: `${REPLICA_1}${query}` }).pooled;
    expect(asPooled).toEqual(expected);
  });

  it('reads a unix-socket directory and an IPv6 address', () => {
    const { servers } = replicas(
      'postgres://reader@/appdb?host=/var/run/replica, postgresql://reader@[::1]:5434/appdb',
    );
    expect(servers.map(({ host, port }) => [host, port])).toEqual([
      ['/var/run/replica', 5432],
      ['::1', 5434],
    ]);
  });

  it.each([
    [`${REPLICA_1},,${REPLICA_2}`, 'URL 2 of 3 is empty'],
    [`${REPLICA_1}, ,${REPLICA_2}`, 'URL 2 of 3 is empty'],
    [`${REPLICA_1},`, 'URL 2 of 2 is empty'],
    [`,${REPLICA_1}`, 'URL 1 of 2 is empty'],
    [',', 'URL 1 of 2 is empty'],
  ])('refuses an empty entry: %j', (urls, text) => {
    expectConfigError(() => replicas(urls), 'POSTGRES_REPLICA_URLS', text);
  });

  it('names the variable, the position and the host and port of a bad URL', () => {
    const error = refusal(`${REPLICA_1},${REPLICA_2}?foo=1`);
    expect(error.setting).toBe('POSTGRES_REPLICA_URLS');
    expect(error.message).toBe(
      'POSTGRES_REPLICA_URLS: URL 2 (replica-2.example.com:5433): unknown URL parameter "foo" (known: ' +
        'pgbouncer, connect_timeout, sslmode, sslcert, sslkey, sslrootcert, schema, application_name, host, ' +
        'connection_limit, pool_timeout, uselibpqcompat)',
    );
  });

  it('gives the position alone when the host cannot be read', () => {
    expect(refusal(`${REPLICA_1},mysql://reader:pw@replica-2/appdb`).message).toBe(
      'POSTGRES_REPLICA_URLS: URL 2: must be a URL like postgresql://user:password@host:5432/database ' +
        '(postgresql:// or postgres://); a comma inside a URL separates it from the next one: percent-encode ' +
        'a comma in a password as %2C',
    );
    expect(refusal('postgresql://reader:pw@/appdb').message).toMatch(
      /^POSTGRES_REPLICA_URLS: URL 1: has no host/,
    );
  });

  it.each([
    '?sslmode=bogus',
    '?sslmode=verify-ca',
    '?sslcert=client.pem&sslmode=require',
    '?sslmode=require&sslrootcert=nope.pem',
    '?sslrootcert=ca.pem',
    '?connect_timeout=0',
    '?connect_timeout=soon',
    '?pgbouncer=maybe',
    '?application_name=',
    '?schema=a-b',
    '?host=a%2Cb',
    '?uselibpqcompat=false',
    '?connection_limit=1001',
    '?pool_timeout=0',
    '?pgbouncer=true&pgbouncer=true',
    '?pgbouncer=true?sslmode=require',
  ])('refuses %s as the pooled URL does, with the same reason', (query) => {
    const pooledProblem = problemOf(() => loadConfig({ POSTGRES_PRISMA_URL: `${REPLICA_1}${query}` }));
    const error = refusal(`${REPLICA_2},${REPLICA_1}${query}`);
    expect(error.setting).toBe('POSTGRES_REPLICA_URLS');
    expect(error.message).toBe(`POSTGRES_REPLICA_URLS: URL 2 (replica-1.example.com:5432): ${pooledProblem}`);
  });

  it.each([
    ['reader:pw@replica-1:0/appdb', 'URL 1 (replica-1:0): the port must be an integer from 1 to 65535'],
    ['reader:pw@replica-1/', 'URL 1 (replica-1): has no database name'],
    ['replica-1:5432/appdb', 'URL 1: has no user name'],
  ])('postgresql://%s: %s', (rest, text) => {
    expectConfigError(() => replicas(`postgresql://${rest}`), 'POSTGRES_REPLICA_URLS', text);
  });

  it('explains a URL split by a raw comma in its password, without showing either half', () => {
    const error = refusal('postgresql://reader:1234,5678@replica-1/appdb');
    expect(error.message).toBe(
      'POSTGRES_REPLICA_URLS: URL 1: has no user name: use postgresql://user:password@host:5432/database; ' +
        'a comma inside a URL separates it from the next one: percent-encode a comma in a password as %2C',
    );
    expect(error.message).not.toMatch(/1234|5678/);
  });

  describe('schema', () => {
    const POOLED = `${BASE_URL}?schema=tenant_a`;

    it("takes the pooled connection's schema when the URL has none", () => {
      expect(replicas(REPLICA_1, { POSTGRES_PRISMA_URL: POOLED }).servers[0]?.schema).toBe('tenant_a');
      const fromVariable = replicas(REPLICA_1, { POSTGRES_SCHEMA: 'tenant_b' });
      expect(fromVariable.servers[0]?.schema).toBe('tenant_b');
    });

    it("accepts the pooled connection's schema", () => {
      const urls = `${REPLICA_1}?schema=tenant_a`;
      expect(replicas(urls, { POSTGRES_PRISMA_URL: POOLED }).servers[0]?.schema).toBe('tenant_a');
      expect(replicas(urls, { POSTGRES_SCHEMA: 'tenant_a' }).servers[0]?.schema).toBe('tenant_a');
      expect(replicas(`${REPLICA_1}?schema=public`).servers[0]?.schema).toBe('public');
    });

    it.each([
      [POOLED, `${REPLICA_1}?schema=tenant_b`, 'tenant_b', 'tenant_a'],
      [POOLED, `${REPLICA_1}?schema=public`, 'public', 'tenant_a'],
      [BASE_URL, `${REPLICA_1}?schema=tenant_a`, 'tenant_a', 'public'],
    ])('pooled %s, replica %s: refused', (pooled, urls, replicaSchema, pooledSchema) => {
      expect(refusal(`${REPLICA_2},${urls}`, { POSTGRES_PRISMA_URL: pooled }).message).toBe(
        `POSTGRES_REPLICA_URLS: URL 2 (replica-1.example.com:5432): has ?schema=${replicaSchema}, but the ` +
          `pooled connection's schema is ${pooledSchema}: tables are qualified with the pooled connection's ` +
          `schema; remove schema from the replica URL or make it ${pooledSchema}`,
      );
    });

    it('refuses a schema other than POSTGRES_SCHEMA', () => {
      expectConfigError(
        () => replicas(`${REPLICA_1}?schema=tenant_b`, { POSTGRES_SCHEMA: 'tenant_a' }),
        'POSTGRES_REPLICA_URLS',
        "URL 1 (replica-1.example.com:5432): has ?schema=tenant_b, but the pooled connection's schema is tenant_a",
      );
    });
  });

  describe('pool parameters: the replica pools take the pooled settings', () => {
    it('accepts the same connection_limit and pool_timeout as the pooled URL, and changes nothing', () => {
      const env = { POSTGRES_PRISMA_URL: `${BASE_URL}?connection_limit=4&pool_timeout=3` };
      const config = loadConfig({
        ...env,
        POSTGRES_REPLICA_URLS: `${REPLICA_1}?connection_limit=4&pool_timeout=3,${REPLICA_2}?pool_timeout=3`,
      });
      expect(config.replicas.servers).toHaveLength(2);
      expect(config.pool).toEqual(loadConfig(env).pool);
      expect(config.pool).toMatchObject({ max: 4, connectionTimeoutMillis: 3000 });
    });

    it("keeps each replica's connect_timeout for its connections, not for the pool", () => {
      const config = loadConfig({
        POSTGRES_PRISMA_URL: BASE_URL,
        POSTGRES_REPLICA_URLS: `${REPLICA_1}?connect_timeout=3`,
      });
      expect(config.replicas.servers[0]?.connectTimeoutSeconds).toBe(3);
      expect(config.pool.connectionTimeoutMillis).toBe(10_000);
    });

    it.each([
      [
        `${BASE_URL}?connection_limit=4`,
        '?connection_limit=5',
        'connection_limit=5',
        'connection_limit=4',
        'POSTGRES_POOL_MAX',
      ],
      [BASE_URL, '?connection_limit=5', 'connection_limit=5', 'none', 'POSTGRES_POOL_MAX'],
      [
        `${BASE_URL}?pool_timeout=3`,
        '?pool_timeout=2',
        'pool_timeout=2',
        'pool_timeout=3',
        'POSTGRES_POOL_TIMEOUT_MS',
      ],
      [BASE_URL, '?pool_timeout=2', 'pool_timeout=2', 'none', 'POSTGRES_POOL_TIMEOUT_MS'],
    ])('pooled %s, replica %s: refused', (pooled, query, given, pooledValue, variable) => {
      const name = given.split('=')[0];
      expect(refusal(`${REPLICA_1}${query}`, { POSTGRES_PRISMA_URL: pooled }).message).toBe(
        `POSTGRES_REPLICA_URLS: URL 1 (replica-1.example.com:5432): has ${given}, but the pooled connection's ` +
          `URL has ${pooledValue}: the replica pools take the pooled connection's pool settings (${variable}, ` +
          `else the pooled connection's URL); remove ${name} from the replica URL or give it the same value`,
      );
    });

    it('compares with POSTGRES_URL_NON_POOLING when it serves as the pooled connection', () => {
      const env = {
        POSTGRES_PRISMA_URL: undefined,
        POSTGRES_URL_NON_POOLING: `${BASE_URL}?connection_limit=2`,
      };
      expect(replicas(`${REPLICA_1}?connection_limit=2`, env).servers).toHaveLength(1);
      expect(refusal(`${REPLICA_1}?connection_limit=3`, env).message).toContain(
        "has connection_limit=3, but the pooled connection's URL has connection_limit=2",
      );
    });
  });

  describe('each replica once, and never the primary', () => {
    it.each([
      [REPLICA_1, REPLICA_1],
      [REPLICA_1, `${REPLICA_1}?sslmode=require&application_name=x`],
      [REPLICA_1, 'postgresql://other:pw@REPLICA-1.example.com/appdb'],
      [REPLICA_1, 'postgres://reader@/appdb?host=replica-1.example.com'],
    ])('refuses %s then %s', (first, second) => {
      const host = second.includes('REPLICA-1') ? 'REPLICA-1.example.com' : 'replica-1.example.com';
      expect(refusal(`${first},${REPLICA_2},${second}`).message).toBe(
        `POSTGRES_REPLICA_URLS: URL 3 (${host}:5432): names the same server and database as ` +
          'URL 1 (replica-1.example.com:5432/appdb): list each replica once',
      );
    });

    it('accepts another database or port on the same host', () => {
      const urls = [
        REPLICA_1,
        `${REPLICA_1.replace('/appdb', '/appdb_copy')}`,
        REPLICA_1.replace(':5432', ':5433'),
      ];
      expect(replicas(urls.join(',')).servers).toHaveLength(3);
    });

    it("refuses the pooled connection's server and database", () => {
      expect(refusal(`${REPLICA_1},postgresql://reader:pw@DB.example.com:6543/appdb`).message).toBe(
        "POSTGRES_REPLICA_URLS: URL 2 (DB.example.com:6543): names the pooled connection's server and " +
          'database (DB.example.com:6543/appdb): a replica must be another server, or reads would go to the primary',
      );
      expectConfigError(
        () => replicas(REPLICA_1, { POSTGRES_PRISMA_URL: undefined, POSTGRES_URL_NON_POOLING: REPLICA_1 }),
        'POSTGRES_REPLICA_URLS',
        "URL 1 (replica-1.example.com:5432): names the pooled connection's server and database",
      );
      expectConfigError(
        () =>
          replicas('postgresql://reader@parts.example.com/parts_db', {
            POSTGRES_PRISMA_URL: undefined,
            ...PARTS,
          }),
        'POSTGRES_REPLICA_URLS',
        "names the pooled connection's server and database",
      );
    });

    it("refuses the direct connection's server and database behind a PgBouncer pooled URL", () => {
      const env = {
        POSTGRES_PRISMA_URL: 'postgresql://app:pw@bouncer:6432/appdb?pgbouncer=true',
        POSTGRES_URL_NON_POOLING: 'postgresql://owner:pw@primary.example.com:5432/appdb',
      };
      expectConfigError(
        () => replicas('postgresql://reader:pw@primary.example.com/appdb', env),
        'POSTGRES_REPLICA_URLS',
        "URL 1 (primary.example.com:5432): names the direct connection's server and database",
      );
      // Another database behind the same PgBouncer is another server's, as far as the URL says.
      expect(replicas('postgresql://app:pw@bouncer:6432/appdb_ro?pgbouncer=true', env).servers).toHaveLength(
        1,
      );
    });
  });

  describe('prepared statements', () => {
    it.each([
      [REPLICA_1, undefined, true],
      [`${REPLICA_1}?pgbouncer=true`, undefined, false],
      [`${REPLICA_1},${REPLICA_2}?pgbouncer=true`, undefined, false],
      [`${REPLICA_1}?pgbouncer=true`, 'true', true],
    ])(
      'replicas %s with DATABASE_PREPARED_STATEMENTS=%j: %s (off by default when one is behind PgBouncer)',
      (urls, value, enabled) => {
        const config = loadConfig({
          POSTGRES_PRISMA_URL: BASE_URL,
          POSTGRES_REPLICA_URLS: urls,
          DATABASE_PREPARED_STATEMENTS: value,
        });
        expect(config.preparedStatements.enabled).toBe(enabled);
      },
    );
  });
});

describe('POSTGRES_REPLICA_MAX_LAG_MS', () => {
  const REPLICA = 'postgresql://reader@replica-1.example.com/appdb';

  it.each([
    [undefined, 1000],
    ['', 1000],
    ['0', 0],
    ['250', 250],
    ['2147483647', 2_147_483_647],
  ])('=%j gives maxLagMs %i (0 = no bound)', (value, ms) => {
    const config = loadConfig({
      POSTGRES_PRISMA_URL: BASE_URL,
      POSTGRES_REPLICA_URLS: REPLICA,
      POSTGRES_REPLICA_MAX_LAG_MS: value,
    });
    expect(config.replicas.maxLagMs).toBe(ms);
  });

  it.each(['-1', '1.5', '1s', 'none', '2147483648'])('rejects %j', (value) => {
    expectConfigError(
      () =>
        loadConfig({
          POSTGRES_PRISMA_URL: BASE_URL,
          POSTGRES_REPLICA_URLS: REPLICA,
          POSTGRES_REPLICA_MAX_LAG_MS: value,
        }),
      'POSTGRES_REPLICA_MAX_LAG_MS',
      `must be an integer from 0 to 2147483647, got "${value}"`,
    );
  });

  it('is allowed, and still checked, without POSTGRES_REPLICA_URLS', () => {
    const config = loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_REPLICA_MAX_LAG_MS: '500' });
    expect(config.replicas).toEqual({ servers: [], maxLagMs: 500 });
    expectConfigError(
      () => loadConfig({ POSTGRES_PRISMA_URL: BASE_URL, POSTGRES_REPLICA_MAX_LAG_MS: 'soon' }),
      'POSTGRES_REPLICA_MAX_LAG_MS',
      'must be an integer from 0 to 2147483647, got "soon"',
    );
  });
});
