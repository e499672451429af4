import type { MigrationBuilder } from 'node-pg-migrate';
import { migrationSchema } from '../src/migration-schema.js';

/**
 * The indexes the repositories' queries need beyond the spec's list, found by test/query-plans.test.ts
 * (without them those queries read the whole table):
 * - posts in creation order, as every page of posts.findMany is read (keyset on created_at, id), when
 *   no `published` filter lets pg_posts_published_created_idx serve it;
 * - users by email whatever their soft-delete state (findByEmail withDeleted / onlyDeleted): the unique
 *   key pg_users_email_active_key covers live users only;
 * - the soft-deleted users, a small share of the table: users.count({ onlyDeleted }), and the posts'
 *   "author is (not) soft-deleted" test of every post read, which then hashes or probes these few
 *   users instead of reading all of pg_users.
 *
 * Built CONCURRENTLY, so writes go on while they build; CONCURRENTLY cannot run inside a transaction,
 * hence noTransaction. As in the profile_image migration: a failed concurrent build leaves an INVALID
 * index behind, which `IF NOT EXISTS` would keep silently, so an invalid leftover is dropped first and a
 * build that fails here drops its own leftover before the error propagates. The statements run directly
 * (not queued as steps) so the failure can be caught. An index already valid (a run that failed on a
 * later index) is kept.
 */
const indexes = [
  { name: 'pg_posts_created_at_id_idx', table: 'pg_posts', definition: '(created_at, id)' },
  { name: 'pg_users_email_lower_idx', table: 'pg_users', definition: '(lower(email))' },
  {
    name: 'pg_users_deleted_at_idx',
    table: 'pg_users',
    definition: '(deleted_at) WHERE deleted_at IS NOT NULL',
  },
] as const;

export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  for (const { name, table, definition } of indexes) {
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
    if (valid === true) continue;
    if (valid === false) await pgm.db.query(`DROP INDEX CONCURRENTLY ${index}`);
    try {
      await pgm.db.query(`CREATE INDEX CONCURRENTLY ${name} ON ${schema.qualify(table)} ${definition}`);
    } catch (error) {
      // The build's error is the one to report; a leftover this cannot drop now is dropped by the next run.
      await pgm.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${index}`).catch(() => undefined);
      throw error;
    }
  }
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  for (const { name } of [...indexes].reverse()) {
    pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${schema.qualify(name)};`);
  }
}
