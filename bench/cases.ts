/**
 * The benchmark's cases, reads first: the writes grow the tables and fill the GIN indexes' pending lists,
 * which a search would then have to read through. The benchmark's cases: each repository operation against the same operation written by hand with `pg`
 * on a pool of the same size, plus the targets it must reach. `expectedSql` is what the layer must send
 * for the ratio to compare like with like (checked before measuring, parameters included).
 */
import { createId } from '@paralleldrive/cuid2';
import type pg from 'pg';
import { SPEC_SEARCH_SQL } from '../scripts/lib/spec-queries.js';
import type { Database } from '../src/database.js';
import type { Fixtures } from './fixtures.js';
import * as hand from './hand-written-sql.js';
import type { BenchCase } from './harness/types.js';

const PAGE = 20;

export interface CheckedCase extends BenchCase {
  /** One layer call (on the database given), for the SQL check, and what the hand-written variant sends. */
  probe?: { layer(db: Database): Promise<unknown>; expected: Array<{ sql: string; params: unknown[] }> };
}

/** The variant every target measures. */
export const LAYER = 'layer';
export const RAW = 'raw pg';

export function benchCases(db: Database, pool: pg.Pool, fixtures: Fixtures, runId: string): CheckedCase[] {
  const { userIds, postIdsByWorker, deep, category, tag, search } = fixtures;
  const pick = <T>(items: readonly T[], worker: number, i: number) =>
    items[(i * 7919 + worker * 104_729) % items.length] as T;
  const sameAsRaw = (minRatio = 0.9) => [{ baseline: RAW, subject: LAYER, minRatio }];
  const metadataParams = [JSON.stringify({ category }), JSON.stringify({ tags: [tag] }), PAGE + 1];
  const searchParams = ['english', 'english', search.word, 'english', search.word, 'english', search.word];
  const firstUser = userIds[0] as string;
  const firstPost = postIdsByWorker[0]?.[0] as string;
  // Emails must be new on every call, across concurrencies too.
  let created = 0;

  return [
    {
      name: 'user by id with posts and roles',
      variants: [
        {
          name: LAYER,
          run: async (w, i) => {
            await db.users.getById(pick(userIds, w, i), { include: { posts: true, roles: true } });
          },
        },
        {
          name: RAW,
          run: async (w, i) => {
            await pool.query(hand.USER_WITH_RELATIONS, [pick(userIds, w, i), 1]);
          },
        },
      ],
      targets: sameAsRaw(),
      probe: {
        layer: (probeDb) => probeDb.users.getById(firstUser, { include: { posts: true, roles: true } }),
        expected: [{ sql: hand.USER_WITH_RELATIONS, params: [firstUser, 1] }],
      },
    },
    {
      name: 'posts page with authors',
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.findMany({ include: { author: true }, first: PAGE });
          },
        },
        {
          name: RAW,
          run: async () => {
            await pool.query(hand.POSTS_FIRST_PAGE, [PAGE + 1]);
          },
        },
      ],
      targets: sameAsRaw(),
      probe: {
        layer: (probeDb) => probeDb.posts.findMany({ include: { author: true }, first: PAGE }),
        expected: [{ sql: hand.POSTS_FIRST_PAGE, params: [PAGE + 1] }],
      },
    },
    {
      name: 'posts page deep in the table (keyset)',
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.findMany({ include: { author: true }, first: PAGE, after: deep.cursor });
          },
        },
        {
          name: RAW,
          run: async () => {
            await pool.query(hand.POSTS_PAGE_AFTER, [deep.createdAt, deep.id, PAGE + 1]);
          },
        },
      ],
      targets: sameAsRaw(),
      probe: {
        layer: (probeDb) =>
          probeDb.posts.findMany({ include: { author: true }, first: PAGE, after: deep.cursor }),
        expected: [{ sql: hand.POSTS_PAGE_AFTER, params: [deep.createdAt, deep.id, PAGE + 1] }],
      },
    },
    {
      name: 'posts by metadata (category and tag)',
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.findByMetadata({ category, tags: { any: [tag] } }, { first: PAGE });
          },
        },
        {
          name: RAW,
          run: async () => {
            await pool.query(hand.POSTS_BY_METADATA, metadataParams);
          },
        },
      ],
      targets: sameAsRaw(),
      probe: {
        layer: (probeDb) => probeDb.posts.findByMetadata({ category, tags: { any: [tag] } }, { first: PAGE }),
        expected: [{ sql: hand.POSTS_BY_METADATA, params: metadataParams }],
      },
    },
    {
      name: `search ("${search.word}", ~${Math.round(search.expectedShare * 1000) / 10} % of posts)`,
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.search(search.word, { first: PAGE });
          },
        },
        {
          name: RAW,
          run: async () => {
            await pool.query(hand.SEARCH_POSTS, [...searchParams, true, PAGE + 1]);
          },
        },
        {
          name: 'spec query by hand',
          run: async () => {
            await pool.query(`${SPEC_SEARCH_SQL} LIMIT ${PAGE}`, [search.word]);
          },
        },
      ],
      targets: [
        { baseline: 'spec query by hand', subject: LAYER, minRatio: 10 },
        { baseline: RAW, subject: LAYER, minRatio: 0.9 },
      ],
      probe: {
        layer: (probeDb) => probeDb.posts.search(search.word, { first: PAGE }),
        expected: [{ sql: hand.SEARCH_POSTS, params: [...searchParams, true, PAGE + 1] }],
      },
    },
    {
      name: 'post soft delete + restore',
      variants: [
        {
          name: LAYER,
          run: async (w, i) => {
            const id = pick(postIdsByWorker[w] ?? [], 0, i);
            await db.posts.softDelete(id);
            await db.posts.restore(id);
          },
        },
        {
          name: RAW,
          run: async (w, i) => {
            const id = pick(postIdsByWorker[w] ?? [], 0, i);
            await pool.query(hand.SOFT_DELETE_POST, [id]);
            await pool.query(hand.RESTORE_POST, [null, id]);
          },
        },
      ],
      targets: sameAsRaw(),
      probe: {
        layer: async (probeDb) => {
          await probeDb.posts.softDelete(firstPost);
          await probeDb.posts.restore(firstPost);
        },
        expected: [
          { sql: hand.SOFT_DELETE_POST, params: [firstPost] },
          { sql: hand.RESTORE_POST, params: [null, firstPost] },
        ],
      },
    },
    {
      name: 'nested create (user + post + role)',
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.users.create({
              email: `layer-${runId}-${created++}@example.com`,
              name: 'Bench Layer',
              posts: [{ title: 'A first post', content: 'Hello from the benchmark', metadata: { category } }],
              roles: [{ name: 'author' }],
            });
          },
        },
        {
          name: 'raw pg transaction',
          run: async () => {
            const client = await pool.connect();
            try {
              const userId = createId();
              await client.query('BEGIN');
              await client.query(hand.INSERT_USER, [
                userId,
                `raw-${runId}-${created++}@example.com`,
                'Bench Raw',
              ]);
              await client.query(hand.INSERT_POST, [
                createId(),
                'A first post',
                'Hello from the benchmark',
                false,
                userId,
                JSON.stringify({ category }),
              ]);
              await client.query(hand.INSERT_ROLE, [createId(), 'author', null, userId]);
              await client.query('COMMIT');
            } catch (error) {
              await client.query('ROLLBACK').catch(() => undefined);
              throw error;
            } finally {
              client.release();
            }
          },
        },
      ],
      targets: [{ baseline: 'raw pg transaction', subject: LAYER, minRatio: 1.5 }],
    },
  ];
}
