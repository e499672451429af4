/**
 * The schema a migration works in, for migrations that qualify every name explicitly.
 *
 * `migrate()` (src/migrate/migrate.ts) creates the connection's schema (`?schema=`, default `public`) when it
 * is missing and runs node-pg-migrate with `search_path = <schema>, pg_catalog`, so `current_schema()`
 * on the migration's connection is that schema. Migrations read it here and write qualified names
 * (`${schema.sql}.pg_users`), so the same migration files build the same tables in `public` or in
 * `tenant_a`, and never reach the system view `pg_catalog.pg_roles` by accident.
 */
import type { MigrationBuilder } from 'node-pg-migrate';

export interface MigrationSchema {
  /** The schema's name as the catalog stores it: `public`, `tenant_a`, `TenantA`. */
  readonly name: string;
  /** The name as an SQL identifier, quoted only when it must be (PostgreSQL's `quote_ident`). */
  readonly sql: string;
  /** True for `public`, the schema of a single-schema installation. */
  readonly isPublic: boolean;
  /** `<schema>.<name>`: `name` is written as SQL (a plain lower-case identifier, or one already quoted). */
  qualify(name: string): string;
}

/**
 * Reads the migration connection's schema. Throws when no schema of the search_path exists (the
 * runner was not started by `migrate()`), or when it would be a system schema, so that a migration can
 * never create its tables in `pg_catalog`.
 */
export async function migrationSchema(pgm: MigrationBuilder): Promise<MigrationSchema> {
  const { rows } = await pgm.db.query(
    'SELECT pg_catalog.current_schema() AS name, pg_catalog.quote_ident(pg_catalog.current_schema()) AS sql',
  );
  const row = rows[0] as { name: string | null; sql: string | null } | undefined;
  const name = row?.name ?? null;
  const quoted = row?.sql ?? null;
  if (name === null || quoted === null || name.startsWith('pg_') || name === 'information_schema') {
    throw new Error(
      `migrations must run in the application's schema, but current_schema() is ${name ?? 'NULL'}: ` +
        'run them with migrate() (npm run migrate), which creates the schema and sets search_path to it',
    );
  }
  return {
    name,
    sql: quoted,
    isPublic: name === 'public',
    qualify: (object) => `${quoted}.${object}`,
  };
}
