/**
 * `CREATE INDEX CONCURRENTLY` for migrations, safe to run again. A failed concurrent build leaves an
 * INVALID index behind, which `IF NOT EXISTS` would then keep silently: an invalid leftover is dropped
 * first, an index already valid (from a run that failed later) is kept, and a build that fails here drops
 * its own leftover before the error propagates. The migration must call `pgm.noTransaction()`; the
 * statements run directly (not queued as steps) so a failure can be caught.
 */
import type { MigrationBuilder } from 'node-pg-migrate';
import type { MigrationSchema } from './migration-schema.js';

/** Builds index `name` in the migration's schema; `on` is the rest: `<table> [USING …] (…) [WHERE …]`. */
export async function createIndexConcurrently(
  pgm: MigrationBuilder,
  schema: MigrationSchema,
  name: string,
  on: string,
): Promise<void> {
  const index = schema.qualify(name);
  const existing = await pgm.db.query(
    `SELECT i.indisvalid AS valid
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2`,
    [schema.name, name],
  );
  const valid: boolean | undefined = existing.rows[0]?.valid;
  if (valid === true) return;
  if (valid === false) await pgm.db.query(`DROP INDEX CONCURRENTLY ${index}`);
  try {
    await pgm.db.query(`CREATE INDEX CONCURRENTLY ${name} ON ${on}`);
  } catch (error) {
    // The build's error is the one to report; a leftover this cannot drop now is dropped by the next run.
    await pgm.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`).catch(() => undefined);
    throw error;
  }
}
