import { queryOnce } from './query-once.js';

/** Sets a row's created_at directly, on a connection of its own, so a test controls order and date filters. */
export async function setCreatedAt(
  url: string,
  table: 'pg_users' | 'pg_posts',
  id: string,
  at: Date | string,
): Promise<void> {
  await queryOnce(url, `UPDATE ${table} SET created_at = $1 WHERE id = $2`, [at, id]);
}
