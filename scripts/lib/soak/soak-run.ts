/**
 * One run: the database object under the workload for a while, with faults injected on a plan or not,
 * then the checks: the pool serves again by itself, nothing rejected unhandled, no connection left open
 * after disconnect(), and the ledger verified against the database from a fresh connection. Samples
 * the heap and RSS (after a forced collection, where node runs with --expose-gc), throughput, p99 and
 * the server's sessions as it goes. `npm run soak` and the crash test both run this.
 */
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase } from '../../../src/database/database.js';
import type { Logger } from '../../../src/logging/logger.js';
import { Random } from '../seed/random.js';
import { sessionsOn, withAdminConnection } from './admin-connection.js';
import { type FaultKind, type FaultRecord, type FaultTargets, injectFault } from './faults.js';
import { Ledger, type Verification } from './ledger.js';
import { type ErrorClassStats, RunStats } from './run-stats.js';
import { runWorkload, type WorkloadOptions } from './workload.js';

export interface FaultPlan {
  /** Injected in this order. */
  kinds: FaultKind[];
  /** The next fault comes this many acknowledged writes, or this long, after the previous recovered. */
  after: { writes: number } | { ms: number };
  /** Start the list over when it is done (a soak); otherwise the run ends `after` the last recovery. */
  repeat: boolean;
  targets: FaultTargets;
}

export interface SoakRunOptions {
  /** The layer's environment: ENABLE_POSTGRES, POSTGRES_PRISMA_URL, POSTGRES_URL_NON_POOLING, the pool. */
  env: Record<string, string>;
  /** Superuser URL of the run's database, straight to the server. */
  adminUrl: string;
  database: string;
  workload: WorkloadOptions;
  /** The run ends after this long at the latest. */
  durationMs: number;
  faults?: FaultPlan;
  sampleEveryMs: number;
  onSample?: (sample: Sample) => void;
  onFault?: (fault: FaultRecord) => void;
  /** Through PgBouncer: its admin console, where the clients left after disconnect() are counted. */
  pgbouncerAdminUrl?: string;
}

export interface Memory {
  heapUsedMb: number;
  rssMb: number;
}

export interface Sample extends Memory {
  atSeconds: number;
  callsPerSecond: number;
  failed: number;
  p99Ms: number;
  /** Sessions on the run's database; undefined when the server did not answer. */
  serverSessions: number | undefined;
}

export interface OperationFigures {
  name: string;
  calls: number;
  failed: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SoakResult {
  durationSeconds: number;
  workers: number;
  poolMax: number;
  throughPgBouncer: boolean;
  /** Whether the heap was measured after a forced collection (node --expose-gc). */
  forcedGc: boolean;
  calls: number;
  callsPerSecond: number;
  writesAcknowledged: number;
  readsSucceeded: number;
  callsFailed: number;
  latency: { p50Ms: number; p99Ms: number; maxMs: number };
  operations: OperationFigures[];
  errors: Array<{ errorClass: string } & ErrorClassStats>;
  untypedErrors: number;
  unexpectedErrors: number;
  faults: FaultRecord[];
  /** Every fault injected recovered: a write was acknowledged after it. */
  faultsRecovered: boolean;
  /**
   * Time to recover (fault to the next acknowledged write) p50 and max; `afterOutage…` counts from the
   * server (or PgBouncer) being up again, which is the layer's own share.
   */
  recovery: { p50Ms: number; maxMs: number; afterOutageP50Ms: number; afterOutageMaxMs: number } | undefined;
  /** A call made after the run, on the same database object, succeeded. */
  poolServesAfterRun: boolean;
  unhandledRejections: string[];
  /** Sessions (direct) or PgBouncer clients (through PgBouncer) still open after disconnect(). */
  connectionsLeftOpen: number;
  /** The most sessions on the run's database in any sample. */
  mostServerSessions: number;
  memory: { start: Memory; end: Memory; most: Memory; firstSample: Memory | undefined };
  samples: Sample[];
  verification: Verification;
  layerWarnings: number;
}

const MB = 1024 * 1024;
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long the checks after the run wait for sessions to end. */
const SETTLE_MS = 10_000;

function memory(): Memory {
  (globalThis as { gc?: () => void }).gc?.();
  const usage = process.memoryUsage();
  return { heapUsedMb: round(usage.heapUsed / MB), rssMb: round(usage.rss / MB) };
}

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))] ?? 0;
}

/** Polls `count` until it is 0 or the time is up; the last count. */
async function settle(count: () => Promise<number>): Promise<number> {
  const deadline = Date.now() + SETTLE_MS;
  for (;;) {
    const n = await count().catch(() => Number.POSITIVE_INFINITY);
    if (n === 0 || Date.now() > deadline) return n;
    await sleep(50);
  }
}

async function pgbouncerClients(adminUrl: string, database: string): Promise<number> {
  return withAdminConnection(adminUrl, async (client) => {
    const { rows } = await client.query<{ database: string }>('SHOW CLIENTS');
    return rows.filter((row) => row.database === database).length;
  });
}

/** A logger that keeps count of the layer's warnings (a fault makes some) and prints nothing. */
function countingLogger(): Logger & { warnings: number } {
  const logger = { warnings: 0, error() {}, info() {}, debug() {}, warn() {} };
  logger.warn = () => {
    logger.warnings += 1;
  };
  logger.error = () => {
    logger.warnings += 1;
  };
  return logger;
}

export async function runSoak(options: SoakRunOptions): Promise<SoakResult> {
  const config = loadConfig({ ...options.env, DATABASE_LOG_LEVEL: 'warn' });
  const logger = countingLogger();
  const db = createDatabase(config, { logger });
  const ledger = new Ledger();
  const plan = options.faults;
  const stats = new RunStats(plan !== undefined);
  const unhandled: string[] = [];
  const onUnhandled = (reason: unknown) => {
    unhandled.push(reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason));
  };
  process.on('unhandledRejection', onUnhandled);

  const faults: FaultRecord[] = [];
  const samples: Sample[] = [];
  const startMemory = memory();
  const started = performance.now();
  const elapsed = () => performance.now() - started;
  let planDone = false;
  let lastRecovery = { at: started, writes: 0 };
  const afterLastRecovery = () =>
    plan && 'writes' in plan.after
      ? stats.writesAcknowledged - lastRecovery.writes >= plan.after.writes
      : performance.now() - lastRecovery.at >= (plan && 'ms' in plan.after ? plan.after.ms : 0);
  let stopping = false;
  const stopped = () => {
    if (!stopping && (elapsed() >= options.durationMs || (planDone && afterLastRecovery()))) stopping = true;
    return stopping;
  };

  const waiting = new Set<FaultRecord>();
  const stopListening = stats.onAcknowledged((callStartedAt, at) => {
    for (const fault of waiting) {
      if (callStartedAt < fault.startedAt) continue;
      fault.recoverMs = round(at - fault.startedAt, 1);
      waiting.delete(fault);
    }
  });

  const injectFaults = async () => {
    if (!plan) return;
    const rng = Random.of(options.workload.seed, 1_000_000, 'user');
    for (let index = 0; !stopped(); index += 1) {
      if (!plan.repeat && index >= plan.kinds.length) {
        planDone = true;
        return;
      }
      while (!stopped() && !afterLastRecovery()) await sleep(10);
      if (stopped()) return;
      const kind = plan.kinds[index % plan.kinds.length] as FaultKind;
      const fault: FaultRecord = {
        kind,
        startedAt: performance.now(),
        atSeconds: round(elapsed() / 1000, 1),
        outageMs: 0,
        detail: '',
        recoverMs: undefined,
      };
      faults.push(fault);
      fault.detail = await injectFault(kind, plan.targets, rng, () => {
        fault.startedAt = performance.now();
        fault.atSeconds = round(elapsed() / 1000, 1);
        waiting.add(fault);
      });
      fault.outageMs = round(performance.now() - fault.startedAt, 1);
      options.onFault?.(fault);
      while (!stopped() && fault.recoverMs === undefined) await sleep(10);
      lastRecovery = { at: performance.now(), writes: stats.writesAcknowledged };
    }
  };

  const sampleAsItGoes = async () => {
    let last = performance.now();
    while (!stopped()) {
      const next = last + options.sampleEveryMs;
      while (!stopped() && performance.now() < next) await sleep(Math.min(100, next - performance.now()));
      if (stopped()) return;
      const now = performance.now();
      const interval = stats.takeInterval();
      const serverSessions = await sessionsOn(options.adminUrl, options.database).catch(() => undefined);
      const sample: Sample = {
        atSeconds: round(elapsed() / 1000, 1),
        callsPerSecond: round(interval.calls / ((now - last) / 1000), 0),
        failed: interval.failed,
        p99Ms: round(interval.p99Ms),
        serverSessions,
        ...memory(),
      };
      last = now;
      samples.push(sample);
      options.onSample?.(sample);
    }
  };

  let result: Omit<SoakResult, 'verification' | 'connectionsLeftOpen'>;
  try {
    // A task that fails (a fault that could not be injected) stops the others before the error surfaces.
    const stopOnFailure = (task: Promise<void>) =>
      task.catch((error: unknown) => {
        stopping = true;
        throw error;
      });
    const settled = await Promise.allSettled([
      stopOnFailure(runWorkload(db, ledger, stats, options.workload, stopped)),
      stopOnFailure(injectFaults()),
      stopOnFailure(sampleAsItGoes()),
    ]);
    for (const each of settled) if (each.status === 'rejected') throw each.reason;
    const durationMs = elapsed();
    const endMemory = memory();
    const poolServesAfterRun = (await db.health()).ok;
    const latency = stats.latency();
    const recovered = faults.filter((fault) => fault.recoverMs !== undefined);
    const recoveries = recovered.map((fault) => fault.recoverMs as number).sort((a, b) => a - b);
    const afterOutage = recovered
      .map((fault) => round(Math.max(0, (fault.recoverMs as number) - fault.outageMs), 1))
      .sort((a, b) => a - b);
    const calls = latency.count;
    result = {
      durationSeconds: round(durationMs / 1000, 1),
      workers: options.workload.workers,
      poolMax: config.pool.max,
      throughPgBouncer: options.pgbouncerAdminUrl !== undefined,
      forcedGc: typeof (globalThis as { gc?: unknown }).gc === 'function',
      calls,
      callsPerSecond: round(calls / (durationMs / 1000), 0),
      writesAcknowledged: stats.writesAcknowledged,
      readsSucceeded: stats.readsSucceeded,
      callsFailed: stats.callsFailed,
      latency: {
        p50Ms: round(latency.percentile(0.5)),
        p99Ms: round(latency.percentile(0.99)),
        maxMs: round(latency.max),
      },
      operations: [...stats.operations]
        .map(([name, each]) => ({
          name,
          calls: each.latency.count,
          failed: each.failed,
          p50Ms: round(each.latency.percentile(0.5)),
          p99Ms: round(each.latency.percentile(0.99)),
          maxMs: round(each.latency.max),
        }))
        .sort((a, b) => b.calls - a.calls),
      errors: [...stats.errors].map(([errorClass, each]) => ({ errorClass, ...each })),
      untypedErrors: stats.untypedErrors,
      unexpectedErrors: stats.unexpectedErrors,
      faults,
      faultsRecovered: faults.every((fault) => fault.recoverMs !== undefined),
      recovery:
        recoveries.length === 0
          ? undefined
          : {
              p50Ms: percentile(recoveries, 0.5),
              maxMs: recoveries[recoveries.length - 1] ?? 0,
              afterOutageP50Ms: percentile(afterOutage, 0.5),
              afterOutageMaxMs: afterOutage[afterOutage.length - 1] ?? 0,
            },
      poolServesAfterRun,
      unhandledRejections: unhandled,
      mostServerSessions: Math.max(0, ...samples.map((sample) => sample.serverSessions ?? 0)),
      memory: {
        start: startMemory,
        end: endMemory,
        most: {
          heapUsedMb: Math.max(
            startMemory.heapUsedMb,
            endMemory.heapUsedMb,
            ...samples.map((s) => s.heapUsedMb),
          ),
          rssMb: Math.max(startMemory.rssMb, endMemory.rssMb, ...samples.map((s) => s.rssMb)),
        },
        firstSample: samples[0] && { heapUsedMb: samples[0].heapUsedMb, rssMb: samples[0].rssMb },
      },
      samples,
      layerWarnings: logger.warnings,
    };
  } finally {
    stopping = true;
    stopListening();
    await db.disconnect().finally(() => {
      process.off('unhandledRejection', onUnhandled);
    });
  }

  // Through PgBouncer the server sessions are PgBouncer's, pooled on; what the layer leaves open are
  // PgBouncer's clients.
  const connectionsLeftOpen = await settle(() =>
    options.pgbouncerAdminUrl
      ? pgbouncerClients(options.pgbouncerAdminUrl, options.database)
      : sessionsOn(options.adminUrl, options.database),
  );
  // A session whose client went away may still be finishing its statement (behind PgBouncer it does not
  // notice until it answers): the ledger is read once none is at work.
  await settle(() => sessionsOn(options.adminUrl, options.database, ['active', 'idle in transaction']));
  const verification = await withAdminConnection(options.adminUrl, (client) => ledger.verify(client));
  return { ...result, connectionsLeftOpen, verification };
}
