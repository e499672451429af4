/** The public surface of shared-db. */
export { sql } from 'kysely';
/** The type of a migration's `pgm`: a service's migrations import it from here, not from node-pg-migrate. */
export type { MigrationBuilder } from 'node-pg-migrate';
export type { DB } from '../db-types/index.js';
export { describeConnection, parseConnectionUrl } from './config/connection-url.js';
export { isDatabaseConfigured, loadConfig } from './config/load-config.js';
export type {
  ConnectionSettings,
  DatabaseConfig,
  Environment,
  LogLevel,
  PoolSettings,
  PreparedStatementSettings,
  SslMode,
  SslSettings,
} from './config/settings.js';
export {
  type CreateDatabaseOptions,
  createDatabase,
  type Database,
  type ExecuteRawOptions,
  type HealthReport,
  type PoolCounts,
  type QueryEvent,
  type QueryListener,
  type QueryScope,
  type RetryOptions,
  type StreamOptions,
  type StreamRawOptions,
  type TelemetryOptions,
  type TelemetrySetting,
  type TransactionOptions,
  type TransactionScope,
} from './database/database.js';
export { type ClientOptions, DatabaseClient, type ProviderName } from './database/database-client.js';
export {
  BackendTerminatedError,
  CheckViolationError,
  ConfigError,
  ConnectionError,
  DatabaseError,
  DeadlockError,
  DisconnectedError,
  ForeignKeyViolationError,
  IdleInTransactionTimeoutError,
  IntegrityError,
  type LockHolder,
  MigrationInProgressError,
  MigrationLockTimeoutError,
  NotFoundError,
  NotNullViolationError,
  PoolTimeoutError,
  QueryCancelledError,
  QueryTimeoutError,
  SerializationError,
  StalePreparedStatementError,
  StatementTimeoutError,
  TooManyConnectionsError,
  TransactionEndedError,
  TransactionLeftOpenError,
  TransactionRollbackError,
  TransactionScopeError,
  UniqueViolationError,
  ValidationError,
  type ValidationIssue,
} from './errors/classes.js';
export { SqlState } from './errors/sql-state.js';
export { toDatabaseError } from './errors/to-database-error.js';
export { fromPino, type LogFields, type Logger, type PinoLike } from './logging/logger.js';
export { createIndexConcurrently } from './migrate/concurrent-index.js';
export { type CreateMigrationOptions, createMigration } from './migrate/create-migration.js';
export {
  DEFAULT_ADVISORY_LOCK_WAIT_MS,
  DEFAULT_LOCK_TIMEOUT_MS,
  type MigrateOptions,
  migrate,
} from './migrate/migrate.js';
export { type MigrationSchema, migrationSchema } from './migrate/migration-schema.js';
export { DEFAULT_SERVICE_MIGRATIONS_TABLE } from './migrate/service-migrations.js';
export type { PageOptions } from './query/pagination.js';
export type {
  CreateManyOptions,
  CreateManyPostInput,
  CreateManyUserInput,
  Rows,
} from './repositories/create-many-input.js';
export type {
  NoInclude,
  Page,
  Post,
  PostWithAuthor,
  Role,
  SoftDeleteFilter,
  SortDirection,
  User,
  UserWithRelations,
} from './repositories/models.js';
export type { PostMetadata } from './repositories/post-metadata.js';
export type { MetadataChange, MetadataFilter } from './repositories/post-metadata-input.js';
export type { PostSearchHit, SearchHit } from './repositories/post-search.js';
export type { SearchColumn, SearchOptions } from './repositories/post-search-input.js';
export type {
  CountByAuthorOptions,
  FindPostOptions,
  FindPostsOptions,
  PostsRepository,
  PostWith,
  StreamPostsOptions,
} from './repositories/posts.js';
export type {
  CreatePostInput,
  NewPostInput,
  PostInclude,
  PostWhere,
  UpdatePostInput,
} from './repositories/posts-input.js';
export type { RolesRepository } from './repositories/roles.js';
export type { NewRoleInput } from './repositories/roles-input.js';
export type { SearchIndexSetting } from './repositories/search-ranking.js';
export type {
  FindUserOptions,
  FindUsersOptions,
  StreamUsersOptions,
  UsersRepository,
  UserWith,
} from './repositories/users.js';
export type { CreateManyUsersResult } from './repositories/users-create-many.js';
export type {
  CreateUserInput,
  PostsInclude,
  UpdateUserInput,
  UserInclude,
  UserWhere,
} from './repositories/users-input.js';
export * as fullText from './sql/full-text.js';
export type { JsonValue } from './sql/jsonb.js';
export * as jsonb from './sql/jsonb.js';
