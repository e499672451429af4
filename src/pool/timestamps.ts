/**
 * Timestamps read as `Date`s, fast. A page of posts with their authors carries many timestamps:
 * PostgreSQL's text form in the columns (`2026-11-27 16:53:34.123+00`, which pg reads with postgres-date's
 * regular expressions) and ISO strings inside JSON relations (`2026-11-27T16:53:34.123+00:00`, which
 * `new Date(text)` parses). Reading the digits where they stand is several times cheaper than either, and
 * the difference is a visible share of a page read's client work (bench/README.md has the figures).
 *
 * Only the one shape both forms share is read here: a four-digit year from 1000 on, seconds, an optional
 * fraction (milliseconds kept, further digits dropped, as postgres-date does) and a zone of `Z`, `±HH` or
 * `±HH:MM`. Anything else (BC, infinity, a five-digit year, a zone offset with seconds, a session
 * DateStyle other than ISO) is read by pg's own parser, as it always was.
 */
import pg from 'pg';

/** pg's own reading of a timestamptz (pg-types' postgres-date), for every other shape. */
const pgTimestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text');

const ZERO = 48;

/** The number written by the `length` digits at `at`, or -1 when one of them is not a digit. */
function digits(text: string, at: number, length: number): number {
  let value = 0;
  for (let i = at; i < at + length; i++) {
    const digit = text.charCodeAt(i) - ZERO;
    if (digit < 0 || digit > 9) return -1;
    value = value * 10 + digit;
  }
  return value;
}

/** Milliseconds since the epoch for the shape above, or undefined for any other text. */
function epochMs(text: string): number | undefined {
  const length = text.length;
  if (length < 20 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined;
  const separator = text.charCodeAt(10);
  if (separator !== 32 && separator !== 84) return undefined; // ' ' or 'T'
  if (text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return undefined; // ':'
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 1000 || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (hour < 0 || hour > 24 || minute < 0 || minute > 59 || second < 0 || second > 60) return undefined;
  let at = 19;
  let ms = 0;
  if (text.charCodeAt(at) === 46) {
    // '.': up to six digits; the first three are the milliseconds
    let scale = 100;
    at += 1;
    const start = at;
    while (at < length) {
      const digit = text.charCodeAt(at) - ZERO;
      if (digit < 0 || digit > 9) break;
      if (scale >= 1) ms += digit * scale;
      scale /= 10;
      at += 1;
    }
    if (at === start) return undefined;
  }
  let offsetMinutes = 0;
  const zone = text.charCodeAt(at);
  if (zone === 90) {
    // 'Z'
    at += 1;
  } else if (zone === 43 || zone === 45) {
    // '+' or '-'
    const hours = digits(text, at + 1, 2);
    if (hours < 0) return undefined;
    let minutes = 0;
    at += 3;
    if (text.charCodeAt(at) === 58) {
      minutes = digits(text, at + 1, 2);
      if (minutes < 0) return undefined;
      at += 3;
    }
    offsetMinutes = (zone === 45 ? -1 : 1) * (hours * 60 + minutes);
  } else {
    return undefined;
  }
  if (at !== length) return undefined;
  const seconds = daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
  return seconds * 1000 + ms - offsetMinutes * 60_000;
}

/**
 * Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's days_from_civil), as Date.UTC
 * counts them, a day past the month's end rolling over the same way; several times faster than Date.UTC.
 */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** A `timestamptz` column's text as pg hands it over: the same values postgres-date gives. */
export function parseTimestamptz(text: string): unknown {
  const ms = epochMs(text);
  return ms === undefined ? pgTimestamptz(text) : new Date(ms);
}

/** An ISO timestamp from JSON (`to_json` of a timestamptz), as `new Date(text)` reads it. */
export function parseJsonTimestamp(text: string): Date {
  const ms = epochMs(text);
  return ms === undefined ? new Date(text) : new Date(ms);
}

/**
 * pg's type parsers with timestamptz read by `parseTimestamptz`: the layer's pool reads with these,
 * and pg's global parsers (what other code in the process uses) stay as they are.
 */
export const layerTypeParsers: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.TIMESTAMPTZ && format !== 'binary'
      ? parseTimestamptz
      : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};
