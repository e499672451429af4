/**
 * What a validated configuration holds: the settings load-config.ts derives from the environment and
 * connection-url.ts reads from a URL. Everything after the configuration stage receives these, never
 * `process.env`.
 */

/** Environment variables by name, like `process.env`. */
export type Environment = Record<string, string | undefined>;

export type LogLevel = 'silent' | 'error' | 'warn' | 'info' | 'debug';

/** libpq's `sslmode` values. */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';

export interface SslSettings {
  mode: SslMode;
  /** Absolute path of the CA certificate (`sslrootcert`). */
  rootCertPath?: string;
  /** Absolute path of the client certificate (`sslcert`); always given together with `keyPath`. */
  certPath?: string;
  /** Absolute path of the client key (`sslkey`). */
  keyPath?: string;
}

/** One way to reach the server, as parsed from a URL or built from the `POSTGRES_*` parts. */
export interface ConnectionSettings {
  /** Host name, IP address, or a unix-socket directory (from `?host=/path`). */
  host: string;
  port: number;
  user: string;
  password: string | undefined;
  database: string;
  /** From `?schema=` (Prisma URLs carry it); default `public`. */
  schema: string;
  /** `?pgbouncer=true`: the connection goes through PgBouncer in transaction mode. */
  pgbouncer: boolean;
  /** `?connect_timeout=` in seconds. */
  connectTimeoutSeconds: number | undefined;
  /** Mode `disable` when the URL has no `sslmode`. */
  ssl: SslSettings;
  /** `?application_name=`. */
  applicationName: string | undefined;
}

export interface PoolSettings {
  max: number;
  /** How long to wait for a free connection and for a new one to be established (pg uses one timeout). */
  connectionTimeoutMillis: number;
  /** How long an idle connection stays open; 0 keeps idle connections. */
  idleTimeoutMillis: number;
}

export interface DatabaseConfig {
  /** `ENABLE_POSTGRES`. */
  enabled: boolean;
  /** Serves the application's queries. */
  pooled: ConnectionSettings;
  /** Serves migrations and type generation; undefined when it cannot be derived. */
  direct: ConnectionSettings | undefined;
  pool: PoolSettings;
  /** `DATABASE_LOG_LEVEL`. */
  logLevel: LogLevel;
  /** `DATABASE_LOG_PARAMETERS`: query parameters appear in query events and logs (else `[redacted]`). */
  logParameters: boolean;
  /** `DATABASE_SLOW_QUERY_MS`: a query whose wait and run reach this many ms is logged at warn; 0 = never. */
  slowQueryMs: number;
  preparedStatements: PreparedStatementSettings;
  /** Read replicas; `servers` is empty when POSTGRES_REPLICA_URLS is unset, and then nothing changes. */
  replicas: ReplicaSettings;
}

export interface ReplicaSettings {
  /**
   * `POSTGRES_REPLICA_URLS`, in the order given; each with the pooled URL's parameters, and the pooled
   * connection's schema. None is the pooled or direct connection's server and database, none is listed twice.
   */
  servers: ConnectionSettings[];
  /**
   * `POSTGRES_REPLICA_MAX_LAG_MS`: a replica further behind the primary than this is not read from until
   * it catches up; 0 = no bound. Default 1000.
   */
  maxLagMs: number;
}

export interface PreparedStatementSettings {
  /**
   * `DATABASE_PREPARED_STATEMENTS`: the layer's statements run as named prepared statements. Default: on,
   * except when the pooled connection or a replica goes through PgBouncer (`pgbouncer=true`), which carries
   * named statements only from 1.21 on, and only with `max_prepared_statements` set.
   */
  enabled: boolean;
  /** `DATABASE_STATEMENT_CACHE_SIZE`: statements kept prepared per connection, least recently used closed. */
  perConnection: number;
}
