/** The public surface of shared-db. */

export { sql } from 'kysely';
export type { DB } from '../db-types/index.js';
export {
  type ConnectionSettings,
  type DatabaseConfig,
  describeConnection,
  type Environment,
  isDatabaseConfigured,
  type LogLevel,
  loadConfig,
  type PoolSettings,
  parseConnectionUrl,
  type SslMode,
  type SslSettings,
} from './config.js';
export {
  type CreateDatabaseOptions,
  createDatabase,
  type Database,
  type HealthReport,
  type QueryScope,
  type TransactionOptions,
  type TransactionScope,
} from './database.js';
export { type ClientOptions, DatabaseClient, type ProviderName } from './database-client.js';
export { ConfigError, ConnectionError, DatabaseError, DisconnectedError } from './errors.js';
export type { LogFields, Logger } from './logger.js';
export { createMigration, type MigrateOptions, migrate } from './migrate.js';
export type { JsonValue, PostMetadata } from './post-metadata.js';
