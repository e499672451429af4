/**
 * Migrations on a database that is in use: a migration that needs a lock a long transaction holds fails
 * fast (lock_timeout) instead of stalling everyone; the CONCURRENTLY index migration never fails a
 * write; two runs at once serialise on the migration lock.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import {
  ConfigError,
  MigrationInProgressError,
  MigrationLockTimeoutError,
} from '../../src/errors/classes.js';
import { MIGRATION_LOCK_KEY, MIGRATIONS_DIR, migrate } from '../../src/migrate/migrate.js';
import { settingsFor } from '../support/connection-settings.js';
import { queryOnce } from '../support/query-once.js';
import { schemaSnapshot } from '../support/schema-snapshot.js';
import { sleep } from '../support/sleep.js';
import { useEmptyDatabases } from '../support/test-database.js';

const run = promisify(execFile);
const adminUrl = inject('adminUrl');
const emptyDatabase = useEmptyDatabases('shared_db_load');

const COLUMN_MIGRATION = '1795773600003_add-users-profile-image';
const INDEX_MIGRATION = '1795773600004_index-users-profile-image-concurrently';
/** Every migration, and how many there are up to and including INDEX_MIGRATION (the later ones stay down). */
const MIGRATION_FILES = (await readdir(MIGRATIONS_DIR)).filter((file) => file.endsWith('.ts')).sort();
const MIGRATION_COUNT = MIGRATION_FILES.length;
const THROUGH_INDEX = MIGRATION_FILES.indexOf(`${INDEX_MIGRATION}.ts`) + 1;

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/**
 * Resolves once a session of the database waits for a lock while running a statement matching `text`,
 * or once `meanwhile` has settled (the statement may have waited and given up between two looks).
 */
async function waitingOn(url: string, text: RegExp, meanwhile: Promise<unknown>): Promise<void> {
  let settled = false;
  meanwhile.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    const rows = await queryOnce<{ query: string }>(
      url,
      `SELECT query FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()`,
    );
    if (rows.some((row) => text.test(row.query))) return;
    await sleep(25);
  }
}

describe('a migration behind a long transaction', () => {
  it('fails within lock_timeout with a clear message, applies nothing, and succeeds once the blocker ends', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: THROUGH_INDEX });
    expect(await migrate(settingsFor(url), { direction: 'down', count: 2 })).toEqual([
      INDEX_MIGRATION,
      COLUMN_MIGRATION,
    ]);

    // A long transaction that has read pg_users: ALTER TABLE needs ACCESS EXCLUSIVE and must wait for it.
    const blocker = await connect(url);
    await blocker.query('BEGIN');
    await blocker.query('LOCK TABLE pg_users IN ACCESS SHARE MODE');
    const { rows } = await blocker.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const blockerPid = rows[0]?.pid;
    try {
      const lockTimeoutMs = 1000;
      const started = performance.now();
      const attempt = migrate(settingsFor(url), { direction: 'up', lockTimeoutMs }).then(
        () => undefined,
        (error: unknown) => ({ error, ms: performance.now() - started }),
      );
      await waitingOn(url, /ALTER TABLE public\.pg_users ADD COLUMN profile_image/, attempt);
      // A reader arriving now queues behind the waiting ALTER TABLE; the timeout releases it too.
      const reader = queryOnce<{ n: number }>(url, 'SELECT count(*)::int AS n FROM pg_users');

      const failed = await attempt;
      expect(failed).toBeDefined();
      const { error, ms } = failed as { error: Error; ms: number };
      expect(error).toBeInstanceOf(MigrationLockTimeoutError);
      // The holders are read once the wait is over, oldest transaction first: the blocker, then possibly
      // the reader, if it got its lock and still runs by then (its transaction may already have ended by
      // the time the server reports transactions, and then has no age).
      const { holders } = error as MigrationLockTimeoutError;
      expect(holders[0]).toMatchObject({
        pid: blockerPid,
        mode: 'AccessShareLock',
        table: 'public.pg_users',
      });
      expect(holders.length).toBeLessThanOrEqual(2);
      for (const holder of holders)
        expect(holder).toMatchObject({ mode: 'AccessShareLock', table: 'public.pg_users' });
      expect(holders[0]?.transactionSeconds).toEqual(expect.any(Number));
      const who = holders
        .map(
          (h) =>
            `pid ${h.pid} ${h.mode} on ${h.table}` +
            (h.transactionSeconds === undefined ? '' : `, its transaction open ${h.transactionSeconds} s`),
        )
        .join('; ');
      expect(error.message).toBe(
        `lock timeout: another transaction holds a lock on public.pg_users (${who}); ` +
          `migration ${COLUMN_MIGRATION} waited ${lockTimeoutMs} ms (lock_timeout) and stopped, not applied. ` +
          'Try again when it ends (or allow a longer wait with --lock-timeout=MS)',
      );
      expect(error).toMatchObject({ code: '55P03', migration: COLUMN_MIGRATION, lockTimeoutMs });
      expect((error.cause as { code?: string }).code).toBe('55P03');
      // It waited the whole lock_timeout, and gave up while the blocker still held its lock (the blocker
      // commits only below); so did the reader queued behind it get through.
      expect(ms).toBeGreaterThanOrEqual(lockTimeoutMs);
      expect(await reader).toEqual([{ n: 0 }]);
      expect(await queryOnce(url, 'SELECT state FROM pg_stat_activity WHERE pid = $1', [blockerPid])).toEqual(
        [{ state: 'idle in transaction' }],
      );

      // Nothing half-applied: no column, no record, and the index migration never started.
      const snapshot = await schemaSnapshot(url);
      expect(snapshot.columns.filter((column) => column.includes('profile_image'))).toEqual([]);
      expect(snapshot.migrations).not.toContain(COLUMN_MIGRATION);
      expect(snapshot.migrations).toHaveLength(3);
    } finally {
      await blocker.query('COMMIT');
      await blocker.end();
    }

    expect(await migrate(settingsFor(url), { direction: 'up', lockTimeoutMs: 1000, count: 2 })).toEqual([
      COLUMN_MIGRATION,
      INDEX_MIGRATION,
    ]);
    expect((await schemaSnapshot(url)).indexes).toContain(
      'CREATE INDEX pg_users_profile_image_idx ON public.pg_users USING btree (profile_image) WHERE (profile_image IS NOT NULL)',
    );
  });

  it('refuses a lock timeout that would not bound the wait, and a negative run-lock wait', async () => {
    const settings = settingsFor(adminUrl);
    for (const [option, value] of [
      ['lockTimeoutMs', 0],
      ['lockTimeoutMs', 1.5],
      ['advisoryLockWaitMs', -1],
    ] as const) {
      const error = await migrate(settings, { direction: 'up', [option]: value }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ setting: option });
    }
  });

  it('takes --lock-timeout from the command line', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: 3 });
    const blocker = await connect(url);
    await blocker.query('BEGIN');
    await blocker.query('SELECT count(*) FROM pg_users');
    try {
      const cli = await run(
        join(process.cwd(), 'node_modules/.bin/tsx'),
        [join(process.cwd(), 'scripts/migrate.ts'), 'up', '--lock-timeout=300'],
        { env: { PATH: process.env.PATH, POSTGRES_URL_NON_POOLING: url, POSTGRES_PRISMA_URL: url } },
      ).catch((error: { code: number; stderr: string }) => error);
      expect(cli).toMatchObject({ code: 1 });
      expect((cli as { stderr: string }).stderr).toMatch(
        new RegExp(
          `✖ lock timeout: another transaction holds a lock on public\\.pg_users \\(pid \\d+ AccessShareLock .*\\); ` +
            `migration ${COLUMN_MIGRATION} waited 300 ms \\(lock_timeout\\) and stopped, not applied\\. Try again when it ends`,
        ),
      );
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
    }
    expect((await schemaSnapshot(url)).migrations).toHaveLength(3);
  });
});

describe('the CONCURRENTLY index migration under a steady stream of writes', () => {
  it('never fails a write while the index is dropped and built again', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: THROUGH_INDEX });
    // Enough rows that the build takes a while.
    await queryOnce(
      url,
      `INSERT INTO pg_users (id, email, profile_image)
       SELECT 'seed' || i, 'seed' || i || '@example.com', CASE WHEN i % 3 = 0 THEN 'https://img/' || i END
         FROM generate_series(1, 100000) AS i`,
    );
    await queryOnce(url, 'ANALYZE pg_users');

    interface Write {
      worker: number;
      start: number;
      end: number;
    }
    const writes: Write[] = [];
    const failures: unknown[] = [];
    let writing = true;
    const writers = new pg.Pool({ connectionString: url, max: 4 });
    const timed = async (worker: number, text: string, params: unknown[]) => {
      const start = performance.now();
      try {
        await writers.query(text, params);
        writes.push({ worker, start, end: performance.now() });
      } catch (error) {
        failures.push(error);
      }
    };
    const writer = async (worker: number) => {
      for (let i = 0; writing; i += 1) {
        const id = `w${worker}-${i}`;
        await timed(worker, 'INSERT INTO pg_users (id, email, profile_image) VALUES ($1, $2, $3)', [
          id,
          `${id}@example.com`,
          i % 2 === 0 ? `https://img/${id}` : null,
        ]);
        await timed(worker, 'INSERT INTO pg_posts (id, title, "authorId") VALUES ($1, $2, $3)', [
          `p-${id}`,
          'Hello',
          id,
        ]);
      }
    };

    let build = { start: 0, end: 0 };
    let drop = { start: 0, end: 0 };
    const running = Promise.all([0, 1, 2, 3].map(writer));
    try {
      await sleep(200);
      drop.start = performance.now();
      expect(await migrate(settingsFor(url), { direction: 'down' })).toEqual([INDEX_MIGRATION]);
      drop = { ...drop, end: performance.now() };
      await sleep(100);
      build.start = performance.now();
      expect(await migrate(settingsFor(url), { direction: 'up', count: 1 })).toEqual([INDEX_MIGRATION]);
      build = { ...build, end: performance.now() };
      await sleep(200);
    } finally {
      writing = false;
      await running;
      await writers.end();
    }

    expect(failures).toEqual([]);
    const during = (window: { start: number; end: number }) =>
      writes.filter((write) => write.end >= window.start && write.start <= window.end);
    const longest = (list: Write[]) => Math.max(0, ...list.map((write) => write.end - write.start));
    const duringBuild = during(build);
    // Every writer kept writing through the build: each has a write that overlaps it.
    expect(new Set(duringBuild.map((write) => write.worker))).toEqual(new Set([0, 1, 2, 3]));
    const format = (ms: number) => ms.toLocaleString('en-US', { maximumFractionDigits: 1 });
    console.log(
      `longest write wait during CREATE INDEX CONCURRENTLY: ${format(longest(duringBuild))} ms over ` +
        `${duringBuild.length.toLocaleString('en-US')} writes (migration ${format(build.end - build.start)} ms); ` +
        `during DROP INDEX CONCURRENTLY: ${format(longest(during(drop)))} ms over ` +
        `${during(drop).length.toLocaleString('en-US')} writes; ${writes.length.toLocaleString('en-US')} writes in all, none failed`,
    );

    const [index] = await queryOnce<{ valid: boolean; definition: string }>(
      url,
      `SELECT indisvalid AS valid, pg_get_indexdef(indexrelid) AS definition
         FROM pg_index WHERE indexrelid = 'public.pg_users_profile_image_idx'::regclass`,
    );
    expect(index).toEqual({
      valid: true,
      definition:
        'CREATE INDEX pg_users_profile_image_idx ON public.pg_users USING btree (profile_image) WHERE (profile_image IS NOT NULL)',
    });
  });
});

describe('two migration runs at once', () => {
  it('serialises them on the migration lock: one applies everything, the other waits and finds nothing to do', async () => {
    const [url, reference] = await Promise.all([emptyDatabase(), emptyDatabase()]);
    await migrate(settingsFor(reference), { direction: 'up' });

    const runs = await Promise.all([
      migrate(settingsFor(url), { direction: 'up' }),
      migrate(settingsFor(url), { direction: 'up' }),
    ]);
    expect(runs.map((ran) => ran.length).sort((a, b) => a - b)).toEqual([0, MIGRATION_COUNT]);
    expect(await schemaSnapshot(url)).toEqual(await schemaSnapshot(reference));
  });

  it('gives up after advisoryLockWaitMs with a message that says what to do, having changed nothing', async () => {
    const url = await emptyDatabase();
    const holder = await connect(url);
    await holder.query('SELECT pg_advisory_lock($1::bigint)', [String(MIGRATION_LOCK_KEY)]);
    const { rows } = await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    try {
      for (const advisoryLockWaitMs of [500, 0]) {
        const started = performance.now();
        const error = await migrate(settingsFor(url), { direction: 'up', advisoryLockWaitMs }).catch(
          (caught: unknown) => caught,
        );
        const ms = performance.now() - started;
        expect(error).toBeInstanceOf(MigrationInProgressError);
        expect((error as MigrationInProgressError).holderPid).toBe(rows[0]?.pid);
        expect((error as Error).message).toMatch(
          new RegExp(
            `^another migration run holds the migration lock of database "${settingsFor(url).database}" ` +
              `\\(pid ${rows[0]?.pid}, connected \\d+ s ago\\); ${advisoryLockWaitMs ? 'waited 500 ms for it and ' : ''}` +
              'changed nothing\\. Run migrate up again when it has finished \\(it applies whatever is still pending\\), ' +
              'or wait longer with --advisory-lock-wait=MS',
          ),
        );
        // It waited as long as it was told to, and gave up while the holder still held the lock.
        expect(ms).toBeGreaterThanOrEqual(advisoryLockWaitMs);
      }
      // Not even the migrations table was created.
      expect(await queryOnce(url, "SELECT to_regclass('public.pgmigrations') AS t")).toEqual([{ t: null }]);
    } finally {
      await holder.end();
    }
    expect(await migrate(settingsFor(url), { direction: 'up', advisoryLockWaitMs: 0 })).toHaveLength(
      MIGRATION_COUNT,
    );
  });
});
