import { afterAll } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import { type CreateDatabaseOptions, createDatabase, type Database } from '../../src/database/database.js';
import { collectingLogger } from './collecting-logger.js';
import type { TestDatabase } from './test-database.js';

/**
 * How a test file opens databases of the layer on its test database: each configured by
 * `testDb.env(extra)`, logging to a collecting logger unless given another, and all disconnected after
 * the file. Call it at the top of the file, after `useTestDatabase()`.
 */
export function openDatabases(
  testDb: TestDatabase,
): (extra?: Environment, options?: CreateDatabaseOptions) => Database {
  const open: Database[] = [];
  afterAll(async () => {
    await Promise.all(open.map((db) => db.disconnect()));
  });
  return (extra = {}, options = {}) => {
    const db = createDatabase(loadConfig(testDb.env(extra)), { logger: collectingLogger(), ...options });
    open.push(db);
    return db;
  };
}
