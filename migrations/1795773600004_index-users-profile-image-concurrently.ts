import type { MigrationBuilder } from 'node-pg-migrate';
import { migrationSchema } from '../src/migration-schema.js';

const indexName = 'pg_users_profile_image_idx';

/**
 * Second half of the spec's "safe migration": the partial index built CONCURRENTLY, so writes to
 * `pg_users` go on while it builds. CONCURRENTLY cannot run inside a transaction, hence noTransaction.
 *
 * A failed concurrent build leaves an INVALID index behind, which `IF NOT EXISTS` would then keep
 * silently. So an invalid leftover is dropped first, and a build that fails here drops its own leftover
 * before the error propagates. The statements run directly (not queued as steps) so the failure can be
 * caught; the migration runner is configured with one transaction per migration, not one for all.
 *
 * A concurrent build also waits for every transaction older than it (under migrate()'s lock_timeout):
 * that wait blocks no reader or writer, but a long transaction makes the build fail with a lock timeout,
 * cleanly, and it can be run again.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  const index = schema.qualify(indexName);
  const existing = await pgm.db.query(
    `SELECT i.indisvalid AS valid
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema.name, indexName],
  );
  const valid: boolean | undefined = existing.rows[0]?.valid;
  if (valid === true) return;
  if (valid === false) await pgm.db.query(`DROP INDEX CONCURRENTLY ${index}`);
  try {
    await pgm.db.query(
      `CREATE INDEX CONCURRENTLY ${indexName} ON ${schema.qualify('pg_users')} (profile_image) WHERE profile_image IS NOT NULL`,
    );
  } catch (error) {
    // The build's error is the one to report; a leftover this cannot drop now is dropped by the next run.
    await pgm.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`).catch(() => undefined);
    throw error;
  }
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${schema.qualify(indexName)};`);
}
