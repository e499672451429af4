/** The database a run writes to: created and migrated on the server before the run, dropped after it. */
import { parseConnectionUrl } from '../../../src/config/connection-url.js';
import { migrate } from '../../../src/migrate/migrate.js';
import { withAdminConnection } from './admin-connection.js';

/** `serverUrl` (a superuser's) with another database. */
export function onDatabase(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${encodeURIComponent(database)}`;
  return url.toString();
}

/** Creates `database` (dropping one of that name first) and migrates it; its superuser URL. */
export async function createRunDatabase(serverUrl: string, database: string): Promise<string> {
  await withAdminConnection(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`);
  });
  const url = onDatabase(serverUrl, database);
  await migrate(parseConnectionUrl(url, 'the run database'), { direction: 'up', log: () => {} });
  return url;
}

export async function dropRunDatabase(serverUrl: string, database: string): Promise<void> {
  await withAdminConnection(serverUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(database)} WITH (FORCE)`);
  });
}
