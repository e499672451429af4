/**
 * Environment → settings: the only module that reads `process.env` (and `.env`). Everything else
 * receives a validated `DatabaseConfig`, so a bad value fails at start-up with a message naming the
 * variable, instead of as a connection error later. Error messages never contain a password.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError } from '../errors/classes.js';
import { errorCode } from '../errors/error-code.js';
import { type ParsedUrl, parseUrl } from './connection-url.js';
import { MAX_IDENTIFIER_BYTES } from './postgres-limits.js';
import type { ConnectionSettings, DatabaseConfig, Environment, LogLevel } from './settings.js';
import {
  DEFAULT_PORT,
  DEFAULT_SCHEMA,
  isIdentifier,
  MAX_POOL_MAX,
  MAX_TIMER_MS,
  parseBoolean,
  parseChoice,
  parseInteger,
} from './values.js';

const LOG_LEVELS: readonly LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug'];
const DEFAULT_LOG_LEVEL: LogLevel = 'warn';
const DEFAULT_POOL_MAX = 10;
const DEFAULT_POOL_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_SLOW_QUERY_MS = 1000;
/** Prisma's `statement_cache_size` default: what the users' services keep prepared today. */
const DEFAULT_STATEMENT_CACHE_SIZE = 100;
const MAX_STATEMENT_CACHE_SIZE = 10_000;
const DEFAULT_REPLICA_MAX_LAG_MS = 1000;
const REPLICA_URLS = 'POSTGRES_REPLICA_URLS';

/**
 * The variables in `.env` (in `cwd`, default the working directory) merged under `process.env`: a
 * variable defined in `process.env` wins, even when empty, as with `dotenv.config()`. The file is parsed
 * with `dotenv.parse`, so `process.env` is never modified. A missing `.env` is fine.
 */
export function readEnvironment(cwd: string = process.cwd()): Environment {
  const path = join(cwd, '.env');
  let fromFile: Environment = {};
  try {
    fromFile = parseDotenv(readFileSync(path));
  } catch (error) {
    if (errorCode(error) !== 'ENOENT') {
      throw new ConfigError('.env', `cannot read ${path} (${errorCode(error) ?? String(error)})`, {
        cause: error,
      });
    }
  }
  return { ...fromFile, ...process.env };
}

/**
 * Validates the whole configuration and derives the pooled and direct connections; throws a
 * `ConfigError` naming the variable at fault on the first problem. Default: `readEnvironment()`.
 * A connection is required even when ENABLE_POSTGRES is false: check `isDatabaseConfigured` first.
 */
export function loadConfig(env: Environment = readEnvironment()): DatabaseConfig {
  const enabled = parseBoolean(read(env, 'ENABLE_POSTGRES'), 'ENABLE_POSTGRES') ?? false;
  const logLevel =
    parseChoice(read(env, 'DATABASE_LOG_LEVEL'), 'DATABASE_LOG_LEVEL', LOG_LEVELS) ?? DEFAULT_LOG_LEVEL;
  const logParameters =
    parseBoolean(read(env, 'DATABASE_LOG_PARAMETERS'), 'DATABASE_LOG_PARAMETERS') ?? false;
  const slowQueryMs =
    parseInteger(read(env, 'DATABASE_SLOW_QUERY_MS'), 'DATABASE_SLOW_QUERY_MS', 0, MAX_TIMER_MS) ??
    DEFAULT_SLOW_QUERY_MS;
  const preparedStatements = parseBoolean(
    read(env, 'DATABASE_PREPARED_STATEMENTS'),
    'DATABASE_PREPARED_STATEMENTS',
  );
  const statementCacheSize =
    parseInteger(
      read(env, 'DATABASE_STATEMENT_CACHE_SIZE'),
      'DATABASE_STATEMENT_CACHE_SIZE',
      1,
      MAX_STATEMENT_CACHE_SIZE,
    ) ?? DEFAULT_STATEMENT_CACHE_SIZE;
  const port = parseInteger(read(env, 'POSTGRES_PORT'), 'POSTGRES_PORT', 1, 65535) ?? DEFAULT_PORT;
  const poolMax = parseInteger(read(env, 'POSTGRES_POOL_MAX'), 'POSTGRES_POOL_MAX', 1, MAX_POOL_MAX);
  // 0 would mean "wait forever" to pg; a stuck pool must fail, not hang.
  const poolTimeout = parseInteger(
    read(env, 'POSTGRES_POOL_TIMEOUT_MS'),
    'POSTGRES_POOL_TIMEOUT_MS',
    1,
    MAX_TIMER_MS,
  );
  const idleTimeout =
    parseInteger(
      read(env, 'POSTGRES_POOL_IDLE_TIMEOUT_MS'),
      'POSTGRES_POOL_IDLE_TIMEOUT_MS',
      0,
      MAX_TIMER_MS,
    ) ?? DEFAULT_IDLE_TIMEOUT_MS;
  // Validated, and kept, even without POSTGRES_REPLICA_URLS (like POSTGRES_PORT next to URLs).
  const replicaMaxLagMs =
    parseInteger(read(env, 'POSTGRES_REPLICA_MAX_LAG_MS'), 'POSTGRES_REPLICA_MAX_LAG_MS', 0, MAX_TIMER_MS) ??
    DEFAULT_REPLICA_MAX_LAG_MS;

  const pooledUrl = read(env, 'POSTGRES_PRISMA_URL');
  const directUrl = read(env, 'POSTGRES_URL_NON_POOLING');
  const pooledParsed = pooledUrl === undefined ? undefined : parseUrl(pooledUrl, 'POSTGRES_PRISMA_URL');
  const directParsed = directUrl === undefined ? undefined : parseUrl(directUrl, 'POSTGRES_URL_NON_POOLING');
  // The parts are only consulted for a connection that has no URL; a URL always wins over them.
  const parts =
    pooledParsed === undefined || directParsed === undefined
      ? connectionFromParts(env, port, pooledParsed === undefined, directParsed === undefined)
      : undefined;

  const pooledSource: ParsedUrl | undefined =
    pooledParsed ?? (parts === undefined ? undefined : { settings: parts }) ?? directParsed;
  if (pooledSource === undefined) {
    throw new ConfigError(
      'POSTGRES_PRISMA_URL',
      'not set: set POSTGRES_PRISMA_URL (or POSTGRES_URL_NON_POOLING, or POSTGRES_HOST, POSTGRES_USER and POSTGRES_DATABASE)',
    );
  }
  const pooled = copySettings(pooledSource.settings);
  // Migrations need a session of their own: never fall back to a connection through PgBouncer.
  const directSettings = directParsed?.settings ?? parts ?? (pooled.pgbouncer ? undefined : pooled);

  const direct = directSettings === undefined ? undefined : copySettings(directSettings);
  const schema = read(env, 'POSTGRES_SCHEMA');
  if (schema !== undefined)
    applySchema(schema, [pooled, 'POSTGRES_PRISMA_URL'], [direct, 'POSTGRES_URL_NON_POOLING']);

  const replicas = parseReplicas(read(env, REPLICA_URLS), pooledSource, pooled, direct);

  const fromUrlSeconds = pooledSource.poolTimeoutSeconds ?? pooled.connectTimeoutSeconds;
  return {
    enabled,
    pooled,
    direct,
    pool: {
      max: poolMax ?? pooledSource.connectionLimit ?? DEFAULT_POOL_MAX,
      connectionTimeoutMillis:
        poolTimeout ?? (fromUrlSeconds === undefined ? DEFAULT_POOL_TIMEOUT_MS : fromUrlSeconds * 1000),
      idleTimeoutMillis: idleTimeout,
    },
    logLevel,
    logParameters,
    slowQueryMs,
    preparedStatements: {
      // Named statements need PgBouncer 1.21+ set up for them: off by default when any server is behind it.
      enabled: preparedStatements ?? !(pooled.pgbouncer || replicas.some((replica) => replica.pgbouncer)),
      perConnection: statementCacheSize,
    },
    replicas: { servers: replicas, maxLagMs: replicaMaxLagMs },
  };
}

/**
 * True when any of `POSTGRES_PRISMA_URL`, `POSTGRES_URL_NON_POOLING` or `POSTGRES_HOST` is set and
 * non-empty; says nothing about whether the values are valid. Default: `readEnvironment()`.
 */
export function isDatabaseConfigured(env: Environment = readEnvironment()): boolean {
  return ['POSTGRES_PRISMA_URL', 'POSTGRES_URL_NON_POOLING', 'POSTGRES_HOST'].some(
    (name) => read(env, name) !== undefined,
  );
}

// ---------------------------------------------------------------------------------------------------

/** A variable's value; empty (or blank) counts as unset. Only the password keeps its surrounding spaces. */
function read(env: Environment, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === '') return undefined;
  return name === 'POSTGRES_PASSWORD' ? value : value.trim();
}

/**
 * The connection described by POSTGRES_HOST, POSTGRES_USER, POSTGRES_DATABASE (and the optional
 * POSTGRES_PASSWORD, POSTGRES_PORT), or undefined when none of the three is set. `forPooled` and
 * `forDirect` say which connections lack a URL, for the error message.
 */
function connectionFromParts(
  env: Environment,
  port: number,
  forPooled: boolean,
  forDirect: boolean,
): ConnectionSettings | undefined {
  const names = ['POSTGRES_HOST', 'POSTGRES_USER', 'POSTGRES_DATABASE'] as const;
  const [host, user, database] = names.map((name) => read(env, name));
  if (host === undefined && user === undefined && database === undefined) return undefined;
  if (host === undefined || user === undefined || database === undefined) {
    const present = names.filter((name) => read(env, name) !== undefined);
    const missing = names.find((name) => read(env, name) === undefined) ?? names[0];
    const urls = [forPooled && 'POSTGRES_PRISMA_URL', forDirect && 'POSTGRES_URL_NON_POOLING'].filter(
      Boolean,
    );
    throw new ConfigError(
      missing,
      `not set, but ${present.join(' and ')} ${present.length === 1 ? 'is' : 'are'}: ` +
        `set POSTGRES_HOST, POSTGRES_USER and POSTGRES_DATABASE together, or set ${urls.join(' and ')}`,
    );
  }
  if (host.includes('://')) {
    throw new ConfigError(
      'POSTGRES_HOST',
      'looks like a URL: put URLs in POSTGRES_PRISMA_URL or POSTGRES_URL_NON_POOLING',
    );
  }
  if (/^[^:]+:\d+$/.test(host)) {
    throw new ConfigError('POSTGRES_HOST', 'must not include the port: set POSTGRES_PORT instead');
  }
  return {
    host,
    port,
    user,
    password: read(env, 'POSTGRES_PASSWORD'),
    database,
    schema: DEFAULT_SCHEMA,
    pgbouncer: false,
    connectTimeoutSeconds: undefined,
    ssl: { mode: 'disable' },
    applicationName: undefined,
  };
}

/**
 * POSTGRES_SCHEMA puts both connections in one schema; a URL that names another with ?schema= is a
 * contradiction, not something to guess about.
 */
function applySchema(schema: string, ...connections: [ConnectionSettings | undefined, string][]): void {
  if (!isIdentifier(schema)) {
    throw new ConfigError(
      'POSTGRES_SCHEMA',
      `must be an identifier (letters, digits, _ and $, not starting with a digit, at most ${MAX_IDENTIFIER_BYTES} bytes), got "${schema}"`,
    );
  }
  for (const [settings, variable] of connections) {
    if (settings === undefined) continue;
    if (settings.schema !== DEFAULT_SCHEMA && settings.schema !== schema) {
      throw new ConfigError(
        'POSTGRES_SCHEMA',
        `is "${schema}", but ${variable} has ?schema=${settings.schema}`,
      );
    }
    settings.schema = schema;
  }
}

/**
 * POSTGRES_REPLICA_URLS: URLs separated by commas, each read like POSTGRES_PRISMA_URL. The replicas
 * serve the pooled connection's reads, so they share its schema and its pool settings: a URL whose
 * `schema`, `connection_limit` or `pool_timeout` differs from the pooled connection's URL is refused
 * (without them it takes the pooled connection's), as is a URL listed twice or one that names the
 * primary's server and database (the pooled or the direct connection's). Errors give the URL's
 * 1-based position and, when it can be read, its host and port; never the URL itself.
 */
function parseReplicas(
  value: string | undefined,
  pooledSource: ParsedUrl,
  pooled: ConnectionSettings,
  direct: ConnectionSettings | undefined,
): ConnectionSettings[] {
  if (value === undefined) return [];
  const urls = value.split(',').map((url) => url.trim());
  const servers: ConnectionSettings[] = [];
  for (const [index, url] of urls.entries()) {
    const position = `URL ${index + 1}`;
    if (url === '') {
      throw new ConfigError(
        REPLICA_URLS,
        `${position} of ${urls.length} is empty: separate the URLs with single commas, with none at either end`,
      );
    }
    const parsed = parseReplicaUrl(url, position);
    const settings = copySettings(parsed.settings);
    const fail = (problem: string): never => {
      throw new ConfigError(REPLICA_URLS, `${position} (${hostAndPort(settings)}): ${problem}`);
    };

    if (parsed.schema !== undefined && parsed.schema !== pooled.schema) {
      fail(
        `has ?schema=${parsed.schema}, but the pooled connection's schema is ${pooled.schema}: tables are ` +
          `qualified with the pooled connection's schema; remove schema from the replica URL or make it ${pooled.schema}`,
      );
    }
    settings.schema = pooled.schema;

    const poolParameters = [
      ['connection_limit', parsed.connectionLimit, pooledSource.connectionLimit, 'POSTGRES_POOL_MAX'],
      [
        'pool_timeout',
        parsed.poolTimeoutSeconds,
        pooledSource.poolTimeoutSeconds,
        'POSTGRES_POOL_TIMEOUT_MS',
      ],
    ] as const;
    for (const [name, given, pooledValue, variable] of poolParameters) {
      if (given === undefined || given === pooledValue) continue;
      fail(
        `has ${name}=${given}, but the pooled connection's URL has ${pooledValue === undefined ? 'none' : `${name}=${pooledValue}`}: ` +
          `the replica pools take the pooled connection's pool settings (${variable}, else the pooled ` +
          `connection's URL); remove ${name} from the replica URL or give it the same value`,
      );
    }

    for (const [role, primarySettings] of [
      ['pooled', pooled],
      ['direct', direct],
    ] as const) {
      if (primarySettings !== undefined && sameServer(settings, primarySettings)) {
        fail(
          `names the ${role} connection's server and database (${describeServer(settings)}): a replica must ` +
            'be another server, or reads would go to the primary',
        );
      }
    }
    const repeated = servers.findIndex((server) => sameServer(server, settings));
    if (repeated !== -1) {
      fail(
        `names the same server and database as URL ${repeated + 1} (${describeServer(servers[repeated] ?? settings)}): list each replica once`,
      );
    }
    servers.push(settings);
  }
  return servers;
}

/** parseUrl, its error (which never holds the URL) given the URL's position and host. */
function parseReplicaUrl(url: string, position: string): ParsedUrl {
  try {
    return parseUrl(url, REPLICA_URLS);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const problem = error.message.slice(`${REPLICA_URLS}: `.length);
    const host = readableHostAndPort(url);
    // A raw comma in a password splits its URL in two: a piece without the scheme, or without the "@".
    const hint =
      /^(?:is not a valid URL|must be a URL like)/.test(problem) || !url.includes('@')
        ? '; a comma inside a URL separates it from the next one: percent-encode a comma in a password as %2C'
        : '';
    throw new ConfigError(
      REPLICA_URLS,
      `${position}${host === undefined ? '' : ` (${host})`}: ${problem}${hint}`,
    );
  }
}

/**
 * `host:port` of a URL that did not parse, when it can be read without the user info: only after an
 * "@" (without one the text before the path may be a user and password with the host missing), and only
 * when no "@" follows (a raw "/", "?" or "#" in the password ended the authority early).
 */
function readableHostAndPort(url: string): string | undefined {
  const rest = /^postgres(?:ql)?:\/\/(.*)$/is.exec(url)?.[1];
  if (rest === undefined) return undefined;
  const end = rest.search(/[/?#]/);
  const authority = end === -1 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  if (at === -1 || rest.slice(authority.length).includes('@')) return undefined;
  const hostPort = authority.slice(at + 1);
  return /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::\d+)?$/.test(hostPort) ? hostPort : undefined;
}

function hostAndPort(settings: ConnectionSettings): string {
  const host = settings.host.includes(':') ? `[${settings.host}]` : settings.host;
  return `${host}:${settings.port}`;
}

function describeServer(settings: ConnectionSettings): string {
  return `${hostAndPort(settings)}/${settings.database}`;
}

/** Same host (names compared without case; socket directories as given), port and database. */
function sameServer(a: ConnectionSettings, b: ConnectionSettings): boolean {
  const host = (settings: ConnectionSettings) =>
    settings.host.startsWith('/') ? settings.host : settings.host.toLowerCase();
  return host(a) === host(b) && a.port === b.port && a.database === b.database;
}

function copySettings(settings: ConnectionSettings): ConnectionSettings {
  return { ...settings, ssl: { ...settings.ssl } };
}
