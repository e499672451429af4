/**
 * The OS user the embedded PostgreSQL and PgBouncer run as. Both refuse to run as root, so as root they run
 * as `postgres`, created when missing (a container often has none); otherwise as this process's user.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const SERVER_OS_USER = 'postgres';

export interface ServerUser {
  name: string;
  uid: number;
  /** The only group the programs run with: Node.js drops the supplementary groups when it changes user. */
  gid: number;
}

async function lookUp(): Promise<ServerUser | undefined> {
  try {
    const id = async (flag: string) => Number((await run('id', [flag, SERVER_OS_USER])).stdout.trim());
    const [uid, gid] = await Promise.all([id('-u'), id('-g')]);
    return { name: SERVER_OS_USER, uid, gid };
  } catch {
    return undefined;
  }
}

async function create(): Promise<ServerUser> {
  try {
    // The group may exist without the user; two processes may also race to create both.
    await run('groupadd', ['--system', SERVER_OS_USER]).catch(() => undefined);
    await run('useradd', ['--system', '--gid', SERVER_OS_USER, '--no-create-home', SERVER_OS_USER]);
  } catch (error) {
    const raced = await lookUp();
    if (raced) return raced;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `running as root, the embedded PostgreSQL runs as the OS user "${SERVER_OS_USER}" (PostgreSQL ` +
        `refuses to run as root), and there is none; creating it failed (${reason.trim()}). Create it ` +
        `(useradd --system ${SERVER_OS_USER}) or run as a user other than root`,
      { cause: error },
    );
  }
  const created = await lookUp();
  if (!created) throw new Error(`useradd succeeded, but "id ${SERVER_OS_USER}" does not find the user`);
  return created;
}

let found: Promise<ServerUser> | undefined;

/** The user to run the server's programs as; undefined when that is this process's own user. */
export async function serverUser(): Promise<ServerUser | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  found ??= lookUp().then((user) => user ?? create());
  // A failed lookup is not kept: the next call tries again.
  return found.catch((error: unknown) => {
    found = undefined;
    throw error;
  });
}

/**
 * Options for spawning one of the server's programs as `user`: from `/`, which it can always enter (this
 * process's working directory it may not).
 */
export function runningAs(user: ServerUser | undefined): { uid?: number; gid?: number; cwd: string } {
  return { ...(user && { uid: user.uid, gid: user.gid }), cwd: '/' };
}
