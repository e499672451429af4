/**
 * npm run migrate up [N]      apply pending migrations (all, or the next N)
 * npm run migrate down [N|all] revert the last migration (or the last N, or all)
 * npm run migrate create NAME  add migrations/<timestamp>_NAME.ts
 *
 * Options (after `--` when given through npm: `npm run migrate -- up --lock-timeout=5000`):
 *   --lock-timeout=MS        longest wait of a migration for a table lock (lock_timeout); default 10000
 *   --advisory-lock-wait=MS  longest wait for another migration run on the same database; default 60000,
 *                            0 fails at once
 *   --dir=PATH               a service's own migrations folder (relative to where npm was run): up
 *                            applies the package's pending migrations, then the folder's; down
 *                            reverts the folder's only; create writes the new file there
 *
 * Runs over POSTGRES_URL_NON_POOLING (or the `npm run db:start` server when nothing is configured), in
 * the URL's `?schema=` (default public).
 */

import { resolve } from 'node:path';
import { describeConnection } from '../src/config/connection-url.js';
import { ConfigError } from '../src/errors/classes.js';
import { createMigration } from '../src/migrate/create-migration.js';
import { DEFAULT_ADVISORY_LOCK_WAIT_MS, DEFAULT_LOCK_TIMEOUT_MS, migrate } from '../src/migrate/migrate.js';
import { directConnection } from './lib/development-database.js';
import { runScript } from './lib/run-script.js';

const USAGE =
  'usage: npm run migrate -- up [N] | down [N|all] | create NAME  [--dir=PATH] [--lock-timeout=MS] [--advisory-lock-wait=MS]';
const MAX_MS = 2_147_483_647;

interface Arguments {
  positional: string[];
  lockTimeoutMs: number;
  advisoryLockWaitMs: number;
  dir: string | undefined;
}

function parseArguments(argv: string[]): Arguments {
  const positional: string[] = [];
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    const flag = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!flag) {
      positional.push(arg);
      continue;
    }
    const name = flag[1] as string;
    if (name !== 'lock-timeout' && name !== 'advisory-lock-wait' && name !== 'dir') {
      throw new ConfigError(`--${name}`, `unknown option; ${USAGE}`);
    }
    const value = flag[2] ?? argv[++i];
    if (value === undefined) {
      throw new ConfigError(
        `--${name}`,
        name === 'dir' ? 'needs a directory' : 'needs a number of milliseconds',
      );
    }
    flags.set(name, value);
  }
  return {
    positional,
    lockTimeoutMs: parseMs(flags.get('lock-timeout'), '--lock-timeout', 1) ?? DEFAULT_LOCK_TIMEOUT_MS,
    advisoryLockWaitMs:
      parseMs(flags.get('advisory-lock-wait'), '--advisory-lock-wait', 0) ?? DEFAULT_ADVISORY_LOCK_WAIT_MS,
    dir: inCallersDirectory(flags.get('dir')),
  };
}

/** npm runs scripts in the package's directory; a relative path means the one npm was run from. */
function inCallersDirectory(path: string | undefined): string | undefined {
  return path === undefined ? undefined : resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

function parseMs(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(ms >= min && ms <= MAX_MS)) {
    throw new ConfigError(flag, `"${value}" is not a whole number of milliseconds from ${min} to ${MAX_MS}`);
  }
  return ms;
}

function parseCount(value: string | undefined, direction: 'up' | 'down'): number | undefined {
  if (value === undefined) return direction === 'down' ? 1 : undefined;
  if (value === 'all') return Number.POSITIVE_INFINITY;
  if (!/^[1-9]\d*$/.test(value))
    throw new ConfigError('count', `"${value}" is not a positive number or "all"`);
  return Number(value);
}

runScript(async () => {
  const { positional, lockTimeoutMs, advisoryLockWaitMs, dir } = parseArguments(process.argv.slice(2));
  const [command, argument] = positional;
  if (command === 'create') {
    if (!argument) throw new ConfigError('name', 'usage: npm run migrate create NAME [--dir=PATH]');
    console.log(`created ${await createMigration(argument, { dir })}`);
    return;
  }
  if (command !== 'up' && command !== 'down') {
    throw new ConfigError('command', USAGE);
  }
  const connection = await directConnection();
  console.log(
    `migrating ${command} on ${describeConnection(connection)}${dir === undefined ? '' : `, with ${dir}`}`,
  );
  const ran = await migrate(connection, {
    direction: command,
    count: parseCount(argument, command),
    lockTimeoutMs,
    advisoryLockWaitMs,
    dir,
  });
  console.log(
    ran.length
      ? ran.map((name) => `  ${command === 'up' ? '↑' : '↓'} ${name}`).join('\n')
      : '  nothing to do',
  );
});
