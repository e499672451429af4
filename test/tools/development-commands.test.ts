/**
 * `npm start` (the walk-through on a configured database, and on the embedded default with Ctrl-C) and
 * `npm run db:start` / `db:stop`. One file, so the commands that use the development server never
 * overlap. They run on a development server of this file's own (DEVELOPMENT_SERVER_PORT,
 * DEVELOPMENT_SERVER_DATA_DIR): a free port and a temporary folder, so another test run, or the
 * developer's own `npm run db:start`, is never touched.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SERVER, freePort, isDetachedServerRunning } from '../../scripts/lib/embedded-server.js';
import type { Environment } from '../../src/config/settings.js';
import { queryOnce } from '../support/query-once.js';
import { runScript } from '../support/run-script.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let emptyDir: string;
let serverRoot: string;
/** This file's development server: where the commands below keep it. */
const development = { port: 0, dataDir: '' };
const developmentEnv = (): Environment => ({
  DEVELOPMENT_SERVER_PORT: String(development.port),
  DEVELOPMENT_SERVER_DATA_DIR: development.dataDir,
});
const start = (env: Environment, interruptAfter?: string) =>
  runScript(['scripts/start.ts'], {
    cwd: emptyDir,
    env: { ...developmentEnv(), ...env },
    ...(interruptAfter && { interruptAfter }),
  });
const dbServer = (command: 'start' | 'stop') =>
  runScript(['scripts/db-server.ts', command], { cwd: emptyDir, env: developmentEnv() });

beforeAll(async () => {
  // A working directory without .env, so "nothing configured" really is nothing.
  emptyDir = await mkdtemp(join(tmpdir(), 'shared-db-start-'));
  // The server runs as the postgres OS user under root: it must reach the data directory inside.
  serverRoot = await mkdtemp(join(tmpdir(), 'shared-db-development-'));
  await chmod(serverRoot, 0o755);
  development.port = await freePort();
  development.dataDir = join(serverRoot, 'postgres');
});
afterAll(async () => {
  // A failed test may leave the detached server running: stop it before its folder goes.
  if (await isDetachedServerRunning(development.dataDir)) await dbServer('stop');
  await rm(emptyDir, { recursive: true, force: true });
  await rm(serverRoot, { recursive: true, force: true });
});

async function count(table: string): Promise<number> {
  const [row] = await queryOnce<{ n: number }>(testDb.url, `SELECT count(*)::int AS n FROM public.${table}`);
  return row?.n as number;
}

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => {
      socket.end();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  it('walks through the spec on the configured database, starts nothing, and cleans up', async () => {
    const run = await start(testDb.env());
    expect(run.code).toBe(0);
    expect(run.output).toContain('Using the configured database');
    expect(run.output).not.toContain('starting embedded');
    expect(run.output).toContain("Basic Usage: the spec's raw aggregate query, verbatim");
    expect(run.output).toMatch(/post_count: '1',\s+roles: 'author'/);
    expect(run.output).toContain('✅ PostgreSQL integration working correctly');
    expect(await count('pg_users')).toBe(0);
    expect(await count('pg_posts')).toBe(0);
    expect(await count('pg_roles')).toBe(0);
  });

  it('with nothing configured, starts embedded PostgreSQL and stops it cleanly on Ctrl-C', async () => {
    expect(await isDetachedServerRunning(development.dataDir)).toBe(false);
    const run = await start({}, '▶ Basic Usage: create a user');
    expect(run.code).toBe(130);
    expect(run.output).toContain('Interrupted: cleaning up and stopping');
    expect(run.output).toContain('▶ Clean up');
    expect(run.output).toContain(`starting embedded PostgreSQL on 127.0.0.1:${development.port}`);
    expect(run.output).toContain('Embedded PostgreSQL stopped.');
    expect(await portAnswers(development.port)).toBe(false);
  });

  it('uses the server `npm run db:start` keeps running, and leaves it running', async () => {
    expect((await dbServer('start')).code).toBe(0);
    const run = await start({}, '▶ Basic Usage: create a user');
    expect(run.code).toBe(130);
    expect(run.output).toContain('Using the development server');
    expect(run.output).not.toContain('starting embedded');
    expect(await portAnswers(development.port)).toBe(true);
    expect((await dbServer('stop')).code).toBe(0);
  });
});

describe('npm run db:start / db:stop', () => {
  it('keeps a migrated development server running between the two, and prints its URL', async () => {
    expect(await isDetachedServerRunning(development.dataDir)).toBe(false);
    const started = await dbServer('start');
    expect(started.code).toBe(0);
    const url = `postgres://postgres:postgres@127.0.0.1:${development.port}/${DEVELOPMENT_SERVER.database}`;
    expect(started.output).toContain(url);
    expect(started.output).toContain('development server started');
    expect(await isDetachedServerRunning(development.dataDir)).toBe(true);
    expect((await dbServer('start')).output).toContain('already running');

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT to_regclass('public.pg_roles')::text AS roles");
    await client.end();
    expect(rows).toEqual([{ roles: 'pg_roles' }]);

    const stopped = await dbServer('stop');
    expect(stopped.code).toBe(0);
    expect(stopped.output).toContain('development server stopped');
    expect(await portAnswers(development.port)).toBe(false);
    expect((await dbServer('stop')).output).toContain('not running');
  });

  it('refuses a development port that is not a port number', async () => {
    const run = await runScript(['scripts/db-server.ts', 'start'], {
      cwd: emptyDir,
      env: { ...developmentEnv(), DEVELOPMENT_SERVER_PORT: '5432x' },
    });
    expect(run.code).not.toBe(0);
    expect(run.output).toContain(
      'DEVELOPMENT_SERVER_PORT must be a port number from 1 to 65535, got "5432x"',
    );
  });
});
