import type { MigrationBuilder } from 'node-pg-migrate';
import { createIndexConcurrently } from '../src/migrate/concurrent-index.js';
import { migrationSchema } from '../src/migrate/migration-schema.js';

const indexName = 'pg_posts_search_vector_idx';
const triggerName = 'pg_posts_update_search_vector';
const BATCH_SIZE = 5_000;

/**
 * The spec's full-text document, stored: `search_vector` holds
 * `to_tsvector('english', title || ' ' || COALESCE(content, ''))`, kept by a trigger, with its own GIN
 * index. Matching through the expression index finds candidates fast, but ranking them recomputes
 * `to_tsvector` for every match (thousands of rows for a common word); ranking the stored vector does not.
 * `pg_posts_search_idx` stays, so the spec's own query stays index-backed.
 *
 * Safe on a live table, hence not a generated column (adding one rewrites the table under an exclusive
 * lock): the column is added empty, the trigger keeps new and changed rows right, existing rows are filled
 * in batches of their own transactions, and the index is built CONCURRENTLY. Each step can be run again,
 * so a migration stopped half-way finishes on the next `migrate up`.
 *
 * The trigger's name sorts after `pg_posts_set_updated_at`, and PostgreSQL fires BEFORE triggers by name:
 * the updated_at trigger compares the row before the vector is set, so the backfill's `SET title = title`
 * (which fires this trigger) leaves updated_at alone.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  const posts = schema.qualify('pg_posts');
  const fn = schema.qualify('set_post_search_vector');
  await pgm.db.query(`ALTER TABLE ${posts} ADD COLUMN IF NOT EXISTS search_vector tsvector`);
  await pgm.db.query(`
    CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      NEW.search_vector := to_tsvector('english', NEW.title || ' ' || COALESCE(NEW.content, ''));
      RETURN NEW;
    END
    $$`);
  const trigger = await pgm.db.query(
    'SELECT 1 FROM pg_catalog.pg_trigger WHERE tgrelid = $1::regclass AND tgname = $2',
    [posts, triggerName],
  );
  if (!trigger.rowCount) {
    await pgm.db.query(
      `CREATE TRIGGER ${triggerName} BEFORE INSERT OR UPDATE OF title, content ON ${posts}
         FOR EACH ROW EXECUTE FUNCTION ${fn}()`,
    );
  }
  await backfill(pgm, posts);
  await createIndexConcurrently(pgm, schema, indexName, `${posts} USING gin (search_vector)`);
}

/** Fills existing rows by primary-key ranges, one short transaction per batch. */
async function backfill(pgm: MigrationBuilder, posts: string): Promise<void> {
  let after = '';
  for (;;) {
    const { rows } = await pgm.db.query(
      `WITH batch AS (SELECT id FROM ${posts} WHERE id > $1 ORDER BY id LIMIT ${BATCH_SIZE}),
            filled AS (UPDATE ${posts} p SET title = p.title FROM batch
                        WHERE p.id = batch.id AND p.search_vector IS NULL)
       SELECT max(id) AS last FROM batch`,
      [after],
    );
    const last: string | null = rows[0]?.last ?? null;
    if (last === null) return;
    after = last;
  }
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  const posts = schema.qualify('pg_posts');
  pgm.sql(`DROP INDEX CONCURRENTLY IF EXISTS ${schema.qualify(indexName)};`);
  pgm.sql(`DROP TRIGGER IF EXISTS ${triggerName} ON ${posts};`);
  pgm.sql(`DROP FUNCTION IF EXISTS ${schema.qualify('set_post_search_vector')}();`);
  pgm.sql(`ALTER TABLE ${posts} DROP COLUMN IF EXISTS search_vector;`);
}
