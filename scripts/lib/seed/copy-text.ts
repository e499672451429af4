/**
 * Rows in COPY's text format: tab-separated, one line per row, `\N` for NULL, and backslash, tab,
 * newline and carriage return escaped with a backslash.
 */
const SPECIAL = /[\\\t\n\r]/;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

export function copyValue(value: string | null): string {
  if (value === null) return '\\N';
  return SPECIAL.test(value)
    ? value.replace(/[\\\t\n\r]/g, (character) => ESCAPES[character] as string)
    : value;
}

export function copyLine(values: readonly (string | null)[]): string {
  return `${values.map(copyValue).join('\t')}\n`;
}
