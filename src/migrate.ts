/**
 * Runs the migrations in `migrations/` with node-pg-migrate, over the direct (non-pooling) connection:
 * node-pg-migrate holds a session-level advisory lock for the whole run, which PgBouncer in transaction
 * mode cannot keep.
 */
import { fileURLToPath } from 'node:url';
import { Migration, runner } from 'node-pg-migrate';
import { type ConnectionSettings, toPgClientConfig } from './config.js';
import { ConfigError } from './errors.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../migrations', import.meta.url));
export const MIGRATIONS_TABLE = 'pgmigrations';

export interface MigrateOptions {
  direction: 'up' | 'down';
  /** How many migrations to run; default: all pending for `up`, one for `down`. `Infinity` means all. */
  count?: number;
  /** Receives node-pg-migrate's progress lines; default: silent. */
  log?: (message: string) => void;
}

/** The direct connection migrations need, or a ConfigError that says which variable to set. */
export function migrationConnection(direct: ConnectionSettings | undefined): ConnectionSettings {
  if (direct === undefined) {
    throw new ConfigError(
      'POSTGRES_URL_NON_POOLING',
      'not set: migrations and type generation need a direct connection to PostgreSQL (not through PgBouncer)',
    );
  }
  if (direct.pgbouncer) {
    throw new ConfigError(
      'POSTGRES_URL_NON_POOLING',
      'has pgbouncer=true: migrations and type generation need a direct connection to PostgreSQL, ' +
        'because they hold a session-level lock; point POSTGRES_URL_NON_POOLING at the server itself',
    );
  }
  return direct;
}

/** Applies (or reverts) migrations; returns the names of those it ran, in order. */
export async function migrate(
  direct: ConnectionSettings | undefined,
  options: MigrateOptions,
): Promise<string[]> {
  const connection = migrationConnection(direct);
  const log = options.log ?? (() => {});
  const ran = await runner({
    databaseUrl: toPgClientConfig(connection),
    dir: MIGRATIONS_DIR,
    migrationsTable: MIGRATIONS_TABLE,
    direction: options.direction,
    count: options.count,
    // The application's schema before pg_catalog, so an unqualified name in a migration reaches the
    // application's table (see migrations/*_application-search-path.ts); every statement is qualified too.
    schema: [connection.schema, 'pg_catalog'],
    migrationsSchema: connection.schema,
    // One transaction per migration, so a migration that needs none (CREATE INDEX CONCURRENTLY) can run.
    singleTransaction: false,
    checkOrder: true,
    logger: { debug: log, info: log, warn: log, error: log },
  });
  return ran.map((migration) => migration.name);
}

/** Creates `migrations/<timestamp>_<name>.ts` from node-pg-migrate's TypeScript template. */
export async function createMigration(name: string): Promise<string> {
  if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(name)) {
    throw new ConfigError('name', `"${name}" is not a kebab-case migration name (like add-posts-summary)`);
  }
  const migration = await Migration.create(name, MIGRATIONS_DIR, { language: 'ts' });
  return migration;
}
