/**
 * The package as a service gets it: `npm pack` (which builds dist/, in a copy of the repository, so that
 * two test runs never write one dist/ at once and no older build is packed), installed into a service of its own
 * and imported by plain `node`, with no TypeScript loader. The service applies the built migrations to an
 * empty database, writes and reads through the repositories, and type-checks against the declarations.
 * It also creates migrations of its own in its own folder and runs them after the package's.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryOnce as query } from '../support/query-once.js';
import {
  createEmptyDatabase,
  dropDatabase,
  uniqueDatabaseName,
  useTestDatabase,
} from '../support/test-database.js';

const run = promisify(execFile);
/** What the copy packed from leaves out: dependencies (linked instead), builds, data and local state. */
const NOT_COPIED = new Set([
  'node_modules',
  '.git',
  'dist',
  '.data',
  '.cache',
  'coverage',
  '.scratch',
  '.env',
]);
const testDb = useTestDatabase();
const repository = process.cwd();
const typescriptCompiler = join(repository, 'node_modules', 'typescript', 'bin', 'tsc');
let service: string;
let source: string;
let emptyDatabase: string;
let serviceDatabase: string;

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

/** `create` makes two migrations in the service's own folder; `up` and `down` run that folder. */
const SERVICE_MIGRATIONS_SCRIPT = `
import { ConfigError, createMigration, loadConfig, migrate } from 'shared-db';

const step = process.argv[2];
const dir = 'migrations';
if (step === 'create') {
  const table = await createMigration('add-notes', { dir });
  const index = await createMigration('index-notes-concurrently', { dir, language: 'js' });
  const withoutDir = await createMigration('into-the-package').catch((error) => error instanceof ConfigError && error.setting);
  console.log(JSON.stringify({ table, index, withoutDir }));
} else {
  const direct = loadConfig({ ...process.env, POSTGRES_URL_NON_POOLING: process.env.SERVICE_DATABASE_URL }).direct;
  console.log(JSON.stringify(await migrate(direct, { direction: step, dir })));
}
`;

/** The bodies the service's developer writes into the two created files, with the package's helpers. */
const NOTES_TABLE = {
  import: "import { type MigrationBuilder, migrationSchema } from 'shared-db';",
  up: `export async function up(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  pgm.sql(\`CREATE TABLE \${schema.qualify('notes')} (
    id text PRIMARY KEY,
    "userId" text NOT NULL REFERENCES \${schema.qualify('pg_users')} (id) ON DELETE CASCADE)\`);
}`,
  down: `export async function down(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  pgm.sql(\`DROP TABLE \${schema.qualify('notes')}\`);
}`,
};
const NOTES_INDEX = {
  import: "import { createIndexConcurrently, migrationSchema } from 'shared-db';",
  up: `export async function up(pgm) {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  await createIndexConcurrently(pgm, schema, 'notes_user_id_idx', \`\${schema.qualify('notes')} ("userId")\`);
}`,
  down: `export async function down(pgm) {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  pgm.sql(\`DROP INDEX CONCURRENTLY IF EXISTS \${schema.qualify('notes_user_id_idx')}\`);
}`,
};

/** Fills a created migration: its empty up and down get bodies, its first line the imports they need. */
async function fill(path: string, body: { import: string; up: string; down: string }): Promise<void> {
  const created = await readFile(path, 'utf8');
  const filled = created
    .replace(/^import type \{ MigrationBuilder \} from 'shared-db';$/m, body.import)
    .replace(/^export async function up\(.*\{\}$/m, body.up)
    .replace(/^export async function down\(.*\{\}$/m, body.down);
  expect(filled.match(/\{\}$/gm)).toBeNull();
  await writeFile(path, path.endsWith('.js') ? `${body.import}\n${filled}` : filled);
}

beforeAll(async () => {
  emptyDatabase = uniqueDatabaseName('shared_db_package');
  serviceDatabase = uniqueDatabaseName('shared_db_package_service');
  service = await mkdtemp(join(tmpdir(), 'shared-db-service-'));
  source = await mkdtemp(join(tmpdir(), 'shared-db-source-'));
  await cp(repository, source, {
    recursive: true,
    filter: (path) => !NOT_COPIED.has(relative(repository, path)),
  });
  await symlink(join(repository, 'node_modules'), join(source, 'node_modules'));
  const packed = (await npm(['pack', '--pack-destination', service, '--silent'], source)).trim();
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
});

afterAll(async () => {
  if (service) await rm(service, { recursive: true, force: true });
  if (source) await rm(source, { recursive: true, force: true });
  await dropDatabase(testDb.adminUrl, emptyDatabase).catch(() => undefined);
  await dropDatabase(testDb.adminUrl, serviceDatabase).catch(() => undefined);
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
  });

  it("creates the service's own migrations in its folder and runs them after the package's, under plain node", async () => {
    const serviceUrl = await createEmptyDatabase(testDb.adminUrl, serviceDatabase);
    const installedMigrations = join(service, 'node_modules', 'shared-db', 'dist', 'migrations');
    const packageFiles = await readdir(installedMigrations);
    await mkdir(join(service, 'migrations'));
    await writeFile(join(service, 'service-migrations.mjs'), SERVICE_MIGRATIONS_SCRIPT);
    const step = async (name: string) => {
      const { stdout } = await run(process.execPath, ['service-migrations.mjs', name], {
        cwd: service,
        env: { PATH: process.env.PATH, SERVICE_DATABASE_URL: serviceUrl },
      });
      return JSON.parse(stdout.trim().split('\n').at(-1) as string);
    };

    const created: { table: string; index: string; withoutDir: string } = await step('create');
    expect(created.table).toMatch(new RegExp(`^${join(service, 'migrations')}/\\d{13}_add-notes\\.ts$`));
    expect(created.index).toMatch(
      new RegExp(`^${join(service, 'migrations')}/\\d{13}_index-notes-concurrently\\.js$`),
    );
    // Never into the installed package: without a dir it is refused.
    expect(created.withoutDir).toBe('dir');
    expect(await readdir(installedMigrations)).toEqual(packageFiles);

    await fill(created.table, NOTES_TABLE);
    await fill(created.index, NOTES_INDEX);
    // The TypeScript one type-checks against the declarations: MigrationBuilder and migrationSchema.
    await writeFile(
      join(service, 'tsconfig.migrations.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          // The declarations themselves are checked strictly by the next test.
          skipLibCheck: true,
          types: [],
        },
        files: [created.table],
      }),
    );
    const checked = await run(process.execPath, [typescriptCompiler, '-p', 'tsconfig.migrations.json'], {
      cwd: service,
    }).then(
      () => 'ok',
      (error: { stdout?: string }) => error.stdout ?? String(error),
    );
    expect(checked).toBe('ok');

    const packageNames = packageFiles
      .filter((name) => name.endsWith('.js'))
      .sort()
      .map((name) => name.replace(/\.js$/, ''));
    const serviceNames = [created.table, created.index].map((path) => basename(path).replace(/\.[jt]s$/, ''));
    expect(await step('up')).toEqual([...packageNames, ...serviceNames]);
    expect(await step('up')).toEqual([]);
    const index = async () =>
      query<{ valid: boolean; definition: string }>(
        serviceUrl,
        `SELECT indisvalid AS valid, pg_get_indexdef(indexrelid) AS definition
           FROM pg_index WHERE indexrelid = to_regclass('public.notes_user_id_idx')`,
      );
    expect(await index()).toEqual([
      { valid: true, definition: 'CREATE INDEX notes_user_id_idx ON public.notes USING btree ("userId")' },
    ]);
    const recorded = async (table: string) =>
      (await query<{ name: string }>(serviceUrl, `SELECT name FROM ${table} ORDER BY id`)).map(
        (row) => row.name,
      );
    expect(await recorded('pgmigrations')).toEqual(packageNames);
    expect(await recorded('pgmigrations_service')).toEqual(serviceNames);

    // down reverts the service's newest, and only that.
    expect(await step('down')).toEqual([serviceNames[1]]);
    expect(await index()).toEqual([]);
    expect(await query(serviceUrl, "SELECT to_regclass('public.notes') IS NOT NULL AS notes")).toEqual([
      { notes: true },
    ]);
    expect(await recorded('pgmigrations')).toEqual(packageNames);
  });

  // tsc over the declarations of the package and of its dependencies: the slowest check here.
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
  }, 600_000);
});
