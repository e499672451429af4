/**
 * The copy of the embedded PostgreSQL's programs made for the `postgres` OS user (scripts/lib/
 * reachable-copy.ts), on a small directory: made once and whole when processes race, readable and
 * runnable by everyone, replaced when damaged, refused when others could have changed it.
 */
import { chmod, mkdir, readdir, readFile, readlink, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { reachableCopy } from '../../scripts/lib/reachable-copy.js';
import { useTempFolders } from '../support/temp-folders.js';

const tempFolder = useTempFolders('shared-db-copy-');

/** A directory shaped like the programs' one: bin/ with an executable, lib/ with a library and a link. */
async function programs(): Promise<string> {
  const source = await tempFolder();
  await mkdir(join(source, 'bin'), { mode: 0o700 });
  await mkdir(join(source, 'lib'), { mode: 0o700 });
  await writeFile(join(source, 'bin/server'), '#!/bin/sh\necho server\n', { mode: 0o700 });
  await writeFile(join(source, 'lib/libthing.so.1.2'), 'library', { mode: 0o600 });
  await symlink('libthing.so.1.2', join(source, 'lib/libthing.so'));
  return source;
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('reachableCopy', () => {
  it('makes one whole copy when several processes copy at once', async () => {
    const [source, root] = await Promise.all([programs(), tempFolder()]);
    const copies = await Promise.all(
      Array.from({ length: 4 }, () => reachableCopy(source, { root, name: 'programs' })),
    );
    expect(new Set(copies).size).toBe(1);
    expect(await readdir(root)).toEqual([copies[0]?.slice(root.length + 1)]);
    const copy = copies[0] as string;
    expect(await readFile(join(copy, 'bin/server'), 'utf8')).toBe('#!/bin/sh\necho server\n');
    expect(await readlink(join(copy, 'lib/libthing.so'))).toBe('libthing.so.1.2');
  });

  it('lets everyone read it and run its programs, and only its owner change it', async () => {
    const [source, root] = await Promise.all([programs(), tempFolder()]);
    const copy = await reachableCopy(source, { root, name: 'programs' });
    expect(await mode(copy)).toBe(0o755);
    expect(await mode(join(copy, 'bin'))).toBe(0o755);
    expect(await mode(join(copy, 'bin/server'))).toBe(0o755);
    expect(await mode(join(copy, 'lib/libthing.so.1.2'))).toBe(0o644);
  });

  it('names the copy by its content: a changed source gets a copy of its own', async () => {
    const [source, root] = await Promise.all([programs(), tempFolder()]);
    const first = await reachableCopy(source, { root, name: 'programs' });
    expect(await reachableCopy(source, { root, name: 'programs' })).toBe(first);
    await writeFile(join(source, 'lib/libthing.so.1.2'), 'a library of another version');
    const second = await reachableCopy(source, { root, name: 'programs' });
    expect(second).not.toBe(first);
    expect(await readFile(join(second, 'lib/libthing.so.1.2'), 'utf8')).toBe('a library of another version');
  });

  it('replaces a copy that lost a file', async () => {
    const [source, root] = await Promise.all([programs(), tempFolder()]);
    const copy = await reachableCopy(source, { root, name: 'programs' });
    await rm(join(copy, 'lib/libthing.so.1.2'));
    expect(await reachableCopy(source, { root, name: 'programs' })).toBe(copy);
    expect(await readFile(join(copy, 'lib/libthing.so.1.2'), 'utf8')).toBe('library');
    expect(await readdir(root)).toHaveLength(1);
  });

  it('refuses a copy that others could have changed, naming it', async () => {
    const [source, root] = await Promise.all([programs(), tempFolder()]);
    const copy = await reachableCopy(source, { root, name: 'programs' });
    await chmod(copy, 0o777);
    await expect(reachableCopy(source, { root, name: 'programs' })).rejects.toThrow(
      `${copy} is not a directory that only this OS user can change: remove it`,
    );
  });
});
