import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * `pg_roles` is also the system view `pg_catalog.pg_roles`, and `pg_catalog` is searched first unless
 * `search_path` names it. Putting it after `public` for every session of this database makes the
 * application's tables win for unqualified names (the users' raw SQL, psql, PgBouncer sessions).
 * A per-database default reaches every new session; a start-up `options` parameter would not pass PgBouncer.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.sql(`
    DO $$
    BEGIN
      EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, pg_catalog', current_database());
    END
    $$;
  `);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.sql(`
    DO $$
    BEGIN
      EXECUTE format('ALTER DATABASE %I RESET search_path', current_database());
    END
    $$;
  `);
}
