/**
 * A gate on the server that the test opens: a statement that takes the gate's advisory lock waits until
 * `open()`. It holds a pooled connection for exactly as long as the test wants, so what happens while it
 * is held (a pool timeout, a caller waiting, a disconnect) follows from the order of events, not from how
 * fast the machine runs a `pg_sleep`.
 */
import { randomInt } from 'node:crypto';
import pg from 'pg';
import { expect, onTestFinished } from 'vitest';

export interface LockGate {
  /** A statement that waits at the gate, then returns one row; pass it `params`. */
  readonly sql: string;
  readonly params: readonly [number];
  /** Resolves once `count` sessions wait at the gate (their lock requests are queued on the server). */
  waiting(count?: number): Promise<void>;
  /** Lets every waiting statement through, and any later one at once. Safe to call more than once. */
  open(): Promise<void>;
}

/** A closed gate in the database of `url` (a superuser URL); opened at the latest when the test ends. */
export async function closedGate(url: string): Promise<LockGate> {
  const key = randomInt(1, 2 ** 31 - 1);
  const holder = new pg.Client({ connectionString: url });
  await holder.connect();
  await holder.query('SELECT pg_catalog.pg_advisory_lock($1::bigint)', [key]);
  let opened: Promise<void> | undefined;
  const open = () => {
    opened ??= holder.end();
    return opened;
  };
  onTestFinished(open);
  return {
    sql: 'SELECT pg_catalog.pg_advisory_xact_lock($1::bigint) AS passed',
    params: [key],
    async waiting(count = 1) {
      // A bigint key below 2^31 is stored as classid 0, objid key, objsubid 1.
      await expect
        .poll(
          async () => {
            const { rows } = await holder.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_catalog.pg_locks l
                 JOIN pg_catalog.pg_database d ON d.oid = l.database AND d.datname = pg_catalog.current_database()
                WHERE l.locktype = 'advisory' AND NOT l.granted AND l.classid = 0 AND l.objid = $1 AND l.objsubid = 1`,
              [key],
            );
            return rows[0]?.n;
          },
          { timeout: 20_000, interval: 20 },
        )
        .toBe(count);
    },
    open,
  };
}
