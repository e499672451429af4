/**
 * Bulk loads: `createMany` (COPY) against the same rows inserted by hand with `pg` as multi-row INSERTs
 * of 1,000 rows (named prepared statements, one transaction per call, as createMany's), interleaved.
 * Each call loads one chunk of an import: 10,000 users (no posts), 10,000 posts, or 1,000 users with 5
 * posts and a role each (7,000 rows). Both variants get rows with their ids given (an import keeps its
 * ids; cuid2 would cost both the same) and their timestamps from the column defaults. A third variant has
 * the server make the same rows itself (INSERT … SELECT), with no client in the loop: the most rows per
 * second any client could load, which bounds what COPY can gain over the INSERTs.
 *
 * The target is the layer's usual one, at least 0.9× the hand-written SQL's rows per second: the server's
 * own work per row (indexes, the search vector's trigger and expression index, WAL) is the same for
 * COPY and INSERT, and already most of the time with INSERTs of 1,000 (bench/README.md).
 */
import type pg from 'pg';
import type { Database } from '../../src/database/database.js';
import type { BenchCase } from '../harness/types.js';

export const CREATE_MANY = 'layer createMany';
export const INSERTS = 'raw pg INSERT ×1,000';
/**
 * The same rows made by the server itself (INSERT … SELECT over generate_series), no client in the loop:
 * the most rows per second any client could load into the table, shown without a target.
 */
export const SERVER_ALONE = 'server alone (INSERT … SELECT)';
export const MIN_LOAD_RATIO = 0.9;

export const POSTS_PER_CALL = 10_000;
export const USERS_PER_CALL = 1_000;
export const POSTS_PER_USER = 5;
const ROWS_PER_INSERT = 1_000;

export const BULK_CASE_NAMES = {
  users: `createMany: ${(10 * USERS_PER_CALL).toLocaleString('en-US')} users per call`,
  posts: `createMany: ${POSTS_PER_CALL.toLocaleString('en-US')} posts per call`,
  usersWithPosts: `createMany: ${USERS_PER_CALL.toLocaleString('en-US')} users with ${POSTS_PER_USER} posts and a role each per call`,
} as const;

interface PostRow {
  id: string;
  title: string;
  content: string;
  published: boolean;
  authorId: string;
  metadata: { category: string; tags: string[] };
}

/** A post of an import: a title, a paragraph, a category and two tags. */
function post(id: string, authorId: string, n: number): PostRow {
  return {
    id,
    title: `Imported post ${n}: notes on indexes and vacuum`,
    content: `Paragraph ${n}. ${'Rows move from the old provider to the new one, a chunk at a time. '.repeat(4)}`,
    published: n % 3 !== 0,
    authorId,
    metadata: { category: ['news', 'howto', 'review'][n % 3] as string, tags: ['import', `t${n % 20}`] },
  };
}

/** `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows, numbered parameters. */
function multiRowInsert(table: string, columns: readonly string[], rows: number): string {
  const tuples: string[] = [];
  for (let row = 0; row < rows; row += 1) {
    const at = row * columns.length;
    tuples.push(`(${columns.map((_, column) => `$${at + column + 1}`).join(', ')})`);
  }
  return `INSERT INTO ${table} (${columns.map((column) => `"${column}"`).join(', ')}) VALUES ${tuples.join(', ')}`;
}

const POST_COLUMNS = ['id', 'title', 'content', 'published', 'authorId', 'metadata'] as const;
const USER_COLUMNS = ['id', 'email', 'name'] as const;
const ROLE_COLUMNS = ['id', 'name', 'userId'] as const;
const INSERT_POSTS = multiRowInsert('public.pg_posts', POST_COLUMNS, ROWS_PER_INSERT);
const INSERT_USERS = multiRowInsert('public.pg_users', USER_COLUMNS, ROWS_PER_INSERT);
const INSERT_ROLES = multiRowInsert('public.pg_roles', ROLE_COLUMNS, ROWS_PER_INSERT);

/** `post(…)`'s rows, `$3` of them, made on the server: ids `$1-<n>`, author `$2`. */
const SERVER_POSTS = `
  INSERT INTO public.pg_posts (id, title, content, published, "authorId", metadata)
  SELECT $1 || '-' || n, 'Imported post ' || n || ': notes on indexes and vacuum',
         'Paragraph ' || n || '. ' || repeat('Rows move from the old provider to the new one, a chunk at a time. ', 4),
         n % 3 <> 0, $2,
         jsonb_build_object('category', (ARRAY['news', 'howto', 'review'])[n % 3 + 1], 'tags', jsonb_build_array('import', 't' || n % 20))
    FROM generate_series(0, $3::int - 1) AS n`;

/** Users as the users-only case makes them, `$2` of them, made on the server: ids and emails from `$1`. */
const SERVER_USERS = `
  INSERT INTO public.pg_users (id, email, name)
  SELECT $1 || '-' || n, $1 || '-' || n || '@example.com', 'Imported user ' || n
    FROM generate_series(0, $2::int - 1) AS n`;

/** Inserts `rows` (as value arrays) by 1,000s with the named statement `name`. */
async function insertByThousands(
  client: pg.PoolClient,
  name: string,
  text: string,
  rows: unknown[][],
): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
    await client.query({ name, text, values: rows.slice(start, start + ROWS_PER_INSERT).flat() });
  }
}

async function inTransaction(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/**
 * The cases; `authorId` is a live user the posts belong to, `runId` keeps this run's ids and emails
 * apart from any earlier run's.
 */
export function bulkLoadCases(db: Database, pool: pg.Pool, authorId: string, runId: string): BenchCase[] {
  const target = { baseline: INSERTS, subject: CREATE_MANY, minRatio: MIN_LOAD_RATIO };
  const posts = (variant: string, worker: number, i: number) =>
    Array.from({ length: POSTS_PER_CALL }, (_, n) =>
      post(`${runId}-${variant}-p-${worker}-${i}-${n}`, authorId, n),
    );
  const users = (variant: string, worker: number, i: number) =>
    Array.from({ length: USERS_PER_CALL }, (_, n) => {
      const id = `${runId}-${variant}-u-${worker}-${i}-${n}`;
      return {
        id,
        email: `${id}@example.com`,
        name: `Imported user ${n}`,
        posts: Array.from({ length: POSTS_PER_USER }, (_, k) => {
          const { authorId: _author, ...rest } = post(`${id}-${k}`, id, n * POSTS_PER_USER + k);
          return rest;
        }),
        roles: [{ id: `${id}-r`, name: 'member' }],
      };
    });
  const plainUsers = (variant: string, worker: number, i: number) =>
    Array.from({ length: 10 * USERS_PER_CALL }, (_, n) => {
      const id = `${runId}-${variant}-pu-${worker}-${i}-${n}`;
      return { id, email: `${id}@example.com`, name: `Imported user ${n}` };
    });
  return [
    {
      name: BULK_CASE_NAMES.users,
      targets: [target],
      variants: [
        {
          name: CREATE_MANY,
          run: async (worker, i) => {
            await db.users.createMany(plainUsers('c', worker, i));
          },
        },
        {
          name: INSERTS,
          run: (worker, i) =>
            inTransaction(pool, (client) =>
              insertByThousands(
                client,
                'bench_insert_users',
                INSERT_USERS,
                plainUsers('i', worker, i).map((user) => [user.id, user.email, user.name]),
              ),
            ),
        },
        {
          name: SERVER_ALONE,
          run: async (worker, i) => {
            await pool.query({
              name: 'bench_server_users',
              text: SERVER_USERS,
              values: [`${runId}-s-pu-${worker}-${i}`, 10 * USERS_PER_CALL],
            });
          },
        },
      ],
    },
    {
      name: BULK_CASE_NAMES.posts,
      targets: [target],
      variants: [
        {
          name: CREATE_MANY,
          run: async (worker, i) => {
            await db.posts.createMany(posts('c', worker, i));
          },
        },
        {
          name: INSERTS,
          run: (worker, i) =>
            inTransaction(pool, (client) =>
              insertByThousands(
                client,
                'bench_insert_posts',
                INSERT_POSTS,
                posts('i', worker, i).map((row) => [
                  row.id,
                  row.title,
                  row.content,
                  row.published,
                  row.authorId,
                  JSON.stringify(row.metadata),
                ]),
              ),
            ),
        },
        {
          name: SERVER_ALONE,
          run: async (worker, i) => {
            await pool.query({
              name: 'bench_server_posts',
              text: SERVER_POSTS,
              values: [`${runId}-s-p-${worker}-${i}`, authorId, POSTS_PER_CALL],
            });
          },
        },
      ],
    },
    {
      name: BULK_CASE_NAMES.usersWithPosts,
      targets: [target],
      variants: [
        {
          name: CREATE_MANY,
          run: async (worker, i) => {
            await db.users.createMany(users('c', worker, i));
          },
        },
        {
          name: INSERTS,
          run: (worker, i) =>
            inTransaction(pool, async (client) => {
              const rows = users('i', worker, i);
              await insertByThousands(
                client,
                'bench_insert_users',
                INSERT_USERS,
                rows.map((user) => [user.id, user.email, user.name]),
              );
              await insertByThousands(
                client,
                'bench_insert_user_posts',
                INSERT_POSTS,
                rows.flatMap((user) =>
                  user.posts.map((p) => [
                    p.id,
                    p.title,
                    p.content,
                    p.published,
                    user.id,
                    JSON.stringify(p.metadata),
                  ]),
                ),
              );
              await insertByThousands(
                client,
                'bench_insert_roles',
                INSERT_ROLES,
                rows.map((user) => [`${user.id}-r`, 'member', user.id]),
              );
            }),
        },
      ],
    },
  ];
}
