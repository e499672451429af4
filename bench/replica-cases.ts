/**
 * The replica cases: what routing reads to a read replica costs the client. Each reads a user by id
 * two ways, on two database objects of the layer with the same pool size, interleaved:
 *
 * - `layer, primary only`: no replica configured, reading the primary (the baseline: the layer as it is
 *   without POSTGRES_REPLICA_URLS);
 * - `layer, replica routing`: POSTGRES_REPLICA_URLS names the standby, and every read, made outside any
 *   write, goes there through the router (the subject).
 *
 * The target is client CPU per read: the routing's own work (choosing the server, the replica monitor's
 * probes) is client work, and on one machine a standby adds no capacity: the reads cannot scale here,
 * only their cost can be measured. Two variants only, so each slice follows one of the other variant
 * alike: a third (the standby read without routing, tried) would follow one of them and not the other,
 * and what a slice inherits from the one before (the JIT's state, garbage) made that third differ by up
 * to 7 % from the primary-only read, with no routing in it.
 *
 * Before each concurrency is measured, the query events of one read per variant say which server
 * answered (`replica-1` for the routed one), and after it the servers' own count of scans of pg_users
 * (pg_stat_user_tables, read once the case's connections have closed and flushed their statistics) must
 * be exactly what each variant read: every routed read on the standby, none on the primary.
 */
import type pg from 'pg';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { loadConfig } from '../src/config/load-config.js';
import { createDatabase, type Database, type QueryEvent } from '../src/database/database.js';
import { connectClient } from '../src/pool/connect.js';
import type { BenchCase, Variant } from './harness/types.js';

export const PRIMARY_ONLY = 'layer, primary only';
export const REPLICA_ROUTING = 'layer, replica routing';
/** The routed read's client CPU may exceed the primary-only read's by at most 5 %. */
export const ROUTING_MAX_CPU_RATIO = 1.05;
/**
 * Rounds per round of the suite: one 1 s slice's CPU per read varies by ±10 % here, and the ratio over
 * 20 rounds has a standard error of about 2 %, enough to judge a 5 % bound.
 */
export const REPLICA_ROUNDS_FACTOR = 4;

export const REPLICA_CASE_NAMES = {
  userById: 'user by id, routed to a replica',
  kyselyById: 'db.kysely select by id, routed to a replica',
} as const;

export interface ReplicaServers {
  /** The bench database on the primary. */
  primaryUrl: string;
  /** The same database on a hot standby streaming from the primary (replayed up to now). */
  standbyUrl: string;
  poolSize: number;
}

/** What one measured concurrency of a replica case read, counted by the bench and by the servers. */
export interface ReplicaCount {
  case: string;
  /** Reads the bench made of each server (its variants' and the check's). */
  expected: { primary: number; standby: number };
  /** Scans of pg_users each server recorded meanwhile. */
  counted: { primary: number; standby: number };
}

export class ReplicaCheckError extends Error {
  override name = 'ReplicaCheckError';
}

const SAMPLE = 2_000;
const IN_USE_ATTEMPTS = 200;
const IN_USE_POLL_MS = 50;
const SESSIONS_GONE_ATTEMPTS = 200;

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(parseConnectionUrl(url, 'the replica bench'));
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The scans of pg_users `url`'s server has recorded in its database, read once no other session is
 * connected to it: a backend flushes its statistics when it ends.
 */
async function scansOfUsers(url: string): Promise<number> {
  return withClient(url, async (client) => {
    for (let attempt = 0; ; attempt++) {
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
      );
      if (rows[0]?.n === 0) break;
      if (attempt >= SESSIONS_GONE_ATTEMPTS)
        throw new ReplicaCheckError(`${rows[0]?.n} sessions stay connected to the bench database`);
      await pause(IN_USE_POLL_MS);
    }
    const { rows } = await client.query<{ n: number }>(
      `SELECT (coalesce(idx_scan, 0) + coalesce(seq_scan, 0))::int AS n
         FROM pg_stat_user_tables WHERE relname = 'pg_users'`,
    );
    return rows[0]?.n ?? 0;
  });
}

/** Live users to read, picked on the primary as the other cases' fixtures are. */
async function pickUserIds(url: string): Promise<string[]> {
  const { rows } = await withClient(url, (client) =>
    client.query<{ id: string }>(
      'SELECT id FROM pg_users WHERE deleted_at IS NULL ORDER BY md5(id) LIMIT $1',
      [SAMPLE],
    ),
  );
  if (rows.length === 0) throw new ReplicaCheckError('the bench database has no live users');
  return rows.map((row) => row.id);
}

function openDatabase(url: string, poolSize: number, replicaUrl?: string): Database {
  return createDatabase(
    loadConfig({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: url,
      POSTGRES_URL_NON_POOLING: url,
      POSTGRES_POOL_MAX: String(poolSize),
      DATABASE_LOG_LEVEL: 'error',
      ...(replicaUrl === undefined ? {} : { POSTGRES_REPLICA_URLS: replicaUrl }),
    }),
  );
}

/** Waits until the routed database's monitor has found the standby in use. */
async function standbyInUse(db: Database): Promise<void> {
  for (let attempt = 0; attempt < IN_USE_ATTEMPTS; attempt++) {
    const report = await db.health();
    if (report.replicas?.every((replica) => replica.inUse)) return;
    await pause(IN_USE_POLL_MS);
  }
  throw new ReplicaCheckError(
    `the standby never came into use: ${JSON.stringify((await db.health()).replicas)}`,
  );
}

/** The servers that answered one call of `read` on `db`, by its query events. */
async function answeredBy(db: Database, read: () => Promise<unknown>): Promise<string[]> {
  const events: QueryEvent[] = [];
  const listener = (event: QueryEvent) => events.push(event);
  db.on('query', listener);
  try {
    await read();
  } finally {
    db.off('query', listener);
  }
  return events.map((event) => event.server);
}

/**
 * Client CPU per second of a database object left idle after one read, with the standby configured (its
 * replica monitor probing) and without, each over `ms`: the monitor's cost is per second, not per read.
 */
export async function idleCpu(
  servers: ReplicaServers,
  ms: number,
): Promise<{ routedMsPerSecond: number; plainMsPerSecond: number }> {
  const userId = (await pickUserIds(servers.primaryUrl))[0] as string;
  const measure = async (db: Database) => {
    try {
      await db.users.getById(userId);
      await pause(ms / 2);
      const start = process.cpuUsage();
      await pause(ms);
      const used = process.cpuUsage(start);
      return (used.user + used.system) / ms;
    } finally {
      await db.disconnect();
    }
  };
  const routed = openDatabase(servers.primaryUrl, servers.poolSize, servers.standbyUrl);
  await standbyInUse(routed);
  const routedMsPerSecond = await measure(routed);
  const plainMsPerSecond = await measure(openDatabase(servers.primaryUrl, servers.poolSize));
  return { routedMsPerSecond, plainMsPerSecond };
}

type Read = (db: Database, id: string) => Promise<unknown>;

/**
 * The replica cases on `servers`; `counts` receives what each measured concurrency read and what the
 * servers counted (the run's notes report them).
 */
export async function replicaCases(servers: ReplicaServers, counts: ReplicaCount[]): Promise<BenchCase[]> {
  const userIds = await pickUserIds(servers.primaryUrl);
  const reads: [string, Read][] = [
    [REPLICA_CASE_NAMES.userById, (db, id) => db.users.getById(id)],
    [
      REPLICA_CASE_NAMES.kyselyById,
      (db, id) =>
        db.kysely
          .selectFrom('pg_users')
          .select(['id', 'email', 'name'])
          .where('id', '=', id)
          .executeTakeFirstOrThrow(),
    ],
  ];
  return reads.map(([name, read]) => replicaCase(name, read, servers, userIds, counts));
}

function replicaCase(
  name: string,
  read: Read,
  servers: ReplicaServers,
  userIds: readonly string[],
  counts: ReplicaCount[],
): BenchCase {
  const pick = (worker: number, i: number) =>
    userIds[(i * 7919 + worker * 104_729) % userIds.length] as string;
  let open: { primaryOnly: Database; routed: Database } | undefined;
  let expected = { primary: 0, standby: 0 };
  let before = { primary: 0, standby: 0 };
  const databases = () => {
    if (!open) throw new ReplicaCheckError(`${name}: its databases are not open (setup did not run)`);
    return open;
  };
  const variant = (
    variantName: string,
    which: 'primaryOnly' | 'routed',
    server: 'primary' | 'standby',
  ): Variant => ({
    name: variantName,
    run: async (w, i) => {
      await read(databases()[which], pick(w, i));
      expected[server]++;
    },
  });

  return {
    name,
    variants: [
      variant(PRIMARY_ONLY, 'primaryOnly', 'primary'),
      variant(REPLICA_ROUTING, 'routed', 'standby'),
    ],
    targets: [
      { kind: 'cpu', baseline: PRIMARY_ONLY, subject: REPLICA_ROUTING, maxRatio: ROUTING_MAX_CPU_RATIO },
    ],
    roundsFactor: REPLICA_ROUNDS_FACTOR,
    // After a forced full collection V8 optimizes the hot functions again, ~100 ms of CPU at the start
    // of each slice, more for the variant with more code: the steady state is what a service runs in.
    gcBetweenSlices: false,
    async setup() {
      before = {
        primary: await scansOfUsers(servers.primaryUrl),
        standby: await scansOfUsers(servers.standbyUrl),
      };
      expected = { primary: 0, standby: 0 };
      open = {
        primaryOnly: openDatabase(servers.primaryUrl, servers.poolSize),
        routed: openDatabase(servers.primaryUrl, servers.poolSize, servers.standbyUrl),
      };
      await standbyInUse(open.routed);
      const id = userIds[0] as string;
      const { primaryOnly, routed: routedDb } = open;
      const primary = await answeredBy(primaryOnly, () => read(primaryOnly, id));
      const routed = await answeredBy(routedDb, () => read(routedDb, id));
      expected = { primary: 1, standby: 1 };
      if (primary.join() !== 'primary' || routed.join() !== 'replica-1') {
        throw new ReplicaCheckError(
          `${name}: one read was answered by ${primary.join(', ')} without replicas (expected primary) ` +
            `and by ${routed.join(', ')} with the standby configured (expected replica-1)`,
        );
      }
    },
    async teardown() {
      const closing = open;
      open = undefined;
      if (closing) await Promise.all(Object.values(closing).map((db) => db.disconnect()));
      const counted = {
        primary: (await scansOfUsers(servers.primaryUrl)) - before.primary,
        standby: (await scansOfUsers(servers.standbyUrl)) - before.standby,
      };
      counts.push({ case: name, expected: { ...expected }, counted });
      if (counted.primary !== expected.primary || counted.standby !== expected.standby) {
        throw new ReplicaCheckError(
          `${name}: the servers counted ${counted.primary} reads on the primary and ${counted.standby} on ` +
            `the standby; the bench made ${expected.primary} of the primary and ${expected.standby} of the ` +
            'standby (routed reads that did not reach the standby?)',
        );
      }
    },
  };
}
