/**
 * The entry point the users know: `await DatabaseClient.getInstance('postgres', options)` returns one
 * shared database object per distinct options. Repositories take the place of `db.prisma`.
 */

import { describeConnection, parseConnectionUrl } from '../config/connection-url.js';
import { loadConfig } from '../config/load-config.js';
import type { DatabaseConfig, LogLevel } from '../config/settings.js';
import { ConfigError, ConnectionError } from '../errors/classes.js';
import { createDatabase, type Database } from './database.js';

export type ProviderName = 'postgres';

type PrismaLogLevel = 'query' | 'info' | 'warn' | 'error';

/** The options the spec passes: a datasource URL override and Prisma-style log levels. */
export interface ClientOptions {
  datasources?: { pgdb?: { url?: string } };
  /**
   * What to print, Prisma style: `'query'` (every query, = DATABASE_LOG_LEVEL=debug), `'info'`, `'warn'`,
   * `'error'`, or `{ emit: 'stdout', level }` for the same. `{ emit: 'event', level: 'query' }` prints
   * nothing: receive the queries with `db.on('query', listener)`, which works whatever the level.
   * The most verbose level printed wins; with none, DATABASE_LOG_LEVEL applies.
   */
  log?: Array<PrismaLogLevel | { emit: 'stdout' | 'event'; level: PrismaLogLevel }>;
}

const logLevelOf: Record<PrismaLogLevel, LogLevel> = {
  query: 'debug',
  info: 'info',
  warn: 'warn',
  error: 'error',
};
const verbosity: LogLevel[] = ['silent', 'error', 'warn', 'info', 'debug'];

/** The levels printed for the `log` option; events are not printed (only query events exist). */
function printedLevels(log: ClientOptions['log']): LogLevel[] | undefined {
  return log?.flatMap((entry) => {
    const { emit, level } = typeof entry === 'string' ? { emit: 'stdout', level: entry } : entry;
    if (!Object.hasOwn(logLevelOf, level)) {
      throw new ConfigError('log', `unknown level "${String(level)}": use query, info, warn or error`);
    }
    if (emit === 'stdout') return [logLevelOf[level]];
    if (emit === 'event' && level === 'query') return [];
    if (emit === 'event') {
      throw new ConfigError(
        'log',
        `{ emit: 'event', level: '${level}' } is not supported: only queries are events (db.on('query', …)); ` +
          `print ${level} lines with '${level}' instead`,
      );
    }
    throw new ConfigError('log', `unknown emit "${String(emit)}": use 'stdout' or 'event'`);
  });
}

/** Applies the options on top of the configuration read from the environment. */
export function applyClientOptions(config: DatabaseConfig, options: ClientOptions): DatabaseConfig {
  const url = options.datasources?.pgdb?.url;
  const levels = printedLevels(options.log);
  return {
    ...config,
    pooled: url === undefined ? config.pooled : parseConnectionUrl(url, 'datasources.pgdb.url'),
    logLevel: levels?.length
      ? levels.reduce((most, level) => (verbosity.indexOf(level) > verbosity.indexOf(most) ? level : most))
      : config.logLevel,
  };
}

/** A stable key for options, whatever the order of their properties. */
function keyOf(provider: string, options: ClientOptions): string {
  const sorted = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sorted)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.entries(value)
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([k, v]) => [k, sorted(v)]),
          )
        : value;
  return JSON.stringify([provider, sorted(options)]);
}

const instances = new Map<string, Promise<Database>>();

async function open(config: DatabaseConfig): Promise<Database> {
  const database = createDatabase(config);
  const health = await database.health();
  if (!health.ok) {
    await database.disconnect();
    throw new ConnectionError(`cannot connect to ${describeConnection(config.pooled)}: ${health.error}`);
  }
  return database;
}

export const DatabaseClient = {
  /**
   * Returns the shared database object for these options, connecting on first use.
   * Refuses when ENABLE_POSTGRES is not `true` or the provider is not `postgres`.
   * After `disconnect()`, the next call connects afresh.
   */
  async getInstance(provider: ProviderName, options: ClientOptions = {}): Promise<Database> {
    if ((provider as string) !== 'postgres') {
      throw new ConfigError(
        'provider',
        `unknown provider "${String(provider)}": the only provider is "postgres"`,
      );
    }
    const key = keyOf(provider, options);
    const existing = instances.get(key);
    if (existing) {
      const database = await existing.catch(() => undefined);
      if (database && !database.disconnected) return database;
    }
    const config = loadConfig();
    if (!config.enabled) {
      throw new ConfigError('ENABLE_POSTGRES', 'must be "true" to use the postgres provider');
    }
    const opening = open(applyClientOptions(config, options));
    instances.set(key, opening);
    opening.catch(() => {
      if (instances.get(key) === opening) instances.delete(key);
    });
    return opening;
  },

  /** Disconnects every shared instance (for shutdown hooks and tests). */
  async disconnectAll(): Promise<void> {
    const all = [...instances.values()];
    instances.clear();
    await Promise.all(
      all.map((opening) => opening.then((database) => database.disconnect()).catch(() => {})),
    );
  },
};
