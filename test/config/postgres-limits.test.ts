/**
 * The limits in src/config/postgres-limits.ts are the ones the server holds to: an `::int` parameter and
 * a millisecond timeout setting accept INT4_MIN / INT4_MAX and refuse one past them; a name longer than
 * MAX_IDENTIFIER_BYTES is cut to it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { INT4_MAX, INT4_MIN, MAX_IDENTIFIER_BYTES } from '../../src/config/postgres-limits.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

describe('the limits', () => {
  it('is the range of an ::int parameter', async () => {
    expect(await db.executeRaw('SELECT $1::int AS low, $2::int AS high', [INT4_MIN, INT4_MAX])).toEqual([
      { low: INT4_MIN, high: INT4_MAX },
    ]);
    // 22003: numeric_value_out_of_range
    await expect(db.executeRaw('SELECT $1::int AS n', [INT4_MAX + 1])).rejects.toMatchObject({
      code: '22003',
    });
    await expect(db.executeRaw('SELECT $1::int AS n', [INT4_MIN - 1])).rejects.toMatchObject({
      code: '22003',
    });
  });

  it('ends at the longest timeout the server takes, in milliseconds', async () => {
    const setTimeoutTo = (ms: number) =>
      db.transaction(async (tx) => {
        await tx.executeRaw(`SELECT set_config('statement_timeout', $1, true)`, [String(ms)]);
        return tx.executeRaw<{ statement_timeout: string }>('SHOW statement_timeout');
      });
    expect(await setTimeoutTo(INT4_MAX)).toEqual([{ statement_timeout: `${INT4_MAX}ms` }]);
    // 22023: invalid_parameter_value
    await expect(setTimeoutTo(INT4_MAX + 1)).rejects.toMatchObject({ code: '22023' });
  });

  it('cuts a longer identifier to MAX_IDENTIFIER_BYTES bytes', async () => {
    const long = 'a'.repeat(MAX_IDENTIFIER_BYTES + 1);
    const [row] = await db.executeRaw(`SELECT 1 AS ${long}`);
    expect(Object.keys(row ?? {})).toEqual([long.slice(0, MAX_IDENTIFIER_BYTES)]);
  });
});
