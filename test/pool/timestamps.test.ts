/**
 * The layer's timestamp reading (src/pool/timestamps.ts) gives exactly what pg's own parser gives for a
 * column, and what `new Date` gives for a timestamp inside JSON: for PostgreSQL's real output in several
 * session time zones (offsets with minutes, with seconds before standard time), for infinity and BC, and
 * for 100,000 generated values.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { parseJsonTimestamp, parseTimestamptz } from '../../src/pool/timestamps.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;
const pgParse = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text');

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

/** A Date as its epoch milliseconds (NaN for an invalid one); anything else as it is. */
const comparable = (value: unknown) => (value instanceof Date ? value.getTime() : value);

describe('parseTimestamptz', () => {
  it('agrees with pg’s parser on 100,000 generated timestamps, fractions and zones of every shape', () => {
    let state = 20261127; // xorshift32: the same values on every run
    const next = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const two = (n: number) => String(n).padStart(2, '0');
    const zones = ['+00', '-08', '+05:30', '-03:30', '+14', '+05:45', '-00:25:21', '+00:19:32'];
    const mismatches: string[] = [];
    for (let i = 0; i < 100_000; i++) {
      // Day up to 31 in every month: both roll a day past the month's end over the same way.
      const date = `${1000 + next(9000)}-${two(1 + next(12))}-${two(1 + next(31))}`;
      const time = `${two(next(24))}:${two(next(60))}:${two(next(60))}`;
      const fraction =
        next(3) === 0
          ? ''
          : `.${String(next(1_000_000))
              .padStart(6, '0')
              .slice(0, 1 + next(6))}`;
      const text = `${date} ${time}${fraction}${zones[next(zones.length)]}`;
      if (comparable(parseTimestamptz(text)) !== comparable(pgParse(text))) mismatches.push(text);
    }
    expect(mismatches).toEqual([]);
  });

  it('hands every other shape to pg’s parser: infinity, BC, five-digit and two-digit years, no zone', () => {
    for (const text of [
      'infinity',
      '-infinity',
      '0044-03-15 12:00:00+00 BC',
      '12026-11-27 16:53:34.123+00',
      '0099-01-01 00:00:00+00',
      '2026-11-27 16:53:34',
      '2026-11-27',
      'not a timestamp',
    ]) {
      expect(comparable(parseTimestamptz(text)), text).toEqual(comparable(pgParse(text)));
    }
  });
});

describe('parseJsonTimestamp', () => {
  it('agrees with new Date on to_json’s ISO form, and leaves other text to it', () => {
    for (const text of [
      '2026-11-27T16:53:34.123+00:00',
      '2026-11-27T22:38:34.123456+05:45',
      '2026-02-29T00:00:00-03:30',
      '2026-11-27T16:53:34Z',
      '1850-01-01T00:00:00+00:19:32',
      'infinity',
      '-002026-11-27T16:53:34.123Z',
    ]) {
      expect(comparable(parseJsonTimestamp(text)), text).toEqual(comparable(new Date(text)));
    }
  });
});

describe('timestamps read through the layer', () => {
  const zones = ['UTC', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Kiritimati', 'Europe/Amsterdam'];
  const values = `(values ('2026-11-27 16:53:34.123456+00'::timestamptz), ('1000-01-01 00:00:00+00'),
    ('1850-06-01 12:00:00+00'), ('9999-12-31 23:59:59.999+00'), ('2026-03-29 01:30:00+00'), ('infinity'),
    ('-infinity'), ('0044-03-15 12:00:00+00 BC')) as v(at)`;

  it.each(zones)('columns and JSON in time zone %s: the same instants pg and new Date read', async (zone) => {
    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    try {
      await client.query(`set time zone '${zone}'`);
      const expected = await client.query(`select at, to_json(at) as json from ${values}`);
      const read = await db.transaction(async (tx) => {
        await tx.executeRaw(`set local time zone '${zone}'`);
        return tx.executeRaw<{ at: unknown; json: string }>(`select at, to_json(at) as json from ${values}`);
      });
      expect(read.map((row) => comparable(row.at))).toEqual(expected.rows.map((row) => comparable(row.at)));
      expect(read.map((row) => comparable(parseJsonTimestamp(row.json)))).toEqual(
        expected.rows.map((row) => comparable(new Date(row.json))),
      );
      expect(read.some((row) => row.at instanceof Date && !Number.isNaN(row.at.getTime()))).toBe(true);
    } finally {
      await client.end();
    }
  });

  it('a relation’s timestamps (JSON, in the session’s zone) equal the row’s own (a column)', async () => {
    const user = await db.users.create({ email: 'zones@example.com', posts: [{ title: 'In Kathmandu' }] });
    const [post] = user.posts;
    const withPosts = await db.transaction(async (tx) => {
      await tx.executeRaw("set local time zone 'Asia/Kathmandu'");
      return tx.users.getById(user.id, { include: { posts: true } });
    });
    const own = await db.posts.getById(post?.id as string);
    expect(withPosts.posts[0]?.createdAt).toEqual(own.createdAt);
    expect(withPosts.posts[0]?.createdAt).toEqual(user.createdAt);
  });
});
