/**
 * The value parsers and limits that environment variables and URL parameters share. `setting` is the
 * variable at fault (`ConfigError.setting`); `subject` says which part of it is wrong when the variable
 * is a URL, e.g. 'URL parameter "sslmode" '.
 */
import { ConfigError } from '../errors/classes.js';
import { INT4_MAX, MAX_IDENTIFIER_BYTES } from './postgres-limits.js';

export const DEFAULT_PORT = 5432;
export const DEFAULT_SCHEMA = 'public';
export const MAX_POOL_MAX = 1000;
/** Node's timers overflow above INT4_MAX (the callback then runs at once), so no timeout may exceed it. */
export const MAX_TIMER_MS = INT4_MAX;
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** What a schema name may be: letters, digits, _ and $, not starting with a digit, at most 63 bytes. */
export function isIdentifier(text: string): boolean {
  return IDENTIFIER.test(text) && Buffer.byteLength(text) <= MAX_IDENTIFIER_BYTES;
}

export function parseBoolean(raw: string | undefined, setting: string, subject = ''): boolean | undefined {
  if (raw === undefined) return undefined;
  const value = raw.toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw new ConfigError(setting, `${subject}must be true or false, got "${raw}"`);
}

export function parseChoice<T extends string>(
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

export function parseInteger(
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
