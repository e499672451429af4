import type { MigrationBuilder } from 'node-pg-migrate';
import { migrationSchema } from '../src/migrate/migration-schema.js';

/**
 * The spec's index list under the spec's names, plus a GIN index on exactly the spec's full-text
 * expression (so its search query is index-backed) and one on `metadata` (for `@>`, `?`, `?|`, `?&`).
 * Built in the migration's transaction: the tables are new and empty here. Each index lives in its
 * table's schema, the migration's.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  const { sql: s } = await migrationSchema(pgm);
  pgm.sql(`
    CREATE INDEX pg_users_email_idx ON ${s}.pg_users (email);
    CREATE INDEX pg_users_created_at_idx ON ${s}.pg_users (created_at);
    CREATE INDEX pg_posts_author_id_idx ON ${s}.pg_posts ("authorId");
    CREATE INDEX pg_posts_published_idx ON ${s}.pg_posts (published);
    CREATE INDEX pg_roles_name_idx ON ${s}.pg_roles (name);
    CREATE INDEX pg_roles_user_id_idx ON ${s}.pg_roles ("userId");

    CREATE INDEX pg_posts_author_published_idx ON ${s}.pg_posts ("authorId", published);
    CREATE INDEX pg_posts_published_created_idx ON ${s}.pg_posts (published, created_at DESC);

    CREATE INDEX pg_posts_search_idx ON ${s}.pg_posts
      USING gin (to_tsvector('english', title || ' ' || COALESCE(content, '')));
    CREATE INDEX pg_posts_metadata_idx ON ${s}.pg_posts USING gin (metadata);
  `);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  const { sql: s } = await migrationSchema(pgm);
  pgm.sql(`
    DROP INDEX ${s}.pg_posts_metadata_idx;
    DROP INDEX ${s}.pg_posts_search_idx;
    DROP INDEX ${s}.pg_posts_published_created_idx;
    DROP INDEX ${s}.pg_posts_author_published_idx;
    DROP INDEX ${s}.pg_roles_user_id_idx;
    DROP INDEX ${s}.pg_roles_name_idx;
    DROP INDEX ${s}.pg_posts_published_idx;
    DROP INDEX ${s}.pg_posts_author_id_idx;
    DROP INDEX ${s}.pg_users_created_at_idx;
    DROP INDEX ${s}.pg_users_email_idx;
  `);
}
