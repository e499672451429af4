/** Row counts read beside the layer, each on a connection of its own, to check what the layer wrote. */
import { escapeIdentifier } from 'pg';
import { queryOnce } from './query-once.js';

/** The `n` a counting statement (`SELECT count(*)::int AS n …`) returns; -1 when it returns no row. */
export async function countRows(url: string, text: string, params: unknown[] = []): Promise<number> {
  const [row] = await queryOnce<{ n: number }>(url, text, params);
  return row?.n ?? -1;
}

/** How many users, live or soft-deleted, have `email` in any case. */
export function usersWithEmail(url: string, email: string): Promise<number> {
  return countRows(url, 'SELECT count(*)::int AS n FROM pg_users WHERE lower(email) = lower($1)', [email]);
}

export interface TableCounts {
  users: number;
  posts: number;
  roles: number;
}

/** How many rows pg_users, pg_posts and pg_roles of `schema` hold, soft-deleted ones included. */
export async function tableCounts(url: string, schema = 'public'): Promise<TableCounts> {
  const at = escapeIdentifier(schema);
  const [row] = await queryOnce<TableCounts>(
    url,
    `SELECT (SELECT count(*) FROM ${at}.pg_users)::int AS users,
            (SELECT count(*) FROM ${at}.pg_posts)::int AS posts,
            (SELECT count(*) FROM ${at}.pg_roles)::int AS roles`,
  );
  if (!row) throw new Error('the counting statement returned no row');
  return row;
}
