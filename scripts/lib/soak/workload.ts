/**
 * The workload: concurrent workers, each calling the layer one call at a time on entities it owns (so
 * the ledger knows what each must hold), mixing the nested create, every write and read of the
 * repositories, and transactions. An acknowledged write moves the ledger on; a failed one leaves its
 * entity in one of two states, and the worker backs off a little before its next call, as a client
 * would while the server is away.
 */
import { createId } from '@paralleldrive/cuid2';
import type { Database } from '../../../src/database/database.js';
import { Random } from '../seed/random.js';
import type { Ledger, LedgerEntity } from './ledger.js';
import { type Call, createUser, hardDeleteUser, nextRead, nextWrite } from './operations.js';
import type { RunStats } from './run-stats.js';

export interface WorkloadOptions {
  /** Workers calling at once. */
  workers: number;
  /** Share of calls that are reads (the rest are writes). */
  readShare: number;
  /** Entities each worker keeps; it creates a new one when it has fewer. */
  entitiesPerWorker: number;
  /** Share of writes that hard-delete an entity, so entities come and go. */
  retireShare: number;
  /** Drop hard-deleted entities from the ledger: a long run then keeps a bounded ledger. */
  forgetRetired: boolean;
  seed: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Between failed calls: 50 ms, doubling up to 500 ms, so an outage is not a busy loop. */
const backoffMs = (failures: number) => Math.min(500, 25 * 2 ** Math.min(failures, 5));

function chooseCall(
  worker: number,
  entities: LedgerEntity[],
  ledger: Ledger,
  rng: Random,
  options: WorkloadOptions,
): Call {
  if (entities.length < options.entitiesPerWorker) {
    const entity = ledger.add(createId(), worker);
    entities.push(entity);
    return createUser(entity, rng);
  }
  const entity = rng.pick(entities);
  if (rng.chance(options.readShare)) return nextRead(entity, worker, rng);
  if (rng.chance(options.retireShare)) return hardDeleteUser(entity);
  return nextWrite(entity, rng);
}

async function work(
  worker: number,
  db: Database,
  ledger: Ledger,
  stats: RunStats,
  options: WorkloadOptions,
  stopped: () => boolean,
): Promise<void> {
  const rng = Random.of(options.seed, worker, 'user');
  const entities: LedgerEntity[] = [];
  const leave = (entity: LedgerEntity) => entities.splice(entities.indexOf(entity), 1);
  let failures = 0;
  while (!stopped()) {
    const call = chooseCall(worker, entities, ledger, rng, options);
    const startedAt = performance.now();
    try {
      if (call.kind === 'read') {
        const mismatch = await call.run(db);
        stats.succeeded(call.name, 'read', startedAt, performance.now());
        if (mismatch !== undefined) stats.mismatch(call.name, mismatch);
      } else {
        await call.run(db);
        ledger.acknowledged(call.entity, call.expected);
        stats.succeeded(call.name, 'write', startedAt, performance.now());
        if (call.expected === undefined) {
          leave(call.entity);
          if (options.forgetRetired) ledger.forget(call.entity);
        }
      }
      failures = 0;
    } catch (error) {
      stats.failed(call.name, error, startedAt, performance.now());
      if (call.kind === 'write') {
        ledger.unknownOutcome(call.entity, call.before, call.expected);
        leave(call.entity);
      }
      failures += 1;
      await sleep(backoffMs(failures));
    }
  }
}

/** Runs the workers until `stopped()` says so; each finishes the call it is in. */
export async function runWorkload(
  db: Database,
  ledger: Ledger,
  stats: RunStats,
  options: WorkloadOptions,
  stopped: () => boolean,
): Promise<void> {
  await Promise.all(
    Array.from({ length: options.workers }, (_, worker) => work(worker, db, ledger, stats, options, stopped)),
  );
}
