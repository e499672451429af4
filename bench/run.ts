/**
 * npm run bench: seeds a database, then measures every repository operation against the same work
 * written by hand with `pg` (sent as a named prepared statement and unnamed), interleaved, at each
 * concurrency, and writes the tables and a chart to bench/results/. Runs on a throw-away embedded PostgreSQL unless --url names a server (a database
 * `shared_db_bench` is created there and dropped afterwards). --check exits 1 when a target is missed.
 *
 * The large-data step (large-data/large-data-step.ts) runs after the operations, on the same server in a
 * database of its own: createMany against multi-row INSERTs by hand, and what a stream and a load cost
 * in memory (child processes with a 128 MB heap).
 *
 * The telemetry cases (telemetry-cases.ts: what the layer's OpenTelemetry spans and metrics cost the client,
 * with no SDK registered and with one recording every span) run after those two, on the same server and
 * the same seeded bench database.
 *
 * The replica cases (replica-cases.ts: the client CPU a read routed to a read replica costs) run after
 * the others, on a throw-away primary and hot standby of their own (scripts/lib/replication-pair.ts), so
 * the other cases' server stays a plain durable one; with --url, on the standby --replica-url names
 * (streaming from the --url server), and without it they are skipped.
 *
 * While measuring, the client (this process) and the server under test are held to different cores
 * (pinning.ts) when there are two or more; --no-pin leaves them be. --repeat N measures everything N
 * times over the same seeded data and judges the targets on the median of the runs.
 *
 *   npm run bench -- [--posts 100000] [--posts-per-user 20] [--seed 1] [--concurrency 1,10]
 *                    [--rounds 5] [--slice-ms 1000] [--warmup-ms 3000] [--repeat 1] [--no-pin] [--label NAME]
 *                    [--url URL [--replica-url URL]] [--only TEXT (cases whose name contains it)]
 *                    [--step NAME (only this step; repeatable)] [--check]
 *                    [--stream-rows 2000000] [--load-rows 1000000] [--duplicate-at 500000]
 */
import { join } from 'node:path';
import { startThrowAwayServer } from '../scripts/lib/embedded-server.js';
import { startReplicationPair } from '../scripts/lib/replication-pair.js';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { connectClient } from '../src/pool/connect.js';
import { parseOrRefuse, positive, refuse, sharedOptions, sharedSettings } from './arguments.js';
import { caseNames } from './cases.js';
import { loadFixtures, restoreSeededData, searchWord } from './fixtures.js';
import { logMeasured, runSuite, summarizeRepeats } from './harness/measure.js';
import {
  describeMachine,
  formatConsole,
  formatMiss,
  summarizeTargets,
  writeResults,
} from './harness/report.js';
import type { BenchMeta, SuiteOptions, SuiteResult } from './harness/types.js';
import {
  LARGE_DATA_CASE_NAMES,
  type LargeDataResult,
  measureLargeData,
} from './large-data/large-data-step.js';
import {
  benchDatabaseUrl,
  connectAdmin,
  createBenchDatabase,
  DATABASE,
  dropBenchDatabase,
  measureOperations,
  migrateAndSeed,
  POOL_SIZE,
  type Step,
  serverVersion,
} from './operations-step.js';
import { Pinning } from './pinning.js';
import {
  idleCpu,
  REPLICA_CASE_NAMES,
  REPLICA_ROUNDS_FACTOR,
  REPLICA_ROUTING,
  type ReplicaCount,
  type ReplicaServers,
  ROUTING_MAX_CPU_RATIO,
  replicaCases,
} from './replica-cases.js';
import { measureSearchRanking, searchRankingCaseName } from './search-ranking-cases.js';
import {
  checkTelemetry,
  describeTelemetry,
  metricCollectionMs,
  openTelemetryBench,
  TELEMETRY_CASE_NAMES,
  telemetryCases,
  telemetryOperations,
} from './telemetry-cases.js';

const RESULTS_DIR = join(import.meta.dirname, 'results');
/** How long a standby given by --replica-url may take to replay the seeded database. */
const STANDBY_REPLAY_TIMEOUT_MS = 300_000;

const usage = `usage: npm run bench -- [--posts N] [--posts-per-user M] [--seed S] [--concurrency 1,10]
  [--rounds R] [--slice-ms MS] [--warmup-ms MS] [--repeat N] [--no-pin] [--label NAME] [--url postgres://… [--replica-url postgres://…]]
  [--only TEXT] [--step operations|search-ranking|large-data|telemetry|replicas ...] [--check] [--stream-rows N] [--load-rows N] [--duplicate-at N]`;

const argumentOptions = {
  ...sharedOptions,
  posts: { type: 'string', default: '100000' },
  repeat: { type: 'string', default: '1' },
  label: { type: 'string' },
  'replica-url': { type: 'string' },
  check: { type: 'boolean', default: false },
  step: { type: 'string', multiple: true },
  'stream-rows': { type: 'string', default: '2000000' },
  'load-rows': { type: 'string', default: '1000000' },
  'duplicate-at': { type: 'string', default: '500000' },
} as const;

function readArguments() {
  const { values } = parseOrRefuse({ options: argumentOptions, strict: true }, usage);
  if (values['replica-url'] !== undefined && values.url === undefined) {
    refuse('--replica-url names a standby of the --url server: give --url too', usage);
  }
  const shared = sharedSettings(values, usage);
  const posts = positive('posts', values.posts, usage);
  return {
    users: Math.max(1, Math.round(posts / shared.postsPerUser)),
    postsPerUser: shared.postsPerUser,
    seed: shared.seed,
    concurrencies: shared.concurrencies,
    suite: {
      rounds: shared.rounds,
      sliceMs: shared.sliceMs,
      warmupMs: shared.warmupMs,
      repeat: positive('repeat', values.repeat, usage),
    },
    pin: shared.pin,
    label: values.label ?? `posts-${posts}`,
    url: shared.url,
    replicaUrl: values['replica-url'],
    check: values.check,
    only: shared.only,
    steps: stepsChosen(values.step),
    largeData: {
      streamRows: positive('stream-rows', values['stream-rows'], usage),
      loadRows: positive('load-rows', values['load-rows'], usage),
      duplicateAt: positive('duplicate-at', values['duplicate-at'], usage),
    },
  };
}

type Options = ReturnType<typeof readArguments>;

/** The telemetry cases on the seeded bench database `url`. */
async function measureTelemetry(
  url: string,
  options: Options,
  suite: SuiteOptions,
  selected: (name: string) => boolean,
): Promise<Step> {
  const fixtures = await loadFixtures(url, Math.max(...options.concurrencies));
  const runId = Date.now().toString(36);
  const operations = telemetryOperations(fixtures, runId).filter((o) => selected(o.name));
  const bench = openTelemetryBench(url, POOL_SIZE);
  try {
    const checks = await checkTelemetry(bench, operations);
    const results = await runSuite(telemetryCases(bench, operations, checks), suite, logMeasured, () =>
      restoreSeededData(url, runId),
    );
    return {
      cases: results.cases,
      postgresVersion: await serverVersion(url),
      dataset: {
        users: options.users,
        posts: options.users * options.postsPerUser,
      },
      notes: describeTelemetry(results.cases, checks, await metricCollectionMs(bench)),
    };
  } finally {
    await bench.close();
  }
}

/** The replica cases on a primary and a standby streaming from it; `where` says what they are. */
async function measureReplicas(
  servers: ReplicaServers,
  suite: SuiteOptions,
  selected: (name: string) => boolean,
  where: string,
  dataset: Record<string, number>,
): Promise<Step> {
  const counts: ReplicaCount[] = [];
  const cases = (await replicaCases(servers, counts)).filter((c) => selected(c.name));
  const results = await runSuite(cases, suite, logMeasured);
  const total = (server: 'primary' | 'standby') => counts.reduce((n, c) => n + c.counted[server], 0);
  // The monitor runs in the process whichever variant's slice it is: charged to both, so out of the
  // ratios. Here what it costs on its own, and what that would add to a routed read at the rates measured.
  const idle = await idleCpu(servers, 2 * suite.sliceMs);
  const monitorMsPerSecond = Math.max(0, idle.routedMsPerSecond - idle.plainMsPerSecond);
  const shares = results.cases.map((r) => {
    const routed = r.variants.find((v) => v.name === REPLICA_ROUTING);
    return routed ? (monitorMsPerSecond * 1000) / routed.opsPerSecond / routed.cpuMicrosPerOp : 0;
  });
  const percent = (share: number) => `${(share * 100).toFixed(1)} %`;
  return {
    cases: results.cases,
    postgresVersion: await serverVersion(servers.primaryUrl),
    dataset,
    notes: [
      `replica cases: ${where}`,
      'one machine cannot show reads scaling out: the replica cases measure what routing a read costs the ' +
        `client (target: client CPU per read routed to the standby ≤ ${ROUTING_MAX_CPU_RATIO}× per read of ` +
        'the primary by a database object without replicas), not the throughput a replica adds; they run ' +
        `${REPLICA_ROUNDS_FACTOR} rounds per round asked for, without collecting garbage between slices (the steady state)`,
      `replica cases: the servers' own counts (pg_stat_user_tables, after each concurrency) match the reads ` +
        `made: ${total('standby').toLocaleString('en-US')} on the standby (every routed read), ` +
        `${total('primary').toLocaleString('en-US')} on the primary (the primary-only reads)`,
      `replica cases: the replica monitor (a probe of each server every 200 ms) took ` +
        `${monitorMsPerSecond.toFixed(1)} ms of client CPU a second with no reads (a database object with ` +
        `the standby, idle: ${idle.routedMsPerSecond.toFixed(1)} ms; without: ${idle.plainMsPerSecond.toFixed(1)} ms); ` +
        'both variants share the process, so the ratios leave it out: charged to the routed reads alone at ' +
        `the rates measured, it would add ${percent(Math.min(...shares))}–${percent(Math.max(...shares))} to their CPU per read`,
    ],
  };
}

/** Waits until the standby `standbyAdminUrl` has replayed everything the primary has written until now. */
async function waitForStandby(primaryUrl: string, standbyAdminUrl: string): Promise<void> {
  const primary = await connectAdmin(primaryUrl);
  let target: string;
  try {
    const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    target = rows[0]?.lsn ?? '0/0';
  } finally {
    await primary.end();
  }
  const standby = await connectClient(parseConnectionUrl(standbyAdminUrl, '--replica-url'));
  try {
    const deadline = Date.now() + STANDBY_REPLAY_TIMEOUT_MS;
    for (;;) {
      const { rows } = await standby.query<{ standby: boolean; done: boolean }>(
        `SELECT pg_is_in_recovery() AS standby,
                coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done`,
        [target],
      );
      if (rows[0]?.standby !== true)
        throw new Error(
          '--replica-url names a server that is not a hot standby (pg_is_in_recovery() is false)',
        );
      if (rows[0]?.done) return;
      if (Date.now() > deadline)
        throw new Error(`the standby did not replay the primary's WAL up to ${target} within 5 minutes`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    await standby.end();
  }
}

const STEPS = ['operations', 'search-ranking', 'large-data', 'telemetry', 'replicas'] as const;
type StepName = (typeof STEPS)[number];

/** `--step NAME` (repeatable): only these steps; default every one. */
function stepsChosen(given: string[] | undefined): readonly StepName[] {
  if (given === undefined) return STEPS;
  for (const step of given) {
    if (!(STEPS as readonly string[]).includes(step)) {
      refuse(`--step ${JSON.stringify(step)}: the steps are ${STEPS.join(', ')}`, usage);
    }
  }
  return given as StepName[];
}

async function main(): Promise<void> {
  const options = readArguments();
  const suite: SuiteOptions = { ...options.suite, concurrencies: options.concurrencies };
  const selected = (name: string) => options.only === undefined || name.includes(options.only);
  const step = (name: StepName, names: string[]) => options.steps.includes(name) && names.some(selected);
  const runOperations = step('operations', Object.values(caseNames(searchWord())));
  const runLargeData = step('large-data', Object.values(LARGE_DATA_CASE_NAMES));
  const wantReplicas = step('replicas', Object.values(REPLICA_CASE_NAMES));
  const runTelemetry = step('telemetry', Object.values(TELEMETRY_CASE_NAMES));
  const runSearchRanking = step('search-ranking', [
    searchRankingCaseName({ search: { ...searchWord(), matches: 0 } }),
  ]);
  if (!runOperations && !runLargeData && !wantReplicas && !runTelemetry && !runSearchRanking) {
    refuse('--only and --step choose no case', usage);
  }
  const runReplicas = wantReplicas && (options.url === undefined || options.replicaUrl !== undefined);
  const pinning = Pinning.prepare(options.pin);
  const steps: Step[] = [];
  const notes: string[] = [];
  const misses: string[] = [];
  /** The large-data step on the server `adminUrl` names, its misses kept for the end. */
  const largeData = async (adminUrl: string, postgresVersion: string) => {
    const result: LargeDataResult = await measureLargeData(adminUrl, options.largeData, suite, selected);
    misses.push(...result.misses);
    steps.push({ cases: result.cases, notes: result.notes, postgresVersion, dataset: {} });
  };
  if (wantReplicas && !runReplicas) {
    const note = 'the replica cases were skipped: --url names a server, and no --replica-url a standby of it';
    if (!runOperations && !runLargeData && !runTelemetry && !runSearchRanking) {
      refuse(`${note}, and --only chooses no other case`, usage);
    }
    console.log(note);
    notes.push(note);
  }

  if (options.url) {
    const adminUrl = options.url;
    const url = await createBenchDatabase(adminUrl);
    try {
      // Without the other cases, the replica cases need only the users they read.
      const postsPerUser = runOperations || runTelemetry || runSearchRanking ? options.postsPerUser : 0;
      const seedSeconds = await migrateAndSeed(url, options.users, postsPerUser, options.seed);
      await pinning.pin([{ name: 'the --url server', url: adminUrl }]);
      if (runOperations) steps.push(await measureOperations(url, options, suite, selected, seedSeconds));
      if (runSearchRanking) steps.push(await measureSearchRanking(url, options, suite, selected));
      if (runLargeData) await largeData(adminUrl, await serverVersion(adminUrl));
      if (runTelemetry) steps.push(await measureTelemetry(url, options, suite, selected));
      if (runReplicas && options.replicaUrl !== undefined) {
        await waitForStandby(url, options.replicaUrl);
        await pinning.pin([{ name: 'the --replica-url standby', url: options.replicaUrl }]);
        const dataset = { users: options.users, posts: options.users * postsPerUser };
        steps.push(
          await measureReplicas(
            { primaryUrl: url, standbyUrl: benchDatabaseUrl(options.replicaUrl), poolSize: POOL_SIZE },
            suite,
            selected,
            'the standby --replica-url names, streaming from the --url server, reading the same database',
            dataset,
          ),
        );
      }
    } finally {
      pinning.release();
      await dropBenchDatabase(adminUrl);
    }
  } else {
    if (runOperations || runLargeData || runTelemetry || runSearchRanking) {
      // Durable, as production is: every commit waits for its WAL flush, in both variants alike.
      const server = await startThrowAwayServer({ durable: true });
      try {
        let url: string | undefined;
        const pin = () => pinning.pin([{ name: 'the embedded server', url: server.url('postgres') }]);
        if (runOperations || runTelemetry || runSearchRanking) {
          url = await createBenchDatabase(server.url('postgres'));
          const seedSeconds = await migrateAndSeed(url, options.users, options.postsPerUser, options.seed);
          await pin();
          if (runOperations) steps.push(await measureOperations(url, options, suite, selected, seedSeconds));
          if (runSearchRanking) steps.push(await measureSearchRanking(url, options, suite, selected));
        } else {
          await pin();
        }
        if (runLargeData)
          await largeData(server.url('postgres'), await serverVersion(server.url('postgres')));
        if (runTelemetry && url !== undefined)
          steps.push(await measureTelemetry(url, options, suite, selected));
      } finally {
        pinning.release();
        await server.stop();
      }
    }
    if (runReplicas) {
      console.log('starting a primary and a hot standby streaming from it, for the replica cases');
      const pair = await startReplicationPair({ binaries: 'embedded' });
      try {
        const url = await createBenchDatabase(pair.primary.url('postgres'));
        // The replica cases read pg_users only: the same users, no posts.
        await migrateAndSeed(url, options.users, 0, options.seed);
        await pair.waitForReplay();
        await pinning.pin([
          { name: "the replica cases' primary", url: pair.primary.url('postgres') },
          { name: "the replica cases' standby", url: pair.standby.url('postgres') },
        ]);
        steps.push(
          await measureReplicas(
            { primaryUrl: url, standbyUrl: pair.standby.url(DATABASE), poolSize: POOL_SIZE },
            suite,
            selected,
            `a throw-away primary and a hot standby streaming from it (embedded PostgreSQL, both on this ` +
              `machine, fsync=off, which reads do not touch), seeded with the same ` +
              `${options.users.toLocaleString('en-US')} users and no posts (the cases read pg_users only); ` +
              `pool of ${POOL_SIZE} connections per server for each database object`,
            { users: options.users },
          ),
        );
      } finally {
        pinning.release();
        await pair.stop();
      }
    }
  }

  const cases = steps.flatMap((step) => step.cases);
  const results: SuiteResult =
    (suite.repeat ?? 1) > 1
      ? { options: suite, cases, repeats: summarizeRepeats(cases) }
      : { options: suite, cases };
  const first = steps[0];
  const meta: BenchMeta = {
    label: options.label,
    date: new Date().toISOString(),
    nodeVersion: process.version,
    postgresVersion: first?.postgresVersion ?? 'unknown',
    dataset: first?.dataset ?? {},
    machine: describeMachine(),
    options: suite,
    notes: [...steps.flatMap((step) => step.notes), ...notes],
    pinning: [...new Set(pinning.lines)],
  };
  console.log(`\n${formatConsole(results)}`);
  for (const line of meta.pinning ?? []) console.log(`pinning: ${line}`);
  for (const note of meta.notes ?? []) console.log(note);
  const written = writeResults(RESULTS_DIR, results, meta);
  console.log(`\nwrote ${written.join(', ')}`);
  const failed = summarizeTargets(results);
  for (const miss of failed) console.log(`target missed: ${formatMiss(miss)}`);
  for (const miss of misses) console.log(`target missed: ${miss}`);
  if (options.check && failed.length + misses.length > 0) process.exitCode = 1;
}

await main();
