/**
 * Several application schemas in one database (`?schema=tenant_a`, `?schema=tenant_b`): the migrations,
 * the types and the repositories work inside each, and the schemas stay isolated.
 */
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { MIGRATIONS_DIR, migrate } from '../../src/migrate/migrate.js';
import { settingsFor } from '../support/connection-settings.js';
import { queryOnce } from '../support/query-once.js';
import { useEmptyDatabases } from '../support/test-database.js';

const run = promisify(execFile);
const emptyDatabase = useEmptyDatabases('shared_db_schemas');
const open: Database[] = [];

const migrationNames = (await readdir(MIGRATIONS_DIR))
  .filter((file) => file.endsWith('.ts'))
  .sort()
  .map((file) => file.replace(/\.ts$/, ''));

function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('schema', schema);
  return parsed.toString();
}

const query = queryOnce;

/** What the migrations made in `schema`, with the schema's name written as `<schema>`. */
async function schemaObjects(url: string, schema: string) {
  const rows = await query<{ kind: string; item: string }>(
    url,
    `SELECT 'table' AS kind, table_name || '.' || column_name || ' ' || data_type AS item
       FROM information_schema.columns WHERE table_schema = $1
     UNION ALL
     SELECT 'index', pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1
     UNION ALL
     SELECT 'constraint', con.conname || ' ' || pg_get_constraintdef(con.oid)
       FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
      WHERE n.nspname = $1 AND con.contype <> 'n'
     UNION ALL
     SELECT 'trigger', pg_get_triggerdef(t.oid)
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND NOT t.tgisinternal
     UNION ALL
     SELECT 'function', p.proname
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1
        -- An extension's own functions (rum's, where the first tenant's migration installed it) are not
        -- the migrations' objects.
        AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
     ORDER BY 1, 2`,
    [schema],
  );
  return rows.map((row) => `${row.kind} ${row.item.replaceAll(`${schema}.`, '<schema>.')}`);
}

async function migrationsIn(url: string, schema: string): Promise<string[]> {
  const [table] = await query<{ exists: boolean }>(url, 'SELECT to_regclass($1) IS NOT NULL AS exists', [
    `${schema}.pgmigrations`,
  ]);
  if (!table?.exists) return [];
  const rows = await query<{ name: string }>(url, `SELECT name FROM ${schema}.pgmigrations ORDER BY id`);
  return rows.map((row) => row.name);
}

async function databaseSearchPath(url: string): Promise<string[]> {
  const rows = await query<{ setting: string }>(
    url,
    `SELECT unnest(s.setconfig) AS setting FROM pg_db_role_setting s
      WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) AND s.setrole = 0`,
  );
  return rows.map((row) => row.setting);
}

function database(url: string): Database {
  const db = createDatabase(
    loadConfig({ ENABLE_POSTGRES: 'true', POSTGRES_PRISMA_URL: url, POSTGRES_URL_NON_POOLING: url }),
  );
  open.push(db);
  return db;
}

afterAll(async () => {
  await Promise.all(open.map((db) => db.disconnect()));
});

describe('two tenant schemas in one database', () => {
  let url: string;
  let urlA: string;
  let urlB: string;
  let a: Database;
  let b: Database;
  beforeAll(async () => {
    url = await emptyDatabase();
    urlA = withSchema(url, 'tenant_a');
    urlB = withSchema(url, 'tenant_b');
    // At once: they take turns on the database's migration lock.
    const [ranA, ranB] = await Promise.all([
      migrate(settingsFor(urlA), { direction: 'up' }),
      migrate(settingsFor(urlB), { direction: 'up' }),
    ]);
    expect(ranA).toEqual(migrationNames);
    expect(ranB).toEqual(migrationNames);
    a = database(urlA);
    b = database(urlB);
  });

  it('builds the same tables, indexes, triggers and function in each schema, and its own pgmigrations', async () => {
    const objectsA = await schemaObjects(url, 'tenant_a');
    expect(objectsA).toEqual(await schemaObjects(url, 'tenant_b'));
    expect(objectsA).toContain(
      "index CREATE INDEX pg_posts_search_idx ON <schema>.pg_posts USING gin (to_tsvector('english'::regconfig, ((title || ' '::text) || COALESCE(content, ''::text))))",
    );
    expect(objectsA).toContain(
      'index CREATE INDEX pg_users_profile_image_idx ON <schema>.pg_users USING btree (profile_image) WHERE (profile_image IS NOT NULL)',
    );
    expect(objectsA).toContain(
      'trigger CREATE TRIGGER pg_users_set_updated_at BEFORE UPDATE ON <schema>.pg_users FOR EACH ROW WHEN ((old.* IS DISTINCT FROM new.*)) EXECUTE FUNCTION <schema>.set_updated_at()',
    );
    expect(objectsA).toContain('function set_updated_at');
    const [rum] = await query<{ installed: boolean }>(
      url,
      "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'rum') AS installed",
    );
    // 20 + pgmigrations_pkey, and the RUM index where the server has the extension.
    expect(objectsA.filter((item) => item.startsWith('index '))).toHaveLength(rum?.installed ? 22 : 21);
    expect(await migrationsIn(url, 'tenant_a')).toEqual(migrationNames);
    expect(await migrationsIn(url, 'tenant_b')).toEqual(migrationNames);
    // Nothing in public, and no database-wide search_path: one default cannot favour both tenants.
    expect(await schemaObjects(url, 'public')).toEqual([]);
    expect(await databaseSearchPath(url)).toEqual([]);
  });

  it('keeps users, posts and roles of one tenant invisible to the other', async () => {
    const email = 'same@example.com';
    const userA = await a.users.create({
      email,
      name: 'Ada in A',
      posts: [
        {
          title: 'Postgres schemas explained',
          content: 'One database, many tenants',
          published: true,
          metadata: { category: 'tutorial', tags: ['sql'] },
        },
      ],
      roles: [{ name: 'author' }],
    });
    // The same email again, in B: uniqueness is per schema.
    const userB = await b.users.create({
      email,
      name: 'Ada in B',
      posts: [
        {
          title: 'Kysely tips',
          content: 'Typed queries',
          published: true,
          metadata: { category: 'news', tags: ['typescript'] },
        },
      ],
      roles: [{ name: 'editor' }],
    });
    await b.users.create({ email: 'only-b@example.com' });

    expect(await a.users.count()).toBe(1);
    expect(await b.users.count()).toBe(2);
    expect((await a.users.findByEmail(email))?.id).toBe(userA.id);
    expect((await b.users.findByEmail(email))?.id).toBe(userB.id);
    expect(await a.users.findById(userB.id)).toBeUndefined();
    expect(await b.users.findByEmail('only-b@example.com')).toBeDefined();
    expect(await a.users.findByEmail('only-b@example.com')).toBeUndefined();

    expect((await a.posts.search('postgres')).items.map((hit) => hit.authorName)).toEqual(['Ada in A']);
    expect((await b.posts.search('postgres')).items).toEqual([]);
    expect((await b.posts.search('kysely')).items.map((hit) => hit.authorName)).toEqual(['Ada in B']);
    expect((await a.posts.findByMetadata({ category: 'tutorial' })).items.map((post) => post.id)).toEqual([
      userA.posts[0]?.id,
    ]);
    expect((await b.posts.findByMetadata({ category: 'tutorial' })).items).toEqual([]);
    expect((await b.posts.findByMetadata({ tags: { any: ['typescript'] } })).items).toHaveLength(1);

    expect((await a.roles.findUsersWithRole('author')).items.map((user) => user.id)).toEqual([userA.id]);
    expect((await b.roles.findUsersWithRole('author')).items).toEqual([]);
    expect((await b.roles.listForUser(userB.id)).map((role) => role.name)).toEqual(['editor']);

    // Raw SQL names the schema: the spec's join, qualified.
    const rawA = await a.executeRaw<{ email: string; roles: string }>(
      `SELECT u.email, string_agg(r.name, ', ') AS roles
         FROM tenant_a.pg_users u JOIN tenant_a.pg_roles r ON r."userId" = u.id
        WHERE u.email = $1 GROUP BY u.email`,
      [email],
    );
    expect(rawA).toEqual([{ email, roles: 'author' }]);
    const rawB = await b.executeRaw<{ n: number }>('SELECT count(*)::int AS n FROM tenant_b.pg_users');
    expect(rawB).toEqual([{ n: 2 }]);
  });

  it('migrates schema A down to zero and leaves schema B, its data and the database settings intact', async () => {
    const beforeB = await schemaObjects(url, 'tenant_b');
    const ran = await migrate(settingsFor(urlA), { direction: 'down', count: Number.POSITIVE_INFINITY });
    expect(ran).toEqual([...migrationNames].reverse());

    // Only the (empty) migrations table stays, as in public.
    expect((await schemaObjects(url, 'tenant_a')).filter((item) => !item.includes('pgmigrations'))).toEqual(
      [],
    );
    expect(await migrationsIn(url, 'tenant_a')).toEqual([]);
    expect(await schemaObjects(url, 'tenant_b')).toEqual(beforeB);
    expect(await migrationsIn(url, 'tenant_b')).toEqual(migrationNames);
    expect(await b.users.count()).toBe(2);
    expect((await b.posts.search('kysely')).items).toHaveLength(1);
    expect(await databaseSearchPath(url)).toEqual([]);
  });
});

describe('the database default search_path (application-search-path)', () => {
  it('is set for public only; a tenant migrated beside public leaves it alone and gets its own types', async () => {
    const url = await emptyDatabase();
    await migrate(settingsFor(url), { direction: 'up' });
    expect(await databaseSearchPath(url)).toEqual(['search_path="$user", public, pg_catalog']);

    const tenant = withSchema(url, 'tenant_c');
    await migrate(settingsFor(tenant), { direction: 'up' });
    expect(await databaseSearchPath(url)).toEqual(['search_path="$user", public, pg_catalog']);

    // Type generation for ?schema=tenant_c reads tenant_c alone (not public's tables beside it) and
    // names its tables without a schema: the committed types, which serve every schema.
    const codegen = await run(
      join(process.cwd(), 'node_modules/.bin/tsx'),
      [join(process.cwd(), 'scripts/codegen.ts'), '--verify'],
      { env: { PATH: process.env.PATH, POSTGRES_URL_NON_POOLING: tenant, POSTGRES_PRISMA_URL: tenant } },
    );
    expect(codegen.stdout).toContain('?schema=tenant_c');
    expect(codegen.stdout + codegen.stderr).toContain('up-to-date');

    await migrate(settingsFor(tenant), { direction: 'down', count: Number.POSITIVE_INFINITY });
    expect(await databaseSearchPath(url)).toEqual(['search_path="$user", public, pg_catalog']);

    await migrate(settingsFor(url), { direction: 'down', count: Number.POSITIVE_INFINITY });
    expect(await databaseSearchPath(url)).toEqual([]);
  });

  it('refuses to replace a different default, which down could not restore', async () => {
    const url = await emptyDatabase();
    const name = settingsFor(url).database;
    await query(url, `ALTER DATABASE "${name}" SET search_path = app, public`);
    const error = await migrate(settingsFor(url), { direction: 'up' }).catch((caught: unknown) => caught);
    expect((error as Error).message).toBe(
      `database ${name} already has a default search_path (app, public): this migration would replace it with ` +
        `"$user", public, pg_catalog and could not restore it on down; reset it (ALTER DATABASE ${name} RESET search_path) and migrate again`,
    );
    expect(await migrationsIn(url, 'public')).toEqual([]);
    expect(await databaseSearchPath(url)).toEqual(['search_path=app, public']);
  });

  it('down leaves a default someone changed since up', async () => {
    const url = await emptyDatabase();
    const name = settingsFor(url).database;
    await migrate(settingsFor(url), { direction: 'up' });
    await query(url, `ALTER DATABASE "${name}" SET search_path = "$user", public, extensions, pg_catalog`);
    await migrate(settingsFor(url), { direction: 'down', count: Number.POSITIVE_INFINITY });
    expect(await databaseSearchPath(url)).toEqual(['search_path="$user", public, extensions, pg_catalog']);
  });
});
