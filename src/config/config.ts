/**
 * Configuration: the only module that reads `process.env` (and `.env`). Everything else receives a
 * validated `DatabaseConfig`, so a bad value fails at start-up with a message naming the variable,
 * instead of as a connection error later.
 *
 * Error messages never contain a password: an unparsable URL is never echoed, and `cause` is never the
 * `URL` constructor's error (its `input` property holds the whole URL).
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { ClientConfig } from 'pg';
import { ConfigError } from '../errors/classes.js';
import { errorCode } from '../errors/error-code.js';
import { sslOptions } from '../pool/ssl-mode.js';
import { INT4_MAX, MAX_IDENTIFIER_BYTES } from './postgres-limits.js';

/** Environment variables by name, like `process.env`. */
export type Environment = Record<string, string | undefined>;

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

/** libpq's `sslmode` values. */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface SslSettings {
  mode: SslMode;
  /** Absolute path of the CA certificate (`sslrootcert`). */
  rootCertPath?: string;
  /** Absolute path of the client certificate (`sslcert`); always given together with `keyPath`. */
  certPath?: string;
  /** Absolute path of the client key (`sslkey`). */
  keyPath?: string;
}

/** One way to reach the server, as parsed from a URL or built from the `POSTGRES_*` parts. */
export interface ConnectionSettings {
  /** Host name, IP address, or a unix-socket directory (from `?host=/path`). */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** From `?schema=` (Prisma URLs carry it); default `public`. */
  schema: string;
  /** `?pgbouncer=true`: the connection goes through PgBouncer in transaction mode. */
  pgbouncer: boolean;
  /** `?connect_timeout=` in seconds. */
  connectTimeoutSeconds: number | undefined;
  /** Mode `disable` when the URL has no `sslmode`. */
  ssl: SslSettings;
  /** `?application_name=`. */
  applicationName: string | undefined;
}

export interface PoolSettings {
  max: number;
  /** How long to wait for a free connection and for a new one to be established (pg uses one timeout). */
  connectionTimeoutMillis: number;
  /** How long an idle connection stays open; 0 keeps idle connections. */
  idleTimeoutMillis: number;
}

export interface DatabaseConfig {
  /** `ENABLE_POSTGRES`. */
  enabled: boolean;
  /** Serves the application's queries. */
  pooled: ConnectionSettings;
  /** Serves migrations and type generation; undefined when it cannot be derived. */
  direct: ConnectionSettings | undefined;
  pool: PoolSettings;
  /** `DATABASE_LOG_LEVEL`. */
  logLevel: LogLevel;
  /** `DATABASE_LOG_PARAMETERS`: query parameters appear in query events and logs (else `[redacted]`). */
  logParameters: boolean;
  /** `DATABASE_SLOW_QUERY_MS`: a query whose wait and run reach this many ms is logged at warn; 0 = never. */
  slowQueryMs: number;
  preparedStatements: PreparedStatementSettings;
}

export interface PreparedStatementSettings {
  /**
   * `DATABASE_PREPARED_STATEMENTS`: the layer's statements run as named prepared statements. Default: on,
   * except through PgBouncer (`pgbouncer=true`), which carries named statements only from 1.21 on, and
   * only with `max_prepared_statements` set.
   */
  enabled: boolean;
  /** `DATABASE_STATEMENT_CACHE_SIZE`: statements kept prepared per connection, least recently used closed. */
  perConnection: number;
}

const LOG_LEVELS: readonly LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug'];
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const DEFAULT_PORT = 5432;
const DEFAULT_SCHEMA = 'public';
const DEFAULT_LOG_LEVEL: LogLevel = 'warn';
const DEFAULT_POOL_MAX = 10;
const MAX_POOL_MAX = 1000;
const DEFAULT_POOL_TIMEOUT_MS = 10_000;
const DEFAULT_IDLE_TIMEOUT_MS = 10_000;
const DEFAULT_SLOW_QUERY_MS = 1000;
/** Prisma's `statement_cache_size` default: what the users' services keep prepared today. */
const DEFAULT_STATEMENT_CACHE_SIZE = 100;
const MAX_STATEMENT_CACHE_SIZE = 10_000;
/** Node's timers overflow above INT4_MAX (the callback then runs at once), so no timeout may exceed it. */
const MAX_TIMER_MS = INT4_MAX;
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

const URL_PARAMETERS = [
  'pgbouncer',
  'connect_timeout',
  'sslmode',
  'sslcert',
  'sslkey',
  'sslrootcert',
  'schema',
  'application_name',
  'host',
  'connection_limit',
  'pool_timeout',
  // Written by toConnectionUrl for pg-connection-string; this module always follows libpq's sslmode.
  'uselibpqcompat',
] as const;
type UrlParameter = (typeof URL_PARAMETERS)[number];

const URL_EXAMPLE = 'postgresql://user:password@host:5432/database';
const ENCODING_HINT =
  'percent-encode special characters in the user name and password (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)';

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
      enabled: preparedStatements ?? !pooled.pgbouncer,
      perConnection: statementCacheSize,
    },
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

/**
 * Parses and validates one `postgresql://` (or `postgres://`) URL; `setting` is the variable name used
 * in errors. Certificate paths are resolved against the working directory and must be readable files.
 */
export function parseConnectionUrl(url: string, setting: string): ConnectionSettings {
  return parseUrl(url, setting).settings;
}

/** `postgresql://user:***@host:port/db?…` for printing: every setting, the password replaced by `***`. */
export function describeConnection(settings: ConnectionSettings): string {
  const parameters: [string, string][] = [];
  if (isSocketDirectory(settings.host)) parameters.push(['host', settings.host]);
  if (settings.schema !== DEFAULT_SCHEMA) parameters.push(['schema', settings.schema]);
  if (settings.pgbouncer) parameters.push(['pgbouncer', 'true']);
  if (settings.ssl.mode !== 'disable') {
    parameters.push(['sslmode', settings.ssl.mode], ...certParameters(settings));
  }
  if (settings.connectTimeoutSeconds !== undefined) {
    parameters.push(['connect_timeout', String(settings.connectTimeoutSeconds)]);
  }
  if (settings.applicationName !== undefined) parameters.push(['application_name', settings.applicationName]);
  return buildUrl(settings, settings.password === undefined ? undefined : '***', parameters);
}

/**
 * A plain URL for node-postgres-based tools (node-pg-migrate, kysely-codegen): with the percent-encoded
 * password, without `pgbouncer` and `schema`, with `connect_timeout` and `application_name` when set.
 *
 * SSL is written so that pg-connection-string connects the way `toPgClientConfig` does:
 * - `allow`/`prefer`: no SSL parameters, because `toPgClientConfig` connects without TLS and
 *   pg-connection-string would turn any of them into verified TLS (libpq tools then use their default,
 *   `prefer`).
 * - `require`/`verify-ca`: `sslmode`, the certificate paths and `uselibpqcompat=true`, without which
 *   pg-connection-string treats both as `verify-full`. libpq itself (psql) rejects that parameter.
 * - `verify-full`: `sslmode` and the certificate paths.
 */
export function toConnectionUrl(settings: ConnectionSettings): string {
  const parameters: [string, string][] = [];
  if (isSocketDirectory(settings.host)) parameters.push(['host', settings.host]);
  const { mode } = settings.ssl;
  if (mode === 'require' || mode === 'verify-ca' || mode === 'verify-full') {
    parameters.push(['sslmode', mode], ...certParameters(settings));
    if (mode !== 'verify-full') parameters.push(['uselibpqcompat', 'true']);
  }
  if (settings.connectTimeoutSeconds !== undefined) {
    parameters.push(['connect_timeout', String(settings.connectTimeoutSeconds)]);
  }
  if (settings.applicationName !== undefined) parameters.push(['application_name', settings.applicationName]);
  const password = settings.password === undefined ? undefined : encodeURIComponent(settings.password);
  return buildUrl(settings, password, parameters);
}

/**
 * The node-postgres client configuration for one connection. Certificate files are read here. Never
 * a `connectionString`: that would hand unknown parameters and pg-connection-string's `sslmode`
 * interpretation to the driver.
 */
export function toPgClientConfig(settings: ConnectionSettings): ClientConfig {
  const config: ClientConfig = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    database: settings.database,
    ssl: toPgSsl(settings.ssl, settings.host),
  };
  if (settings.password !== undefined) config.password = settings.password;
  if (settings.applicationName !== undefined) config.application_name = settings.applicationName;
  if (settings.connectTimeoutSeconds !== undefined) {
    config.connectionTimeoutMillis = settings.connectTimeoutSeconds * 1000;
  }
  return config;
}

// ---------------------------------------------------------------------------------------------------

interface ParsedUrl {
  settings: ConnectionSettings;
  /** Prisma's `connection_limit`. */
  connectionLimit?: number;
  /** Prisma's `pool_timeout`, in seconds. */
  poolTimeoutSeconds?: number;
}

/** A variable's value; empty (or blank) counts as unset. Only the password keeps its surrounding spaces. */
function read(env: Environment, name: string): string | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === '') return undefined;
  return name === 'POSTGRES_PASSWORD' ? value : value.trim();
}

/*
 * Value parsers. `setting` is the variable (ConfigError.setting); `subject` says which part of it is
 * wrong when the variable is a URL, e.g. 'URL parameter "sslmode" '.
 */

function parseBoolean(raw: string | undefined, setting: string, subject = ''): boolean | undefined {
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(setting, `${subject}must be true or false, got "${raw}"`);
}

function parseChoice<T extends string>(
  raw: string | undefined,
  setting: string,
  choices: readonly T[],
  subject = '',
): T | undefined {
  if (raw === undefined) return undefined;
  const found = choices.find((choice) => choice === raw.toLowerCase());
  if (found === undefined) {
    throw new ConfigError(setting, `${subject}must be one of ${choices.join(', ')}, got "${raw}"`);
  }
  return found;
}

function parseInteger(
  raw: string | undefined,
  setting: string,
  min: number,
  max: number,
  subject = '',
): number | undefined {
  if (raw === undefined) return undefined;
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN;
  if (!(value >= min && value <= max)) {
    throw new ConfigError(setting, `${subject}must be an integer from ${min} to ${max}, got "${raw}"`);
  }
  return value;
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

function parseUrl(input: string, setting: string): ParsedUrl {
  const raw = input.trim();
  const scheme = /^postgres(?:ql)?:\/\//i.exec(raw)?.[0];
  if (scheme === undefined) {
    throw new ConfigError(setting, `must be a URL like ${URL_EXAMPLE} (postgresql:// or postgres://)`);
  }

  // Where the authority (user:password@host:port) ends. A raw "/", "?" or "#" in the password ends it
  // early and pushes the real "@" (and the rest of the password) into the path, query or fragment,
  // where it could be echoed in a later error: refuse such URLs up front.
  const rest = raw.slice(scheme.length);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? '' : rest.slice(authorityEnd);
  if (tail.includes('@')) {
    throw new ConfigError(setting, `has "@" after the host: ${ENCODING_HINT}`);
  }
  if (tail.includes('#')) {
    throw new ConfigError(setting, `must not contain "#": ${ENCODING_HINT}`);
  }
  // The spec's SSL example appends "?sslmode=…" to a URL that already has a query.
  if (tail.split('?').length > 2) {
    throw new ConfigError(setting, 'has a second "?": separate URL parameters with "&"');
  }

  // WHATWG URL rejects an empty host ("user@/db", used with ?host=/socket/dir): put a placeholder in.
  const at = authority.lastIndexOf('@');
  const hostAndPort = authority.slice(at + 1);
  const hostMissing = hostAndPort === '' || hostAndPort.startsWith(':');
  const fixed = hostMissing
    ? `${scheme}${authority.slice(0, at + 1)}localhost${hostAndPort}${tail}`
    : `${scheme}${authority}${tail}`;

  let url: URL;
  try {
    url = new URL(fixed);
  } catch {
    // No cause: the TypeError carries the whole URL, password included.
    throw new ConfigError(
      setting,
      `is not a valid URL like ${URL_EXAMPLE}: check the host and port, and ${ENCODING_HINT}`,
    );
  }

  const user = decode(url.username, setting, 'the user name', ENCODING_HINT);
  const password =
    url.password === '' ? undefined : decode(url.password, setting, 'the password', ENCODING_HINT);
  if (user === '') throw new ConfigError(setting, `has no user name: use ${URL_EXAMPLE}`);
  const database = decode(url.pathname.slice(1), setting, 'the database name');
  if (database === '') throw new ConfigError(setting, `has no database name: use ${URL_EXAMPLE}`);
  const port =
    (url.port === '' ? undefined : parseInteger(url.port, setting, 1, 65535, 'the port ')) ?? DEFAULT_PORT;

  const parameters = parseQuery(url.search, setting);
  const param = (name: UrlParameter): string | undefined => parameters.get(name);
  const urlHost = hostMissing ? '' : decode(url.hostname.replace(/^\[(.*)\]$/, '$1'), setting, 'the host');
  const host = param('host') ?? urlHost;
  if (host === '') {
    throw new ConfigError(setting, `has no host: use ${URL_EXAMPLE}, or ?host=/path for a unix socket`);
  }
  if (host.includes(',')) {
    throw new ConfigError(setting, 'lists several hosts: node-postgres connects to one host only');
  }

  const schema = param('schema') ?? DEFAULT_SCHEMA;
  if (!IDENTIFIER.test(schema) || schema.length > MAX_IDENTIFIER_BYTES) {
    throw new ConfigError(
      setting,
      `URL parameter "schema" must be an identifier (letters, digits, _ and $, not starting with a digit, ` +
        `at most ${MAX_IDENTIFIER_BYTES} bytes), got "${schema}"`,
    );
  }

  const settings: ConnectionSettings = {
    host,
    port,
    user,
    password,
    database,
    schema,
    pgbouncer: parseBoolean(param('pgbouncer'), setting, 'URL parameter "pgbouncer" ') ?? false,
    connectTimeoutSeconds: urlInteger(
      param('connect_timeout'),
      setting,
      'connect_timeout',
      MAX_TIMER_SECONDS,
    ),
    ssl: parseSsl(parameters, setting),
    applicationName: param('application_name'),
  };
  if (parseBoolean(param('uselibpqcompat'), setting, 'URL parameter "uselibpqcompat" ') === false) {
    throw new ConfigError(
      setting,
      'URL parameter "uselibpqcompat" can only be true: sslmode always follows libpq',
    );
  }
  const parsed: ParsedUrl = { settings };
  const connectionLimit = urlInteger(param('connection_limit'), setting, 'connection_limit', MAX_POOL_MAX);
  if (connectionLimit !== undefined) parsed.connectionLimit = connectionLimit;
  const poolTimeoutSeconds = urlInteger(param('pool_timeout'), setting, 'pool_timeout', MAX_TIMER_SECONDS);
  if (poolTimeoutSeconds !== undefined) parsed.poolTimeoutSeconds = poolTimeoutSeconds;
  return parsed;
}

/** The query as libpq reads it: percent-decoding only ("+" stays "+"), each known parameter once. */
function parseQuery(search: string, setting: string): Map<UrlParameter, string> {
  const parameters = new Map<UrlParameter, string>();
  for (const pair of search.slice(1).split('&')) {
    if (pair === '') continue;
    const equals = pair.indexOf('=');
    const name = decode(equals === -1 ? pair : pair.slice(0, equals), setting, 'a URL parameter name');
    if (!(URL_PARAMETERS as readonly string[]).includes(name)) {
      throw new ConfigError(setting, `unknown URL parameter "${name}" (known: ${URL_PARAMETERS.join(', ')})`);
    }
    const known = name as UrlParameter;
    const value = decode(equals === -1 ? '' : pair.slice(equals + 1), setting, `URL parameter "${name}"`);
    if (value === '') throw new ConfigError(setting, `URL parameter "${name}" is empty`);
    if (parameters.has(known)) {
      throw new ConfigError(setting, `URL parameter "${name}" is given more than once`);
    }
    parameters.set(known, value);
  }
  return parameters;
}

function urlInteger(
  raw: string | undefined,
  setting: string,
  name: UrlParameter,
  max: number,
): number | undefined {
  return parseInteger(raw, setting, 1, max, `URL parameter "${name}" `);
}

function parseSsl(parameters: Map<UrlParameter, string>, setting: string): SslSettings {
  const mode = parseChoice(parameters.get('sslmode'), setting, SSL_MODES, 'URL parameter "sslmode" ');
  const ssl: SslSettings = { mode: mode ?? 'disable' };
  const files = [
    ['sslrootcert', 'rootCertPath'],
    ['sslcert', 'certPath'],
    ['sslkey', 'keyPath'],
  ] as const;
  for (const [name, field] of files) {
    const value = parameters.get(name);
    if (value !== undefined) ssl[field] = readableFile(value, setting, name);
  }
  const given = files.filter(([name]) => parameters.has(name)).map(([name]) => name);
  if (mode === undefined && given.length > 0) {
    // The default is 'disable', which would silently drop the certificates.
    throw new ConfigError(
      setting,
      `has ${given.join(', ')} but no sslmode: add sslmode=verify-full (or require, verify-ca, disable)`,
    );
  }
  if ((ssl.certPath === undefined) !== (ssl.keyPath === undefined)) {
    const [present, absent] = ssl.certPath === undefined ? ['sslkey', 'sslcert'] : ['sslcert', 'sslkey'];
    throw new ConfigError(setting, `has ${present} without ${absent}: a client certificate needs both`);
  }
  if (ssl.mode === 'verify-ca' && ssl.rootCertPath === undefined) {
    // Without its own CA, verify-ca would accept any certificate a public CA issued for any name.
    throw new ConfigError(
      setting,
      'sslmode=verify-ca needs sslrootcert (the CA that signed the server certificate); with a public CA use verify-full',
    );
  }
  return ssl;
}

/** The absolute path of a certificate file, which must be a readable file. */
function readableFile(path: string, setting: string, name: string): string {
  const absolute = resolve(process.cwd(), path);
  let problem: string | undefined;
  try {
    accessSync(absolute, constants.R_OK);
    if (!statSync(absolute).isFile()) problem = 'not a file';
  } catch (error) {
    problem = errorCode(error) ?? String(error);
  }
  if (problem !== undefined) {
    throw new ConfigError(setting, `URL parameter "${name}": cannot read ${absolute} (${problem})`);
  }
  return absolute;
}

function decode(text: string, setting: string, what: string, hint = 'write a literal % as %25'): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new ConfigError(setting, `${what} is not correctly percent-encoded: ${hint}`);
  }
}

/**
 * POSTGRES_SCHEMA puts both connections in one schema; a URL that names another with ?schema= is a
 * contradiction, not something to guess about.
 */
function applySchema(schema: string, ...connections: [ConnectionSettings | undefined, string][]): void {
  if (!IDENTIFIER.test(schema) || Buffer.byteLength(schema) > MAX_IDENTIFIER_BYTES) {
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
 * A single pg.Client cannot fall back, so allow and prefer connect without TLS here. SslModePool and
 * connectWithSslMode (ssl.ts) make libpq's attempts for them.
 */
function toPgSsl(ssl: SslSettings, host: string): ClientConfig['ssl'] {
  return ssl.mode === 'allow' || ssl.mode === 'prefer' ? false : sslOptions(ssl, host);
}

function certParameters(settings: ConnectionSettings): [string, string][] {
  const { rootCertPath, certPath, keyPath } = settings.ssl;
  const parameters: [string, string][] = [];
  if (rootCertPath !== undefined) parameters.push(['sslrootcert', rootCertPath]);
  if (certPath !== undefined) parameters.push(['sslcert', certPath]);
  if (keyPath !== undefined) parameters.push(['sslkey', keyPath]);
  return parameters;
}

/** `password` is already encoded (or `***`). A socket directory goes in `?host=`, as libpq allows. */
function buildUrl(
  settings: ConnectionSettings,
  password: string | undefined,
  parameters: [string, string][],
): string {
  const userinfo = encodeURIComponent(settings.user) + (password === undefined ? '' : `:${password}`);
  const host = isSocketDirectory(settings.host)
    ? 'localhost'
    : settings.host.includes(':')
      ? `[${settings.host}]`
      : settings.host;
  // "/" and ":" are legal in a query and keep paths readable.
  const query = parameters
    .map(([name, value]) => `${name}=${encodeURIComponent(value).replace(/%2F/g, '/').replace(/%3A/g, ':')}`)
    .join('&');
  const base = `postgresql://${userinfo}@${host}:${settings.port}/${encodeURIComponent(settings.database)}`;
  return query === '' ? base : `${base}?${query}`;
}

function isSocketDirectory(host: string): boolean {
  return host.startsWith('/');
}

function copySettings(settings: ConnectionSettings): ConnectionSettings {
  return { ...settings, ssl: { ...settings.ssl } };
}
