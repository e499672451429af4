/**
 * The benchmark's cases: each repository operation against the same SQL written by hand and sent with
 * `pg` on a pool of the same size, twice: as a named prepared statement (`raw pg named`: parsed and
 * planned once per connection, as the layer's statements are) and unnamed (`raw pg`: parsed and planned
 * on every call, as most hand-written `pg` code does). `probe` is one layer call and the SQL it must send
 * for the ratios to compare like with like (checked before measuring, parameters included). Reads come
 * first: the writes grow the tables and fill the GIN indexes' pending lists, which a search would then
 * have to read through.
 */
import { createId } from '@paralleldrive/cuid2';
import type pg from 'pg';
import { SPEC_SEARCH_SQL } from '../scripts/lib/spec-queries.js';
import type { Database } from '../src/database/database.js';
import type { Fixtures } from './fixtures.js';
import * as hand from './hand-written-sql.js';
import type { BenchCase, Target, Variant } from './harness/types.js';

const PAGE = 20;

/** Stands in an expected parameter for an id the layer generates itself: any cuid2, the same one per label. */
export class GeneratedId {
  constructor(readonly label: string) {}
}

export interface CheckedCase extends BenchCase {
  /** One layer call (on the database given), for the SQL check, and what the hand-written variants send. */
  probe?: {
    layer(db: Database): Promise<unknown>;
    /** `prepared: false` for a statement the layer sends unnamed on purpose (search, metadata). */
    expected: Array<{ sql: string; params: unknown[]; prepared?: boolean }>;
  };
}

/** The variant every target measures. */
export const LAYER = 'layer';
/** The hand-written SQL as a named prepared statement: what every operation's first target compares with. */
export const RAW_NAMED = 'raw pg named';
/** The layer's client CPU per call at most this many times that of its statement sent by hand, named. */
export const LAYER_MAX_CPU_RATIO = 1.3;
/** The same SQL unnamed. */
export const RAW = 'raw pg';

/** Names of the hand-written prepared statements: per case, apart from the layer's `shared_db_<hash>`. */
const NAME = {
  userById: 'bench_user_by_id',
  postsFirstPage: 'bench_posts_first_page',
  postsPageAfter: 'bench_posts_page_after',
  postsByMetadata: 'bench_posts_by_metadata',
  search: 'bench_search_posts',
  softDelete: 'bench_soft_delete_post',
  restore: 'bench_restore_post',
  createUser: 'bench_create_user',
} as const;

/** The cases' names, in order, known before anything is seeded: `--only` chooses among them. */
export function caseNames(search: Pick<Fixtures['search'], 'word' | 'expectedShare'>) {
  return {
    userById: 'user by id with posts and roles',
    postsFirstPage: 'posts page with authors',
    postsPageAfter: 'posts page deep in the table (keyset)',
    postsByMetadata: 'posts by metadata (category and tag)',
    search: `search ("${search.word}", ~${Math.round(search.expectedShare * 1000) / 10} % of posts)`,
    softDelete: 'post soft delete + restore',
    create: 'nested create (user + post + role)',
  } as const;
}

export function benchCases(db: Database, pool: pg.Pool, fixtures: Fixtures, runId: string): CheckedCase[] {
  const { userIds, postIdsByWorker, deep, category, tag, search } = fixtures;
  const names = caseNames(search);
  const pick = <T>(items: readonly T[], worker: number, i: number) =>
    items[(i * 7919 + worker * 104_729) % items.length] as T;
  /** `raw pg named` and `raw pg`: the one statement `text` with the values of call i of a worker. */
  const byHand = (
    name: string,
    text: string,
    values: (worker: number, i: number) => unknown[],
  ): Variant[] => [
    {
      name: RAW_NAMED,
      run: async (w, i) => {
        await pool.query({ name, text, values: values(w, i) });
      },
    },
    {
      name: RAW,
      run: async (w, i) => {
        await pool.query(text, values(w, i));
      },
    },
  ];
  /** The first target is the case's baseline in the reports and the chart. */
  const targets = (unnamedMinRatio = 0.9): Target[] => [
    { baseline: RAW_NAMED, subject: LAYER, minRatio: 0.9 },
    { baseline: RAW, subject: LAYER, minRatio: unnamedMinRatio },
    // The client's own work per call, whatever the server's share of the time.
    { kind: 'cpu', baseline: RAW_NAMED, subject: LAYER, maxRatio: LAYER_MAX_CPU_RATIO },
  ];
  const metadataParams = [JSON.stringify({ category }), JSON.stringify({ tags: [tag] }), PAGE + 1];
  const searchParams = ['english', 'english', search.word, 'english', search.word, 'english', search.word];
  const firstUser = userIds[0] as string;
  const firstPost = postIdsByWorker[0]?.[0] as string;
  // Emails must be new on every call, across variants and concurrencies too.
  let created = 0;
  const newUser = {
    name: 'Bench',
    post: { title: 'A first post', content: 'Hello from the benchmark', metadata: { category } },
    role: 'author',
  };
  /** users.create's parameters, in the order the layer sends them; the probe passes GeneratedIds. */
  const createParams = (
    email: string,
    user: unknown = createId(),
    post: unknown = createId(),
    role: unknown = createId(),
  ) => [
    user,
    email,
    newUser.name,
    null,
    post,
    newUser.post.title,
    newUser.post.content,
    false,
    user,
    JSON.stringify(newUser.post.metadata),
    role,
    newUser.role,
    null,
    user,
  ];
  const createWithLayer = (layerDb: Database, email: string) =>
    layerDb.users.create({
      email,
      name: newUser.name,
      posts: [newUser.post],
      roles: [{ name: newUser.role }],
    });
  const probeEmail = `probe-${runId}@example.com`;

  return [
    {
      name: names.userById,
      variants: [
        {
          name: LAYER,
          run: async (w, i) => {
            await db.users.getById(pick(userIds, w, i), { include: { posts: true, roles: true } });
          },
        },
        ...byHand(NAME.userById, hand.USER_WITH_RELATIONS, (w, i) => [pick(userIds, w, i), 1]),
      ],
      // Its statement is the costliest to plan: prepared, the layer should beat the unnamed one clearly.
      targets: targets(1.5),
      probe: {
        layer: (probeDb) => probeDb.users.getById(firstUser, { include: { posts: true, roles: true } }),
        expected: [{ sql: hand.USER_WITH_RELATIONS, params: [firstUser, 1] }],
      },
    },
    {
      name: names.postsFirstPage,
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.findMany({ include: { author: true }, first: PAGE });
          },
        },
        ...byHand(NAME.postsFirstPage, hand.POSTS_FIRST_PAGE, () => [PAGE + 1]),
      ],
      targets: targets(),
      probe: {
        layer: (probeDb) => probeDb.posts.findMany({ include: { author: true }, first: PAGE }),
        expected: [{ sql: hand.POSTS_FIRST_PAGE, params: [PAGE + 1] }],
      },
    },
    {
      name: names.postsPageAfter,
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.findMany({ include: { author: true }, first: PAGE, after: deep.cursor });
          },
        },
        ...byHand(NAME.postsPageAfter, hand.POSTS_PAGE_AFTER, () => [deep.createdAt, deep.id, PAGE + 1]),
      ],
      targets: targets(),
      probe: {
        layer: (probeDb) =>
          probeDb.posts.findMany({ include: { author: true }, first: PAGE, after: deep.cursor }),
        expected: [{ sql: hand.POSTS_PAGE_AFTER, params: [deep.createdAt, deep.id, PAGE + 1] }],
      },
    },
    {
      name: names.postsByMetadata,
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.findByMetadata({ category, tags: { any: [tag] } }, { first: PAGE });
          },
        },
        ...byHand(NAME.postsByMetadata, hand.POSTS_BY_METADATA, () => metadataParams),
      ],
      targets: targets(),
      probe: {
        layer: (probeDb) => probeDb.posts.findByMetadata({ category, tags: { any: [tag] } }, { first: PAGE }),
        expected: [{ sql: hand.POSTS_BY_METADATA, params: metadataParams, prepared: false }],
      },
    },
    {
      name: names.search,
      variants: [
        {
          name: LAYER,
          run: async () => {
            await db.posts.search(search.word, { first: PAGE });
          },
        },
        ...byHand(NAME.search, hand.SEARCH_POSTS, () => [...searchParams, true, PAGE + 1]),
        {
          name: 'spec query by hand',
          run: async () => {
            await pool.query(`${SPEC_SEARCH_SQL} LIMIT ${PAGE}`, [search.word]);
          },
        },
      ],
      targets: [...targets(), { baseline: 'spec query by hand', subject: LAYER, minRatio: 10 }],
      probe: {
        layer: (probeDb) => probeDb.posts.search(search.word, { first: PAGE }),
        expected: [{ sql: hand.SEARCH_POSTS, params: [...searchParams, true, PAGE + 1], prepared: false }],
      },
    },
    {
      name: names.softDelete,
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
          name: RAW_NAMED,
          run: async (w, i) => {
            const id = pick(postIdsByWorker[w] ?? [], 0, i);
            await pool.query({ name: NAME.softDelete, text: hand.SOFT_DELETE_POST, values: [id] });
            await pool.query({ name: NAME.restore, text: hand.RESTORE_POST, values: [null, id] });
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
      targets: targets(),
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
      name: names.create,
      variants: [
        {
          name: LAYER,
          run: async () => {
            await createWithLayer(db, `layer-${runId}-${created++}@example.com`);
          },
        },
        ...byHand(NAME.createUser, hand.CREATE_USER_WITH_POST_AND_ROLE, () =>
          createParams(`raw-${runId}-${created++}@example.com`),
        ),
        {
          name: 'raw pg transaction',
          run: async () => {
            const client = await pool.connect();
            try {
              const userId = createId();
              await client.query('BEGIN');
              await client.query(hand.INSERT_USER, [
                userId,
                `raw-tx-${runId}-${created++}@example.com`,
                newUser.name,
              ]);
              await client.query(hand.INSERT_POST, [
                createId(),
                newUser.post.title,
                newUser.post.content,
                false,
                userId,
                JSON.stringify(newUser.post.metadata),
              ]);
              await client.query(hand.INSERT_ROLE, [createId(), newUser.role, null, userId]);
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
      // The single statement against the five round trips a straightforward transaction takes; the
      // unnamed single statement is shown without a target.
      targets: [
        { baseline: RAW_NAMED, subject: LAYER, minRatio: 0.9 },
        { baseline: 'raw pg transaction', subject: LAYER, minRatio: 1.5 },
        { kind: 'cpu', baseline: RAW_NAMED, subject: LAYER, maxRatio: LAYER_MAX_CPU_RATIO },
      ],
      probe: {
        layer: (probeDb) => createWithLayer(probeDb, probeEmail),
        expected: [
          {
            sql: hand.CREATE_USER_WITH_POST_AND_ROLE,
            params: createParams(
              probeEmail,
              new GeneratedId('user'),
              new GeneratedId('post'),
              new GeneratedId('role'),
            ),
          },
        ],
      },
    },
  ];
}
