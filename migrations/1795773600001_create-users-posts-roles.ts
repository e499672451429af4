import type { MigrationBuilder } from 'node-pg-migrate';
import { migrationSchema } from '../src/migrate/migration-schema.js';

/**
 * The three tables under the names the users' raw SQL and dashboards rely on. Every name is
 * qualified with the migration's schema (`public`, or the URL's `?schema=`), so `pg_roles` reaches this
 * table and never the system view, and the function and triggers live beside the tables.
 * `updated_at` is kept by a trigger, so raw SQL updates keep it right too.
 * Timestamps keep milliseconds, as JavaScript's Date (and Prisma's DateTime) do: a value read back
 * compares equal to the stored one, which keyset cursors and the soft-delete marker rely on.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  const { sql: s } = await migrationSchema(pgm);
  pgm.sql(`
    CREATE FUNCTION ${s}.set_updated_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      -- An UPDATE that sets updated_at itself (a backfill, an import) keeps its value.
      IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := now();
      END IF;
      RETURN NEW;
    END
    $$;

    CREATE TABLE ${s}.pg_users (
      id text PRIMARY KEY,
      email text NOT NULL CONSTRAINT pg_users_email_not_blank CHECK (btrim(email) <> ''),
      name text,
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      updated_at timestamptz(3) NOT NULL DEFAULT now(),
      deleted_at timestamptz(3)
    );

    -- One live user per email, compared case-insensitively; a soft-deleted user's email can be used again.
    CREATE UNIQUE INDEX pg_users_email_active_key ON ${s}.pg_users (lower(email)) WHERE deleted_at IS NULL;

    CREATE TABLE ${s}.pg_posts (
      id text PRIMARY KEY,
      title text NOT NULL CONSTRAINT pg_posts_title_not_blank CHECK (btrim(title) <> ''),
      content text,
      published boolean NOT NULL DEFAULT false,
      "authorId" text NOT NULL REFERENCES ${s}.pg_users (id) ON DELETE CASCADE,
      metadata jsonb NOT NULL DEFAULT '{}'::jsonb
        CONSTRAINT pg_posts_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      updated_at timestamptz(3) NOT NULL DEFAULT now(),
      deleted_at timestamptz(3)
    );

    -- A role name is unique per user: one row per (user, role).
    CREATE TABLE ${s}.pg_roles (
      id text PRIMARY KEY,
      name text NOT NULL CONSTRAINT pg_roles_name_not_blank CHECK (btrim(name) <> ''),
      description text,
      "userId" text NOT NULL REFERENCES ${s}.pg_users (id) ON DELETE CASCADE,
      created_at timestamptz(3) NOT NULL DEFAULT now(),
      CONSTRAINT "pg_roles_userId_name_key" UNIQUE ("userId", name)
    );

    -- Only a real change moves updated_at; a no-op UPDATE leaves it alone.
    CREATE TRIGGER pg_users_set_updated_at BEFORE UPDATE ON ${s}.pg_users
      FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ${s}.set_updated_at();
    CREATE TRIGGER pg_posts_set_updated_at BEFORE UPDATE ON ${s}.pg_posts
      FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION ${s}.set_updated_at();
  `);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  const { sql: s } = await migrationSchema(pgm);
  pgm.sql(`
    DROP TABLE ${s}.pg_roles;
    DROP TABLE ${s}.pg_posts;
    DROP TABLE ${s}.pg_users;
    DROP FUNCTION ${s}.set_updated_at();
  `);
}
