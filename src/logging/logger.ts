/**
 * The logging seam: a logger with `(message, fields)` methods, or a pino logger (`(fields, message)`),
 * filtered by `DATABASE_LOG_LEVEL`; and what is said about each query: query events for `db.on('query')`,
 * a debug line per query, a warning per slow query. Parameters are redacted unless asked for.
 */
import type { LogLevel } from '../config/settings.js';

export type LogFields = Record<string, unknown>;

export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

/** pino's calling convention: the fields first, then the message. */
export type PinoLogMethod = (fields: LogFields, message: string) => void;

/** The part of a pino logger this layer uses (a pino child logger fits too). */
export interface PinoLike {
  error: PinoLogMethod;
  warn: PinoLogMethod;
  info: PinoLogMethod;
  debug: PinoLogMethod;
}

type Severity = Exclude<LogLevel, 'silent'>;
const SEVERITIES: readonly Severity[] = ['error', 'warn', 'info', 'debug'];
const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** True when lines at `wanted` pass the level `level`. */
export function isLevelEnabled(level: LogLevel, wanted: Severity): boolean {
  return rank[level] >= rank[wanted];
}

/**
 * Adapts a pino logger: `logger.warn('slow query', { sql })` becomes `pino.warn({ sql }, 'slow query')`.
 *
 * @example
 * createDatabase(loadConfig(), { logger: fromPino(pino()) })
 */
export function fromPino(pino: PinoLike): Logger {
  const at = (severity: Severity) => (message: string, fields?: LogFields) =>
    pino[severity].call(pino, fields ?? {}, message);
  return { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

/**
 * Whether `logger` is a pino logger, told by pino's `levels` (`{ values: { info: 30, … }, labels: { 30:
 * 'info', … } }`), which other loggers with `(message, fields)` methods (winston, console) do not have.
 */
export function isPinoLogger(logger: unknown): logger is PinoLike {
  const levels = (logger as { levels?: { values?: unknown; labels?: unknown } } | null)?.levels;
  return (
    typeof levels?.values === 'object' &&
    levels.values !== null &&
    typeof levels.labels === 'object' &&
    levels.labels !== null
  );
}

/** A pino logger is adapted with `fromPino`; any other logger is used as it is. */
export function toLogger(logger: Logger | PinoLike): Logger {
  return isPinoLogger(logger) ? fromPino(logger) : (logger as Logger);
}

/** `logger`, passing on only the lines at `level` or more severe; `silent` passes nothing. */
export function atLevel(logger: Logger, level: LogLevel): Logger {
  const ignore = () => {};
  const filtered = {} as Logger;
  for (const severity of SEVERITIES) {
    filtered[severity] = isLevelEnabled(level, severity)
      ? (message, fields) => logger[severity](message, fields)
      : ignore;
  }
  return filtered;
}

/** Writes to the console the lines at `level` or more severe; `silent` writes nothing. */
export function consoleLogger(level: LogLevel): Logger {
  const write = { error: console.error, warn: console.warn, info: console.info, debug: console.debug };
  const writer = {} as Logger;
  for (const severity of SEVERITIES) {
    writer[severity] = (message, fields) =>
      write[severity](`[shared-db] ${severity}: ${message}`, ...(fields ? [fields] : []));
  }
  return atLevel(writer, level);
}

/** One statement sent to the server, as `db.on('query', listener)` receives it. */
export interface QueryEvent {
  /**
   * The server that answered: `primary` (the pooled connection), or `replica-<n>`, the n-th of
   * POSTGRES_REPLICA_URLS.
   */
  readonly server: string;
  /** The SQL text as sent, with `$1`-style placeholders. */
  readonly sql: string;
  /** The parameters; each one `'[redacted]'` unless parameters are logged (DATABASE_LOG_PARAMETERS). */
  readonly params: readonly unknown[];
  /** How long the statement itself took, in milliseconds. */
  readonly durationMs: number;
  /**
   * How long the caller waited for a pooled connection before it (a free one, or a new one being opened),
   * in milliseconds; carried by the first statement of each checkout (a transaction's BEGIN), else 0.
   */
  readonly waitMs: number;
  /** Whether it ran as a named prepared statement (see DATABASE_PREPARED_STATEMENTS). */
  readonly prepared: boolean;
  /** When the statement failed: the class of the error it maps to, and its SQLSTATE. */
  readonly error?: { readonly name: string; readonly code: string | undefined };
}

export type QueryListener = (event: QueryEvent) => void;

/** What the instrumented pool reports per statement, before redaction. */
export interface ExecutedQuery {
  server: string;
  sql: string;
  params: readonly unknown[];
  durationMs: number;
  waitMs: number;
  prepared: boolean;
  error?: { name: string; code: string | undefined };
}

export interface QueryReporterOptions {
  /** Already filtered by the level. */
  logger: Logger;
  level: LogLevel;
  logParameters: boolean;
  /** 0 turns slow-query warnings off. */
  slowQueryMs: number;
  listeners: ReadonlySet<QueryListener>;
}

export const REDACTED = '[redacted]';

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Tells the listeners about each statement, logs it at debug (`query` or `query failed`), and warns
 * (`slow query`) when the caller's wait plus the statement's run reached `slowQueryMs`. A listener that
 * throws is logged and skipped: it never fails the query.
 */
export function queryReporter(options: QueryReporterOptions): (query: ExecutedQuery) => void {
  const { logger, listeners, logParameters, slowQueryMs } = options;
  const debug = isLevelEnabled(options.level, 'debug');
  const warn = isLevelEnabled(options.level, 'warn');
  return (query) => {
    const slow = warn && slowQueryMs > 0 && query.durationMs + query.waitMs >= slowQueryMs;
    if (listeners.size === 0 && !debug && !slow) return;
    const event: QueryEvent = Object.freeze({
      server: query.server,
      sql: query.sql,
      params: Object.freeze(logParameters ? [...query.params] : query.params.map(() => REDACTED)),
      durationMs: round(query.durationMs),
      waitMs: round(query.waitMs),
      prepared: query.prepared,
      ...(query.error ? { error: Object.freeze({ ...query.error }) } : {}),
    });
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        logger.warn('a query listener threw; the query itself was not affected', {
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      }
    }
    if (debug) logger.debug(query.error ? 'query failed' : 'query', { ...event });
    if (slow) logger.warn('slow query', { ...event, thresholdMs: slowQueryMs });
  };
}
