/**
 * A throw-away, durable PostgreSQL (fsync, synchronous commit and full-page writes on) that can be killed
 * with SIGKILL, as a crash would, and started again on the same data directory and port: the URL a pool
 * holds stays valid, and that start is crash recovery.
 *
 * The postmaster runs as a child of this process (PostgresCluster), never daemonized by pg_ctl: see
 * kill-server.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, SUPERUSER, serverUrl } from '../embedded-server.js';
import { killServer } from '../kill-server.js';
import { PostgresCluster } from '../postgres-cluster.js';
import { serverTempRoot } from '../server-reach.js';
import { serverUser } from '../server-user.js';

export interface KillableServer {
  readonly port: number;
  readonly dataDir: string;
  /** postgres://postgres:…@127.0.0.1:port/database */
  url(database?: string): string;
  /**
   * SIGKILL to the postmaster and every process it started, as a crash would: nothing is shut down,
   * nothing flushed. Resolves when they are all gone (a backend left behind would hold the shared memory
   * and block the next start). `onSignalled` is called the moment the signal is sent.
   */
  kill(onSignalled?: () => void): Promise<void>;
  /** Starts the server again on the same directory and port; after `kill()`, that is crash recovery. */
  start(): Promise<void>;
  /** A fast shutdown (SIGINT, as `pg_ctl stop -m fast`): sessions end, the server checkpoints and exits. */
  shutDown(onSignalled?: () => void): Promise<void>;
  /** Shuts down and removes the data directory. */
  stop(): Promise<void>;
  /** The server's last lines of output, for error messages. */
  log(): string;
}

const PASSWORD = 'postgres';
const DURABLE_FLAGS = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'unix_socket_directories=',
  // Stated, though they are PostgreSQL's defaults: what this server is for.
  '-c',
  'fsync=on',
  '-c',
  'synchronous_commit=on',
  '-c',
  'full_page_writes=on',
];

/** Initialises a cluster in a new temporary directory and starts it on a free port. */
export async function startKillableServer(): Promise<KillableServer> {
  const dataDir = await mkdtemp(join(await serverTempRoot(await serverUser()), 'shared-db-killable-'));
  const port = await freePort();
  // Not ephemeral: stopping it for a restart must keep the data directory; stop() below removes it.
  const cluster = new PostgresCluster({
    dataDir,
    port,
    superuser: SUPERUSER,
    password: PASSWORD,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: DURABLE_FLAGS,
  });
  try {
    await cluster.initialise();
    await cluster.start();
  } catch (error) {
    await cluster.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  let running = true;

  const kill = async (onSignalled?: () => void) => {
    if (!running) return;
    running = false;
    await killServer(dataDir, onSignalled);
  };

  const start = async () => {
    if (running) throw new Error(`PostgreSQL already runs on port ${port}`);
    await cluster.start();
    running = true;
  };

  const shutDown = async (onSignalled?: () => void) => {
    if (!running) return;
    running = false;
    // stop() sends SIGINT before its first await, then waits for the server to exit.
    const stopping = cluster.stop();
    onSignalled?.();
    await stopping;
  };

  return {
    port,
    dataDir,
    url: (database) => serverUrl(port, PASSWORD, database),
    kill,
    start,
    shutDown,
    async stop() {
      await shutDown();
      await rm(dataDir, { recursive: true, force: true });
    },
    log: () => cluster.output,
  };
}
