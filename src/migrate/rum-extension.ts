/**
 * The `rum` extension for the RUM search index (migration 1795773600007): where it is installed, in
 * which schema; where it is only available, installed into the migration's schema and marked as the
 * migration's, so that going down removes it again and never one installed by someone else. Undefined
 * when the server does not have it, or this role may not create it (only a superuser may: it is not a
 * trusted extension), and search then keeps its GIN index.
 */
import { SqlState } from '../errors/sql-state.js';

export { RUM_INDEX } from '../repositories/search-ranking.js';

interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** The extension's comment while the migration owns it. */
const OURS = 'RUM index access method, installed by the migration index-posts-search-vector-rum';

/** Why the extension could not be created here, rather than a failure of the migration. */
const UNAVAILABLE = new Set<string>([
  SqlState.insufficientPrivilege,
  // The control file is there but its library is not (a partial install).
  SqlState.undefinedFile,
]);

/** The extension's schema as an SQL identifier, installing it first where it is only available. */
export async function rumExtensionSchema(db: Queryable, schema: string): Promise<string | undefined> {
  const installed = await db.query(
    `SELECT pg_catalog.quote_ident(n.nspname) AS schema
       FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
      WHERE e.extname = 'rum'`,
  );
  const found = installed.rows[0] as { schema: string } | undefined;
  if (found) return found.schema;
  const available = await db.query(
    "SELECT pg_catalog.quote_ident($1) AS schema FROM pg_catalog.pg_available_extensions WHERE name = 'rum'",
    [schema],
  );
  const target = available.rows[0] as { schema: string } | undefined;
  if (!target) return undefined;
  try {
    await db.query(`CREATE EXTENSION rum SCHEMA ${target.schema}`);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.has(code)) return undefined;
    throw error;
  }
  await db.query(`COMMENT ON EXTENSION rum IS '${OURS}'`);
  return target.schema;
}

/** Drops the extension if the migration installed it and nothing else has come to depend on it. */
export async function dropRumExtensionIfOurs(db: Queryable): Promise<void> {
  const { rows } = await db.query(
    "SELECT 1 FROM pg_catalog.pg_extension e WHERE e.extname = 'rum' AND pg_catalog.obj_description(e.oid, 'pg_extension') = $1",
    [OURS],
  );
  if (rows.length === 0) return;
  try {
    await db.query('DROP EXTENSION rum RESTRICT');
  } catch (error) {
    if ((error as { code?: unknown }).code !== SqlState.dependentObjectsStillExist) throw error;
  }
}
