/**
 * Before anything is measured: the layer sends exactly the hand-written SQL with the same parameters
 * (so a ratio compares the client's work only), both return (or, for the nested create, store) the same
 * rows, and search returns the same top results as the spec's own query.
 */
import { createId } from '@paralleldrive/cuid2';
import type pg from 'pg';
import { SPEC_SEARCH_SQL } from '../scripts/lib/spec-queries.js';
import type { DatabaseConfig } from '../src/config/settings.js';
import { createDatabase, type Database } from '../src/database/database.js';
import { type CheckedCase, GeneratedId } from './cases.js';
import type { Fixtures } from './fixtures.js';
import * as hand from './hand-written-sql.js';

export class BenchCheckError extends Error {
  override name = 'BenchCheckError';
}

const comparable = (params: readonly unknown[]) =>
  JSON.stringify(params, (_, value) => (value instanceof Date ? value.toISOString() : value));

/** What createId() makes: 24 lower-case letters and digits, starting with a letter. */
const CUID2 = /^[a-z][a-z0-9]{23}$/;

/**
 * The expected parameters with each GeneratedId replaced by the id the layer sent in its place, when
 * that is a cuid2 and every slot of one label holds the same id (and other labels other ids); left as
 * it is otherwise, so the comparison fails and shows both.
 */
function bindGeneratedIds(expected: readonly unknown[], sent: readonly unknown[]): unknown[] {
  const bound = new Map<string, unknown>();
  const ids = new Set<unknown>();
  return expected.map((value, index) => {
    if (!(value instanceof GeneratedId)) return value;
    const id = sent[index];
    const same = bound.get(value.label);
    if (typeof id !== 'string' || !CUID2.test(id)) return `<a generated id: ${value.label}>`;
    if (same === undefined && !ids.has(id)) {
      bound.set(value.label, id);
      ids.add(id);
      return id;
    }
    return same === id ? id : `<the generated id ${value.label}, once per statement>`;
  });
}

export async function checkSameSql(config: DatabaseConfig, cases: readonly CheckedCase[]): Promise<void> {
  const db = createDatabase(config, { logParameters: true });
  const sent: Array<{ sql: string; params: readonly unknown[]; prepared: boolean }> = [];
  db.on('query', (event) => sent.push({ sql: event.sql, params: event.params, prepared: event.prepared }));
  try {
    // The first search reads the server's text search configurations once; that read is not the case's.
    await db.posts.search('warm');
    for (const c of cases) {
      if (!c.probe) continue;
      sent.length = 0;
      await c.probe.layer(db);
      const got = sent.map((query) => ({
        sql: hand.normalizeSql(query.sql),
        params: comparable(query.params),
      }));
      const want = c.probe.expected.map((query, k) => ({
        sql: hand.normalizeSql(query.sql),
        params: comparable(bindGeneratedIds(query.params, sent[k]?.params ?? [])),
      }));
      // `raw pg named` is the like-for-like baseline only when the layer prepares its statements too,
      // except those it sends unnamed on purpose (their best plan depends on the values).
      const expected = c.probe.expected;
      const unlike = sent.findIndex(
        (query, k) =>
          query.prepared !== (config.preparedStatements.enabled && expected[k]?.prepared !== false),
      );
      if (unlike >= 0) {
        throw new BenchCheckError(
          `${c.name}: statement ${unlike + 1} was sent ${sent[unlike]?.prepared ? 'named' : 'unnamed'}, ` +
            `which the probe does not expect (prepared statements ${config.preparedStatements.enabled ? 'on' : 'off'})`,
        );
      }
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        throw new BenchCheckError(
          `${c.name}: the layer no longer sends the hand-written SQL (bench/hand-written-sql.ts); ` +
            `update it so both sides do the same work.\nlayer:\n${JSON.stringify(got, null, 2)}\n` +
            `hand-written:\n${JSON.stringify(want, null, 2)}`,
        );
      }
    }
  } finally {
    await db.disconnect();
  }
}

function expectSame(what: string, layer: unknown, raw: unknown): void {
  if (JSON.stringify(layer) !== JSON.stringify(raw)) {
    throw new BenchCheckError(`${what}: the layer and the hand-written query return different rows`);
  }
}

export async function checkSameResults(db: Database, pool: pg.Pool, fixtures: Fixtures): Promise<void> {
  const userId = fixtures.userIds[0] as string;
  const user = await db.users.getById(userId, { include: { posts: true, roles: true } });
  const rawUser = (await pool.query(hand.USER_WITH_RELATIONS, [userId, 1])).rows[0];
  expectSame(
    'user by id',
    user.posts.map((post) => post.id),
    rawUser.posts.map((post: { id: string }) => post.id),
  );

  const deep = await db.posts.findMany({ include: { author: true }, first: 20, after: fixtures.deep.cursor });
  const rawDeep = await pool.query(hand.POSTS_PAGE_AFTER, [fixtures.deep.createdAt, fixtures.deep.id, 21]);
  expectSame(
    'deep page',
    deep.items.map((post) => post.id),
    rawDeep.rows.slice(0, 20).map((row) => row.id),
  );
  if (deep.items.length !== 20) throw new BenchCheckError('deep page: expected a full page of 20 posts');

  // Search: the spec's query ranks every match, soft-deleted ones included; the layer hides those.
  const page = await db.posts.search(fixtures.search.word, { first: 20 });
  const spec = await pool.query<{ id: string; rank: number; deleted_at: Date | null; authorId: string }>(
    `${SPEC_SEARCH_SQL} LIMIT 200`,
    [fixtures.search.word],
  );
  const deletedAuthors = new Set(
    (await pool.query<{ id: string }>('SELECT id FROM pg_users WHERE deleted_at IS NOT NULL')).rows.map(
      (row) => row.id,
    ),
  );
  const visible = spec.rows.filter((row) => row.deleted_at === null && !deletedAuthors.has(row.authorId));
  const specTop = visible.slice(0, 20);
  expectSame(
    'search ranks',
    page.items.map((hit) => hit.rank),
    specTop.map((row) => row.rank),
  );
  // Equal ranks may come in another order; above the last rank the posts must be the same.
  const lastRank = specTop.at(-1)?.rank ?? 0;
  const above = (rows: Array<{ id: string; rank: number }>) =>
    rows
      .filter((row) => row.rank > lastRank)
      .map((row) => row.id)
      .sort();
  expectSame('search top results', above(page.items), above(specTop));
  if (page.items.length !== 20) throw new BenchCheckError('search: expected a full page of 20 hits');

  // Nested create: the hand-written statement stores the same user, post and role as the layer.
  const input = {
    name: 'Check',
    post: {
      title: 'A post',
      content: 'Its text',
      published: false,
      metadata: { category: fixtures.category },
    },
    role: { name: 'author', description: null },
  };
  const layerUser = await db.users.create({
    email: `check-layer-${createId()}@example.com`,
    name: input.name,
    posts: [input.post],
    roles: [input.role],
  });
  const rawUserId = createId();
  await pool.query(hand.CREATE_USER_WITH_POST_AND_ROLE, [
    rawUserId,
    `check-raw-${createId()}@example.com`,
    input.name,
    null,
    createId(),
    input.post.title,
    input.post.content,
    input.post.published,
    rawUserId,
    JSON.stringify(input.post.metadata),
    createId(),
    input.role.name,
    input.role.description,
    rawUserId,
  ]);
  const stored = async (id: string) => {
    const row = (await pool.query(hand.USER_WITH_RELATIONS, [id, 1])).rows[0];
    if (!row) throw new BenchCheckError(`nested create: user ${id} was not stored`);
    return {
      name: row.name,
      posts: row.posts.map((post: Record<string, unknown>) => [
        post.title,
        post.content,
        post.published,
        post.metadata,
      ]),
      roles: row.roles.map((role: Record<string, unknown>) => [role.name, role.description]),
    };
  };
  const layerStored = await stored(layerUser.id);
  expectSame('nested create', layerStored, await stored(rawUserId));
  if (layerStored.posts.length !== 1 || layerStored.roles.length !== 1)
    throw new BenchCheckError('nested create: expected one post and one role');
}
