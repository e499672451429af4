import { afterAll } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import { type CreateDatabaseOptions, createDatabase, type Database } from '../../src/database/database.js';
import { withApplicationName } from './backends.js';
import { collectingLogger } from './collecting-logger.js';
import type { TestDatabase } from './test-database.js';

type Open = (extra?: Environment, options?: CreateDatabaseOptions) => Database;

/**
 * How a test file opens databases of the layer on its test database, all disconnected after the file.
 * Call it at the top of the file, after `useTestDatabase()`.
 */
export function openDatabases(testDb: TestDatabase): {
  /** A database configured by `testDb.env(extra)`, logging to a collecting logger unless given another. */
  database: Open;
  /**
   * The same on the server itself (never through PgBouncer), its connections carrying `name` as
   * application_name, so the test can find their backends (./backends.ts).
   */
  named: (name: string, extra?: Environment, options?: CreateDatabaseOptions) => Database;
} {
  const open: Database[] = [];
  afterAll(async () => {
    await Promise.all(open.map((db) => db.disconnect()));
  });
  const database: Open = (extra = {}, options = {}) => {
    const db = createDatabase(loadConfig(testDb.env(extra)), { logger: collectingLogger(), ...options });
    open.push(db);
    return db;
  };
  const named = (name: string, extra: Environment = {}, options: CreateDatabaseOptions = {}) =>
    database({ POSTGRES_PRISMA_URL: withApplicationName(testDb.url, name), ...extra }, options);
  return { database, named };
}
