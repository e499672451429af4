import type { MigrationBuilder } from 'node-pg-migrate';
import { migrationSchema } from '../src/migrate/migration-schema.js';

/**
 * First half of the spec's "safe migration": the column alone, in its own transaction.
 * A nullable column without a volatile default is a catalog-only change, so it holds its ACCESS EXCLUSIVE
 * lock briefly; but it must first get it, behind every transaction that has touched pg_users. migrate()
 * sets lock_timeout, so that wait is bounded and everyone queued behind it is released when it gives up.
 * The index comes in the next migration, built CONCURRENTLY outside any transaction.
 */
export async function up(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  pgm.sql(`ALTER TABLE ${schema.qualify('pg_users')} ADD COLUMN profile_image varchar(500) DEFAULT NULL;`);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  pgm.sql(`ALTER TABLE ${schema.qualify('pg_users')} DROP COLUMN profile_image;`);
}
