/**
 * The benchmark's large-data step, in a database of its own on the bench's server: the bulk-load cases
 * (createMany against multi-row INSERTs by hand, rows per second), then what a stream and a load cost in
 * memory (child processes with a 128 MB heap: heap-child.ts), then a load whose row 500,000 (counted
 * from 0) repeats an earlier email, which must fail naming that row and keep nothing.
 */
import type pg from 'pg';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { UniqueViolationError } from '../../src/errors/classes.js';
import { migrate } from '../../src/migrate/migrate.js';
import { connectClient, createPgPool } from '../../src/pool/connect.js';
import { logMeasured, runSuite } from '../harness/measure.js';
import type { CaseResult, SuiteOptions } from '../harness/types.js';
import { BULK_CASE_NAMES, bulkLoadCases } from './bulk-load-cases.js';
import type { HeapReport } from './heap-child.js';
import { runHeapChild } from './run-heap-child.js';

const DATABASE = 'shared_db_bench_large';
/** The heap the memory checks run with, in MB. */
export const CHILD_HEAP_MB = 128;
/** A stream may grow the heap by less than this, in MB. */
export const MAX_STREAM_GROWTH_MB = 50;

export const LARGE_DATA_CASE_NAMES = { ...BULK_CASE_NAMES } as const;

export interface LargeDataOptions {
  /** Rows the memory check streams (and tries to read at once). */
  streamRows: number;
  /** Posts the memory check loads with createMany. */
  loadRows: number;
  /** The 0-based row of the failing load that repeats an email. */
  duplicateAt: number;
}

export interface LargeDataResult {
  cases: CaseResult[];
  notes: string[];
  /** Lines for `target missed:` when a memory target or the failing load's check is missed. */
  misses: string[];
}

/** heap-child.ts with a heap of CHILD_HEAP_MB: its report, or how it ended. */
function heapChild(mode: HeapReport['mode'], url: string, rows: number): Promise<HeapReport | string> {
  return runHeapChild(mode, url, rows, CHILD_HEAP_MB).catch((error: Error) =>
    /heap out of memory/.test(error.message) ? 'ran out of memory' : error.message.slice(-500),
  );
}

const mb = (value: number) => `${value.toFixed(1)} MB`;
const count = (value: number) => value.toLocaleString('en-US');

async function memoryChecks(url: string, options: LargeDataOptions) {
  const notes: string[] = [];
  const misses: string[] = [];
  const streamed = await heapChild('stream', url, options.streamRows);
  const atOnce = await heapChild('all', url, options.streamRows);
  const loaded = await heapChild('load', url, options.loadRows);
  const rowsLabel = `${count(options.streamRows)} post-shaped rows`;
  if (typeof streamed === 'string') {
    misses.push(`streaming ${rowsLabel} under a ${CHILD_HEAP_MB} MB heap failed: ${streamed}`);
  } else {
    notes.push(
      `large data: streaming ${rowsLabel} (db.streamRaw, batches of 1,000) in a process with a ${CHILD_HEAP_MB} MB heap ` +
        `kept at most ${mb(streamed.liveGrowthMb)} more alive (heap after a collection, every 20,000 rows; target < ` +
        `${MAX_STREAM_GROWTH_MB} MB); garbage included, the heap grew by at most ${mb(streamed.peakGrowthMb)}; ` +
        `${count(Math.round(streamed.rows / streamed.seconds))} rows/s`,
    );
    if (streamed.liveGrowthMb >= MAX_STREAM_GROWTH_MB || streamed.peakGrowthMb >= MAX_STREAM_GROWTH_MB)
      misses.push(
        `streaming grew the heap by ${mb(streamed.liveGrowthMb)} alive, ${mb(streamed.peakGrowthMb)} with garbage ` +
          `(target < ${MAX_STREAM_GROWTH_MB} MB)`,
      );
  }
  notes.push(
    typeof atOnce === 'string'
      ? `large data: the same rows read at once (db.executeRaw) under the same heap: ${atOnce}`
      : `large data: the same rows read at once fitted (peak +${mb(atOnce.peakGrowthMb)}): the stream check proves little at this size`,
  );
  if (typeof loaded === 'string') {
    misses.push(
      `loading ${count(options.loadRows)} posts under a ${CHILD_HEAP_MB} MB heap failed: ${loaded}`,
    );
  } else {
    notes.push(
      `large data: db.posts.createMany of ${count(loaded.rows)} posts from a generator, in a process with a ` +
        `${CHILD_HEAP_MB} MB heap, kept at most ${mb(loaded.liveGrowthMb)} more alive (after a collection, at every ` +
        `chunk); garbage included, the heap grew by at most ${mb(loaded.peakGrowthMb)}; ` +
        `${count(Math.round(loaded.rows / loaded.seconds))} rows/s`,
    );
  }
  return { notes, misses };
}

/** Users for the failing load: row `duplicateAt` repeats row 0's email, in another case. */
function* usersWithOneDuplicate(runId: string, duplicateAt: number) {
  for (let row = 0; row <= duplicateAt + 10; row += 1) {
    const email = row === duplicateAt ? `${runId}-0@EXAMPLE.com` : `${runId}-${row}@example.com`;
    yield { email, name: `Loaded ${row}` };
  }
}

async function duplicateCheck(db: Database, pool: pg.Pool, options: LargeDataOptions, runId: string) {
  const users = async () =>
    (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_users')).rows[0]?.n;
  const before = await users();
  const started = performance.now();
  const outcome = await db.users.createMany(usersWithOneDuplicate(runId, options.duplicateAt)).then(
    () => undefined,
    (error: unknown) => error,
  );
  const seconds = (performance.now() - started) / 1000;
  const after = await users();
  const named = outcome instanceof UniqueViolationError && outcome.row === options.duplicateAt;
  const note =
    `large data: db.users.createMany whose row ${count(options.duplicateAt)} (counted from 0) repeats an email failed after ` +
    `${seconds.toFixed(1)} s with ${outcome instanceof Error ? `${outcome.name} (row ${(outcome as { row?: number }).row})` : 'no error'}; ` +
    `users before ${count(before ?? 0)}, after ${count(after ?? 0)}`;
  const misses = named && before === after ? [] : [`the failing load: ${note}`];
  return { notes: [note], misses };
}

export async function measureLargeData(
  adminUrl: string,
  options: LargeDataOptions,
  suite: SuiteOptions,
  selected: (name: string) => boolean,
): Promise<LargeDataResult> {
  const admin = await connectClient(parseConnectionUrl(adminUrl, '--url'));
  const url = new URL(adminUrl);
  url.pathname = `/${DATABASE}`;
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DATABASE}`);
    await migrate(parseConnectionUrl(url.toString(), '--url'), { direction: 'up' });
    const config = loadConfig({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: url.toString(),
      POSTGRES_URL_NON_POOLING: url.toString(),
      DATABASE_LOG_LEVEL: 'error',
    });
    const db = createDatabase(config);
    const pool = createPgPool(config.pooled, { max: 2 });
    pool.on('error', () => undefined);
    try {
      const runId = Date.now().toString(36);
      const author = await db.users.create({ email: `${runId}-author@example.com` });
      // One import at a time: a load is one transaction of one connection.
      const cases = bulkLoadCases(db, pool, author.id, runId).filter((c) => selected(c.name));
      const results = await runSuite(cases, { ...suite, concurrencies: [1] }, logMeasured);
      console.log('large data: memory of a stream and of a load, in child processes');
      const memory = await memoryChecks(url.toString(), options);
      console.log(`large data: a load failing at row ${count(options.duplicateAt)}`);
      const duplicate = await duplicateCheck(db, pool, options, runId);
      return {
        cases: results.cases,
        notes: [
          'large data: createMany against the same rows inserted as multi-row INSERTs of 1,000 (named, one ' +
            'transaction per call), at concurrency 1 (one import), in a database of their own; rows with ids given, ' +
            'timestamps from the defaults; target ≥ 0.9× rows/s. The server alone (the same rows made by INSERT … ' +
            'SELECT, no client) bounds what any client can load: COPY saves the parsing of INSERTs and the ' +
            'parameters, not the per-row work of the indexes, triggers and WAL, which is most of the time here',
          ...memory.notes,
          ...duplicate.notes,
        ],
        misses: [...memory.misses, ...duplicate.misses],
      };
    } finally {
      await pool.end();
      await db.disconnect();
    }
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  }
}
