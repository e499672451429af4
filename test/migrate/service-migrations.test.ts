/**
 * A service's own migrations (`migrate({ dir })`): run after the package's, recorded in a table of their
 * own, reverted alone, under the same run lock; bad folders and tables refused before anything changes.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { ConfigError, MigrationInProgressError } from '../../src/errors/classes.js';
import { MIGRATION_LOCK_KEY, MIGRATIONS_DIR, migrate } from '../../src/migrate/migrate.js';
import { DEFAULT_SERVICE_MIGRATIONS_TABLE } from '../../src/migrate/service-migrations.js';
import { settingsFor } from '../support/connection-settings.js';
import { queryOnce as query } from '../support/query-once.js';
import { useTempFolders } from '../support/temp-folders.js';
import { useEmptyDatabases } from '../support/test-database.js';

const emptyDatabase = useEmptyDatabases('shared_db_service_migrations');
/** A service's migrations folder holding the files given (name → source). */
const serviceFolder = useTempFolders('shared-db-service-migrations-');
const PACKAGE_MIGRATIONS = (await readdir(MIGRATIONS_DIR))
  .filter((file) => file.endsWith('.ts'))
  .sort()
  .map((file) => file.replace(/\.ts$/, ''));
/** The public surface, as a service's migration imports it (here by path: the folder is outside the package). */
const INDEX = resolve('src/index.js');

const NOTES = '1800000000000_add-notes';
const NOTES_INDEX = '1800000000001_index-notes-concurrently';

/**
 * A table of the service's with a foreign key to the package's pg_users, then an index on it built
 * CONCURRENTLY with the exported helper. Each records whether its session held the run lock.
 */
const SERVICE_MIGRATIONS = {
  [`${NOTES}.ts`]: `
import { type MigrationBuilder, migrationSchema } from '${INDEX}';

export async function up(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  pgm.sql(\`CREATE TABLE \${schema.qualify('notes')} (
    id text PRIMARY KEY,
    "userId" text NOT NULL REFERENCES \${schema.qualify('pg_users')} (id) ON DELETE CASCADE)\`);
  pgm.sql(\`CREATE TABLE \${schema.qualify('notes_lock_seen')} (migration text, held boolean)\`);
  pgm.sql(\`INSERT INTO \${schema.qualify('notes_lock_seen')} SELECT 'notes', \${HELD}\`);
}

export async function down(pgm: MigrationBuilder): Promise<void> {
  const schema = await migrationSchema(pgm);
  pgm.sql(\`DROP TABLE \${schema.qualify('notes_lock_seen')}, \${schema.qualify('notes')}\`);
}

const HELD = \`EXISTS (SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted
  AND pid = pg_catalog.pg_backend_pid() AND (classid::bigint << 32) + objid::bigint = ${MIGRATION_LOCK_KEY})\`;
`,
  [`${NOTES_INDEX}.js`]: `
import { createIndexConcurrently, migrationSchema } from '${INDEX}';

export async function up(pgm) {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  await createIndexConcurrently(pgm, schema, 'notes_user_id_idx', \`\${schema.qualify('notes')} ("userId")\`);
  await pgm.db.query(\`INSERT INTO \${schema.qualify('notes_lock_seen')} SELECT 'index', EXISTS (
    SELECT FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted
       AND pid = pg_catalog.pg_backend_pid() AND (classid::bigint << 32) + objid::bigint = ${MIGRATION_LOCK_KEY})\`);
}

export async function down(pgm) {
  pgm.noTransaction();
  const schema = await migrationSchema(pgm);
  pgm.sql(\`DROP INDEX CONCURRENTLY IF EXISTS \${schema.qualify('notes_user_id_idx')}\`);
}
`,
};

/** What the database holds: each migrations table's names, and the service's objects. */
async function state(url: string) {
  const names = async (table: string) => {
    const [exists] = await query<{ found: boolean }>(url, 'SELECT to_regclass($1) IS NOT NULL AS found', [
      `public.${table}`,
    ]);
    if (!exists?.found) return null;
    return (await query<{ name: string }>(url, `SELECT name FROM public.${table} ORDER BY run_on, id`)).map(
      (row) => row.name,
    );
  };
  const [objects] = await query<{ notes: boolean; index: boolean | null; users: boolean }>(
    url,
    `SELECT to_regclass('public.notes') IS NOT NULL AS notes,
            (SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass('public.notes_user_id_idx')) AS index,
            to_regclass('public.pg_users') IS NOT NULL AS users`,
  );
  return {
    package: await names('pgmigrations'),
    service: await names(DEFAULT_SERVICE_MIGRATIONS_TABLE),
    ...objects,
  };
}

describe("a service's folder after the package's", () => {
  it('applies the package’s migrations, then the folder’s, each recorded in its own table; again does nothing', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    const ran = await migrate(settingsFor(url), { direction: 'up', dir });
    expect(ran).toEqual([...PACKAGE_MIGRATIONS, NOTES, NOTES_INDEX]);
    expect(await state(url)).toEqual({
      package: PACKAGE_MIGRATIONS,
      service: [NOTES, NOTES_INDEX],
      notes: true,
      index: true,
      users: true,
    });
    // The table's foreign key reaches the package's pg_users: the package's ran first.
    await query(url, `INSERT INTO pg_users (id, email) VALUES ('u', 'u@x.io')`);
    await query(url, `INSERT INTO notes (id, "userId") VALUES ('n', 'u')`);

    const before = await state(url);
    expect(await migrate(settingsFor(url), { direction: 'up', dir })).toEqual([]);
    expect(await state(url)).toEqual(before);
  });

  it('holds the run lock through the service’s migrations too', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', dir: await serviceFolder(SERVICE_MIGRATIONS) });
    expect(await query(url, 'SELECT migration, held FROM notes_lock_seen ORDER BY migration')).toEqual([
      { migration: 'index', held: true },
      { migration: 'notes', held: true },
    ]);
    // Released at the end: another session can take it.
    const [free] = await query<{ locked: boolean }>(
      url,
      'SELECT pg_try_advisory_lock($1::bigint) AS locked',
      [String(MIGRATION_LOCK_KEY)],
    );
    expect(free?.locked).toBe(true);
  });

  it('reverts only the service’s on down: one by default, then all of them, then nothing', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    await migrate(settingsFor(url), { direction: 'up', dir });

    expect(await migrate(settingsFor(url), { direction: 'down', dir })).toEqual([NOTES_INDEX]);
    expect(await state(url)).toMatchObject({ package: PACKAGE_MIGRATIONS, service: [NOTES], index: null });

    expect(
      await migrate(settingsFor(url), { direction: 'down', dir, count: Number.POSITIVE_INFINITY }),
    ).toEqual([NOTES]);
    expect(await migrate(settingsFor(url), { direction: 'down', dir })).toEqual([]);
    expect(await state(url)).toEqual({
      package: PACKAGE_MIGRATIONS,
      service: [],
      notes: false,
      index: null,
      users: true,
    });

    // And up again.
    expect(await migrate(settingsFor(url), { direction: 'up', dir })).toEqual([NOTES, NOTES_INDEX]);
  });

  it('goes on into the package’s on down only with includePackage, the service’s first', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    await migrate(settingsFor(url), { direction: 'up', dir });
    expect(
      await migrate(settingsFor(url), { direction: 'down', dir, count: 3, includePackage: true }),
    ).toEqual([NOTES_INDEX, NOTES, PACKAGE_MIGRATIONS.at(-1)]);
    expect(await state(url)).toMatchObject({
      package: PACKAGE_MIGRATIONS.slice(0, -1),
      service: [],
      notes: false,
    });
    expect(
      await migrate(settingsFor(url), {
        direction: 'down',
        dir,
        count: Number.POSITIVE_INFINITY,
        includePackage: true,
      }),
    ).toEqual(PACKAGE_MIGRATIONS.slice(0, -1).reverse());
    expect(await state(url)).toMatchObject({ package: [], service: [], users: false });
  });

  it('counts across both on the way up, the package’s first', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    const first = PACKAGE_MIGRATIONS.length - 1;
    expect(await migrate(settingsFor(url), { direction: 'up', dir, count: first })).toEqual(
      PACKAGE_MIGRATIONS.slice(0, first),
    );
    expect(await migrate(settingsFor(url), { direction: 'up', dir, count: 2 })).toEqual([
      PACKAGE_MIGRATIONS.at(-1),
      NOTES,
    ]);
    expect(await migrate(settingsFor(url), { direction: 'up', dir })).toEqual([NOTES_INDEX]);
  });

  it('records the service’s in the migrationsTable it is given', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    await migrate(settingsFor(url), { direction: 'up', dir, migrationsTable: 'notes_service_migrations' });
    expect(await query(url, 'SELECT name FROM notes_service_migrations ORDER BY id')).toEqual([
      { name: NOTES },
      { name: NOTES_INDEX },
    ]);
    expect((await state(url)).service).toBeNull();
  });

  it('works in the connection’s schema, its table there too', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    const tenant = parseConnectionUrl(`${url}?schema=tenant_a`, 'TEST_DATABASE_URL');
    expect((await migrate(tenant, { direction: 'up', dir })).slice(-2)).toEqual([NOTES, NOTES_INDEX]);
    expect(
      await query(
        url,
        `SELECT to_regclass('tenant_a.notes') IS NOT NULL AS notes,
                to_regclass('tenant_a.notes_user_id_idx') IS NOT NULL AS index,
                (SELECT count(*)::int FROM tenant_a.pgmigrations_service) AS recorded,
                to_regclass('public.pgmigrations_service') IS NULL AS none_in_public`,
      ),
    ).toEqual([{ notes: true, index: true, recorded: 2, none_in_public: true }]);
    expect(await migrate(tenant, { direction: 'down', dir })).toEqual([NOTES_INDEX]);
  });

  it('runs an empty folder as the package alone, creating no table for it', async () => {
    const url = await emptyDatabase();
    expect(await migrate(settingsFor(url), { direction: 'up', dir: await serviceFolder({}) })).toEqual(
      PACKAGE_MIGRATIONS,
    );
    expect((await state(url)).service).toBeNull();
  });
});

describe('the run lock', () => {
  it('makes a run that finds it held change nothing, neither the package’s nor the service’s', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    try {
      await holder.query('SELECT pg_advisory_lock($1::bigint)', [String(MIGRATION_LOCK_KEY)]);
      const error = await migrate(settingsFor(url), { direction: 'up', dir, advisoryLockWaitMs: 0 }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(MigrationInProgressError);
      expect(await state(url)).toEqual({
        package: null,
        service: null,
        notes: false,
        index: null,
        users: false,
      });
    } finally {
      await holder.end();
    }
  });

  it('makes two runs at once apply each migration once, one after the other', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    const runs = await Promise.all([
      migrate(settingsFor(url), { direction: 'up', dir }),
      migrate(settingsFor(url), { direction: 'up', dir }),
    ]);
    // One run did everything, the other found nothing left (each holds the lock for its whole run).
    expect(runs.map((ran) => ran.length).sort((a, b) => a - b)).toEqual([0, PACKAGE_MIGRATIONS.length + 2]);
    expect(await state(url)).toMatchObject({ package: PACKAGE_MIGRATIONS, service: [NOTES, NOTES_INDEX] });
  });
});

describe('bad folders and tables change nothing', () => {
  /** Runs `migrate` expecting a ConfigError for `setting`, and checks the database did not change. */
  async function refused(
    url: string,
    options: Parameters<typeof migrate>[1],
    setting: string,
    message: RegExp,
  ): Promise<void> {
    const before = await state(url);
    const error = await migrate(settingsFor(url), options).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe(setting);
    expect((error as Error).message).toMatch(message);
    expect(await state(url)).toEqual(before);
  }

  it('refuses a folder that does not exist, a file, and the package’s own folder', async () => {
    const url = await emptyDatabase();
    const parent = await serviceFolder({ 'a-file.ts': '' });
    const missing = join(parent, 'no-such-folder');
    await refused(url, { direction: 'up', dir: missing }, 'dir', /no-such-folder does not exist/);
    await refused(url, { direction: 'up', dir: join(parent, 'a-file.ts') }, 'dir', /is not a directory/);
    await refused(url, { direction: 'up', dir: '' }, 'dir', /must be the path/);
    await refused(
      url,
      { direction: 'up', dir: MIGRATIONS_DIR },
      'dir',
      /the package's own migrations folder/,
    );
    expect(await readdir(parent)).toEqual(['a-file.ts']);
    expect(await state(url)).toMatchObject({ package: null, service: null });
  });

  it('refuses a folder holding files that are not migrations, or one migration twice', async () => {
    const url = await emptyDatabase();
    await refused(
      url,
      { direction: 'up', dir: await serviceFolder({ ...SERVICE_MIGRATIONS, 'README.md': '# notes' }) },
      'dir',
      /holds files that are not migrations: README\.md\. A migration is <number>_<name>\.js/,
    );
    await refused(
      url,
      { direction: 'up', dir: await serviceFolder({ "1800000000000_it's.ts": '' }) },
      'dir',
      /not migrations: 1800000000000_it's\.ts/,
    );
    await refused(
      url,
      {
        direction: 'up',
        dir: await serviceFolder({
          ...SERVICE_MIGRATIONS,
          [`${NOTES}.js`]: SERVICE_MIGRATIONS[`${NOTES}.ts`],
        }),
      },
      'dir',
      new RegExp(`the same migration twice: ${NOTES}\\.js and ${NOTES}\\.ts`),
    );
    // Dotfiles, declarations and source maps are a build's, and skipped.
    const built = await serviceFolder({
      ...SERVICE_MIGRATIONS,
      '.gitkeep': '',
      [`${NOTES}.d.ts`]: 'export {};',
      [`${NOTES}.js.map`]: '{}',
    });
    expect(await migrate(settingsFor(url), { direction: 'up', dir: built })).toEqual([
      ...PACKAGE_MIGRATIONS,
      NOTES,
      NOTES_INDEX,
    ]);
  });

  it('refuses a folder that does not hold what its table records (another service’s table, say)', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', dir: await serviceFolder(SERVICE_MIGRATIONS) });
    // One of the package's pending again: a refused run must not apply it either.
    await migrate(settingsFor(url), { direction: 'down' });
    const other = await serviceFolder({ '1800000000005_add-tags.ts': SERVICE_MIGRATIONS[`${NOTES}.ts`] });
    for (const direction of ['up', 'down'] as const) {
      await refused(
        url,
        { direction, dir: other },
        'dir',
        new RegExp(
          `public.pgmigrations_service records migrations that ${other} does not hold: ${NOTES}, ${NOTES_INDEX}\\. ` +
            'Either their files were removed, or another service records its migrations in the same table: ' +
            'give each service a migrationsTable of its own',
        ),
      );
    }
    expect((await state(url)).package).toEqual(PACKAGE_MIGRATIONS.slice(0, -1));
  });

  it('refuses a new migration numbered before one already applied', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    await migrate(settingsFor(url), { direction: 'up', dir });
    await writeFile(join(dir, '1799999999999_add-tags.ts'), SERVICE_MIGRATIONS[`${NOTES}.ts`]);
    await refused(
      url,
      { direction: 'up', dir },
      'dir',
      new RegExp(`1799999999999_add-tags in .* is not applied but sorts before ${NOTES}, which is`),
    );
  });

  it('refuses a migrationsTable that is not a plain name, is the package’s, or is another table', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up' });
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    await refused(
      url,
      { direction: 'up', dir, migrationsTable: 'Notes-Migrations' },
      'migrationsTable',
      /not a plain table name/,
    );
    await refused(
      url,
      { direction: 'up', dir, migrationsTable: 'm'.repeat(64) },
      'migrationsTable',
      /not a plain table name \(lower-case letters, digits and _, at most 63\)/,
    );
    await refused(
      url,
      { direction: 'up', dir, migrationsTable: 'pgmigrations' },
      'migrationsTable',
      /package's own/,
    );
    await refused(
      url,
      { direction: 'up', dir, migrationsTable: 'pg_users' },
      'migrationsTable',
      /public\.pg_users exists and is not a migrations table/,
    );
  });

  it('refuses options that need a dir, or another direction, and a count below one', async () => {
    const url = await emptyDatabase();
    const dir = await serviceFolder(SERVICE_MIGRATIONS);
    await refused(url, { direction: 'up', migrationsTable: 'x' }, 'migrationsTable', /pass dir too/);
    await refused(url, { direction: 'down', includePackage: true }, 'includePackage', /is for down with/);
    await refused(url, { direction: 'up', dir, includePackage: true }, 'includePackage', /is for down/);
    await refused(url, { direction: 'down', dir, count: 0 }, 'count', /whole number from 1/);
    await refused(url, { direction: 'up', count: 1.5 }, 'count', /whole number from 1/);
  });
});

describe('the folder path', () => {
  it('is resolved from the current directory when relative', async () => {
    const url = await emptyDatabase();
    const parent = await serviceFolder({});
    await mkdir(join(parent, 'migrations'));
    await writeFile(join(parent, 'migrations', `${NOTES}.ts`), SERVICE_MIGRATIONS[`${NOTES}.ts`]);
    const cwd = process.cwd();
    process.chdir(parent);
    try {
      expect((await migrate(settingsFor(url), { direction: 'up', dir: 'migrations' })).at(-1)).toBe(NOTES);
    } finally {
      process.chdir(cwd);
    }
  });
});
