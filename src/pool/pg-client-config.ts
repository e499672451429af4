/**
 * The `pg` adapter: `ConnectionSettings` as node-postgres's client configuration. Clients and pools are
 * created in connect.ts, which replaces `ssl` by each of libpq's attempts for the `sslmode`.
 */
import type { ClientConfig } from 'pg';
import type { ConnectionSettings, SslSettings } from '../config/settings.js';
import { sslOptions } from './ssl-mode.js';

/**
 * The node-postgres client configuration for one connection. Certificate files are read here. Never
 * a `connectionString`: that would hand unknown parameters and pg-connection-string's `sslmode`
 * interpretation to the driver.
 */
export function toPgClientConfig(settings: ConnectionSettings): ClientConfig {
  const config: ClientConfig = {
    host: settings.host,
    port: settings.port,
    user: settings.user,
    database: settings.database,
    ssl: toPgSsl(settings.ssl, settings.host),
  };
  if (settings.password !== undefined) config.password = settings.password;
  if (settings.applicationName !== undefined) config.application_name = settings.applicationName;
  if (settings.connectTimeoutSeconds !== undefined) {
    config.connectionTimeoutMillis = settings.connectTimeoutSeconds * 1000;
  }
  return config;
}

/**
 * One `ssl` value cannot say "try TLS, then plain": for allow and prefer it is their plain attempt, and
 * connect.ts makes both attempts (sslAttempts).
 */
function toPgSsl(ssl: SslSettings, host: string): ClientConfig['ssl'] {
  return ssl.mode === 'allow' || ssl.mode === 'prefer' ? false : sslOptions(ssl, host);
}
