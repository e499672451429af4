import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { SPEC_USER_SUMMARY_SQL } from '../../scripts/lib/spec-queries.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { ConfigError } from '../../src/errors/classes.js';
import { MIGRATIONS_DIR, migrate } from '../../src/migrate/migrate.js';
import { rumExtensionSchema } from '../../src/migrate/rum-extension.js';
import { settingsFor } from '../support/connection-settings.js';
import { queryOnce } from '../support/query-once.js';
import { schemaSnapshot } from '../support/schema-snapshot.js';
import { useEmptyDatabases } from '../support/test-database.js';

const run = promisify(execFile);
const adminUrl = inject('adminUrl');
const emptyDatabase = useEmptyDatabases('shared_db_migrations');

const query = queryOnce;

const migrationFiles = (await readdir(MIGRATIONS_DIR)).filter((file) => file.endsWith('.ts')).sort();
/** How many migrations come before the one whose file name contains `name`. */
const countBefore = (name: string) => migrationFiles.findIndex((file) => file.includes(name));
const fileOf = (name: string) => migrationFiles[countBefore(name)] as string;
/** The helper the concurrent-index migrations build with. */
const concurrentIndexSource = readFile(join(MIGRATIONS_DIR, '../src/migrate/concurrent-index.ts'), 'utf8');

/** Whether the server has the rum extension (CI's PostgreSQL 15 run must: TEST_EXPECT_RUM=1). */
async function rumAvailable(url: string): Promise<boolean> {
  const [row] = await query<{ available: boolean }>(
    url,
    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') AS available",
  );
  if (process.env.TEST_EXPECT_RUM === '1') expect(row?.available).toBe(true);
  return row?.available === true;
}

describe('migrations up, down to zero, up again', () => {
  let url: string;
  beforeAll(async () => {
    url = await emptyDatabase();
  });

  it('builds the same schema twice and removes all of it in between', async () => {
    const ranUp = await migrate(settingsFor(url), { direction: 'up' });
    expect(ranUp).toEqual(migrationFiles.map((file) => file.replace(/\.ts$/, '')));
    const first = await schemaSnapshot(url);

    const ranDown = await migrate(settingsFor(url), { direction: 'down', count: Number.POSITIVE_INFINITY });
    expect(ranDown).toEqual([...ranUp].reverse());
    expect(await schemaSnapshot(url)).toEqual({
      columns: [],
      constraints: [],
      indexes: [],
      triggers: [],
      functions: [],
      databaseSettings: [],
      migrations: [],
    });

    await migrate(settingsFor(url), { direction: 'up' });
    expect(await schemaSnapshot(url)).toEqual(first);
  });

  it('creates the tables with exactly the contract names and columns', async () => {
    const { columns } = await schemaSnapshot(url);
    expect(columns).toEqual([
      'pg_posts.id text not null',
      'pg_posts.title text not null',
      'pg_posts.content text',
      'pg_posts.published boolean not null default false',
      'pg_posts.authorId text not null',
      "pg_posts.metadata jsonb not null default '{}'::jsonb",
      'pg_posts.created_at timestamp with time zone not null default now()',
      'pg_posts.updated_at timestamp with time zone not null default now()',
      'pg_posts.deleted_at timestamp with time zone',
      'pg_posts.search_vector tsvector',
      'pg_roles.id text not null',
      'pg_roles.name text not null',
      'pg_roles.description text',
      'pg_roles.userId text not null',
      'pg_roles.created_at timestamp with time zone not null default now()',
      'pg_users.id text not null',
      'pg_users.email text not null',
      'pg_users.name text',
      'pg_users.created_at timestamp with time zone not null default now()',
      'pg_users.updated_at timestamp with time zone not null default now()',
      'pg_users.deleted_at timestamp with time zone',
      'pg_users.profile_image character varying(500) default NULL::character varying',
    ]);
  });

  it("has the spec's whole index list under the spec's names, plus full-text, metadata and email keys", async () => {
    const { indexes } = await schemaSnapshot(url);
    expect(indexes).toEqual(
      [
        'CREATE INDEX pg_posts_author_id_idx ON public.pg_posts USING btree ("authorId")',
        'CREATE INDEX pg_posts_author_published_idx ON public.pg_posts USING btree ("authorId", published)',
        'CREATE INDEX pg_posts_created_at_id_idx ON public.pg_posts USING btree (created_at, id)',
        'CREATE INDEX pg_posts_metadata_idx ON public.pg_posts USING gin (metadata)',
        'CREATE INDEX pg_posts_published_created_idx ON public.pg_posts USING btree (published, created_at DESC)',
        'CREATE INDEX pg_posts_published_idx ON public.pg_posts USING btree (published)',
        "CREATE INDEX pg_posts_search_idx ON public.pg_posts USING gin (to_tsvector('english'::regconfig, ((title || ' '::text) || COALESCE(content, ''::text))))",
        'CREATE INDEX pg_posts_search_vector_idx ON public.pg_posts USING gin (search_vector)',
        'CREATE INDEX pg_roles_name_idx ON public.pg_roles USING btree (name)',
        'CREATE INDEX pg_roles_user_id_idx ON public.pg_roles USING btree ("userId")',
        'CREATE INDEX pg_users_created_at_idx ON public.pg_users USING btree (created_at)',
        'CREATE INDEX pg_users_deleted_at_idx ON public.pg_users USING btree (deleted_at) WHERE (deleted_at IS NOT NULL)',
        'CREATE INDEX pg_users_email_idx ON public.pg_users USING btree (email)',
        'CREATE INDEX pg_users_email_lower_idx ON public.pg_users USING btree (lower(email))',
        'CREATE INDEX pg_users_profile_image_idx ON public.pg_users USING btree (profile_image) WHERE (profile_image IS NOT NULL)',
        'CREATE UNIQUE INDEX "pg_roles_userId_name_key" ON public.pg_roles USING btree ("userId", name)',
        'CREATE UNIQUE INDEX pg_posts_pkey ON public.pg_posts USING btree (id)',
        'CREATE UNIQUE INDEX pg_roles_pkey ON public.pg_roles USING btree (id)',
        'CREATE UNIQUE INDEX pg_users_email_active_key ON public.pg_users USING btree (lower(email)) WHERE (deleted_at IS NULL)',
        'CREATE UNIQUE INDEX pg_users_pkey ON public.pg_users USING btree (id)',
        // Where the server has the rum extension (index-posts-search-vector-rum).
        ...((await rumAvailable(url))
          ? ['CREATE INDEX pg_posts_search_vector_rum_idx ON public.pg_posts USING rum (search_vector)']
          : []),
      ].sort(),
    );
  });

  it('uses the full-text index for the spec’s own search expression', async () => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      // On empty tables the planner would scan; forbidding that shows the index can serve the expression.
      await client.query('SET enable_seqscan = off');
      const plan = await client.query(
        `EXPLAIN SELECT id FROM pg_posts
          WHERE to_tsvector('english', title || ' ' || COALESCE(content, '')) @@ plainto_tsquery('english', 'x')`,
      );
      expect(JSON.stringify(plan.rows)).toContain('pg_posts_search_idx');
    } finally {
      await client.end();
    }
  });

  it('keeps foreign keys, soft-delete columns, updated_at and the search vector by trigger', async () => {
    const { constraints, triggers } = await schemaSnapshot(url);
    expect(constraints).toContain(
      'pg_posts pg_posts_authorId_fkey FOREIGN KEY ("authorId") REFERENCES pg_users(id) ON DELETE CASCADE',
    );
    expect(constraints).toContain(
      'pg_roles pg_roles_userId_fkey FOREIGN KEY ("userId") REFERENCES pg_users(id) ON DELETE CASCADE',
    );
    expect(triggers.map((trigger) => trigger.split(' ')[2])).toEqual([
      'pg_posts_set_updated_at',
      'pg_posts_update_search_vector',
      'pg_users_set_updated_at',
    ]);
  });
});

describe('the pg_roles trap', () => {
  let url: string;
  beforeAll(async () => {
    url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up' });
  });

  it('makes an unqualified pg_roles reach the application table in every new session', async () => {
    const [row] = await query<{ schema: string }>(
      url,
      "SELECT c.relnamespace::regnamespace::text AS schema FROM pg_catalog.pg_class c WHERE c.oid = 'pg_roles'::regclass",
    );
    expect(row?.schema).toBe('public');
  });

  it('runs the spec’s index statements verbatim once the migration-made indexes are out of the way', async () => {
    const statements = [
      'DROP INDEX pg_roles_name_idx',
      'DROP INDEX pg_roles_user_id_idx',
      'CREATE INDEX pg_roles_name_idx ON pg_roles(name);',
      'CREATE INDEX pg_roles_user_id_idx ON pg_roles("userId");',
    ];
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
    const [row] = await query<{ table: string }>(
      url,
      "SELECT indrelid::regclass::text AS table FROM pg_catalog.pg_index WHERE indexrelid = 'public.pg_roles_name_idx'::regclass",
    );
    expect(row?.table).toBe('pg_roles');
  });

  it('runs the spec’s raw aggregate query verbatim from psql', async () => {
    const psql = await run('psql', ['--version']).catch(() => undefined);
    if (!psql) {
      if (process.env.CI === 'true')
        throw new Error('psql is not installed; .ci/run installs postgresql-client');
      console.warn('psql not found: the psql check runs in CI only');
      return;
    }
    await query(url, `INSERT INTO pg_users (id, email) VALUES ('u1', 'psql@example.com')`);
    await query(url, `INSERT INTO pg_roles (id, name, "userId") VALUES ('r1', 'author', 'u1')`);
    const spec = await readFile(
      new URL('../../../shared/spec/postgres-integration.md', import.meta.url),
      'utf8',
    ).catch(() => undefined);
    const aggregate = SPEC_USER_SUMMARY_SQL;
    if (spec) expect(spec).toContain(aggregate.trim());
    const { stdout } = await run('psql', [url, '--no-psqlrc', '-At', '-F', '|', '-c', aggregate]);
    expect(stdout.trim()).toBe('u1|psql@example.com||0|author');
  });
});

describe('the concurrent indexes of the repository queries', () => {
  const migration = '_index-repository-queries-concurrently';
  const BUILT_INDEXES = `SELECT indexrelid::int AS oid, indisvalid AS valid FROM pg_index
    WHERE indexrelid IN ('public.pg_posts_created_at_id_idx'::regclass, 'public.pg_users_email_lower_idx'::regclass)
    ORDER BY indexrelid::regclass::text`;

  it('keeps the indexes a failed run built and replaces the INVALID one it left', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: countBefore(migration) });
    await query(
      url,
      `INSERT INTO pg_users (id, email, deleted_at) VALUES ('a', 'a@x.io', now()), ('b', 'A@x.io', NULL)`,
    );
    // As if a run built the first index, then failed half-way through the second: a unique build over
    // duplicates leaves an INVALID index under the migration's name.
    await query(url, 'CREATE INDEX CONCURRENTLY pg_posts_created_at_id_idx ON pg_posts (created_at, id)');
    await expect(
      query(url, 'CREATE UNIQUE INDEX CONCURRENTLY pg_users_email_lower_idx ON pg_users (lower(email))'),
    ).rejects.toThrow(/could not create unique index/);
    const before = await query<{ oid: number; valid: boolean }>(url, BUILT_INDEXES);

    await migrate(settingsFor(url), { direction: 'up' });
    const after = await query<{ oid: number; valid: boolean }>(url, BUILT_INDEXES);
    expect(before.map((index) => index.valid)).toEqual([true, false]);
    expect(after.map((index) => index.valid)).toEqual([true, true]);
    expect(after[0]?.oid).toBe(before[0]?.oid); // the valid one is kept, not rebuilt
    const indexes = await query<{ valid: boolean; definition: string }>(
      url,
      `SELECT indisvalid AS valid, pg_get_indexdef(indexrelid) AS definition FROM pg_index
        WHERE indexrelid IN ('public.pg_posts_created_at_id_idx'::regclass, 'public.pg_users_email_lower_idx'::regclass)
        ORDER BY 2`,
    );
    expect(indexes).toEqual([
      {
        valid: true,
        definition: 'CREATE INDEX pg_posts_created_at_id_idx ON public.pg_posts USING btree (created_at, id)',
      },
      {
        valid: true,
        definition: 'CREATE INDEX pg_users_email_lower_idx ON public.pg_users USING btree (lower(email))',
      },
    ]);
  });

  it('runs outside a transaction', async () => {
    const source = await readFile(join(MIGRATIONS_DIR, fileOf(migration)), 'utf8');
    expect(source).toContain('pgm.noTransaction()');
    expect(source).toContain('createIndexConcurrently(');
    expect(await concurrentIndexSource).toContain('CREATE INDEX CONCURRENTLY');
  });
});

describe('the concurrent profile_image index', () => {
  it('replaces an INVALID index left by an earlier failed build', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: countBefore('_index-users-profile-image') });
    await query(
      url,
      `INSERT INTO pg_users (id, email, profile_image) VALUES ('a', 'a@x.io', 'same'), ('b', 'b@x.io', 'same')`,
    );
    // A unique build over duplicates fails half-way and leaves an INVALID index under the migration's name.
    await expect(
      query(url, 'CREATE UNIQUE INDEX CONCURRENTLY pg_users_profile_image_idx ON pg_users (profile_image)'),
    ).rejects.toThrow(/could not create unique index/);
    const invalid = await query<{ valid: boolean }>(
      url,
      "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'public.pg_users_profile_image_idx'::regclass",
    );
    expect(invalid).toEqual([{ valid: false }]);

    await migrate(settingsFor(url), { direction: 'up' });
    const [index] = await query<{ valid: boolean; definition: string }>(
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

  it('runs outside a transaction and the column migration inside one', async () => {
    const source = await readFile(join(MIGRATIONS_DIR, fileOf('_index-users-profile-image')), 'utf8');
    expect(source).toContain('pgm.noTransaction()');
    expect(source).toContain('createIndexConcurrently(');
    expect(await concurrentIndexSource).toContain('CREATE INDEX CONCURRENTLY');
    const column = await readFile(join(MIGRATIONS_DIR, fileOf('_add-users-profile-image')), 'utf8');
    expect(column).not.toContain('noTransaction');
  });
});

describe('the stored search vector', () => {
  const searchVectorMigration = '_add-posts-search-vector';
  const vectorsOf = (url: string) =>
    query<{ id: string; filled: boolean; updated_at: Date }>(
      url,
      `SELECT id, search_vector = to_tsvector('english', title || ' ' || COALESCE(content, '')) AS filled,
              updated_at
         FROM pg_posts ORDER BY id`,
    );

  it('fills the existing rows in batches without moving updated_at, then keeps new and changed rows', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: countBefore(searchVectorMigration) });
    await query(url, `INSERT INTO pg_users (id, email) VALUES ('u', 'u@x.io')`);
    // More rows than one batch, with ids that sort across batch boundaries.
    await query(
      url,
      `INSERT INTO pg_posts (id, title, content, "authorId", updated_at)
       SELECT 'p' || i, 'walrus ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'tusks and ' || i END, 'u',
              '2020-01-01T00:00:00Z'
         FROM generate_series(1, 12001) AS i`,
    );
    await migrate(settingsFor(url), { direction: 'up' });
    const rows = await vectorsOf(url);
    expect(rows).toHaveLength(12001);
    expect(rows.filter((row) => !row.filled)).toEqual([]);
    expect(new Set(rows.map((row) => row.updated_at.toISOString()))).toEqual(
      new Set(['2020-01-01T00:00:00.000Z']),
    );

    await query(url, `INSERT INTO pg_posts (id, title, "authorId") VALUES ('new', 'narwhal', 'u')`);
    await query(url, `UPDATE pg_posts SET content = 'an elephant' WHERE id = 'p1'`);
    await query(url, `UPDATE pg_posts SET published = true WHERE id = 'p2'`);
    const changed = await query<{ id: string; filled: boolean; moved: boolean }>(
      url,
      `SELECT id, search_vector = to_tsvector('english', title || ' ' || COALESCE(content, '')) AS filled,
              updated_at > '2020-01-01T00:00:00Z' AS moved
         FROM pg_posts WHERE id IN ('new', 'p1', 'p2') ORDER BY id`,
    );
    expect(changed).toEqual([
      { id: 'new', filled: true, moved: true },
      { id: 'p1', filled: true, moved: true },
      { id: 'p2', filled: true, moved: true },
    ]);
    const [match] = await query<{ count: number }>(
      url,
      `SELECT count(*)::int AS count FROM pg_posts WHERE search_vector @@ plainto_tsquery('english', 'elephants')`,
    );
    expect(match).toEqual({ count: 1 });
  });

  it('finishes on a second run after stopping half-way, and goes down cleanly', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: countBefore(searchVectorMigration) });
    await query(url, `INSERT INTO pg_users (id, email) VALUES ('u', 'u@x.io')`);
    await query(
      url,
      `INSERT INTO pg_posts (id, title, "authorId") SELECT 'p' || i, 'walrus', 'u' FROM generate_series(1, 100) i`,
    );
    // As if an earlier run stopped after adding the column: no trigger, no vectors, no index.
    await query(url, 'ALTER TABLE pg_posts ADD COLUMN search_vector tsvector');
    await migrate(settingsFor(url), { direction: 'up' });
    expect((await vectorsOf(url)).every((row) => row.filled)).toBe(true);
    const [index] = await query<{ valid: boolean }>(
      url,
      "SELECT indisvalid AS valid FROM pg_index WHERE indexrelid = 'public.pg_posts_search_vector_idx'::regclass",
    );
    expect(index).toEqual({ valid: true });

    await migrate(settingsFor(url), {
      direction: 'down',
      count: migrationFiles.length - countBefore(searchVectorMigration),
    });
    const { columns, triggers, functions } = await schemaSnapshot(url);
    expect(columns.filter((column) => column.includes('search_vector'))).toEqual([]);
    expect(triggers.join('\n')).not.toContain('search_vector');
    expect(functions.join('\n')).not.toContain('search_vector');
  });
});

describe('the RUM search index', () => {
  const rumMigration = '_index-posts-search-vector-rum';
  const RUM_STATE = `SELECT (SELECT pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
                        FROM pg_index i WHERE i.indexrelid = to_regclass('public.pg_posts_search_vector_rum_idx')) AS index,
                     EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum') AS installed,
                     EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'rum') AS available`;
  const rumState = async (url: string) =>
    (await query<{ index: string | null; installed: boolean; available: boolean }>(url, RUM_STATE))[0];

  it('is built where the server has the rum extension, and goes down with the extension it installed', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up' });
    const up = await rumState(url);
    expect(up?.available).toBe(await rumAvailable(url));
    expect(up).toEqual(
      up?.available
        ? {
            index: 'CREATE INDEX pg_posts_search_vector_rum_idx ON public.pg_posts USING rum (search_vector)',
            installed: true,
            available: true,
          }
        : { index: null, installed: false, available: false },
    );
    await migrate(settingsFor(url), { direction: 'down', count: 1 });
    expect(await rumState(url)).toEqual({ index: null, installed: false, available: up?.available });
  });

  it('keeps an extension someone else installed', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up', count: countBefore(rumMigration) });
    const before = await rumState(url);
    if (!before?.available) {
      // Nothing to keep here: the migration must then build nothing and leave the database as it was.
      await migrate(settingsFor(url), { direction: 'up' });
      expect(await rumState(url)).toEqual(before);
      return;
    }
    await query(url, 'CREATE EXTENSION rum');
    await migrate(settingsFor(url), { direction: 'up' });
    expect((await rumState(url))?.index).toContain('USING rum');
    await migrate(settingsFor(url), { direction: 'down', count: 1 });
    expect(await rumState(url)).toEqual({ index: null, installed: true, available: true });
  });

  it('installs nothing as a role that may not create the extension', async () => {
    const url = await emptyDatabase();
    const role = `rum_${randomBytes(4).toString('hex')}`;
    await query(url, `CREATE ROLE ${role} LOGIN PASSWORD 'rum-test'`);
    const asRole = new URL(url);
    asRole.username = role;
    asRole.password = 'rum-test';
    const client = new pg.Client({ connectionString: asRole.toString() });
    try {
      await client.connect();
      expect(await rumExtensionSchema(client, 'public')).toBeUndefined();
      expect((await rumState(url))?.installed).toBe(false);
    } finally {
      await client.end();
      await query(url, `DROP ROLE ${role}`);
    }
  });
});

describe('connections migrations refuse', () => {
  it('refuses a PgBouncer URL and points at POSTGRES_URL_NON_POOLING', async () => {
    const settings = parseConnectionUrl(`${adminUrl}?pgbouncer=true`, 'POSTGRES_URL_NON_POOLING');
    const error = await migrate(settings, { direction: 'up' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).setting).toBe('POSTGRES_URL_NON_POOLING');
    expect((error as Error).message).toMatch(/pgbouncer=true.*direct connection/);
  });

  it('refuses to run without a direct connection', async () => {
    await expect(migrate(undefined, { direction: 'up' })).rejects.toThrow(
      /POSTGRES_URL_NON_POOLING: not set/,
    );
  });
});

describe('npm run migrate', () => {
  const tsx = join(process.cwd(), 'node_modules/.bin/tsx');
  const script = join(process.cwd(), 'scripts/migrate.ts');
  const cliWith = (env: Record<string, string>, url: string, ...args: string[]) =>
    run(tsx, [script, ...args], {
      env: { PATH: process.env.PATH, POSTGRES_URL_NON_POOLING: url, POSTGRES_PRISMA_URL: url, ...env },
    });
  const cli = (url: string, ...args: string[]) => cliWith({}, url, ...args);

  it('applies up, reverts one with down, and all with down all', async () => {
    const url = await emptyDatabase();
    const up = await cli(url, 'up');
    expect(up.stdout).toContain(`↑ ${migrationFiles[0]?.replace(/\.ts$/, '')}`);
    expect(up.stdout).not.toContain('password');
    const down = await cli(url, 'down');
    expect(down.stdout).toContain(`↓ ${migrationFiles.at(-1)?.replace(/\.ts$/, '')}`);
    expect((await schemaSnapshot(url)).migrations).toHaveLength(migrationFiles.length - 1);
    await cli(url, 'down', 'all');
    expect((await schemaSnapshot(url)).migrations).toEqual([]);
  });

  it('fails with a readable reason on a bad count', async () => {
    const error = await cli(adminUrl, 'down', 'many').catch(
      (caught: { stderr: string; code: number }) => caught,
    );
    expect(error).toMatchObject({ code: 1 });
    expect((error as { stderr: string }).stderr).toContain('count: "many" is not a positive number or "all"');
  });

  it('creates a TypeScript migration from the template with create NAME (here with --dir)', async () => {
    // Not in migrations/: other files run migrations meanwhile, and would pick the new file up.
    const dir = await mkdtemp(join(tmpdir(), 'shared-db-create-'));
    try {
      const { stdout } = await cli(adminUrl, 'create', 'add-example-column', `--dir=${dir}`);
      const path = stdout.match(/created (\S+)/)?.[1];
      expect(path?.startsWith(dir)).toBe(true);
      expect(path).toMatch(/\/\d{13}_add-example-column\.ts$/);
      const source = await readFile(path as string, 'utf8');
      expect(source).toContain('export async function up(pgm: MigrationBuilder)');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('runs a service folder with --dir: up after the package’s, down the folder’s only', async () => {
    const url = await emptyDatabase();
    const parent = await mkdtemp(join(tmpdir(), 'shared-db-cli-service-'));
    try {
      await mkdir(join(parent, 'migrations'));
      await writeFile(
        join(parent, 'migrations', '1800000000000_add-notes.ts'),
        `export async function up(pgm) { pgm.sql('CREATE TABLE notes (id text PRIMARY KEY)'); }
         export async function down(pgm) { pgm.sql('DROP TABLE notes'); }`,
      );
      // Relative to the directory npm was run from (INIT_CWD), not to the package's.
      const up = await cliWith({ INIT_CWD: parent }, url, 'up', '--dir=migrations');
      expect(up.stdout).toContain(`with ${join(parent, 'migrations')}`);
      expect(up.stdout).toContain(
        `↑ ${migrationFiles.at(-1)?.replace(/\.ts$/, '')}\n  ↑ 1800000000000_add-notes`,
      );
      const down = await cli(url, 'down', 'all', `--dir=${join(parent, 'migrations')}`);
      expect(down.stdout).toContain('↓ 1800000000000_add-notes');
      expect(down.stdout).not.toContain(`↓ ${migrationFiles.at(-1)?.replace(/\.ts$/, '')}`);
      expect((await schemaSnapshot(url)).migrations).toHaveLength(migrationFiles.length);
      expect(await query(url, "SELECT to_regclass('public.notes') AS notes")).toEqual([{ notes: null }]);
    } finally {
      await rm(parent, { recursive: true, force: true });
    }
  });

  it('refuses a --dir that does not exist', async () => {
    const error = await cli(adminUrl, 'up', '--dir=/no/such/folder').catch(
      (caught: { stderr: string }) => caught,
    );
    expect((error as { stderr: string }).stderr).toContain(
      "dir: /no/such/folder does not exist: create the service's migrations folder first",
    );
  });
});
