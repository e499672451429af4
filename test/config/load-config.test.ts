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

const { dir } = useConfigFiles();
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
