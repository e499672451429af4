/**
 * Runs once per `vitest run`: picks the server, migrates a template database once, and hands both to
 * the test files, which each clone their own database from the template (see test-database.ts).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { parseConnectionUrl } from '../../src/config.js';
import { migrate } from '../../src/migrate.js';
import { chooseTestServer } from './choose-server.js';
import { databaseUrl } from './database-url.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    serverKind: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const server = await chooseTestServer();
  const templateDatabase = `shared_db_template_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(templateDatabase)}`);
    await migrate(parseConnectionUrl(databaseUrl(server.adminUrl, templateDatabase), 'TEST_DATABASE_URL'), {
      direction: 'up',
    });
  } catch (error) {
    await admin.end();
    await server.stop();
    throw error;
  }
  await admin.end();

  project.provide('adminUrl', server.adminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('serverKind', server.kind);

  return async () => {
    const cleanup = new pg.Client({ connectionString: server.adminUrl });
    await cleanup.connect();
    await cleanup.query(`DROP DATABASE IF EXISTS ${cleanup.escapeIdentifier(templateDatabase)} WITH (FORCE)`);
    await cleanup.end();
    await server.stop();
  };
}
