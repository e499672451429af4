/**
 * Values in COPY's text format: columns separated by a tab, one line per row, `\N` for NULL, and
 * backslash, tab, newline and carriage return escaped with a backslash. Everything else goes as it is,
 * so most values need no copy at all.
 */
const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** NULL in a line. */
export const COPY_NULL = '\\N';

/** `value` as one column of a line. */
export function copyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIALS, (character) => ESCAPES[character] as string) : value;
}

/** `value` as one column, NULL when null or undefined. */
export function copyNullable(value: string | null | undefined): string {
  return value === null || value === undefined ? COPY_NULL : copyText(value);
}

/** A line of already encoded columns. */
export function copyLine(columns: readonly string[]): string {
  return `${columns.join('\t')}\n`;
}

/** An instant as timestamptz reads it exactly, whatever the session's DateStyle and TimeZone. */
export const copyTimestamp = (date: Date): string => date.toISOString();
