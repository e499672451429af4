import type { MigrationBuilder } from 'node-pg-migrate';
import { createIndexConcurrently } from '../src/migrate/concurrent-index.js';
import { migrationSchema } from '../src/migrate/migration-schema.js';

/**
 * The indexes the repositories' queries need beyond the spec's list, found by test/cross-cutting/query-plans.test.ts
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
 * hence noTransaction. createIndexConcurrently replaces an INVALID leftover of a failed build and keeps
 * an index already valid (a run that failed on a later index).
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
    await createIndexConcurrently(pgm, schema, name, `${schema.qualify(table)} ${definition}`);
  }
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  for (const { name } of [...indexes].reverse()) {
    pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${schema.qualify(name)};`);
  }
}
