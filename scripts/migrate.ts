/**
 * npm run migrate up [N]      apply pending migrations (all, or the next N)
 * npm run migrate down [N|all] revert the last migration (or the last N, or all)
 * npm run migrate create NAME  add migrations/<timestamp>_NAME.ts
 *
 * Runs over POSTGRES_URL_NON_POOLING (or the `npm run db:start` server when nothing is configured).
 */
import { describeConnection } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createMigration, migrate } from '../src/migrate.js';
import { directConnection } from './lib/development-database.js';
import { runScript } from './lib/run-script.js';

function parseCount(value: string | undefined, direction: 'up' | 'down'): number | undefined {
  if (value === undefined) return direction === 'down' ? 1 : undefined;
  if (value === 'all') return Number.POSITIVE_INFINITY;
  if (!/^[1-9]\d*$/.test(value))
    throw new ConfigError('count', `"${value}" is not a positive number or "all"`);
  return Number(value);
}

runScript(async () => {
  const [command, argument] = process.argv.slice(2);
  if (command === 'create') {
    if (!argument) throw new ConfigError('name', 'usage: npm run migrate create NAME');
    console.log(`created ${await createMigration(argument)}`);
    return;
  }
  if (command !== 'up' && command !== 'down') {
    throw new ConfigError('command', 'usage: npm run migrate up [N] | down [N|all] | create NAME');
  }
  const connection = await directConnection();
  console.log(`migrating ${command} on ${describeConnection(connection)}`);
  const ran = await migrate(connection, { direction: command, count: parseCount(argument, command) });
  console.log(
    ran.length
      ? ran.map((name) => `  ${command === 'up' ? '↑' : '↓'} ${name}`).join('\n')
      : '  nothing to do',
  );
});
