/**
 * npm run soak -- [--minutes 10] [--concurrency 20] [--pool 10] [--faults] [--fault-every-seconds 30]
 *                 [--through-pgbouncer] [--url URL] [--sample-seconds 10] [--seed 1] [--json FILE]
 *
 * Every repository operation (and transactions), mixed, at a concurrency, against the pool for a
 * while: each worker owns its entities and the ledger follows every acknowledged write, checked by the
 * reads as they go and against the database at the end. Reports throughput, p99, errors by class, heap
 * and RSS (after a forced collection) at start and end and as it goes, and the server's sessions.
 *
 * Runs on a throw-away durable embedded PostgreSQL (fsync and synchronous commit on) unless --url
 * names a server (a superuser URL; a database `shared_db_soak` is created there and dropped after).
 * --faults injects a fault every --fault-every-seconds, in turn: backends terminated, and on the
 * embedded server a SIGKILL with crash recovery and a clean restart, and through PgBouncer a
 * PgBouncer restart. --through-pgbouncer puts Debian's PgBouncer (transaction mode) in front.
 *
 * Exits 1 when a check fails: a write lost or half written, an untyped error, an error with no fault
 * injected (or other than a ConnectionError with faults), an unhandled rejection, a connection left
 * open. Bad arguments exit 2.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { findPgBouncer, type PgBouncer, startPgBouncer } from '../test/support/pgbouncer.js';
import { type FaultTargets, faultsFor } from './lib/soak/faults.js';
import { type KillableServer, startKillableServer } from './lib/soak/killable-server.js';
import { failures, formatReport } from './lib/soak/report.js';
import { createRunDatabase, dropRunDatabase, onDatabase } from './lib/soak/run-database.js';
import { runSoak, type Sample } from './lib/soak/soak-run.js';

const DATABASE = 'shared_db_soak';
const USAGE = `usage: npm run soak -- [--minutes 10] [--concurrency 20] [--pool 10] [--faults]
  [--fault-every-seconds 30] [--through-pgbouncer] [--url postgres://…] [--sample-seconds 10] [--seed 1] [--json FILE]`;

class UsageError extends Error {}

function positive(flag: string, text: string, whole = true): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || (whole && !Number.isInteger(value))) {
    throw new UsageError(`--${flag}: "${text}" is not a positive ${whole ? 'whole ' : ''}number`);
  }
  return value;
}

const argumentOptions = {
  minutes: { type: 'string', default: '10' },
  concurrency: { type: 'string', default: '20' },
  pool: { type: 'string', default: '10' },
  faults: { type: 'boolean', default: false },
  'fault-every-seconds': { type: 'string', default: '30' },
  'through-pgbouncer': { type: 'boolean', default: false },
  url: { type: 'string' },
  'sample-seconds': { type: 'string', default: '10' },
  seed: { type: 'string', default: '1' },
  json: { type: 'string' },
} as const;

function readArguments() {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof argumentOptions; strict: true }>>;
  try {
    parsed = parseArgs({ options: argumentOptions, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  return {
    minutes: positive('minutes', values.minutes, false),
    concurrency: positive('concurrency', values.concurrency),
    pool: positive('pool', values.pool),
    faults: values.faults,
    faultEverySeconds: positive('fault-every-seconds', values['fault-every-seconds'], false),
    throughPgBouncer: values['through-pgbouncer'],
    url: values.url,
    sampleSeconds: positive('sample-seconds', values['sample-seconds'], false),
    seed: positive('seed', values.seed),
    json: values.json,
  };
}

/** PgBouncer in front of `serverUrl`, restarted in place on the same port (so URLs stay valid). */
async function restartablePgBouncer(serverUrl: string) {
  if (findPgBouncer() === undefined) {
    throw new UsageError('--through-pgbouncer: pgbouncer is not installed (apt-get install -y pgbouncer)');
  }
  let current: PgBouncer = await startPgBouncer(serverUrl);
  return {
    url: (database: string) => current.url(database),
    adminUrl: () => current.adminUrl(),
    async restart() {
      await current.stop();
      current = await startPgBouncer(serverUrl, { port: current.port });
    },
    stop: () => current.stop(),
  };
}

function printSample(sample: Sample): void {
  process.stderr.write(
    `  ${sample.atSeconds} s: ${sample.callsPerSecond} calls/s, p99 ${sample.p99Ms} ms, ${sample.failed} failed, ` +
      `heap ${sample.heapUsedMb} MB, rss ${sample.rssMb} MB, ${sample.serverSessions ?? '-'} sessions\n`,
  );
}

async function main(): Promise<void> {
  const options = readArguments();
  const server: KillableServer | undefined = options.url ? undefined : await startKillableServer();
  const serverUrl = options.url ?? (server as KillableServer).url('postgres');
  let pgbouncer: Awaited<ReturnType<typeof restartablePgBouncer>> | undefined;
  try {
    const adminUrl = await createRunDatabase(serverUrl, DATABASE);
    if (options.throughPgBouncer) pgbouncer = await restartablePgBouncer(serverUrl);
    const pooledUrl = pgbouncer
      ? `${pgbouncer.url(DATABASE)}?pgbouncer=true`
      : onDatabase(serverUrl, DATABASE);
    const targets: FaultTargets = { adminUrl, database: DATABASE, server, pgbouncer };
    const kinds = faultsFor(targets);
    process.stderr.write(
      `soak: ${options.minutes} min at concurrency ${options.concurrency}, pool ${options.pool}, ` +
        `${pgbouncer ? 'through PgBouncer' : 'straight to the server'}, ` +
        `${options.faults ? `a fault every ${options.faultEverySeconds} s (${kinds.join(', ')})` : 'no faults'}\n`,
    );
    const result = await runSoak({
      env: {
        ENABLE_POSTGRES: 'true',
        POSTGRES_PRISMA_URL: pooledUrl,
        POSTGRES_URL_NON_POOLING: adminUrl,
        POSTGRES_POOL_MAX: String(options.pool),
      },
      adminUrl,
      database: DATABASE,
      workload: {
        workers: options.concurrency,
        readShare: 0.5,
        entitiesPerWorker: 4,
        retireShare: 0.03,
        forgetRetired: true,
        seed: options.seed,
      },
      durationMs: options.minutes * 60_000,
      faults: options.faults
        ? { kinds, after: { ms: options.faultEverySeconds * 1000 }, repeat: true, targets }
        : undefined,
      sampleEveryMs: options.sampleSeconds * 1000,
      onSample: printSample,
      onFault: (fault) =>
        process.stderr.write(
          `  ${fault.atSeconds} s: ${fault.kind}: ${fault.detail} (${fault.outageMs} ms)\n`,
        ),
      pgbouncerAdminUrl: pgbouncer?.adminUrl(),
    });
    console.log(`\n${formatReport(result, options.faults)}`);
    if (options.json) await writeFile(options.json, `${JSON.stringify(result, null, 2)}\n`);
    const failed = failures(result, options.faults);
    for (const reason of failed) console.error(`soak failed: ${reason}`);
    if (failed.length > 0) process.exitCode = 1;
  } finally {
    await pgbouncer?.stop();
    if (options.url) await dropRunDatabase(serverUrl, DATABASE);
    await server?.stop();
  }
}

try {
  await main();
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`${error.message}\n${USAGE}`);
  process.exitCode = 2;
}
