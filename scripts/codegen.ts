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
 *
 * kysely-codegen gets its connection from the pool stage (createPgPool), never a URL, so every
 * sslmode connects as the application does (prefer: TLS, then plain). The command's options are read
 * as its own command line reads them (.kysely-codegenrc.json).
 */
import { Kysely, PostgresDialect } from 'kysely';
import { Cli, type Config, type GenerateOptions, generate, getDialect, Logger } from 'kysely-codegen';
import { describeConnection, parseConnectionUrl } from '../src/config/connection-url.js';
import { isDatabaseConfigured, loadConfig } from '../src/config/load-config.js';
import type { ConnectionSettings } from '../src/config/settings.js';
import { migrate, migrationConnection } from '../src/migrate/migrate.js';
import { createPgPool } from '../src/pool/connect.js';
import { type EmbeddedServer, startThrowAwayServer } from './lib/embedded-server.js';
import { runScript } from './lib/run-script.js';

/** kysely-codegen's message when --verify finds a difference. */
const OUT_OF_DATE = /Generated types are not up-to-date/;

/** Writes (or with `verify`, compares) db-types/index.ts from the schema of `settings`. */
async function runCodegen(settings: ConnectionSettings, verify: boolean): Promise<void> {
  const { schema } = settings;
  // The rest (outFile, excludePattern of the migrations table, overrides) is in .kysely-codegenrc.json.
  const args = ['--default-schema', schema, '--include-pattern', `${schema}.*`];
  if (verify) args.push('--verify');
  const options = new Cli().parseOptions(args) as Config;
  const dialect = getDialect('postgres', {
    dateParser: options.dateParser,
    defaultSchemas: options.defaultSchemas,
    domains: options.domains,
    numericParser: options.numericParser,
    partitions: options.partitions,
  });
  const pool = createPgPool(settings, { max: 1 });
  // destroy() does not wait for the socket to close: a throw-away server stopped right after can end the
  // idle connection first, which an unhandled 'error' event would turn into a crash of the script.
  pool.on('error', () => {});
  const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  try {
    // kysely-codegen's typings name kysely's CommonJS declarations, this script the ES module's: the
    // same class at run time.
    const introspected = db as unknown as GenerateOptions['db'];
    await generate({ ...options, db: introspected, dialect, logger: new Logger(options.logLevel) });
  } catch (error) {
    if (verify && error instanceof Error && OUT_OF_DATE.test(error.message)) {
      throw new Error(
        'db-types/index.ts is out of date with migrations/: run `npm run db:codegen` and commit the result',
      );
    }
    throw error;
  } finally {
    await db.destroy();
  }
}

runScript(async () => {
  const verify = process.argv.includes('--verify');
  let server: EmbeddedServer | undefined;
  try {
    let settings: ConnectionSettings;
    if (isDatabaseConfigured()) {
      settings = migrationConnection(loadConfig().direct);
      console.log(`reading the schema of ${describeConnection(settings)}`);
    } else {
      console.log('no database configured: starting a throw-away embedded PostgreSQL and migrating it');
      server = await startThrowAwayServer();
      settings = parseConnectionUrl(server.url(), 'embedded server');
      await migrate(settings, { direction: 'up' });
    }
    await runCodegen(settings, verify);
  } finally {
    await server?.stop();
  }
});
