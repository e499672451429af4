/**
 * `npm run db:check` against the real test server: as a child process, a passing check and the
 * failures a user meets first (no configuration, server down, wrong database or role, no tables, a
 * step failing half-way), each with one reason line and never the password; then explainFailure on
 * further real failures (unknown host, timeout, wrong password, TLS, permissions), raised in-process.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/lib/embedded-server.js';
import { explainFailure } from '../../scripts/lib/explain-failure.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment } from '../../src/config/settings.js';
import { createDatabase } from '../../src/database/database.js';
import { consoleLogger } from '../../src/logging/logger.js';
import { databaseUrl } from '../support/database-url.js';
import { tableCounts } from '../support/row-counts.js';
import {
  cloneDatabase,
  dropDatabase,
  uniqueDatabaseName,
  useTestDatabase,
} from '../support/test-database.js';

const testDb = useTestDatabase();
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/check-connection.ts');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const SECRET = 'Sup3r-Secret-pw';
const silent = consoleLogger('silent');

interface Run {
  code: number | null;
  output: string;
  /** The ✖ lines: exactly one when the check fails. */
  reasons: string[];
}

// The child runs in an empty directory, so no .env can add to the environment it is given.
let cwd: string;
beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'db-check-'));
});
afterAll(() => rm(cwd, { recursive: true, force: true }));

function runCheck(env: Environment): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, [SCRIPT], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.once('error', reject);
    child.once('close', (code) => {
      const reasons = output.split('\n').filter((line) => line.startsWith('✖'));
      resolve({ code, output, reasons });
    });
  });
}

/** The test database's URL with another user, password, host, port or database. */
function urlWith(parts: {
  user?: string;
  password?: string;
  host?: string;
  port?: number;
  database?: string;
}) {
  const url = new URL(parts.database ? databaseUrl(testDb.url, parts.database) : testDb.url);
  if (parts.user) url.username = parts.user;
  if (parts.password) url.password = parts.password;
  if (parts.host) url.hostname = parts.host;
  if (parts.port) url.port = String(parts.port);
  return url.toString();
}

const only = (url: string): Environment => ({ ENABLE_POSTGRES: 'true', POSTGRES_PRISMA_URL: url });

async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Whether the server rejects a wrong password (false under trust authentication). */
async function serverChecksPasswords(): Promise<boolean> {
  const url = new URL(inject('adminUrl'));
  url.password = `wrong-${randomBytes(4).toString('hex')}`;
  const client = new pg.Client({ connectionString: url.toString() });
  try {
    await client.connect();
    await client.end();
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === '28P01') return true;
    throw error;
  }
}
const checksPasswords = await serverChecksPasswords();

describe('npm run db:check', () => {
  it.concurrent('says how to configure a database when none is', async ({ expect }) => {
    const run = await runCheck({});
    expect(run.code).toBe(1);
    expect(run.reasons).toHaveLength(1);
    expect(run.reasons[0]).toMatch(/POSTGRES_PRISMA_URL.*\.env.*npm run db:start/);
  });

  it.concurrent('passes on a migrated database and leaves no rows behind', async ({ expect }) => {
    const run = await runCheck(testDb.env());
    expect(run.output).toMatch(/server version: PostgreSQL \d+/);
    expect(run.output).toMatch(/✔ SELECT 1 round trip \(\d+\.\d ms\)/);
    expect(run.output).toContain('✔ read the user back with its posts and roles in one statement');
    expect(run.output).toContain('✅ PostgreSQL connection OK');
    expect(run.code).toBe(0);
    expect(await tableCounts(testDb.url)).toEqual({ users: 0, posts: 0, roles: 0 });
  });

  it.concurrent('names host:port when nothing listens there, without the password', async ({ expect }) => {
    const port = await freePort();
    const run = await runCheck(only(urlWith({ password: SECRET, host: '127.0.0.1', port })));
    expect(run.code).not.toBe(0);
    expect(run.reasons).toEqual([
      `✖ cannot reach 127.0.0.1:${port}: nothing is listening (is PostgreSQL running?)`,
    ]);
    expect(run.output).not.toContain(SECRET);
  });

  it.concurrent('says when the database does not exist', async ({ expect }) => {
    const database = uniqueDatabaseName('db_check_missing');
    const run = await runCheck(only(urlWith({ database })));
    expect(run.code).not.toBe(0);
    expect(run.reasons[0]).toMatch(new RegExp(`database "${database}" does not exist on .+:\\d+`));
  });

  it.concurrent('rejects a role that does not exist', async ({ expect }) => {
    const user = `nobody_${randomBytes(4).toString('hex')}`;
    const run = await runCheck(only(urlWith({ user, password: SECRET })));
    expect(run.code).not.toBe(0);
    expect(run.reasons).toHaveLength(1);
    // Password authentication hides whether the role exists (28P01); trust reports it (28000).
    expect(run.reasons[0]).toMatch(new RegExp(`(wrong password for user|rejected user) "${user}"`));
    expect(run.output).not.toContain(SECRET);
  });

  it.concurrent('prints a configuration error as is, without the password', async ({ expect }) => {
    const run = await runCheck(only(`postgresql://app:${SECRET}@localhost:99999/app`));
    expect(run.code).not.toBe(0);
    expect(run.reasons[0]).toMatch(/^✖ POSTGRES_PRISMA_URL: /);
    expect(run.output).not.toContain(SECRET);
  });

  describe('on databases of their own', () => {
    const adminUrl = inject('adminUrl');
    const created: string[] = [];
    afterAll(() => Promise.all(created.map((name) => dropDatabase(adminUrl, name))));

    it.concurrent('says to run the migrations on an empty database', async ({ expect }) => {
      const name = uniqueDatabaseName('db_check_empty');
      created.push(name);
      await withAdmin(adminUrl, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
      const run = await runCheck(only(databaseUrl(adminUrl, name)));
      expect(run.code).not.toBe(0);
      expect(run.reasons[0]).toMatch(/the tables are missing: run `npm run migrate up`/);
    });

    it.concurrent('deletes what it wrote when a later step fails', async ({ expect }) => {
      const name = uniqueDatabaseName('db_check_no_role');
      created.push(name);
      await cloneDatabase(adminUrl, inject('templateDatabase'), name);
      const url = databaseUrl(adminUrl, name);
      await withAdmin(url, (c) =>
        c.query(`ALTER TABLE public.pg_roles ADD CONSTRAINT no_check CHECK (name <> 'db-check')`),
      );
      const run = await runCheck(only(url));
      expect(run.output).toMatch(/✔ insert a post .*\n✗ insert role db-check /);
      expect(run.code).not.toBe(0);
      expect(run.reasons[0]).toMatch(/violates check constraint "no_check".*\(SQLSTATE 23514\)/);
      expect(await tableCounts(url)).toEqual({ users: 0, posts: 0, roles: 0 });
    });
  });
});

// The reasons for the other failures come from the same real errors, raised in this process (faster).
describe('explainFailure on real failures', () => {
  /** The reason explainFailure gives when the application's first query on `url` fails. */
  async function reasonFor(url: string): Promise<string> {
    const config = loadConfig(only(url));
    const db = createDatabase(config, { logger: silent });
    try {
      await db.executeRaw('SELECT count(*) FROM public.pg_users');
    } catch (error) {
      return explainFailure(error, config.pooled);
    } finally {
      await db.disconnect();
    }
    throw new Error(`the query on ${url} succeeded`);
  }

  it.concurrent('says when the host name does not resolve', async ({ expect }) => {
    expect(await reasonFor(urlWith({ host: 'db-check.invalid' }))).toMatch(
      /^cannot reach db-check\.invalid:\d+: unknown host "db-check\.invalid"/,
    );
  });

  it.concurrent('says when connecting times out', async ({ expect }) => {
    // A listener that accepts and never answers, as a firewall that swallows packets appears to pg.
    const sockets: Socket[] = [];
    const silentServer = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silentServer.listen(0, '127.0.0.1', resolve));
    const { port } = silentServer.address() as { port: number };
    try {
      const reason = await reasonFor(`${urlWith({ host: '127.0.0.1', port })}?connect_timeout=1`);
      expect(reason).toMatch(`cannot reach 127.0.0.1:${port}: timed out connecting`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silentServer.close(resolve));
    }
  });

  it('says the password is wrong, without showing it', async () => {
    if (checksPasswords) {
      const reason = await reasonFor(urlWith({ password: SECRET }));
      const user = new URL(testDb.url).username;
      expect(reason).toMatch(new RegExp(`^wrong password for user "${user}" on .+:\\d+`));
      expect(reason).not.toContain(SECRET);
      return;
    }
    // Under trust authentication the live server never sends 28P01: check the mapping on pg's own error.
    const error = Object.assign(new pg.DatabaseError('password authentication failed', 100, 'error'), {
      severity: 'FATAL',
      code: '28P01',
    });
    const settings = parseConnectionUrl(`postgresql://app:${SECRET}@db.example:5433/app`, 'test');
    const reason = explainFailure(error, settings);
    expect(reason).toMatch(/^wrong password for user "app" on db\.example:5433/);
    expect(reason).not.toContain(SECRET);
  });

  it.concurrent('reports a TLS problem when the server does not offer TLS', async ({ expect }) => {
    expect(await reasonFor(`${testDb.url}?sslmode=require`)).toMatch(/^TLS problem with .+:\d+ .*SSL/);
  });

  it.concurrent('reports permission denied for a role without privileges', async ({ expect }) => {
    const role = `db_check_${randomBytes(4).toString('hex')}`;
    await withAdmin(testDb.adminUrl, (c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${role}'`));
    try {
      expect(await reasonFor(urlWith({ user: role, password: role }))).toMatch(
        new RegExp(`^permission denied for user "${role}": .*pg_users`),
      );
    } finally {
      await withAdmin(testDb.adminUrl, (c) => c.query(`DROP ROLE ${role}`));
    }
  });
});
