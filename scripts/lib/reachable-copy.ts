/**
 * A copy of a directory of programs, for an OS user who cannot enter the directories above the original
 * (as root, the embedded PostgreSQL's programs in a repository inside a home directory of mode 0700).
 *
 * Made once per content: its name carries a hash of the source's listing (paths, types, sizes, link
 * targets), so another version gets another copy. It is copied under a temporary name and renamed into
 * place, so a process finds a whole copy or none, and of two processes that copy at once, one rename wins
 * and the other drops its own. A copy whose listing no longer matches (a temp cleaner removed files from
 * it) is replaced.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmod, cp, lstat, readdir, readlink, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';

interface Entry {
  path: string;
  kind: 'directory' | 'file' | 'link';
  size: number;
  /** Of a file: whether anyone may execute it. */
  executable: boolean;
  target: string;
}

async function listing(root: string): Promise<Entry[]> {
  const entries: Entry[] = [];
  const walk = async (relative: string): Promise<void> => {
    const names = await readdir(join(root, relative));
    await Promise.all(
      names.map(async (name) => {
        const path = relative === '' ? name : `${relative}/${name}`;
        const info = await lstat(join(root, path));
        const executable = (info.mode & 0o111) !== 0;
        if (info.isSymbolicLink()) {
          const target = await readlink(join(root, path));
          entries.push({ path, kind: 'link', size: 0, executable, target });
        } else if (info.isDirectory()) {
          entries.push({ path, kind: 'directory', size: 0, executable, target: '' });
          await walk(path);
        } else {
          entries.push({ path, kind: 'file', size: info.size, executable, target: '' });
        }
      }),
    );
  };
  await walk('');
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const signature = (entries: Entry[]) =>
  entries.map((entry) => `${entry.kind} ${entry.path} ${entry.size} ${entry.target}`).join('\n');

const uniqueSuffix = () => `${process.pid}-${randomBytes(4).toString('hex')}`;

/** Whether `target` is a whole copy; a damaged one is removed. */
async function isWholeCopy(target: string, expected: string): Promise<boolean> {
  const info = await lstat(target).catch(() => undefined);
  if (info === undefined) return false;
  // Another user could have put programs there for this process to run.
  if (!info.isDirectory() || info.uid !== process.getuid?.() || (info.mode & 0o022) !== 0) {
    throw new Error(`${target} is not a directory that only this OS user can change: remove it`);
  }
  if (signature(await listing(target)) === expected) return true;
  // Set aside before removing, so that a process copying at the same time never sees half of it.
  const stale = `${target}.stale-${uniqueSuffix()}`;
  await rename(target, stale).then(
    () => rm(stale, { recursive: true, force: true }),
    () => undefined,
  );
  return false;
}

/**
 * The path of a copy of `source` named `<name>-<hash>` in `root`, made when there is none. Everyone may
 * read the copy and run its programs; only this OS user may change it.
 */
export async function reachableCopy(
  source: string,
  options: { root: string; name: string },
): Promise<string> {
  const expected = signature(await listing(source));
  const hash = createHash('sha256').update(expected).digest('hex').slice(0, 16);
  const target = join(options.root, `${options.name}-${hash}`);
  if (await isWholeCopy(target, expected)) return target;

  const partial = `${target}.partial-${uniqueSuffix()}`;
  try {
    await cp(source, partial, { recursive: true, verbatimSymlinks: true });
    for (const entry of await listing(partial)) {
      if (entry.kind === 'link') continue;
      const mode = entry.kind === 'directory' || entry.executable ? 0o755 : 0o644;
      await chmod(join(partial, entry.path), mode);
    }
    await chmod(partial, 0o755);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    // Another process renamed its copy into place first.
    if (await isWholeCopy(target, expected)) return target;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`could not copy ${source} to ${target}: ${reason}`, { cause: error });
  }
  return target;
}
