import type { LogFields, Logger } from '../../src/logging/logger.js';

export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  message: string;
  fields?: LogFields;
}

/** A logger that keeps its lines, for assertions. */
export function collectingLogger(): Logger & { lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (message: string, fields?: LogFields) => {
    lines.push({ level, message, ...(fields ? { fields } : {}) });
  };
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}
