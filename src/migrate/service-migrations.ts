/**
 * A service's own migrations: the folder that holds them and the table that records them.
 *
 * They run after the package's own, in the same schema and under the same run lock, but are recorded
 * in a table of their own (default `pgmigrations_service`). One shared table would interleave the two
 * sequences by timestamp: node-pg-migrate checks that the applied names are a prefix of the files in
 * order, so a package upgrade with a migration older than the service's newest would stop every run,
 * and `down` would revert whichever of the two came last.
 *
 * Everything is checked before anything runs, so a wrong folder, a file that is not a migration, or a
 * folder that does not match its table fails with a ConfigError and changes nothing.
 */
import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type pg from 'pg';
import { MAX_IDENTIFIER_BYTES } from '../config/postgres-limits.js';
import { ConfigError } from '../errors/classes.js';

export const DEFAULT_SERVICE_MIGRATIONS_TABLE = 'pgmigrations_service';

/** Files a migrations folder may hold beside its migrations: dotfiles, a build's declarations and source maps. */
export const IGNORED_FILES = String.raw`\..*|.*\.d\.ts|.*\.map`;

/**
 * `<number>_<name>.<extension>`, the extensions node-pg-migrate loads. The name is written into the
 * migrations table as an SQL literal by node-pg-migrate, so it holds no quote or space.
 */
const MIGRATION_FILE = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_-]*)\.(js|ts|mjs|cjs|mts|cts|sql)$/;
/** The migrations table's `name` column is varchar(255). */
const MAX_NAME_LENGTH = 255;
/** A name that needs no quotes: the service's table must be one. */
const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

export interface MigrationFile {
  /** As recorded in the migrations table: the file name without its extension. */
  readonly name: string;
  /** The part after the number: `add-notes`. */
  readonly title: string;
  readonly extension: string;
  /** The number as node-pg-migrate orders by it (a 17-digit UTC stamp read as epoch milliseconds). */
  readonly order: number;
}

export interface MigrationFolder {
  /** Absolute path. */
  readonly dir: string;
  /** In the order node-pg-migrate runs them. */
  readonly migrations: readonly MigrationFile[];
}

export interface ServiceMigrations extends MigrationFolder {
  readonly table: string;
}

/** Reads and checks a service's folder and table name. */
export async function serviceMigrations(
  dir: string,
  table: string | undefined,
  packageDir: string,
  packageTable: string,
): Promise<ServiceMigrations> {
  return { ...(await readMigrationFolder(dir, packageDir)), table: serviceTable(table, packageTable) };
}

/**
 * Lists a service's migrations folder (relative paths are resolved from the current directory). It must
 * exist, must not be the package's own, and may hold nothing but migrations and ignored files.
 */
export async function readMigrationFolder(dir: string, packageDir: string): Promise<MigrationFolder> {
  if (typeof dir !== 'string' || dir.trim() === '') {
    throw new ConfigError('dir', "must be the path of the service's migrations folder");
  }
  const absolute = resolve(dir);
  const found = await stat(absolute).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw new ConfigError('dir', `${absolute} cannot be read: ${error.message}`, { cause: error });
  });
  if (found === undefined) {
    throw new ConfigError('dir', `${absolute} does not exist: create the service's migrations folder first`);
  }
  if (!found.isDirectory()) throw new ConfigError('dir', `${absolute} is not a directory`);
  const packageFolder = await realpath(packageDir).catch(() => resolve(packageDir));
  if ((await realpath(absolute)) === packageFolder) {
    throw new ConfigError(
      'dir',
      `${absolute} is the package's own migrations folder, which migrate() runs anyway: ` +
        "pass the service's own folder",
    );
  }
  return listMigrations(absolute);
}

/** Lists the migrations of the folder at the absolute path `dir`, refusing any file that is not one. */
export async function listMigrations(absolute: string): Promise<MigrationFolder> {
  const ignored = new RegExp(`^(?:${IGNORED_FILES})$`);
  const entries: Dirent[] = await readdir(absolute, { withFileTypes: true });
  const files = entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && !ignored.test(entry.name))
    .map((entry) => entry.name);
  const unfit = files.filter((file) => {
    const match = MIGRATION_FILE.exec(file);
    return match === null || file.length - (match[3]?.length ?? 0) - 1 > MAX_NAME_LENGTH;
  });
  if (unfit.length > 0) {
    throw new ConfigError(
      'dir',
      `${absolute} holds files that are not migrations: ${list(unfit)}. A migration is ` +
        '<number>_<name>.js (or .ts, .mjs, .cjs, .mts, .cts, .sql), its name of letters, digits, - and _; ' +
        'move other files out of the folder',
    );
  }
  const migrations = files.map(migrationFile).sort(compareMigrations);
  const names = new Map<string, string[]>();
  for (const file of files) {
    const name = file.slice(0, file.lastIndexOf('.'));
    names.set(name, [...(names.get(name) ?? []), file]);
  }
  const twice = [...names.values()].filter((same) => same.length > 1).map((same) => same.join(' and '));
  if (twice.length > 0) {
    throw new ConfigError(
      'dir',
      `${absolute} holds the same migration twice: ${list(twice)}; a migration is recorded by its ` +
        'name without extension, so keep one file each',
    );
  }
  return { dir: absolute, migrations };
}

/**
 * The names the service's table records as applied, in the order they were applied, after checking
 * that they are the first of the folder's migrations, in the folder's order; empty when the table does
 * not exist yet.
 */
export async function appliedServiceMigrations(
  client: pg.Client,
  schema: string,
  service: ServiceMigrations,
): Promise<string[]> {
  const { rows: columns } = await client.query<{ column: string }>(
    `SELECT a.attname AS column
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped`,
    [schema, service.table],
  );
  if (columns.length === 0) return [];
  const present = new Set(columns.map((row) => row.column));
  // Quoted only where it must be, for the messages; always quoted for the query.
  const table = [schema, service.table]
    .map((name) => (PLAIN_IDENTIFIER.test(name) ? name : client.escapeIdentifier(name)))
    .join('.');
  const sql = `${client.escapeIdentifier(schema)}.${client.escapeIdentifier(service.table)}`;
  if (!['id', 'name', 'run_on'].every((column) => present.has(column))) {
    throw new ConfigError(
      'migrationsTable',
      `${table} exists and is not a migrations table (it lacks id, name or run_on): choose another name`,
    );
  }
  const { rows } = await client.query<{ name: string }>(`SELECT name FROM ${sql} ORDER BY run_on, id`);
  const applied = rows.map((row) => row.name);
  const inFolder = new Set(service.migrations.map((migration) => migration.name));
  const missing = applied.filter((name) => !inFolder.has(name));
  if (missing.length > 0) {
    throw new ConfigError(
      'dir',
      `${table} records migrations that ${service.dir} does not hold: ${list(missing)}. Either their ` +
        'files were removed, or another service records its migrations in the same table: give each ' +
        'service a migrationsTable of its own',
    );
  }
  const outOfOrder = applied.findIndex((name, index) => service.migrations[index]?.name !== name);
  if (outOfOrder !== -1) {
    throw new ConfigError(
      'dir',
      `${service.migrations[outOfOrder]?.name} in ${service.dir} is not applied but sorts before ` +
        `${applied[outOfOrder]}, which is: give it a number after the newest applied one ` +
        '(createMigration does that for a new migration)',
    );
  }
  return applied;
}

function serviceTable(table: string | undefined, packageTable: string): string {
  if (table === undefined) return DEFAULT_SERVICE_MIGRATIONS_TABLE;
  if (typeof table !== 'string' || !PLAIN_IDENTIFIER.test(table) || table.length > MAX_IDENTIFIER_BYTES) {
    throw new ConfigError(
      'migrationsTable',
      `"${String(table)}" is not a plain table name (lower-case letters, digits and _, at most ${MAX_IDENTIFIER_BYTES})`,
    );
  }
  if (table === packageTable) {
    throw new ConfigError(
      'migrationsTable',
      `"${table}" records the package's own migrations: a service's need a table of their own`,
    );
  }
  return table;
}

function migrationFile(file: string): MigrationFile {
  const [, number = '', title = '', extension = ''] = MIGRATION_FILE.exec(file) ?? [];
  return { name: file.slice(0, -extension.length - 1), title, extension, order: numericOrder(number) };
}

/** node-pg-migrate's order: by number (a 17-digit one is a UTC stamp), then by name. */
function compareMigrations(a: MigrationFile, b: MigrationFile): number {
  return (
    a.order - b.order ||
    a.name.localeCompare(b.name, undefined, {
      usage: 'sort',
      numeric: true,
      sensitivity: 'variant',
      ignorePunctuation: true,
    })
  );
}

function numericOrder(number: string): number {
  if (number.length !== 17) return Number(number);
  const [year, month, day, hours, minutes, seconds, ms] = [0, 4, 6, 8, 10, 12, 14].map((at, index, all) =>
    number.slice(at, all[index + 1]),
  );
  return new Date(`${year}-${month}-${day}T${hours}:${minutes}:${seconds}.${ms}Z`).valueOf();
}

function list(items: string[]): string {
  return items.length > 5 ? `${items.slice(0, 5).join(', ')} and ${items.length - 5} more` : items.join(', ');
}
