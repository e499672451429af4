/**
 * Creates a migration file: in a service's own folder (`{ dir }`), or, while developing this package,
 * in its `migrations/`.
 *
 * A service's file imports what it needs from 'shared-db' alone (its types, the schema helper,
 * `createIndexConcurrently`). `.ts` is the default: node-pg-migrate loads migration files through jiti,
 * which compiles TypeScript on the fly, so a service on plain `node` runs them without a loader.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Migration } from 'node-pg-migrate';
import { ConfigError } from '../errors/classes.js';
import { MIGRATIONS_DIR } from './migrate.js';
import {
  IGNORED_FILES,
  listMigrations,
  type MigrationFile,
  readMigrationFolder,
} from './service-migrations.js';

export interface CreateMigrationOptions {
  /**
   * The service's migrations folder, which must exist (relative paths are resolved from the current
   * directory). Without it the file goes into the package's own migrations/, which only the package's
   * own development may do.
   */
  dir?: string;
  /**
   * `ts` or `js`; default: the extension of the folder's newest migration when it is one of these,
   * else `ts`. Both run on plain node (node-pg-migrate loads them through jiti); `js` suits a service
   * without TypeScript.
   */
  language?: 'ts' | 'js';
}

const NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
/** The file name without extension is recorded in a varchar(255); the number takes 14 of it. */
const MAX_NAME_LENGTH = 200;
/** The built package runs its migrations as JavaScript from dist/: they are part of its release. */
const PACKAGE_IS_BUILT = import.meta.url.endsWith('.js');

/** Creates `<dir>/<timestamp>_<name>.<ts|js>` and returns its path; it never replaces a file. */
export async function createMigration(name: string, options: CreateMigrationOptions = {}): Promise<string> {
  if (typeof name !== 'string' || !NAME.test(name) || name.length > MAX_NAME_LENGTH) {
    throw new ConfigError(
      'name',
      `"${String(name)}" is not a kebab-case migration name (like add-posts-summary, at most ${MAX_NAME_LENGTH} characters)`,
    );
  }
  const { dir, language } = options;
  if (language !== undefined && language !== 'ts' && language !== 'js') {
    throw new ConfigError('language', `must be "ts" or "js", got ${JSON.stringify(language)}`);
  }
  const own = (await listMigrations(MIGRATIONS_DIR)).migrations;
  if (dir === undefined) {
    if (PACKAGE_IS_BUILT) {
      throw new ConfigError(
        'dir',
        "is needed: a service's migrations go into a folder of its own, " +
          "createMigration(name, { dir: 'migrations' }), never into the installed package",
      );
    }
    if (language === 'js') throw new ConfigError('language', "the package's own migrations are TypeScript");
    refuseTaken(name, own, "the package's");
    return Migration.create(name, MIGRATIONS_DIR, { language: 'ts', ignorePattern: IGNORED_FILES });
  }

  const folder = await readMigrationFolder(dir, MIGRATIONS_DIR);
  refuseTaken(name, own, "the package's");
  refuseTaken(name, folder.migrations, `${folder.dir}'s`);
  const newest = folder.migrations.at(-1);
  const extension =
    language ?? (newest?.extension === 'js' || newest?.extension === 'ts' ? newest.extension : 'ts');
  // After the newest: a number that sorts before an applied migration would stop every later run.
  const number = Math.max(Date.now(), Math.floor(newest?.order ?? 0) + 1);
  const path = join(folder.dir, `${number}_${name}.${extension}`);
  await writeFile(path, extension === 'ts' ? TS_TEMPLATE : JS_TEMPLATE, { flag: 'wx' }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new ConfigError('name', `${path} already exists`, { cause: error });
      throw error;
    },
  );
  return path;
}

// ---------------------------------------------------------------------------------------------------

/** Two migrations of one name would be told apart by their number alone, in every log and listing. */
function refuseTaken(name: string, migrations: readonly MigrationFile[], whose: string): void {
  const taken = migrations.find((migration) => migration.title === name);
  if (taken !== undefined) {
    throw new ConfigError(
      'name',
      `"${name}" is taken: ${whose} migration ${taken.name} has it; ` +
        'choose a name that says what this migration does',
    );
  }
}

const TS_TEMPLATE = `import type { MigrationBuilder } from 'shared-db';

// Runs after shared-db's own migrations, in the application's schema, recorded in the service's
// migrations table. Qualify names with (await migrationSchema(pgm)).qualify('a_table'); on a table in
// use, build indexes with createIndexConcurrently after pgm.noTransaction(). Both come from 'shared-db'.

export async function up(pgm: MigrationBuilder): Promise<void> {}

export async function down(pgm: MigrationBuilder): Promise<void> {}
`;

const JS_TEMPLATE = `// Runs after shared-db's own migrations, in the application's schema, recorded in the service's
// migrations table. Qualify names with (await migrationSchema(pgm)).qualify('a_table'); on a table in
// use, build indexes with createIndexConcurrently after pgm.noTransaction(). Both come from 'shared-db'.

/** @param {import('shared-db').MigrationBuilder} pgm */
export async function up(pgm) {}

/** @param {import('shared-db').MigrationBuilder} pgm */
export async function down(pgm) {}
`;
