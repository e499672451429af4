/**
 * npm run db:codegen             regenerate db-types/index.ts with kysely-codegen
 * npm run db:codegen -- --verify fail when db-types/index.ts differs from what the migrations produce
 *
 * Generates from the configured direct database when one is configured; else from a throw-away
 * embedded server that it starts and migrates itself, so the result depends on migrations/ alone.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  describeConnection,
  isDatabaseConfigured,
  loadConfig,
  parseConnectionUrl,
  toConnectionUrl,
} from '../src/config.js';
import { migrate, migrationConnection } from '../src/migrate.js';
import { type EmbeddedServer, startThrowAwayServer } from './lib/embedded-server.js';
import { runScript } from './lib/run-script.js';

const codegenBin = fileURLToPath(new URL('../node_modules/.bin/kysely-codegen', import.meta.url));

function runCodegen(url: string, verify: boolean): Promise<number> {
  return new Promise((resolve, reject) => {
    // The URL travels in the environment, not the command line, where `ps` would show the password.
    const child = spawn(codegenBin, verify ? ['--verify'] : [], {
      stdio: 'inherit',
      env: { ...process.env, DATABASE_URL: url },
    });
    child.once('error', reject);
    child.once('close', (code) => resolve(code ?? 1));
  });
}

runScript(async () => {
  const verify = process.argv.includes('--verify');
  let server: EmbeddedServer | undefined;
  let url: string;
  if (isDatabaseConfigured()) {
    const direct = migrationConnection(loadConfig().direct);
    console.log(`reading the schema of ${describeConnection(direct)}`);
    url = toConnectionUrl(direct);
  } else {
    console.log('no database configured: starting a throw-away embedded PostgreSQL and migrating it');
    server = await startThrowAwayServer();
    url = server.url();
    await migrate(parseConnectionUrl(url, 'embedded server'), { direction: 'up' });
  }
  try {
    const code = await runCodegen(url, verify);
    if (code !== 0) {
      throw new Error(
        verify
          ? 'db-types/index.ts is out of date with migrations/: run `npm run db:codegen` and commit the result'
          : `kysely-codegen exited with code ${code}`,
      );
    }
  } finally {
    await server?.stop();
  }
});
