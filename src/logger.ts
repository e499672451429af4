/** The logging seam: a pino-style logger (message plus fields) filtered by `DATABASE_LOG_LEVEL`. */
import type { LogLevel } from './config.js';

export type LogFields = Record<string, unknown>;

export interface Logger {
  error(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  debug(message: string, fields?: LogFields): void;
}

const rank: Record<LogLevel, number> = { silent: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** Writes to the console the lines at `level` or more severe; `silent` writes nothing. */
export function consoleLogger(level: LogLevel): Logger {
  const at =
    (wanted: Exclude<LogLevel, 'silent'>, write: (...data: unknown[]) => void) =>
    (message: string, fields?: LogFields) => {
      if (rank[level] >= rank[wanted])
        write(`[shared-db] ${wanted}: ${message}`, ...(fields ? [fields] : []));
    };
  return {
    error: at('error', console.error),
    warn: at('warn', console.warn),
    info: at('info', console.info),
    debug: at('debug', console.debug),
  };
}
