/**
 * npm run db:check: checks the connection the application uses (the pooled one), as the spec's
 * test-postgres-provider.ts did. Connects, reports the server, writes a user with a post and a role,
 * reads them back in one statement and deletes them; on failure prints one reason line and exits 1.
 * Whatever it wrote is deleted again, also when a step fails.
 */
import { createId } from '@paralleldrive/cuid2';
import { describeConnection } from '../src/config/connection-url.js';
import { isDatabaseConfigured, loadConfig, readEnvironment } from '../src/config/load-config.js';
import type { ConnectionSettings } from '../src/config/settings.js';
import { createDatabase, type Database } from '../src/database/database.js';
import { explainFailure, sqlState } from './lib/explain-failure.js';
import { runScript } from './lib/run-script.js';

const NOT_CONFIGURED =
  'no database configured: set POSTGRES_PRISMA_URL and POSTGRES_URL_NON_POOLING (or POSTGRES_HOST, ' +
  'POSTGRES_USER and POSTGRES_DATABASE) in .env (see .env.example), or run `npm run db:start` ' +
  'for a local server and put the URL it prints in .env';

/** Ids of rows this check may have written: the clean-up deletes them. */
interface Written {
  roleId?: string;
  postId?: string;
  userId?: string;
}

/** Runs `fn` and prints a ✔ (or ✗) line with its duration. */
async function step<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const took = () => `(${(performance.now() - started).toFixed(1)} ms)`;
  try {
    const result = await fn();
    console.log(`✔ ${label} ${took()}`);
    return result;
  } catch (error) {
    console.log(`✗ ${label} ${took()}`);
    throw error;
  }
}

/** Records `id` before inserting, so a lost reply still gets cleaned up; a rejected statement wrote nothing. */
async function insert(written: Written, key: keyof Written, id: string, run: () => Promise<unknown>) {
  written[key] = id;
  try {
    await run();
  } catch (error) {
    if (sqlState(error) !== undefined) delete written[key];
    throw error;
  }
}

/** Deletes the written rows by id, in one transaction; `strict` demands that each one was there. */
async function deleteRows(db: Database, written: Written, strict: boolean): Promise<void> {
  await db.transaction(async ({ kysely }) => {
    const targets = [
      ['pg_roles', written.roleId],
      ['pg_posts', written.postId],
      ['pg_users', written.userId],
    ] as const;
    for (const [table, id] of targets) {
      if (id === undefined) continue;
      const { numDeletedRows } = await kysely
        .deleteFrom(table)
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      if (strict && numDeletedRows !== 1n) throw new Error(`${table} row ${id} was gone before the delete`);
    }
  });
  for (const key of Object.keys(written) as (keyof Written)[]) delete written[key];
}

/** Throws when `actual` differs from `expected`, naming what differs. */
function expectSame(what: string, actual: unknown, expected: unknown): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `read back a different ${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`,
    );
  }
}

async function checkServer(db: Database): Promise<void> {
  const version = await step('connect', async () => {
    const [row] = await db.executeRaw<{ server_version: string }>('SHOW server_version');
    return row?.server_version ?? 'unknown';
  });
  console.log(`  server version: PostgreSQL ${version}`);
  await step('SELECT 1 round trip', () => db.executeRaw('SELECT 1'));
}

async function checkWrites(db: Database, written: Written): Promise<void> {
  const id = createId();
  const user = { id, email: `db-check+${id}@example.com`, name: 'db:check' };
  const post = { id: createId(), title: 'db:check', content: 'written by npm run db:check', published: true };
  const role = { id: createId(), name: 'db-check', description: 'written by npm run db:check' };
  const { kysely } = db;

  await step(`insert user ${user.email}`, () =>
    insert(written, 'userId', user.id, () => kysely.insertInto('pg_users').values(user).execute()),
  );
  await step('insert a post', () =>
    insert(written, 'postId', post.id, () =>
      kysely
        .insertInto('pg_posts')
        .values({ ...post, authorId: id })
        .execute(),
    ),
  );
  await step(`insert role ${role.name}`, () =>
    insert(written, 'roleId', role.id, () =>
      kysely
        .insertInto('pg_roles')
        .values({ ...role, userId: id })
        .execute(),
    ),
  );
  await step('read the user back with its posts and roles in one statement', async () => {
    const found = await db.users.findById(id, { include: { posts: true, roles: true } });
    expectSame('user', found && { id: found.id, email: found.email, name: found.name }, user);
    expectSame(
      'posts',
      found?.posts.map(({ id, title, content, published }) => ({ id, title, content, published })),
      [post],
    );
    expectSame(
      'roles',
      found?.roles.map(({ id, name, description }) => ({ id, name, description })),
      [role],
    );
  });
  await step('delete the role, the post and the user', () => deleteRows(db, written, true));
}

/** Deletes what a failed check left; reports, but never throws, so the first error stays the reason. */
async function cleanUp(db: Database, written: Written, settings: ConnectionSettings): Promise<void> {
  if (Object.keys(written).length === 0) return;
  const left = JSON.stringify(written);
  try {
    await deleteRows(db, written, false);
    console.log(`  cleaned up the rows this check wrote ${left}`);
  } catch (error) {
    console.error(`⚠ could not clean up ${left}, delete them by hand: ${explainFailure(error, settings)}`);
  }
}

runScript(async () => {
  const env = readEnvironment();
  if (!isDatabaseConfigured(env)) throw new Error(NOT_CONFIGURED);
  const config = loadConfig(env);
  console.log(`Checking ${describeConnection(config.pooled)} (the application's pooled connection)`);
  if (!config.enabled)
    console.log('  note: ENABLE_POSTGRES is not "true", so DatabaseClient will not use it');

  const written: Written = {};
  const db = createDatabase(config);
  try {
    await checkServer(db);
    await checkWrites(db, written);
  } catch (error) {
    await cleanUp(db, written, config.pooled);
    throw new Error(explainFailure(error, config.pooled));
  } finally {
    await db.disconnect();
  }
  console.log('\n✅ PostgreSQL connection OK');
});
