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
  type PreparedStatementSettings,
  parseConnectionUrl,
  type SslMode,
  type SslSettings,
} from './config.js';
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
  type TransactionOptions,
  type TransactionScope,
} from './database.js';
export { type ClientOptions, DatabaseClient, type ProviderName } from './database-client.js';
export {
  CheckViolationError,
  ConfigError,
  ConnectionError,
  DatabaseError,
  DeadlockError,
  DisconnectedError,
  ForeignKeyViolationError,
  IntegrityError,
  NotFoundError,
  NotNullViolationError,
  PoolTimeoutError,
  QueryTimeoutError,
  SerializationError,
  StalePreparedStatementError,
  TransactionRollbackError,
  TransactionScopeError,
  UniqueViolationError,
  ValidationError,
  type ValidationIssue,
} from './errors.js';
export { fromPino, type LogFields, type Logger, type PinoLike } from './logger.js';
export {
  createMigration,
  DEFAULT_ADVISORY_LOCK_WAIT_MS,
  DEFAULT_LOCK_TIMEOUT_MS,
  type LockHolder,
  type MigrateOptions,
  MigrationInProgressError,
  MigrationLockTimeoutError,
  migrate,
} from './migrate.js';
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
} from './models.js';
export type { PageOptions } from './pagination.js';
export type { JsonValue, PostMetadata } from './post-metadata.js';
export type { PostSearchHit } from './repositories/post-search.js';
export type {
  CountByAuthorOptions,
  FindPostOptions,
  FindPostsOptions,
  PostsRepository,
  PostWith,
} from './repositories/posts.js';
export type { RolesRepository } from './repositories/roles.js';
export type { FindUserOptions, FindUsersOptions, UsersRepository, UserWith } from './repositories/users.js';
export * as fullText from './sql/full-text.js';
export * as jsonb from './sql/jsonb.js';
export { SqlState } from './sql-state.js';
export { toDatabaseError } from './to-database-error.js';
export type {
  CreatePostInput,
  CreateUserInput,
  MetadataChange,
  MetadataFilter,
  NewPostInput,
  NewRoleInput,
  PostInclude,
  PostsInclude,
  PostWhere,
  SearchOptions,
  UpdatePostInput,
  UpdateUserInput,
  UserInclude,
  UserWhere,
} from './validation.js';
