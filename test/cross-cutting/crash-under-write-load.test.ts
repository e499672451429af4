/**
 * Crashes under write load lose no acknowledged write. A durable server (fsync, synchronous commit) of
 * this file's own takes writes from eight workers through the repositories (nested creates, updates,
 * soft delete and restore, role changes, transactions), with a ledger of every write the layer
 * acknowledged (scripts/lib/soak). Meanwhile the server's backends are terminated, the server is
 * killed with SIGKILL and started again (crash recovery), and restarted cleanly; through PgBouncer in
 * transaction mode, PgBouncer is restarted too. Afterwards, from a fresh connection: every acknowledged
 * write is there, exactly; an entity whose write failed is whole in its state before or after (a failed
 * nested create is absent or complete); every failed call failed with a ConnectionError; the pool served
 * again by itself; nothing rejected unhandled; no connection is left open. The figures are printed.
 *
 * Without pgbouncer installed, the PgBouncer run fails under CI=true; elsewhere it is skipped with a
 * notice, as in pgbouncer.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FaultKind } from '../../scripts/lib/soak/faults.js';
import { type KillableServer, startKillableServer } from '../../scripts/lib/soak/killable-server.js';
import { formatReport } from '../../scripts/lib/soak/report.js';
import { createRunDatabase, onDatabase } from '../../scripts/lib/soak/run-database.js';
import { runSoak, type SoakResult } from '../../scripts/lib/soak/soak-run.js';
import {
  findPgBouncer,
  type PgBouncer,
  PgBouncerMissingError,
  startPgBouncer,
} from '../support/pgbouncer.js';

const ci = process.env.CI === 'true';
const pgbouncerHere = findPgBouncer() !== undefined || ci;
if (!pgbouncerHere) {
  console.warn(
    'pgbouncer is not installed: the crash test through PgBouncer runs in CI only (apt-get install pgbouncer)',
  );
}

const WORKERS = 8;
const POOL_MAX = 10;
/** Acknowledged writes before each fault (after the previous one recovered), and after the last. */
const WRITES_BETWEEN_FAULTS = 150;
/** An upper bound, so a run that never recovers ends and fails instead of hanging. */
const LONGEST_RUN_MS = 150_000;

let server: KillableServer;

beforeAll(async () => {
  server = await startKillableServer();
});
afterAll(() => server?.stop());

async function crashRun(
  database: string,
  kinds: FaultKind[],
  pgbouncer?: { pooledUrl: (database: string) => string; adminUrl: string; restart(): Promise<void> },
): Promise<SoakResult> {
  const adminUrl = await createRunDatabase(server.url('postgres'), database);
  const result = await runSoak({
    env: {
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: pgbouncer
        ? `${pgbouncer.pooledUrl(database)}?pgbouncer=true`
        : onDatabase(server.url(), database),
      POSTGRES_URL_NON_POOLING: adminUrl,
      POSTGRES_POOL_MAX: String(POOL_MAX),
      POSTGRES_POOL_TIMEOUT_MS: '5000',
    },
    adminUrl,
    database,
    workload: {
      workers: WORKERS,
      readShare: 0.2,
      entitiesPerWorker: 3,
      retireShare: 0.03,
      forgetRetired: false,
      seed: 13,
    },
    durationMs: LONGEST_RUN_MS,
    faults: {
      kinds,
      after: { writes: WRITES_BETWEEN_FAULTS },
      repeat: false,
      targets: { adminUrl, database, server, pgbouncer },
    },
    sampleEveryMs: 1000,
    pgbouncerAdminUrl: pgbouncer?.adminUrl,
  });
  console.log(`\n${formatReport(result, true)}`);
  return result;
}

/** What every run must show, through PgBouncer or not. */
function expectNothingLost(result: SoakResult, kinds: FaultKind[]): void {
  // Every fault was injected, in order, and each was followed by an acknowledged write.
  expect(result.faults.map((fault) => fault.kind)).toEqual(kinds);
  expect(result.faults.filter((fault) => fault.recoverMs === undefined)).toEqual([]);
  expect(result.writesAcknowledged).toBeGreaterThanOrEqual(WRITES_BETWEEN_FAULTS * (kinds.length + 1));

  const { verification } = result;
  expect(verification.examples).toEqual([]);
  expect(verification).toMatchObject({ lost: 0, halfWritten: 0, stray: 0 });
  expect(verification.exact).toBe(verification.entities);
  // The crash failed calls in flight: the run did meet the faults it claims to survive.
  expect(result.callsFailed).toBeGreaterThan(0);
  expect(verification.unknownOutcomes.before + verification.unknownOutcomes.after).toBeGreaterThan(0);

  // Every failure is a typed ConnectionError (or one of its family), never a raw pg error or a TypeError.
  expect(result.errors.filter((error) => !error.typed || !error.expected)).toEqual([]);
  expect(result.untypedErrors).toBe(0);
  expect(result.unhandledRejections).toEqual([]);
  expect(result.poolServesAfterRun).toBe(true);
  expect(result.connectionsLeftOpen).toBe(0);
}

describe('a crash under write load', () => {
  it('straight to PostgreSQL: backends terminated, SIGKILL and crash recovery, a clean restart; nothing acknowledged lost', async () => {
    const kinds: FaultKind[] = [
      'terminate-backends',
      'server-crash',
      'terminate-backends',
      'server-restart',
      'terminate-backends',
    ];
    const result = await crashRun('crash_direct', kinds);
    expectNothingLost(result, kinds);
    // The pool never held more sessions than its size, across every replacement.
    expect(result.mostServerSessions).toBeLessThanOrEqual(POOL_MAX);
  }, 240_000);

  it.skipIf(!pgbouncerHere)(
    'through PgBouncer in transaction mode, PgBouncer itself restarted once; nothing acknowledged lost',
    async () => {
      let bouncer: PgBouncer;
      try {
        bouncer = await startPgBouncer(server.url('postgres'));
      } catch (error) {
        if (!(error instanceof PgBouncerMissingError)) throw error;
        throw new PgBouncerMissingError('CI=true, but pgbouncer is not installed (.ci/run installs it)');
      }
      const port = bouncer.port;
      const pgbouncer = {
        pooledUrl: (database: string) => bouncer.url(database),
        adminUrl: bouncer.adminUrl(),
        async restart() {
          await bouncer.stop();
          bouncer = await startPgBouncer(server.url('postgres'), { port });
        },
      };
      const kinds: FaultKind[] = [
        'terminate-backends',
        'server-crash',
        'pgbouncer-restart',
        'server-restart',
        'terminate-backends',
      ];
      try {
        const result = await crashRun('crash_pgbouncer', kinds, pgbouncer);
        expectNothingLost(result, kinds);
      } finally {
        await bouncer.stop();
      }
    },
    240_000,
  );
});
