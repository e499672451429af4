/**
 * What `npm run bench` and `npm run bench:scale` share: the bench database (created, migrated, seeded,
 * dropped) and the operations step, the layer against the same SQL written by hand.
 */
import { readdir } from 'node:fs/promises';
import { cpus } from 'node:os';
import type pg from 'pg';
import { seedDatabase } from '../scripts/lib/seed/index.js';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { loadConfig } from '../src/config/load-config.js';
import { createDatabase } from '../src/database/database.js';
import { MIGRATIONS_DIR, migrate } from '../src/migrate/migrate.js';
import { RUM_INDEX } from '../src/migrate/rum-extension.js';
import { connectClient, createPgPool } from '../src/pool/connect.js';
import { benchCases } from './cases.js';
import { checkSameResults, checkSameSql } from './checks.js';
import { pickFixtures, restoreSeededData } from './fixtures.js';
import { logMeasured, runSuite } from './harness/measure.js';
import type { CaseResult, SuiteOptions } from './harness/types.js';
import { describeSearchDesignCost, measureSearchDesignCost } from './search-cost.js';

export const DATABASE = 'shared_db_bench';
export const POOL_SIZE = 10;

/** A superuser connection to the server `--url` (or the throw-away server) names. */
export function connectAdmin(adminUrl: string): Promise<pg.Client> {
  return connectClient(parseConnectionUrl(adminUrl, '--url'));
}

/** The bench database `database` on the server `adminUrl` names. */
export function benchDatabaseUrl(adminUrl: string, database = DATABASE): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

/** Creates the database `database` afresh (a plain identifier) and returns its URL. */
export async function createBenchDatabase(adminUrl: string, database = DATABASE): Promise<string> {
  const admin = await connectAdmin(adminUrl);
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${database}`);
  } finally {
    await admin.end();
  }
  return benchDatabaseUrl(adminUrl, database);
}

export async function dropBenchDatabase(adminUrl: string, database = DATABASE): Promise<void> {
  const admin = await connectAdmin(adminUrl);
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).finally(() => admin.end());
}

/** Migrates and seeds the bench database; returns how long seeding took, in seconds. */
export async function migrateAndSeed(
  url: string,
  users: number,
  postsPerUser: number,
  seed: number,
): Promise<number> {
  const connection = parseConnectionUrl(url, '--url');
  await migrate(connection, { direction: 'up' });
  // The RUM index, kept up row by row, slows the load many times over: it is taken away for the seed,
  // then its migration runs again on the loaded table, as on a live one.
  const files = (await readdir(MIGRATIONS_DIR)).filter((file) => file.endsWith('.ts')).sort();
  const rumMigrationsBack =
    files.length - files.findIndex((file) => file.includes('index-posts-search-vector-rum'));
  const admin = createPgPool(connection, { max: 1 });
  let dropped = false;
  try {
    const { rows } = await admin.query<{ present: boolean }>(
      'SELECT pg_catalog.to_regclass($1) IS NOT NULL AS present',
      [`public.${RUM_INDEX}`],
    );
    dropped = rows[0]?.present === true;
    if (dropped) await admin.query(`DROP INDEX public.${RUM_INDEX}`);
  } finally {
    await admin.end();
  }
  console.log(
    `seeding ${users.toLocaleString('en-US')} users, ${(users * postsPerUser).toLocaleString('en-US')} posts`,
  );
  const seedStarted = performance.now();
  let lastPercent = -1;
  await seedDatabase(url, {
    users,
    postsPerUser,
    seed,
    onProgress: (done, all) => {
      const percent = Math.floor((done / all) * 10) * 10;
      if (percent !== lastPercent) process.stdout.write(`  ${percent} %\n`);
      lastPercent = percent;
    },
  });
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  console.log(`seeded in ${seedSeconds.toFixed(1)} s`);
  if (dropped) {
    const started = performance.now();
    await migrate(connection, { direction: 'down', count: rumMigrationsBack });
    await migrate(connection, { direction: 'up' });
    console.log(
      `the RUM migration again, on the seeded table, in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  return seedSeconds;
}

/** The layer's configuration for the bench database `url`: a pool of `poolSize`, errors logged only. */
export function benchConfig(url: string, poolSize: number) {
  return loadConfig({
    ENABLE_POSTGRES: 'true',
    POSTGRES_PRISMA_URL: url,
    POSTGRES_URL_NON_POOLING: url,
    POSTGRES_POOL_MAX: String(poolSize),
    DATABASE_LOG_LEVEL: 'error',
  });
}

/** What one step of the run measured, and what the report says of it. */
export interface Step {
  /** With repeats, every run's. */
  cases: CaseResult[];
  notes: string[];
  postgresVersion: string;
  dataset: Record<string, number>;
}

export async function serverVersion(url: string): Promise<string> {
  const client = await connectAdmin(url);
  try {
    const { rows } = await client.query<{ version: string }>(
      `SELECT current_setting('server_version') AS version`,
    );
    return rows[0]?.version ?? 'unknown';
  } finally {
    await client.end();
  }
}

/** What measureOperations needs to know of the run. */
export interface OperationsOptions {
  users: number;
  postsPerUser: number;
  concurrencies: number[];
  /** Whether the server is one --url names (else the embedded one). */
  url?: string;
}

/** The layer against hand-written SQL, on the seeded bench database `url`. */
export async function measureOperations(
  url: string,
  options: OperationsOptions,
  suite: SuiteOptions,
  selected: (name: string) => boolean,
  seedSeconds: number,
): Promise<Step> {
  const config = benchConfig(url, POOL_SIZE);
  // GIN, as the hand-written statements rank: the RUM path has a step of its own (search-ranking-cases.ts).
  const db = createDatabase(config, { searchIndex: 'gin' });
  const pool = createPgPool(config.pooled, { max: POOL_SIZE });
  // The server ends idle connections when the run stops it; that is not an error of the run.
  pool.on('error', () => undefined);
  try {
    const searchCost = await measureSearchDesignCost(pool);
    const maxWorkers = Math.max(...options.concurrencies);
    const fixtures = await pickFixtures(pool, maxWorkers);
    const runId = Date.now().toString(36);
    const cases = benchCases(db, pool, fixtures, runId).filter((c) => selected(c.name));
    await checkSameSql(config, cases);
    await checkSameResults(db, pool, fixtures);

    const results = await runSuite(cases, suite, logMeasured, () => restoreSeededData(url, runId));
    const { rows } = await pool.query<{ version: string; posts: number; users: number }>(
      `SELECT current_setting('server_version') AS version,
              (SELECT count(*) FROM pg_posts)::int AS posts, (SELECT count(*) FROM pg_users)::int AS users`,
    );
    return {
      cases: results.cases,
      postgresVersion: rows[0]?.version ?? 'unknown',
      dataset: {
        users: options.users,
        posts: options.users * options.postsPerUser,
        searchMatches: fixtures.search.matches,
      },
      notes: [
        options.url
          ? 'PostgreSQL given by --url'
          : 'embedded PostgreSQL on the same machine, default (durable) settings',
        `pool of ${POOL_SIZE} connections for the layer and one for raw pg (raw pg named prepares each statement once ` +
          `per connection); client and server on one machine of ${cpus().length} cores`,
        config.preparedStatements.enabled
          ? `the layer prepares its statements (named, up to ${config.preparedStatements.perConnection} per connection)`
          : 'the layer sends its statements unnamed (prepared statements off)',
        `seeded in ${seedSeconds.toFixed(1)} s`,
        ...describeSearchDesignCost(searchCost),
      ],
    };
  } finally {
    await pool.end();
    await db.disconnect();
  }
}
