/**
 * Positions in the primary's write-ahead log (LSNs, `16/B374D848` as PostgreSQL prints them) as bigints,
 * and the opaque read-your-writes token that carries one across a request or a service boundary.
 */
import { ValidationError } from '../errors/classes.js';

const LSN = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i;

/** `pg_lsn` text as a number; undefined for NULL (a server that is not replaying WAL). */
export function parseLsn(text: string | null | undefined): bigint | undefined {
  if (text === null || text === undefined) return undefined;
  const match = LSN.exec(text);
  if (!match) throw new Error(`not a WAL position: ${JSON.stringify(text)}`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/*
 * A token names the version of its format, so a later format can still read it; its position is the
 * LSN in hexadecimal. Opaque to callers: they store it and pass it back.
 */
const TOKEN = /^rw1\.([0-9a-f]{1,16})$/;

export function encodeToken(lsn: bigint): string {
  return `rw1.${lsn.toString(16)}`;
}

/** The position a token carries; a `ValidationError` for anything that is not a token. */
export function decodeToken(token: unknown, field = 'after'): bigint {
  const match = typeof token === 'string' ? TOKEN.exec(token) : null;
  if (!match?.[1]) {
    throw new ValidationError([
      {
        field,
        message: 'not a read-your-writes token (pass back what db.consistency.token() returned)',
      },
    ]);
  }
  return BigInt(`0x${match[1]}`);
}
