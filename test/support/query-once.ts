/**
 * One statement on a connection of its own, opened and closed around it: for a test's setup and checks
 * beside the layer (DDL as an administrator, reading what the layer wrote).
 */
import pg from 'pg';

export async function queryOnce<Row extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text, params)).rows;
  } finally {
    await client.end();
  }
}
