/**
 * Turns a failed connection check into one line a person can act on. The line is built from the error's
 * code and message and the connection's host, port, user and database; the password is masked in any
 * text that comes from the driver or the server, so the line never shows it.
 */
import type { ConnectionSettings } from '../../src/config/settings.js';
import { ConfigError, DatabaseError } from '../../src/errors/classes.js';
import { SqlState } from '../../src/errors/sql-state.js';

const MIGRATE = 'run `npm run migrate up`';

/** One readable reason for `error`, which happened while using the connection `settings`. */
export function explainFailure(error: unknown, settings: ConnectionSettings): string {
  if (error instanceof ConfigError) return error.message;
  const message = mask(messageOf(error), settings);
  const where = endpoint(settings);
  const user = `"${settings.user}"`;
  const state = sqlState(error);
  switch (state) {
    case SqlState.invalidPassword:
      // PostgreSQL answers a missing role with the same error, so as not to reveal which roles exist.
      return `wrong password for user ${user} on ${where} (or the role does not exist): check the URL's password`;
    case SqlState.invalidAuthorizationSpecification:
      return `${where} rejected user ${user} for database "${settings.database}" (pg_hba.conf, or the role is missing): ${message}`;
    case SqlState.invalidCatalogName:
      return `database "${settings.database}" does not exist on ${where}: create it, or fix the database name in the URL`;
    case SqlState.undefinedTable:
      return `the tables are missing: ${MIGRATE} (${message})`;
    case SqlState.undefinedColumn:
      return `a column is missing, the schema is behind: ${MIGRATE} (${message})`;
    case SqlState.insufficientPrivilege:
      return `permission denied for user ${user}: ${message}`;
    case SqlState.cannotConnectNow:
      return `the server at ${where} is starting up or shutting down: try again in a moment (${message})`;
    case SqlState.tooManyConnections:
      return `the server at ${where} has no free connection slots: ${message}`;
  }
  const codes = systemCodes(error);
  const has = (...wanted: string[]) => wanted.some((code) => codes.includes(code));
  if (has('ECONNREFUSED') || (has('ENOENT') && settings.host.startsWith('/'))) {
    return `cannot reach ${where}: nothing is listening (is PostgreSQL running?)`;
  }
  if (has('ENOTFOUND', 'EAI_AGAIN')) {
    return `cannot reach ${where}: unknown host "${settings.host}" (check the host name in the URL)`;
  }
  if (
    has('ETIMEDOUT') ||
    /timeout exceeded when trying to connect|due to connection timeout/i.test(message)
  ) {
    return `cannot reach ${where}: timed out connecting (wrong host or port, a firewall, or an overloaded server)`;
  }
  if (has('EHOSTUNREACH', 'ENETUNREACH')) return `cannot reach ${where}: no route to the host (${message})`;
  if (/\bSSL\b|\bTLS\b|certificate/i.test(message) || codes.some((code) => /CERT|TLS|SSL/.test(code))) {
    return `TLS problem with ${where} (check sslmode and the certificates): ${message}`;
  }
  if (/client password must be a/.test(message)) {
    return `${where} asks for a password for user ${user}, but the URL has none`;
  }
  return state === undefined ? message : `${message} (SQLSTATE ${state})`;
}

/** The SQLSTATE of an error the server sent (pg's DatabaseError carries `severity` too), else undefined. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  // The layer's own errors carry the server's SQLSTATE; the driver's have a severity beside it.
  if (error instanceof DatabaseError) return error.code;
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && typeof severity === 'string' ? code : undefined;
}

/** `host:port`, `[v6]:port`, or the socket file of a unix-socket directory. */
function endpoint({ host, port }: ConnectionSettings): string {
  if (host.startsWith('/')) return `${host}/.s.PGSQL.${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Every `code` in the error, its causes and, for an AggregateError (Node's happy eyeballs), its errors. */
function systemCodes(error: unknown, depth = 0): string[] {
  if (typeof error !== 'object' || error === null || depth > 5) return [];
  const { code, cause, errors } = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const inner = [cause, ...(Array.isArray(errors) ? errors : [])];
  return [...(typeof code === 'string' ? [code] : []), ...inner.flatMap((e) => systemCodes(e, depth + 1))];
}

/** The message; an AggregateError's is empty, so its errors' messages stand in. */
function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.message !== '') return error.message;
  const inner = error instanceof AggregateError ? error.errors.map(messageOf).filter(Boolean) : [];
  return inner.length > 0 ? inner.join('; ') : error.name;
}

/** Driver and server messages are not supposed to contain the password; mask it should one ever do. */
function mask(text: string, { password, user, database, host }: ConnectionSettings): string {
  // A password equal to a name shown anyway would only garble the line.
  if (!password || [user, database, host].includes(password)) return text;
  return [password, encodeURIComponent(password)].reduce(
    (masked, secret) => masked.split(secret).join('***'),
    text,
  );
}
