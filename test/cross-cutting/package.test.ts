/**
 * The package as a service gets it: `npm pack` (which builds dist/), installed into a service of its own
 * and imported by plain `node`, with no TypeScript loader. The service applies the built migrations to an
 * empty database, writes and reads through the repositories, and type-checks against the declarations.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEmptyDatabase,
  dropDatabase,
  uniqueDatabaseName,
  useTestDatabase,
} from '../support/test-database.js';

const run = promisify(execFile);
const testDb = useTestDatabase();
const repository = process.cwd();
const typescriptCompiler = join(repository, 'node_modules', 'typescript', 'bin', 'tsc');
let service: string;
let emptyDatabase: string;

/** Runs `npm` with the Node.js that runs the tests first on PATH (CI runs them on 20, 22 and 24). */
async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, {
    cwd,
    env: { ...process.env, PATH: `${join(process.execPath, '..')}:${process.env.PATH}` },
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

const SERVICE_SCRIPT = `
import { createDatabase, loadConfig, migrate, NotFoundError } from 'shared-db';

const applied = await migrate(loadConfig({ ...process.env, POSTGRES_URL_NON_POOLING: process.env.EMPTY_DATABASE_URL }).direct, { direction: 'up' });
const db = createDatabase(loadConfig(process.env), { logger: { error() {}, warn() {}, info() {}, debug() {} } });
try {
  const user = await db.users.create({ email: 'service@example.com', name: 'Service', posts: [{ title: 'Built' }], roles: [{ name: 'reader' }] });
  const read = await db.users.getById(user.id, { include: { posts: true, roles: true } });
  const missing = await db.posts.getById('no-such-post').catch((error) => error instanceof NotFoundError);
  console.log(JSON.stringify({
    applied,
    node: process.version,
    title: read.posts[0].title,
    role: read.roles[0].name,
    createdAtIsDate: read.posts[0].createdAt instanceof Date,
    missing,
  }));
} finally {
  await db.disconnect();
}
`;

const CONSUMER_TS = `
import { createDatabase, type User, type UserWith } from 'shared-db';

const db = createDatabase();
export async function titles(id: string): Promise<string[]> {
  const user: UserWith<{ posts: true }> | undefined = await db.users.findById(id, { include: { posts: true } });
  const plain: User | undefined = user;
  void plain;
  return user ? user.posts.map((post) => post.title) : [];
}
// @ts-expect-error an id is a string: the declarations must say so, or this line is not an error
void db.users.findById(42);
`;

beforeAll(async () => {
  emptyDatabase = uniqueDatabaseName('shared_db_package');
  service = await mkdtemp(join(tmpdir(), 'shared-db-service-'));
  const packed = (await npm(['pack', '--pack-destination', service, '--silent'], repository)).trim();
  const tarball = packed.split('\n').at(-1) as string;
  await writeFile(
    join(service, 'package.json'),
    JSON.stringify({
      name: 'a-service',
      private: true,
      type: 'module',
      dependencies: { 'shared-db': `file:./${tarball}` },
    }),
  );
  await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], service);
}, 180_000);

afterAll(async () => {
  if (service) await rm(service, { recursive: true, force: true });
  await dropDatabase(testDb.adminUrl, emptyDatabase).catch(() => undefined);
});

describe('the built package', () => {
  it('holds JavaScript, declarations and the migrations, no TypeScript to load', async () => {
    const installed = join(service, 'node_modules', 'shared-db');
    const dist = await readdir(join(installed, 'dist', 'src'));
    expect(dist).toContain('index.js');
    expect(dist).toContain('index.d.ts');
    const migrations = (await readdir(join(installed, 'dist', 'migrations'))).filter((name) =>
      name.endsWith('.js'),
    );
    expect(migrations.length).toBeGreaterThanOrEqual(7);
  });

  it('runs under plain node: the built migrations on an empty database, then the repositories', async () => {
    const emptyUrl = await createEmptyDatabase(testDb.adminUrl, emptyDatabase);
    await writeFile(join(service, 'service.mjs'), SERVICE_SCRIPT);
    const { stdout } = await run(process.execPath, ['service.mjs'], {
      cwd: service,
      env: { PATH: process.env.PATH, ...testDb.env(), EMPTY_DATABASE_URL: emptyUrl },
    });
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string);
    expect(result.node).toBe(process.version);
    expect(result.applied).toHaveLength(
      (await readdir(join(repository, 'migrations'))).filter((name) => name.endsWith('.ts')).length,
    );
    expect(result).toMatchObject({ title: 'Built', role: 'reader', createdAtIsDate: true, missing: true });
  }, 60_000);

  it('type-checks a TypeScript service against its declarations (NodeNext resolution)', async () => {
    await writeFile(join(service, 'consumer.ts'), CONSUMER_TS);
    await writeFile(
      join(service, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          types: [],
        },
        files: ['consumer.ts'],
      }),
    );
    const checked = await run(process.execPath, [typescriptCompiler, '-p', '.'], { cwd: service }).then(
      () => 'ok',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(checked).toBe('ok');
  }, 60_000);
});
