/**
 * A superuser connection of its own, opened around one piece of work and closed after it: for samples,
 * fault injection and the final verification, apart from the pool under test (and fresh, so nothing
 * the pool holds can hide a lost write).
 */
import type pg from 'pg';
import { parseConnectionUrl } from '../../../src/config/connection-url.js';
import { connectClient } from '../../../src/pool/connect.js';

/** The application_name of these connections, so the sessions counted and terminated are the layer's. */
export const ADMIN_APPLICATION = 'shared-db soak checks';

export async function withAdminConnection<T>(
  url: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const settings = parseConnectionUrl(url, 'the soak administrator URL');
  // A server that goes away fails the statement running; the 'error' event itself needs no handling.
  const client = await connectClient(
    { ...settings, applicationName: ADMIN_APPLICATION },
    { onError: () => {} },
  );
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** The sessions open on `database` apart from these connections (those in `states`, when given). */
export async function sessionsOn(url: string, database: string, states?: string[]): Promise<number> {
  return withAdminConnection(url, async (client) => {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = $1 AND application_name <> $2 AND backend_type = 'client backend'
          AND ($3::text[] IS NULL OR state = ANY ($3::text[]))`,
      [database, ADMIN_APPLICATION, states ?? null],
    );
    return rows[0]?.n ?? 0;
  });
}
