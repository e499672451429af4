/**
 * Reading PostgreSQL plans in tests: `EXPLAIN (FORMAT JSON)` of a statement with its parameters (planned
 * as the layer's unnamed statements are, with the values in view; nothing is executed), and the scans
 * in the plan tree, each with the table it reads and the index it reads it through.
 */
import type pg from 'pg';

/** One node of EXPLAIN's JSON output, with the fields these tests read. */
export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
  [field: string]: unknown;
}

/** A node that reads rows of a table or an index. */
export interface Scan {
  /** `Seq Scan`, `Index Scan`, `Index Only Scan`, `Bitmap Heap Scan`, `Bitmap Index Scan`… */
  nodeType: string;
  /** The table, unqualified (EXPLAIN names the table, never its schema). */
  table: string;
  /** The index, for index scans. */
  index?: string;
}

const SCAN = /Scan$/;
/** Node types that read a table through an index, or an index itself. */
export const INDEX_SCANS = ['Index Scan', 'Index Only Scan', 'Bitmap Index Scan'] as const;

/**
 * The plan of `text` run with `params`. Without `analyze`, EXPLAIN plans a write without doing it; with
 * it, the statement runs (for reads) and each node carries its actual row counts.
 */
export async function explain(
  client: pg.ClientBase,
  text: string,
  params: readonly unknown[],
  options: { analyze?: boolean } = {},
) {
  const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
    `EXPLAIN (${options.analyze ? 'ANALYZE, ' : ''}FORMAT JSON) ${text}`,
    [...params],
  );
  const plan = rows[0]?.['QUERY PLAN'][0]?.Plan;
  if (!plan) throw new Error(`EXPLAIN returned no plan for: ${text}`);
  return plan;
}

/** Every node of the tree, depth first (subplans and CTEs are children too). */
export function planNodes(root: PlanNode): PlanNode[] {
  return [root, ...(root.Plans ?? []).flatMap(planNodes)];
}

/**
 * The scans of a plan. A Bitmap Index Scan names only its index: `tableOfIndex` (index name → table,
 * read from the catalog) gives its table.
 */
export function scansIn(root: PlanNode, tableOfIndex: ReadonlyMap<string, string>): Scan[] {
  return planNodes(root)
    .filter((node) => SCAN.test(node['Node Type']))
    .flatMap((node) => {
      const index = node['Index Name'];
      const table = node['Relation Name'] ?? (index === undefined ? undefined : tableOfIndex.get(index));
      if (table === undefined) return []; // CTE Scan, Function Scan, Values Scan… read no table.
      return [{ nodeType: node['Node Type'], table, ...(index !== undefined && { index }) }];
    });
}

/**
 * How many rows of `table` an analyzed plan (explain with `analyze`) read: what its scans of the table
 * returned plus what their filters dropped, over all loops (EXPLAIN shows per-loop averages).
 */
export function rowsRead(root: PlanNode, table: string): number {
  const count = (node: PlanNode, field: string) => Number(node[field] ?? 0);
  return planNodes(root)
    .filter((node) => SCAN.test(node['Node Type']) && node['Relation Name'] === table)
    .reduce(
      (sum, node) =>
        sum +
        (count(node, 'Actual Rows') +
          count(node, 'Rows Removed by Filter') +
          count(node, 'Rows Removed by Index Recheck')) *
          count(node, 'Actual Loops'),
      0,
    );
}

/** Index name → table name, for every index in `schema`. */
export async function indexTables(client: pg.ClientBase, schema = 'public'): Promise<Map<string, string>> {
  const { rows } = await client.query<{ index: string; table: string }>(
    `SELECT ic.relname AS index, tc.relname AS table
       FROM pg_catalog.pg_index i
       JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_catalog.pg_class tc ON tc.oid = i.indrelid
      WHERE tc.relnamespace = $1::regnamespace`,
    [schema],
  );
  return new Map(rows.map((row) => [row.index, row.table]));
}

/** Every index a plan reads, from EXPLAIN (FORMAT JSON)'s output as it comes: lists, plans and nodes at any depth. */
export function indexesIn(plan: unknown): string[] {
  if (Array.isArray(plan)) return plan.flatMap(indexesIn);
  if (plan === null || typeof plan !== 'object') return [];
  const node = plan as Record<string, unknown>;
  const own = typeof node['Index Name'] === 'string' ? [node['Index Name']] : [];
  return [...own, ...Object.values(node).flatMap(indexesIn)];
}
