/** What a seed wrote, read back from the database, and how long it took; and its text table. */
import type pg from 'pg';
import { qualified, SEEDED_TABLES, type SeededTable } from './target.js';

export interface TableSummary {
  table: SeededTable;
  rows: number;
  /** Rows with deleted_at set; null for pg_roles, which has no soft delete. */
  softDeleted: number | null;
  /** The table's own size (with TOAST), its indexes', and both (pg_total_relation_size), in bytes. */
  tableBytes: number;
  indexBytes: number;
  totalBytes: number;
}

export interface SeedSummary {
  schema: string;
  seed: number;
  users: number;
  postsPerUser: number;
  tables: TableSummary[];
  /** Rows of the three tables together. */
  rows: number;
  /** From BEGIN to COMMIT: checks, COPY of the three tables, commit. */
  loadMs: number;
  /** VACUUM ANALYZE of the three tables; 0 when skipped. */
  vacuumMs: number;
  elapsedMs: number;
  /** Rows loaded per second of `loadMs`. */
  rowsPerSecond: number;
}

export async function readTableSummaries(client: pg.ClientBase, schema: string): Promise<TableSummary[]> {
  const summaries: TableSummary[] = [];
  for (const table of SEEDED_TABLES) {
    const name = qualified(client, schema, table);
    const softDeleted = table === 'pg_roles' ? 'NULL' : 'count(*) FILTER (WHERE deleted_at IS NOT NULL)';
    const { rows } = await client.query<{
      rows: string;
      soft_deleted: string | null;
      table_bytes: string;
      index_bytes: string;
      total_bytes: string;
    }>(
      `SELECT count(*) AS rows, ${softDeleted} AS soft_deleted,
              pg_catalog.pg_table_size($1::regclass) AS table_bytes,
              pg_catalog.pg_indexes_size($1::regclass) AS index_bytes,
              pg_catalog.pg_total_relation_size($1::regclass) AS total_bytes
         FROM ${name}`,
      [name],
    );
    const row = rows[0];
    if (!row) throw new Error(`no summary row for ${name}`);
    summaries.push({
      table,
      rows: Number(row.rows),
      softDeleted: row.soft_deleted === null ? null : Number(row.soft_deleted),
      tableBytes: Number(row.table_bytes),
      indexBytes: Number(row.index_bytes),
      totalBytes: Number(row.total_bytes),
    });
  }
  return summaries;
}

const number = (value: number) => value.toLocaleString('en-US');
const megabytes = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** The summary as aligned text: one line per table, a total, and the timings. */
export function formatSummary(summary: SeedSummary): string {
  const header = ['table', 'rows', 'soft-deleted', 'table', 'indexes', 'total'];
  const lines = summary.tables.map((table) => [
    table.table,
    number(table.rows),
    table.softDeleted === null ? '-' : number(table.softDeleted),
    megabytes(table.tableBytes),
    megabytes(table.indexBytes),
    megabytes(table.totalBytes),
  ]);
  const sum = (pick: (table: TableSummary) => number) =>
    summary.tables.reduce((total, table) => total + pick(table), 0);
  lines.push([
    'total',
    number(summary.rows),
    number(sum((table) => table.softDeleted ?? 0)),
    megabytes(sum((table) => table.tableBytes)),
    megabytes(sum((table) => table.indexBytes)),
    megabytes(sum((table) => table.totalBytes)),
  ]);
  const rows = [header, ...lines];
  const widths = header.map((_, column) => Math.max(...rows.map((row) => (row[column] as string).length)));
  // The first column is text (left-aligned), the others numbers (right-aligned).
  const render = (row: string[]) =>
    row
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column] as number) : cell.padStart(widths[column] as number),
      )
      .join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [
    `Seeded schema "${summary.schema}" with seed ${summary.seed}: ${number(summary.users)} users × ${number(summary.postsPerUser)} posts`,
    '',
    render(header),
    rule,
    ...lines.slice(0, -1).map(render),
    rule,
    render(lines.at(-1) as string[]),
    '',
    `load ${seconds(summary.loadMs)} (${number(Math.round(summary.rowsPerSecond))} rows/s), ` +
      `vacuum analyze ${seconds(summary.vacuumMs)}, total ${seconds(summary.elapsedMs)}`,
  ].join('\n');
}
