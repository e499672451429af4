import type { MigrationBuilder } from 'node-pg-migrate';
import { createIndexConcurrently } from '../src/migrate/concurrent-index.js';
import { migrationSchema } from '../src/migrate/migration-schema.js';

const indexName = 'pg_users_profile_image_idx';

/**
 * Second half of the spec's "safe migration": the partial index built CONCURRENTLY, so writes to
 * `pg_users` go on while it builds. CONCURRENTLY cannot run inside a transaction, hence noTransaction.
 *
 * A failed concurrent build leaves an INVALID index behind; createIndexConcurrently replaces it, so the
 * migration can be run again. The migration runner is configured with one transaction per migration, not
 * one for all.
 *
 * A concurrent build also waits for every transaction older than it (under migrate()'s lock_timeout):
 * that wait blocks no reader or writer, but a long transaction makes the build fail with a lock timeout,
 * cleanly, and it can be run again.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  await createIndexConcurrently(
    pgm,
    schema,
    indexName,
    `${schema.qualify('pg_users')} (profile_image) WHERE profile_image IS NOT NULL`,
  );
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${schema.qualify(indexName)};`);
}
