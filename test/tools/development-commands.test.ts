/**
 * `npm start` (the walk-through on a configured database, and on the embedded default with Ctrl-C) and
 * `npm run db:start` / `db:stop`. One file, so the commands that use the development port never overlap.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEVELOPMENT_SERVER, isDetachedServerRunning } from '../../scripts/lib/embedded-server.js';
import type { Environment } from '../../src/config/settings.js';
import { queryOnce } from '../support/query-once.js';
import { runScript } from '../support/run-script.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
const start = (env: Environment, interruptAfter?: string) =>
  runScript(['scripts/start.ts'], { cwd: emptyDir, env, ...(interruptAfter && { interruptAfter }) });
const dbServer = (command: 'start' | 'stop') =>
  runScript(['scripts/db-server.ts', command], { cwd: emptyDir, env: {} });
let emptyDir: string;

beforeAll(async () => {
  // A working directory without .env, so "nothing configured" really is nothing.
  emptyDir = await mkdtemp(join(tmpdir(), 'shared-db-start-'));
});
afterAll(() => rm(emptyDir, { recursive: true, force: true }));

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
    const devServerWasRunning = await isDetachedServerRunning();
    const run = await start({}, '▶ Basic Usage: create a user');
    expect(run.code).toBe(130);
    expect(run.output).toContain('Interrupted: cleaning up and stopping');
    expect(run.output).toContain('▶ Clean up');
    if (devServerWasRunning) {
      // `npm run db:start` owns that server: npm start uses it and leaves it running.
      expect(run.output).toContain('Using the development server');
      expect(await portAnswers(DEVELOPMENT_SERVER.port)).toBe(true);
    } else {
      expect(run.output).toContain(`starting embedded PostgreSQL on 127.0.0.1:${DEVELOPMENT_SERVER.port}`);
      expect(run.output).toContain('Embedded PostgreSQL stopped.');
      expect(await portAnswers(DEVELOPMENT_SERVER.port)).toBe(false);
    }
  });
});

describe('npm run db:start / db:stop', () => {
  it('keeps a migrated development server running between the two, and prints its URL', async () => {
    const wasRunning = await isDetachedServerRunning();
    const started = await dbServer('start');
    expect(started.code).toBe(0);
    const url = `postgres://postgres:postgres@127.0.0.1:${DEVELOPMENT_SERVER.port}/${DEVELOPMENT_SERVER.database}`;
    expect(started.output).toContain(url);
    expect(started.output).toContain(wasRunning ? 'already running' : 'development server started');
    expect(await isDetachedServerRunning()).toBe(true);

    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query("SELECT to_regclass('public.pg_roles')::text AS roles");
    await client.end();
    expect(rows).toEqual([{ roles: 'pg_roles' }]);

    // Somebody's own development server stays up; one this test started is stopped again.
    if (wasRunning) return;
    const stopped = await dbServer('stop');
    expect(stopped.code).toBe(0);
    expect(stopped.output).toContain('development server stopped');
    expect(await portAnswers(DEVELOPMENT_SERVER.port)).toBe(false);
    expect((await dbServer('stop')).output).toContain('not running');
  });
});
