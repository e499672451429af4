/**
 * Keyset cursors (src/query/pagination.ts): their wire format is base64url JSON, so a cursor handed out
 * before an upgrade still continues the list after it; a page plan reads back what a cursor carries.
 */
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors/classes.js';
import { encodeCursor, packCursor, planPage, toPage } from '../../src/query/pagination.js';

const createdAt = new Date('2024-01-02T03:04:05.678Z');

describe('encodeCursor', () => {
  it('writes [direction, createdAt, id] as base64url JSON, as packCursor does', () => {
    const cursor = encodeCursor('desc', { createdAt, id: 'abc' });
    expect(cursor).toBe(Buffer.from('["desc","2024-01-02T03:04:05.678Z","abc"]').toString('base64url'));
    expect(cursor).toBe(packCursor(['desc', createdAt.toISOString(), 'abc']));
  });

  it('is read back by planPage in its own direction, and refused in the other', () => {
    const cursor = encodeCursor('asc', { createdAt, id: 'abc' });
    expect(planPage({ after: cursor, orderBy: { createdAt: 'asc' } }).after).toEqual({
      createdAt,
      id: 'abc',
    });
    expect(() => planPage({ after: cursor })).toThrow(ValidationError);
  });

  it('is what toPage hands out as nextCursor, from the last row of a full page', () => {
    const plan = planPage({ first: 1 });
    const rows = [
      { createdAt, id: 'first' },
      { createdAt, id: 'extra' },
    ];
    expect(toPage(rows, plan)).toEqual({
      items: [{ createdAt, id: 'first' }],
      nextCursor: encodeCursor('desc', { createdAt, id: 'first' }),
    });
    expect(toPage(rows.slice(0, 1), plan).nextCursor).toBeUndefined();
  });
});
