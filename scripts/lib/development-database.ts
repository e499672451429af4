/**
 * The database a development command works on: the configured one when the environment names one,
 * else the development server from `npm run db:start` when it runs.
 */

import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { isDatabaseConfigured, loadConfig } from '../../src/config/load-config.js';
import type { ConnectionSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors/classes.js';
import { connectClient } from '../../src/pool/connect.js';
import {
  DEVELOPMENT_SERVER,
  type EmbeddedServer,
  isDetachedServerRunning,
  serverUrl,
} from './embedded-server.js';

export function developmentUrl(database: string = DEVELOPMENT_SERVER.database): string {
  return serverUrl(DEVELOPMENT_SERVER.port, DEVELOPMENT_SERVER.password, database);
}

/** Creates the development database on a development server when it is not there yet. */
export async function ensureDevelopmentDatabase(server: EmbeddedServer): Promise<string> {
  const admin = await connectClient(parseConnectionUrl(server.url(), 'development server'));
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1', [
      DEVELOPMENT_SERVER.database,
    ]);
    if (!rowCount)
      await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(DEVELOPMENT_SERVER.database)}`);
  } finally {
    await admin.end();
  }
  return server.url(DEVELOPMENT_SERVER.database);
}

/** The direct connection for migrations: configured, or the running development server. */
export async function directConnection(): Promise<ConnectionSettings> {
  if (isDatabaseConfigured()) {
    const { direct } = loadConfig();
    if (direct) return direct;
    throw new ConfigError(
      'POSTGRES_URL_NON_POOLING',
      'not set: migrations need a direct connection (not PgBouncer)',
    );
  }
  if (await isDetachedServerRunning()) return parseConnectionUrl(developmentUrl(), 'development server');
  throw new ConfigError(
    'POSTGRES_URL_NON_POOLING',
    'no database is configured: set it in .env (see .env.example), or run `npm run db:start` for a local server',
  );
}
