import type { MigrationBuilder } from 'node-pg-migrate';
import { migrationSchema } from '../src/migrate/migration-schema.js';

/**
 * `pg_roles` is also the system view `pg_catalog.pg_roles`, and `pg_catalog` is searched first unless
 * `search_path` names it. Putting it after `public` for every session of this database makes the
 * application's tables win for unqualified names (the users' raw SQL, psql, PgBouncer sessions).
 * A per-database default reaches every new session; a start-up `options` parameter would not pass PgBouncer.
 *
 * Only for the `public` schema. A database default is one value for the whole database, so with several
 * application schemas in one database (`?schema=tenant_a`, `?schema=tenant_b`) it cannot favour each of
 * them; pointing it at one tenant would send the others' unqualified raw SQL to that tenant's tables.
 * For any other schema this migration changes nothing: the layer qualifies every name it generates,
 * and raw SQL there names its schema (`tenant_a.pg_roles`), or the operator gives each tenant's role its
 * own `search_path` (see the README, "Migrations in production and multi-schema").
 *
 * `up` sets the default only when the database has none (or already has this one), and refuses to
 * replace a different one, which `down` could not restore. `down` resets it only while it is still the
 * value `up` set, so it never removes a setting someone made since.
 */
const SEARCH_PATH = '"$user", public, pg_catalog';

export async function up(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  if (!schema.isPublic) return;
  pgm.sql(`
    DO $$
    DECLARE
      wanted constant text := ${literal(SEARCH_PATH)};
      existing text := (${DATABASE_SEARCH_PATH});
    BEGIN
      IF existing IS NULL THEN
        EXECUTE format('ALTER DATABASE %I SET search_path = ${SEARCH_PATH.replaceAll("'", "''")}', current_database());
      ELSIF existing IS DISTINCT FROM wanted THEN
        RAISE EXCEPTION 'database % already has a default search_path (%): this migration would replace it with % and could not restore it on down; reset it (ALTER DATABASE % RESET search_path) and migrate again',
          current_database(), existing, wanted, quote_ident(current_database());
      END IF;
    END
    $$;
  `);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  if (!schema.isPublic) return;
  pgm.sql(`
    DO $$
    BEGIN
      IF (${DATABASE_SEARCH_PATH}) = ${literal(SEARCH_PATH)} THEN
        EXECUTE format('ALTER DATABASE %I RESET search_path', current_database());
      END IF;
    END
    $$;
  `);
}

/** The database-wide (all roles) default search_path as pg_db_role_setting stores it, or NULL. */
const DATABASE_SEARCH_PATH = `
  SELECT substr(setting, length('search_path=') + 1)
    FROM pg_catalog.pg_db_role_setting s
    JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
    CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS setting
   WHERE d.datname = pg_catalog.current_database() AND s.setrole = 0 AND setting LIKE 'search_path=%'`;

function literal(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
