/**
 * What the server's OS user can reach. As root, the embedded PostgreSQL runs as `postgres`, which must be
 * able to enter every directory on the way to its programs and its data directory; a repository cloned
 * into root's home directory (mode 0700 in most containers) is out of its reach.
 */
import { stat } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { ServerUser } from './server-user.js';

/** A directory the server's OS user cannot enter (no search permission for it). */
export interface Barrier {
  directory: string;
  mode: number;
  ownerUid: number;
}

function canEnter(info: { mode: number; uid: number; gid: number }, user: ServerUser): boolean {
  if (info.uid === user.uid) return (info.mode & 0o100) !== 0;
  if (info.gid === user.gid) return (info.mode & 0o010) !== 0;
  return (info.mode & 0o001) !== 0;
}

/** `path` and the directories above it, from the root down. */
function ancestry(path: string): string[] {
  const paths: string[] = [];
  for (let current = resolve(path); ; current = dirname(current)) {
    paths.unshift(current);
    if (dirname(current) === current) return paths;
  }
}

/**
 * The directories on the way to `path` (itself included) that `user` cannot enter, from the root down.
 * Those that do not exist yet are left out: the server's data directory is created for it.
 */
export async function barriers(path: string, user: ServerUser): Promise<Barrier[]> {
  const found: Barrier[] = [];
  for (const directory of ancestry(path)) {
    const info = await stat(directory).catch(() => undefined);
    if (!info?.isDirectory()) break;
    if (!canEnter(info, user)) found.push({ directory, mode: info.mode & 0o7777, ownerUid: info.uid });
  }
  return found;
}

function owner(uid: number): string {
  return uid === process.getuid?.() ? userInfo().username : `uid ${uid}`;
}

/** e.g. `/root (mode 0700, owner root)` */
export function describeBarriers(found: Barrier[]): string {
  return found
    .map(
      ({ directory, mode, ownerUid }) => `${directory} (mode 0${mode.toString(8)}, owner ${owner(ownerUid)})`,
    )
    .join(', ');
}

/** Thrown when the server's OS user cannot reach its data directory: says which directory, why, and the fix. */
export class DataDirectoryUnreachableError extends Error {
  constructor(
    readonly dataDir: string,
    readonly user: ServerUser,
    readonly barriers: Barrier[],
  ) {
    const directories = barriers.map((barrier) => barrier.directory).join(' ');
    super(
      `the embedded PostgreSQL runs as the OS user "${user.name}" (PostgreSQL refuses to run as root), ` +
        `which cannot reach its data directory ${dataDir}: it cannot enter ${describeBarriers(barriers)}. ` +
        `Fix: keep the repository under a directory "${user.name}" can enter (such as /srv or /opt, ` +
        `not a home directory of mode 0700), or let it through with "chmod o+x ${directories}", or run ` +
        'as a user other than root, or use a PostgreSQL of your own (POSTGRES_PRISMA_URL and ' +
        'POSTGRES_URL_NON_POOLING in .env, see .env.example)',
    );
    this.name = 'DataDirectoryUnreachableError';
  }
}

/**
 * Throws DataDirectoryUnreachableError when `user` (the server's, if any) cannot reach `dataDir`: when it
 * cannot enter a directory above it (the data directory itself initdb's caller gives to it).
 */
export async function assertServerCanReach(dataDir: string, user: ServerUser | undefined): Promise<void> {
  if (!user) return;
  const found = await barriers(dirname(resolve(dataDir)), user);
  if (found.length > 0) throw new DataDirectoryUnreachableError(resolve(dataDir), user, found);
}

/**
 * A temporary directory the server's OS user can enter, for throw-away data directories and the copy of
 * the server's programs: the system's (TMPDIR) when it can, else /var/tmp or /tmp.
 */
export async function serverTempRoot(user: ServerUser | undefined): Promise<string> {
  if (!user) return tmpdir();
  const candidates = [...new Set([tmpdir(), '/var/tmp', '/tmp'])];
  for (const candidate of candidates) {
    const info = await stat(candidate).catch(() => undefined);
    if (info?.isDirectory() && (await barriers(candidate, user)).length === 0) return candidate;
  }
  throw new Error(
    `the embedded PostgreSQL runs as the OS user "${user.name}", which can enter none of the temporary ` +
      `directories ${candidates.join(', ')}; set TMPDIR to a directory it can enter`,
  );
}
