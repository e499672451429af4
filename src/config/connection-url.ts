/**
 * The connection-URL grammar: `postgresql://user:password@host:port/database?parameters`, read as libpq
 * reads it, plus Prisma's parameters (`schema`, `pgbouncer`, `connection_limit`, `pool_timeout`).
 *
 * Error messages never contain a password: an unparsable URL is never echoed, and `cause` is never the
 * `URL` constructor's error (its `input` property holds the whole URL).
 */
import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../errors/classes.js';
import { errorCode } from '../errors/error-code.js';
import { MAX_IDENTIFIER_BYTES } from './postgres-limits.js';
import type { ConnectionSettings, SslMode, SslSettings } from './settings.js';
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

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const MAX_TIMER_SECONDS = Math.floor(MAX_TIMER_MS / 1000);

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
  // node-postgres's switch to libpq's reading of sslmode, found in URLs written for it; sslmode here
  // always follows libpq.
  'uselibpqcompat',
] as const;
type UrlParameter = (typeof URL_PARAMETERS)[number];

const URL_EXAMPLE = 'postgresql://user:password@host:5432/database';
const ENCODING_HINT =
  'percent-encode special characters in the user name and password (@ as %40, : as %3A, / as %2F, ? as %3F, # as %23, % as %25)';

/** One URL: the connection, and Prisma's pool parameters, which configure the pool rather than it. */
export interface ParsedUrl {
  settings: ConnectionSettings;
  /** The `schema` parameter, when the URL has one (`settings.schema` is `public` without it). */
  schema?: string;
  /** Prisma's `connection_limit`. */
  connectionLimit?: number;
  /** Prisma's `pool_timeout`, in seconds. */
  poolTimeoutSeconds?: number;
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

/** `parseConnectionUrl` with Prisma's pool parameters, which loadConfig applies to the pool. */
export function parseUrl(input: string, setting: string): ParsedUrl {
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
  if (!isIdentifier(schema)) {
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
  if (param('schema') !== undefined) parsed.schema = schema;
  const connectionLimit = urlInteger(param('connection_limit'), setting, 'connection_limit', MAX_POOL_MAX);
  if (connectionLimit !== undefined) parsed.connectionLimit = connectionLimit;
  const poolTimeoutSeconds = urlInteger(param('pool_timeout'), setting, 'pool_timeout', MAX_TIMER_SECONDS);
  if (poolTimeoutSeconds !== undefined) parsed.poolTimeoutSeconds = poolTimeoutSeconds;
  return parsed;
}

// ---------------------------------------------------------------------------------------------------

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
