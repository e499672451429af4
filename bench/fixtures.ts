/**
 * What the cases read and write, picked once from the seeded data: live users that have posts, live
 * posts per worker (so concurrent soft deletes never touch the same row), a cursor deep in the post list,
 * the commonest category and tag, and a search word that matches about 2.5 % of the posts.
 */
import type pg from 'pg';
import { wordWithFrequency } from '../scripts/lib/seed/index.js';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { createPgPool } from '../src/pool/connect.js';
import { encodeCursor } from '../src/query/pagination.js';

export interface Fixtures {
  userIds: string[];
  /** postIdsByWorker[w]: posts only worker w soft-deletes and restores. */
  postIdsByWorker: string[][];
  /** A `findMany` cursor and its keyset, 90 % of the way down the newest-first list of live posts. */
  deep: { cursor: string; createdAt: Date; id: string };
  category: string;
  tag: string;
  search: { word: string; expectedShare: number; matches: number };
}

const SAMPLE = 2_000;
/** The search case: a word in ~5,000 of 200,000 posts. */
const SEARCH_SHARE = 0.025;

/** The search case's word and the share of posts it matches: the seed's, known before seeding. */
export function searchWord(): { word: string; expectedShare: number } {
  const { word, documentFraction } = wordWithFrequency(SEARCH_SHARE);
  return { word, expectedShare: documentFraction };
}

export async function pickFixtures(pool: pg.Pool, maxWorkers: number): Promise<Fixtures> {
  const users = await pool.query<{ id: string }>(
    `SELECT u.id FROM pg_users u
      WHERE u.deleted_at IS NULL
        AND EXISTS (SELECT 1 FROM pg_posts p WHERE p."authorId" = u.id AND p.deleted_at IS NULL)
      ORDER BY md5(u.id) LIMIT $1`,
    [SAMPLE],
  );
  const posts = await pool.query<{ id: string }>(
    `SELECT p.id FROM pg_posts p JOIN pg_users u ON u.id = p."authorId"
      WHERE p.deleted_at IS NULL AND u.deleted_at IS NULL
      ORDER BY md5(p.id) LIMIT $1`,
    [SAMPLE],
  );
  const postIdsByWorker = Array.from({ length: maxWorkers }, (_, worker) =>
    posts.rows.filter((_, index) => index % maxWorkers === worker).map((row) => row.id),
  );
  const deepRow = await pool.query<{ id: string; created_at: Date }>(
    `SELECT p.id, p.created_at FROM pg_posts p
      WHERE p.deleted_at IS NULL
      ORDER BY p.created_at DESC, p.id DESC
      OFFSET (SELECT (count(*) * 0.9)::bigint FROM pg_posts WHERE deleted_at IS NULL) LIMIT 1`,
  );
  const deep = deepRow.rows[0];
  if (!deep || users.rows.length === 0) throw new Error('the benchmark database has no live posts');
  const category = await pool.query<{ value: string }>(
    `SELECT metadata->>'category' AS value FROM pg_posts
      WHERE metadata ? 'category' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  const tag = await pool.query<{ value: string }>(
    `SELECT t.value FROM pg_posts, jsonb_array_elements_text(metadata->'tags') AS t(value)
      GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1`,
  );
  const word = searchWord();
  const matches = await pool.query<{ count: number }>(
    `SELECT count(*)::int AS count FROM pg_posts WHERE search_vector @@ plainto_tsquery('english', $1)`,
    [word.word],
  );
  return {
    userIds: users.rows.map((row) => row.id),
    postIdsByWorker,
    deep: {
      cursor: encodeCursor('desc', { createdAt: deep.created_at, id: deep.id }),
      createdAt: deep.created_at,
      id: deep.id,
    },
    category: category.rows[0]?.value ?? 'tutorial',
    tag: tag.rows[0]?.value ?? 'programming',
    search: { ...word, matches: matches.rows[0]?.count ?? 0 },
  };
}

/** `work` on a pool of one connection to `url`, ended afterwards. */
async function onOwnConnection<T>(url: string, work: (pool: pg.Pool) => Promise<T>): Promise<T> {
  const pool = createPgPool(parseConnectionUrl(url, '--url'), { max: 1 });
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** The fixtures of the seeded database `url`, read over a connection of their own. */
export function loadFixtures(url: string, maxWorkers: number): Promise<Fixtures> {
  return onOwnConnection(url, (pool) => pickFixtures(pool, maxWorkers));
}

/**
 * Puts the seeded data back as far as the cases changed it: the users (with their posts and roles) that
 * the writes of run `runId` created go, and VACUUM ANALYZE clears the dead rows, the GIN indexes' pending
 * lists and the statistics they left. Between the runs of `--repeat`, so that each run reads the same
 * data: without it the nested creates' posts (the commonest category, newest first) made the metadata
 * filter walk thousands of new posts in the runs after the first.
 */
export function restoreSeededData(url: string, runId: string): Promise<void> {
  return onOwnConnection(url, async (pool) => {
    await pool.query(`DELETE FROM pg_users WHERE email LIKE $1`, [`%-${runId}-%@example.com`]);
    await pool.query('VACUUM ANALYZE pg_users, pg_posts, pg_roles');
  });
}
