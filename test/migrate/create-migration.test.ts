/**
 * createMigration(name, { dir }): a file in the service's own folder, numbered after its newest, never
 * replacing one; bad names and folders refused with nothing written.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/classes.js';
import { createMigration } from '../../src/migrate/create-migration.js';
import { MIGRATIONS_DIR } from '../../src/migrate/migrate.js';
import { useTempFolders } from '../support/temp-folders.js';

/** A service's migrations folder holding the files given (name → source). */
const folder = useTempFolders('shared-db-create-migration-');

async function refused(
  create: () => Promise<string>,
  setting: string,
  message: RegExp,
  dir: string | undefined,
): Promise<void> {
  const before = dir === undefined ? [] : await readdir(dir);
  const packageBefore = await readdir(MIGRATIONS_DIR);
  const error = await create().catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).setting).toBe(setting);
  expect((error as Error).message).toMatch(message);
  if (dir !== undefined) expect(await readdir(dir)).toEqual(before);
  expect(await readdir(MIGRATIONS_DIR)).toEqual(packageBefore);
}

describe('createMigration with a dir', () => {
  it('writes a TypeScript migration that imports from the package, numbered now', async () => {
    const dir = await folder();
    const before = Date.now();
    const path = await createMigration('add-notes', { dir });
    const [, number] = /^(\d+)_add-notes\.ts$/.exec(basename(path)) ?? [];
    expect(join(dir, basename(path))).toBe(path);
    expect(Number(number)).toBeGreaterThanOrEqual(before);
    const source = await readFile(path, 'utf8');
    expect(source).toContain("import type { MigrationBuilder } from 'shared-db';");
    expect(source).toContain('export async function up(pgm: MigrationBuilder): Promise<void> {}');
    expect(source).toContain('export async function down(pgm: MigrationBuilder): Promise<void> {}');
    expect(await readdir(dir)).toEqual([basename(path)]);
  });

  it('writes JavaScript when asked, and then follows the folder’s newest', async () => {
    const dir = await folder();
    const js = await createMigration('add-notes', { dir, language: 'js' });
    expect(js).toMatch(/_add-notes\.js$/);
    const source = await readFile(js, 'utf8');
    expect(source).toContain("/** @param {import('shared-db').MigrationBuilder} pgm */");
    expect(source).toContain('export async function up(pgm) {}');
    expect(await createMigration('index-notes', { dir })).toMatch(/_index-notes\.js$/);
    expect(await createMigration('add-tags', { dir, language: 'ts' })).toMatch(/_add-tags\.ts$/);
  });

  it('numbers the file after the folder’s newest, even one numbered ahead of the clock', async () => {
    const dir = await folder({ '9999999999999_from-the-future.ts': '' });
    const path = await createMigration('add-notes', { dir });
    expect(basename(path)).toBe('10000000000000_add-notes.ts');
  });

  it('refuses a name that is not kebab-case, writing nothing', async () => {
    const dir = await folder();
    for (const name of ['Add Notes', '../escape', 'add_notes', '', "it's", `a${'-b'.repeat(100)}`]) {
      await refused(() => createMigration(name, { dir }), 'name', /is not a kebab-case migration name/, dir);
    }
  });

  it('refuses a name the folder or the package already has', async () => {
    const dir = await folder({ '1800000000000_add-notes.ts': '' });
    await refused(
      () => createMigration('add-notes', { dir }),
      'name',
      new RegExp(`"add-notes" is taken: ${dir}'s migration 1800000000000_add-notes has it`),
      dir,
    );
    await refused(
      () => createMigration('create-indexes', { dir }),
      'name',
      /"create-indexes" is taken: the package's migration 1795773600002_create-indexes has it/,
      dir,
    );
  });

  it('refuses a folder that does not exist (creating none), a file, and the package’s own folder', async () => {
    const parent = await folder({ 'a-file.ts': '' });
    await refused(
      () => createMigration('add-notes', { dir: join(parent, 'migratoins') }),
      'dir',
      /migratoins does not exist: create the service's migrations folder first/,
      parent,
    );
    await refused(
      () => createMigration('add-notes', { dir: join(parent, 'a-file.ts') }),
      'dir',
      /is not a directory/,
      parent,
    );
    await refused(
      () => createMigration('add-notes', { dir: MIGRATIONS_DIR }),
      'dir',
      /is the package's own migrations folder/,
      undefined,
    );
  });

  it('refuses a folder that holds files a migration run would refuse', async () => {
    const dir = await folder({ 'notes.sql': '' });
    await refused(() => createMigration('add-notes', { dir }), 'dir', /not migrations: notes\.sql/, dir);
  });

  it('refuses a language other than ts and js', async () => {
    const dir = await folder();
    await refused(
      () => createMigration('add-notes', { dir, language: 'sql' as 'ts' }),
      'language',
      /must be "ts" or "js"/,
      dir,
    );
  });
});
