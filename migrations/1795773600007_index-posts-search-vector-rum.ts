import type { MigrationBuilder } from 'node-pg-migrate';
import { createIndexConcurrently } from '../src/migrate/concurrent-index.js';
import { migrationSchema } from '../src/migrate/migration-schema.js';
import { dropRumExtensionIfOurs, RUM_INDEX, rumExtensionSchema } from '../src/migrate/rum-extension.js';

/**
 * A RUM index on the stored search document, where the server has the `rum` extension: it keeps each
 * word's positions, so `posts.search` reads a page of matches in rank order from the index instead of
 * ranking every match from the heap. Where the extension is not available, or this role may not create
 * it, nothing is built and search keeps the GIN index (src/repositories/search-ranking.ts decides).
 *
 * The extension goes into the migration's schema unless it is installed already; the index is built
 * CONCURRENTLY (noTransaction), so writes go on meanwhile. Down drops the index, and the extension when
 * this migration installed it and no other object uses it.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  const extension = await rumExtensionSchema(pgm.db, schema.name);
  if (extension === undefined) return;
  await createIndexConcurrently(
    pgm,
    schema,
    RUM_INDEX,
    `${schema.qualify('pg_posts')} USING rum (search_vector ${extension}.rum_tsvector_ops)`,
  );
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  await pgm.db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${schema.qualify(RUM_INDEX)}`);
  await dropRumExtensionIfOurs(pgm.db);
}
