/**
 * Maps whatever `pg`, `pg-pool` or a socket threw to the error hierarchy in classes.ts, with a stack
 * that starts at the caller's line. Messages name tables, constraints and columns but never repeat the
 * server's `detail`, which holds the row's values (emails, secrets); the original stays as `cause`.
 */
import pg from 'pg';
import { stackFromCaller, withRoomForCaller } from './caller-stack.js';
import {
  BackendTerminatedError,
  CheckViolationError,
  ConnectionError,
  DatabaseError,
  type DatabaseErrorOptions,
  DeadlockError,
  ForeignKeyViolationError,
  IdleInTransactionTimeoutError,
  IntegrityError,
  NotNullViolationError,
  PoolTimeoutError,
  QueryCancelledError,
  QueryTimeoutError,
  SerializationError,
  StalePreparedStatementError,
  StatementTimeoutError,
  TooManyConnectionsError,
  TransactionRollbackError,
  UniqueViolationError,
} from './classes.js';
import { SqlState, sqlStateClass } from './sql-state.js';
import { staleStatement } from './stale-statement.js';

/**
 * Converts any thrown value to a `DatabaseError` (a `DatabaseError` comes back unchanged). Call it in
 * the `catch` right after the `await` that failed: the stack then lists that line first.
 *
 * @example
 * try { await pool.query('INSERT …', params) } catch (error) { throw toDatabaseError(error) }
 */
export function toDatabaseError(error: unknown, context: ErrorContext = {}): DatabaseError {
  if (error instanceof DatabaseError) return error;
  const mapped = isServerError(error) ? fromServer(error, context.row) : fromClient(error);
  pointAtCaller(mapped);
  return mapped;
}

/** What the caller knows of the failed work that the server's error does not say. */
export interface ErrorContext {
  /** The bulk load's input row the server rejected: set as `row`, and named in the message. */
  row?: number | undefined;
}

type ServerError = Error & Partial<Pick<pg.DatabaseError, 'detail' | 'table' | 'column' | 'constraint'>>;

// pg-native and a second copy of pg throw errors that are not this pg's DatabaseError; a Node system
// error (EPIPE, EPERM) can have five capital letters too, but always has `errno` and `syscall`.
function isServerError(error: unknown): error is ServerError & { code: string } {
  if (error instanceof pg.DatabaseError) return typeof error.code === 'string';
  if (!(error instanceof Error) || 'errno' in error || 'syscall' in error) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

function fromServer(error: ServerError & { code: string }, row: number | undefined): DatabaseError {
  const mapped = fromServerCode(error, row);
  if (row !== undefined) mapped.message += ` (row ${row})`;
  return mapped;
}

function fromServerCode(error: ServerError & { code: string }, row: number | undefined): DatabaseError {
  const { code, table, constraint } = error;
  const options = { cause: error, code, table, constraint, row };
  if (staleStatement(error)) {
    return new StalePreparedStatementError(
      `${error.message} (a prepared statement went stale, after a migration or DISCARD ALL; it is prepared again on its next use, so the transaction can run again)`,
      options,
    );
  }
  switch (code) {
    case SqlState.uniqueViolation: {
      const columns = keyColumns(error.detail);
      return new UniqueViolationError(violation('unique violation', table, columns, constraint), {
        ...options,
        columns,
      });
    }
    case SqlState.foreignKeyViolation: {
      const columns = keyColumns(error.detail);
      return new ForeignKeyViolationError(violation('foreign key violation', table, columns, constraint), {
        ...options,
        columns,
      });
    }
    case SqlState.notNullViolation: {
      const columns = error.column === undefined ? [] : [error.column];
      return new NotNullViolationError(violation('not-null violation', table, columns, constraint), {
        ...options,
        column: error.column,
      });
    }
    case SqlState.checkViolation:
      return new CheckViolationError(violation('check violation', table, [], constraint), options);
    case SqlState.serializationFailure:
      return new SerializationError(error.message, options);
    case SqlState.deadlockDetected:
      return new DeadlockError(error.message, options);
    case SqlState.queryCanceled:
      return cancelled(error.message, options);
    case SqlState.adminShutdown:
      return new BackendTerminatedError(
        `${error.message} (the server ended this session: pg_terminate_backend, a shutdown, or the server itself stopping; a transaction on it was rolled back)`,
        options,
      );
    case SqlState.idleInTransactionSessionTimeout:
      return new IdleInTransactionTimeoutError(
        `${error.message} (the transaction sat idle between statements longer than idle_in_transaction_session_timeout, idleInTransactionTimeoutMs; it was rolled back)`,
        options,
      );
    case SqlState.tooManyConnections:
      return new TooManyConnectionsError(
        `${error.message} (the server refused a new connection: max_connections, or the role's or database's CONNECTION LIMIT, is reached)`,
        options,
      );
    case SqlState.crashShutdown:
    case SqlState.cannotConnectNow:
    case SqlState.idleSessionTimeout:
      return new ConnectionError(error.message, options);
  }
  switch (sqlStateClass(code)) {
    case '23':
      return new IntegrityError(error.message, options);
    case '40':
      return new TransactionRollbackError(error.message, options);
    case '08':
      return new ConnectionError(error.message, options);
  }
  return new DatabaseError(error.message, options);
}

/*
 * 57014 is both a statement timeout and a cancel request, raised by the same server routine: only the
 * message says which, and lc_messages translates it (German: "storniere Anfrage wegen Zeitüberschreitung
 * der Anfrage"). The layer's own statementTimeoutMs cannot stand in: it is not the only source of a
 * timeout (a role's or database's statement_timeout) nor proof of one (a cancel may arrive under it).
 * So the English message decides, and any other leaves the parent QueryTimeoutError rather than a guess.
 */
const STATEMENT_TIMEOUT = 'canceling statement due to statement timeout';
const CANCEL_REQUEST = 'canceling statement due to user request';

function cancelled(message: string, options: DatabaseErrorOptions): QueryTimeoutError {
  if (message === STATEMENT_TIMEOUT) {
    return new StatementTimeoutError(
      `${message} (the statement ran longer than statement_timeout: statementTimeoutMs, or the role's or database's setting)`,
      options,
    );
  }
  if (message === CANCEL_REQUEST) {
    return new QueryCancelledError(
      `${message} (a cancel request stopped the statement: pg_cancel_backend, or the client cancelling it)`,
      options,
    );
  }
  return new QueryTimeoutError(
    `${message} (a statement timeout or a cancel request: the server's message, not in English, does not tell the layer which)`,
    options,
  );
}

/** `unique violation on pg_users (email): pg_users_email_active_key` */
function violation(kind: string, table?: string, columns: string[] = [], constraint?: string): string {
  const on = table === undefined ? '' : ` on ${table}`;
  const list = columns.length > 0 ? ` (${columns.join(', ')})` : '';
  return `${kind}${on}${list}${constraint === undefined ? '' : `: ${constraint}`}`;
}

// Node's codes for a server that cannot be reached or that dropped the socket.
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

// pg's and pg-pool's own messages for a lost or failed connection (they carry no code).
const CONNECTION_MESSAGES = new Set([
  'Connection terminated unexpectedly',
  'Connection terminated',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'timeout expired',
]);

function isSocketError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  // `connect` also covers a missing unix socket (ENOENT).
  return (typeof code === 'string' && SOCKET_CODES.has(code)) || syscall === 'connect';
}

function fromClient(error: unknown): DatabaseError {
  if (!(error instanceof Error)) return new DatabaseError(String(error), { cause: error });
  const options = { cause: error };
  // Node reports a failed connect to every address of a host as one AggregateError, whose message is ''.
  if (error instanceof AggregateError && error.errors.some(isSocketError)) {
    const messages = error.errors.map((each) => (each instanceof Error ? each.message : String(each)));
    return new ConnectionError(error.message || messages.join('; '), options);
  }
  if (isSocketError(error) || CONNECTION_MESSAGES.has(error.message)) {
    return new ConnectionError(error.message, options);
  }
  if (error.message === 'timeout exceeded when trying to connect') {
    return new PoolTimeoutError(
      'no pooled connection became free in time (POSTGRES_POOL_TIMEOUT_MS): timeout exceeded when trying to connect',
      options,
    );
  }
  if (error.message === 'Query read timeout') return new QueryTimeoutError(error.message, options);
  return new DatabaseError(error.message, options);
}

/**
 * The column names in a `detail` like `Key ("userId", name)=(…) already exists.` ([] if none).
 * Found by shape, not by the words around it, so a localised server works too: the first parenthesised
 * list followed by `=(`. The values after it are never read.
 */
export function keyColumns(detail: string | undefined): string[] {
  if (!detail) return [];
  for (let open = detail.indexOf('('); open !== -1; open = detail.indexOf('(', open + 1)) {
    const items = splitList(detail, open);
    if (items) return [...new Set(items.flatMap(columnsOf))];
  }
  return [];
}

/** The comma-separated items inside the parenthesis at `open`, if it closes right before `=(`. */
function splitList(text: string, open: number): string[] | undefined {
  const items: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let at = open; at < text.length; at++) {
    const char = text[at];
    if (char === '"' || char === "'") {
      at = closingQuote(text, at);
      if (at === -1) return undefined;
    } else if (char === '(') depth++;
    else if (char === ',' && depth === 1) {
      items.push(text.slice(start, at).trim());
      start = at + 1;
    } else if (char === ')' && --depth === 0) {
      items.push(text.slice(start, at).trim());
      return text.startsWith(')=(', at) ? items : undefined;
    }
  }
  return undefined;
}

/** The index of the quote that closes the one at `open`; a doubled quote is an escaped one. */
function closingQuote(text: string, open: number): number {
  let at = text.indexOf(text.charAt(open), open + 1);
  while (at !== -1 && text[at + 1] === text[open]) at = text.indexOf(text.charAt(open), at + 2);
  return at;
}

// In an expression: a cast or COLLATE; a quoted identifier or a bare word, with the `(` or `.` after it;
// a string literal.
const TOKEN =
  /(::|\bCOLLATE\b)|(?:"((?:[^"]|"")*)"|([A-Za-z_\u0080-\uffff][\w$\u0080-\uffff]*))(\s*[(.]?)|'(?:[^']|'')*'/g;

/**
 * Unique violations quote names as SQL does (`"userId"`), foreign keys print them raw (`authorId`).
 * In an expression (`lower(email)`, `(a || b)`) the columns are the lower-case or quoted names that are
 * not a function or schema (before `(` or `.`), a type (after `::`) or a collation; keywords are upper case.
 */
function columnsOf(item: string): string[] {
  const quoted = /^"((?:[^"]|"")*)"$/.exec(item);
  if (quoted?.[1] !== undefined) return [quoted[1].replaceAll('""', '"')];
  if (/^[^\s()"',:]+$/.test(item)) return [item];
  const columns: string[] = [];
  let skipping = false;
  let end = 0;
  for (const match of item.matchAll(TOKEN)) {
    const [token, skip, name, word, next = ''] = match;
    // Punctuation ends a type or collation name.
    if (item.slice(end, match.index).trim()) skipping = false;
    end = match.index + token.length;
    if (skip) skipping = true;
    else if (name === undefined && word === undefined) skipping = false;
    else if (!skipping && !next.trim()) {
      if (name !== undefined) columns.push(name.replaceAll('""', '"'));
      else if (word && word === word.toLowerCase() && !['true', 'false', 'null'].includes(word))
        columns.push(word);
    }
  }
  return columns;
}

/** Recaptures the stack at the `toDatabaseError` call (with the awaiting callers) and trims it to them. */
function pointAtCaller(error: DatabaseError): void {
  withRoomForCaller(() => Error.captureStackTrace(error, toDatabaseError));
  error.stack = stackFromCaller(error.stack);
}
