/**
 * WAL positions (src/pool/wal-position.ts): PostgreSQL's `pg_lsn` text both ways, and the read-your-writes
 * token, which refuses anything it did not write with a ValidationError.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors/classes.js';
import { decodeToken, encodeToken, formatLsn, parseLsn } from '../../src/pool/wal-position.js';

describe('WAL positions', () => {
  it('reads and writes pg_lsn text', () => {
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('16/B374D848')).toBe((0x16n << 32n) | 0xb374d848n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(0xffffffffffffffffn);
    expect(parseLsn(null)).toBeUndefined();
    for (const text of ['0/0', '16/B374D848', '1/0', 'FFFFFFFF/FFFFFFFF'])
      expect(formatLsn(parseLsn(text) ?? -1n)).toBe(text);
    expect(() => parseLsn('16-B374D848')).toThrow();
  });

  it('orders positions as PostgreSQL does', () => {
    expect((parseLsn('1/0') ?? 0n) > (parseLsn('0/FFFFFFFF') ?? 0n)).toBe(true);
  });

  it('carries a position in a token, and refuses what is not a token', () => {
    for (const lsn of [0n, 1n, 0x16b374d848n, 0xffffffffffffffffn])
      expect(decodeToken(encodeToken(lsn))).toBe(lsn);
    for (const bad of [
      '',
      'rw1.',
      'rw1.xyz',
      'rw2.10',
      'rw1.10000000000000000',
      ' rw1.10',
      42,
      undefined,
      null,
    ]) {
      expect(() => decodeToken(bad)).toThrow(ValidationError);
    }
    try {
      decodeToken('junk');
    } catch (error) {
      expect((error as ValidationError).field).toBe('after');
    }
  });
});
