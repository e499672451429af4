/** Everything the migrations create, read from the catalog in a stable order, for comparisons. */
import pg from 'pg';

export interface SchemaSnapshot {
  columns: string[];
  constraints: string[];
  indexes: string[];
  triggers: string[];
  functions: string[];
  databaseSettings: string[];
  migrations: string[];
}

async function strings(client: pg.Client, text: string): Promise<string[]> {
  const { rows } = await client.query<{ item: string }>(text);
  return rows.map((row) => row.item);
}

export async function schemaSnapshot(url: string): Promise<SchemaSnapshot> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const hasMigrationsTable = (await client.query("SELECT to_regclass('public.pgmigrations') AS t")).rows[0]
      .t;
    return {
      columns: await strings(
        client,
        `SELECT table_name || '.' || column_name || ' ' || data_type || coalesce('(' || character_maximum_length || ')', '')
                || CASE WHEN is_nullable = 'NO' THEN ' not null' ELSE '' END
                || coalesce(' default ' || column_default, '') AS item
           FROM information_schema.columns WHERE table_schema = 'public' AND table_name LIKE 'pg\\_%'
          ORDER BY table_name, ordinal_position`,
      ),
      constraints: await strings(
        client,
        `SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS item
           FROM pg_catalog.pg_constraint
          WHERE connamespace = 'public'::regnamespace AND conrelid <> 'public.pgmigrations'::regclass ORDER BY 1`,
      ),
      indexes: await strings(
        client,
        `SELECT pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END AS item
           FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
          WHERE c.relnamespace = 'public'::regnamespace AND c.relname <> 'pgmigrations_pkey' ORDER BY 1`,
      ),
      triggers: await strings(
        client,
        `SELECT pg_get_triggerdef(t.oid) AS item FROM pg_catalog.pg_trigger t
           JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid
          WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal ORDER BY 1`,
      ),
      functions: await strings(
        client,
        `SELECT p.oid::regprocedure::text AS item FROM pg_catalog.pg_proc p
          WHERE p.pronamespace = 'public'::regnamespace ORDER BY 1`,
      ),
      databaseSettings: await strings(
        client,
        `SELECT unnest(s.setconfig) AS item FROM pg_catalog.pg_db_role_setting s
          WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
            AND s.setrole = 0 ORDER BY 1`,
      ),
      migrations: hasMigrationsTable
        ? await strings(client, 'SELECT name AS item FROM public.pgmigrations ORDER BY id')
        : [],
    };
  } finally {
    await client.end();
  }
}
