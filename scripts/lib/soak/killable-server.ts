/**
 * A throw-away, durable PostgreSQL (fsync, synchronous commit and full-page writes on) that can be killed
 * with SIGKILL, as a crash would, and started again on the same data directory and port: the URL a pool
 * holds stays valid, and that start is crash recovery.
 *
 * The postmaster runs as a child of this process (PostgresCluster), never daemonized by pg_ctl: a
 * daemonized postmaster that dies stays a zombie where nothing reaps orphans (a container's init often
 * does not), and a zombie's pid in postmaster.pid makes the next start refuse the data directory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, SUPERUSER, serverUrl } from '../embedded-server.js';
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
/** How long the processes of a killed server may take to end. */
const KILL_TIMEOUT_MS = 60_000;

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

/** /proc/<pid>/stat's state letter and parent pid; undefined once the process is gone. */
function processStatus(pid: number): { state: string; parent: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    const [state = '', parent = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/** A zombie has released its memory and sockets: for a restart it is gone, reaped or not. */
const isGone = (pid: number) => {
  const status = processStatus(pid);
  return status === undefined || status.state === 'Z' || status.state === 'X';
};

function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => processStatus(pid)?.parent === parent);
}

async function until(condition: () => boolean, what: string, timeoutMs = KILL_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

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
    const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    // Stopped first, so it forks no new backend between the listing of its children and the kill.
    process.kill(pid, 'SIGSTOP');
    await until(() => processStatus(pid)?.state === 'T', 'the postmaster to stop');
    const children = childrenOf(pid);
    process.kill(pid, 'SIGKILL');
    onSignalled?.();
    for (const each of children) {
      try {
        process.kill(each, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    // The postmaster, this process's child, is reaped here; its orphans may stay zombies, which hold nothing.
    await until(
      () => processStatus(pid) === undefined && children.every(isGone),
      'the killed server processes to end',
    );
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
