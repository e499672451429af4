/**
 * npm run db:codegen             regenerate db-types/index.ts with kysely-codegen
 * npm run db:codegen -- --verify fail when db-types/index.ts differs from what the migrations produce
 *
 * Generates from the configured direct database when one is configured; else from a throw-away
 * embedded server that it starts and migrates itself, so the result depends on migrations/ alone.
 *
 * The types are those of the connection's schema (`?schema=`, default public): kysely-codegen's
 * default schema is that one, so its tables are named without a schema (`pg_users`, as Kysely's
 * `withSchema` expects), and only its tables are read, so other schemas of the same database (other
 * tenants) never leak into the types. Every schema the migrations build yields the same file.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  describeConnection,
  isDatabaseConfigured,
  loadConfig,
  parseConnectionUrl,
  toConnectionUrl,
} from '../src/config/config.js';
import { migrate, migrationConnection } from '../src/migrate/migrate.js';
import { type EmbeddedServer, startThrowAwayServer } from './lib/embedded-server.js';
import { runScript } from './lib/run-script.js';

const codegenBin = fileURLToPath(new URL('../node_modules/.bin/kysely-codegen', import.meta.url));

function runCodegen(url: string, schema: string, verify: boolean): Promise<number> {
  // The rest (outFile, excludePattern of the migrations table, overrides) is in .kysely-codegenrc.json.
  const args = ['--default-schema', schema, '--include-pattern', `${schema}.*`];
  if (verify) args.push('--verify');
  return new Promise((resolve, reject) => {
    // The URL travels in the environment, not the command line, where `ps` would show the password.
    const child = spawn(codegenBin, args, {
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
  try {
    let url: string;
    let schema: string;
    if (isDatabaseConfigured()) {
      const direct = migrationConnection(loadConfig().direct);
      console.log(`reading the schema of ${describeConnection(direct)}`);
      url = toConnectionUrl(direct);
      schema = direct.schema;
    } else {
      console.log('no database configured: starting a throw-away embedded PostgreSQL and migrating it');
      server = await startThrowAwayServer();
      url = server.url();
      const settings = parseConnectionUrl(url, 'embedded server');
      await migrate(settings, { direction: 'up' });
      schema = settings.schema;
    }
    const code = await runCodegen(url, schema, verify);
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
