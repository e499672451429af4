/**
 * npm run bench: seeds a database, then measures every repository operation against the same work
 * written by hand with `pg` (sent as a named prepared statement and unnamed), interleaved, at each
 * concurrency, and writes the tables and a chart to bench/results/. Runs on a throw-away embedded PostgreSQL unless --url names a server (a database
 * `shared_db_bench` is created there and dropped afterwards). --check exits 1 when a target is missed.
 *
 *   npm run bench -- [--posts 100000] [--posts-per-user 20] [--seed 1] [--concurrency 1,10]
 *                    [--rounds 5] [--slice-ms 1000] [--warmup-ms 1000] [--label NAME] [--url URL]
 *                    [--only TEXT (cases whose name contains it)] [--check]
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type pg from 'pg';
import { type EmbeddedServer, startThrowAwayServer } from '../scripts/lib/embedded-server.js';
import { seedDatabase } from '../scripts/lib/seed/index.js';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { loadConfig } from '../src/config/load-config.js';
import { createDatabase } from '../src/database/database.js';
import { migrate } from '../src/migrate/migrate.js';
import { connectClient, createPgPool } from '../src/pool/connect.js';
import { benchCases } from './cases.js';
import { checkSameResults, checkSameSql } from './checks.js';
import { pickFixtures } from './fixtures.js';
import { runSuite } from './harness/measure.js';
import { describeMachine, formatConsole, summarizeTargets, writeResults } from './harness/report.js';
import type { BenchMeta, SuiteOptions } from './harness/types.js';
import { describeSearchDesignCost, measureSearchDesignCost } from './search-cost.js';

const RESULTS_DIR = join(import.meta.dirname, 'results');
const DATABASE = 'shared_db_bench';
const POOL_SIZE = 10;

const usage = `usage: npm run bench -- [--posts N] [--posts-per-user M] [--seed S] [--concurrency 1,10]
  [--rounds R] [--slice-ms MS] [--warmup-ms MS] [--label NAME] [--url postgres://…] [--only TEXT] [--check]`;

function positive(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`--${name}: "${text}" is not a positive whole number\n${usage}`);
    process.exit(2);
  }
  return value;
}

const argumentOptions = {
  posts: { type: 'string', default: '100000' },
  'posts-per-user': { type: 'string', default: '20' },
  seed: { type: 'string', default: '1' },
  concurrency: { type: 'string', default: '1,10' },
  rounds: { type: 'string', default: '5' },
  'slice-ms': { type: 'string', default: '1000' },
  'warmup-ms': { type: 'string', default: '1000' },
  label: { type: 'string' },
  url: { type: 'string' },
  check: { type: 'boolean', default: false },
  only: { type: 'string' },
} as const;

function readArguments() {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof argumentOptions; strict: true }>>;
  try {
    parsed = parseArgs({ options: argumentOptions, strict: true });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
  const { values } = parsed;
  const posts = positive('posts', values.posts);
  const postsPerUser = positive('posts-per-user', values['posts-per-user']);
  return {
    users: Math.max(1, Math.round(posts / postsPerUser)),
    postsPerUser,
    seed: positive('seed', values.seed),
    concurrencies: values.concurrency.split(',').map((part) => positive('concurrency', part.trim())),
    suite: {
      rounds: positive('rounds', values.rounds),
      sliceMs: positive('slice-ms', values['slice-ms']),
      warmupMs: positive('warmup-ms', values['warmup-ms']),
    },
    label: values.label ?? `posts-${posts}`,
    url: values.url,
    check: values.check,
    only: values.only,
  };
}

/** A superuser connection to the server `--url` (or the throw-away server) names. */
function connectAdmin(adminUrl: string): Promise<pg.Client> {
  return connectClient(parseConnectionUrl(adminUrl, '--url'));
}

async function createBenchDatabase(adminUrl: string): Promise<string> {
  const admin = await connectAdmin(adminUrl);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${DATABASE}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${DATABASE}`;
  return url.toString();
}

async function dropBenchDatabase(adminUrl: string): Promise<void> {
  const admin = await connectAdmin(adminUrl);
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`).finally(() => admin.end());
}

async function main(): Promise<void> {
  const options = readArguments();
  // Durable, as production is: every commit waits for its WAL flush, in both variants alike.
  const server: EmbeddedServer | undefined = options.url
    ? undefined
    : await startThrowAwayServer({ durable: true });
  const adminUrl = options.url ?? (server as EmbeddedServer).url('postgres');
  try {
    const url = await createBenchDatabase(adminUrl);
    await migrate(parseConnectionUrl(url, '--url'), { direction: 'up' });

    const total = options.users * options.postsPerUser;
    console.log(
      `seeding ${options.users.toLocaleString('en-US')} users, ${total.toLocaleString('en-US')} posts`,
    );
    const seedStarted = performance.now();
    let lastPercent = -1;
    await seedDatabase(url, {
      users: options.users,
      postsPerUser: options.postsPerUser,
      seed: options.seed,
      onProgress: (done, all) => {
        const percent = Math.floor((done / all) * 10) * 10;
        if (percent !== lastPercent) process.stdout.write(`  ${percent} %\n`);
        lastPercent = percent;
      },
    });
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    console.log(`seeded in ${seedSeconds.toFixed(1)} s`);

    const config = loadConfig({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: url,
      POSTGRES_URL_NON_POOLING: url,
      POSTGRES_POOL_MAX: String(POOL_SIZE),
      DATABASE_LOG_LEVEL: 'error',
    });
    const db = createDatabase(config);
    const pool = createPgPool(config.pooled, { max: POOL_SIZE });
    // The server ends idle connections when the run stops it; that is not an error of the run.
    pool.on('error', () => undefined);
    try {
      const searchCost = await measureSearchDesignCost(pool);
      const maxWorkers = Math.max(...options.concurrencies);
      const fixtures = await pickFixtures(pool, maxWorkers);
      const cases = benchCases(db, pool, fixtures, Date.now().toString(36)).filter(
        (c) => options.only === undefined || c.name.includes(options.only),
      );
      await checkSameSql(config, cases);
      await checkSameResults(db, pool, fixtures);

      const suite: SuiteOptions = { ...options.suite, concurrencies: options.concurrencies };
      const results = await runSuite(cases, suite, (result) =>
        console.log(`measured ${result.case} at concurrency ${result.concurrency}`),
      );
      const { rows } = await pool.query<{ version: string; posts: number; users: number }>(
        `SELECT current_setting('server_version') AS version,
                (SELECT count(*) FROM pg_posts)::int AS posts, (SELECT count(*) FROM pg_users)::int AS users`,
      );
      const meta: BenchMeta = {
        label: options.label,
        date: new Date().toISOString(),
        nodeVersion: process.version,
        postgresVersion: rows[0]?.version ?? 'unknown',
        dataset: { users: options.users, posts: total, searchMatches: fixtures.search.matches },
        machine: describeMachine(),
        options: suite,
        notes: [
          options.url
            ? 'PostgreSQL given by --url'
            : 'embedded PostgreSQL on the same machine, default (durable) settings',
          `pool of ${POOL_SIZE} connections for the layer and one for raw pg (raw pg named prepares each statement once ` +
            `per connection); ${cpus().length} cores shared by client and server`,
          config.preparedStatements.enabled
            ? `the layer prepares its statements (named, up to ${config.preparedStatements.perConnection} per connection)`
            : 'the layer sends its statements unnamed (prepared statements off)',
          `seeded in ${seedSeconds.toFixed(1)} s`,
          ...describeSearchDesignCost(searchCost),
        ],
      };
      console.log(`\n${formatConsole(results)}`);
      for (const note of meta.notes ?? []) console.log(note);
      const written = writeResults(RESULTS_DIR, results, meta);
      console.log(`\nwrote ${written.join(', ')}`);
      const failed = summarizeTargets(results);
      for (const miss of failed) {
        console.log(
          `target missed: ${miss.case} at concurrency ${miss.concurrency}: ${miss.subject} ÷ ${miss.baseline} = ` +
            `${miss.ratio.toFixed(2)}, needs ${miss.minRatio}`,
        );
      }
      if (options.check && failed.length > 0) process.exitCode = 1;
    } finally {
      await pool.end();
      await db.disconnect();
    }
  } finally {
    if (options.url) await dropBenchDatabase(adminUrl);
    await server?.stop();
  }
}

await main();
