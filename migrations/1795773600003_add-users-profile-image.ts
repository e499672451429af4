import type { MigrationBuilder } from 'node-pg-migrate';

/**
 * First half of the spec's "safe migration": the column alone, in its own transaction.
 * A nullable column without a volatile default is a catalog-only change, so it takes its lock briefly.
 * The index comes in the next migration, built CONCURRENTLY outside any transaction.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  pgm.sql('ALTER TABLE public.pg_users ADD COLUMN profile_image varchar(500) DEFAULT NULL;');
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  pgm.sql('ALTER TABLE public.pg_users DROP COLUMN profile_image;');
}
