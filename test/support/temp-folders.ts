import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

/**
 * Temporary folders for a test file: call at the top of the file; each call of the function it returns
 * makes a folder named `<prefix>…` holding `files` (name → content) and gives its path. All are removed
 * after the file.
 */
export function useTempFolders(prefix: string): (files?: Record<string, string>) => Promise<string> {
  const folders: string[] = [];
  afterAll(async () => {
    for (const folder of folders) await rm(folder, { recursive: true, force: true });
  });
  return async (files = {}) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    folders.push(dir);
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
    return dir;
  };
}
