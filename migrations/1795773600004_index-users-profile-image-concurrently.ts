import type { MigrationBuilder } from 'node-pg-migrate';

const indexName = 'pg_users_profile_image_idx';

/**
 * Second half of the spec's "safe migration": the partial index built CONCURRENTLY, so writes to
 * `pg_users` go on while it builds. CONCURRENTLY cannot run inside a transaction, hence noTransaction.
 *
 * A failed concurrent build leaves an INVALID index behind, which `IF NOT EXISTS` would then keep
 * silently. So an invalid leftover is dropped first, and a build that fails here drops its own leftover
 * before the error propagates. The statements run directly (not queued as steps) so the failure can be
 * caught; the migration runner is configured with one transaction per migration, not one for all.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const existing = await pgm.db.query(
    `SELECT i.indisvalid AS valid
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relname = $1`,
    [indexName],
  );
  const valid: boolean | undefined = existing.rows[0]?.valid;
  if (valid === true) return;
  if (valid === false) await pgm.db.query(`DROP INDEX CONCURRENTLY public.${indexName}`);
  try {
    await pgm.db.query(
      `CREATE INDEX CONCURRENTLY ${indexName} ON public.pg_users (profile_image) WHERE profile_image IS NOT NULL`,
    );
  } catch (error) {
    await pgm.db.query(`DROP INDEX CONCURRENTLY IF EXISTS public.${indexName}`);
    throw error;
  }
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS public.${indexName};`);
}
