/** posts.findByMetadata and posts.updateMetadata: typed, literal, and index-backed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_JSON_SQL } from '../../scripts/lib/spec-queries.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { CheckViolationError, NotFoundError, ValidationError } from '../../src/errors/classes.js';
import { planPage } from '../../src/query/pagination.js';
import type { MetadataChange } from '../../src/repositories/post-metadata-input.js';
import { matchesMetadata } from '../../src/repositories/post-metadata-sql.js';
import { postsPageQuery } from '../../src/repositories/posts.js';
import { rejection } from '../support/rejection.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
let authorId: string;

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()));
  authorId = (await db.users.create({ email: uniqueEmail() })).id;
});
afterAll(() => db.disconnect());

const post = (title: string, metadata: Record<string, unknown>) =>
  db.posts.create({ title, authorId, published: true, metadata: metadata as never });

describe('posts.findByMetadata', () => {
  beforeAll(async () => {
    await post('t1', { category: 'tutorial', tags: ['programming', 'sql'] });
    await post('t2', { category: 'tutorial', tags: ['cooking'] });
    await post('n1', { category: 'news', tags: ['programming'], source: { name: 'wire' } });
  });

  const titles = async (filter: Parameters<Database['posts']['findByMetadata']>[0]) =>
    (await db.posts.findByMetadata(filter, { orderBy: { createdAt: 'asc' } })).items.map((p) => p.title);

  it('filters by category, any or all of some tags, and containment', async () => {
    expect(await titles({ category: 'tutorial' })).toEqual(['t1', 't2']);
    expect(await titles({ tags: { any: ['cooking', 'sql'] } })).toEqual(['t1', 't2']);
    expect(await titles({ tags: { all: ['programming', 'sql'] } })).toEqual(['t1']);
    expect(await titles({ category: 'tutorial', tags: { any: ['programming'] } })).toEqual(['t1']);
    expect(await titles({ contains: { source: { name: 'wire' } } })).toEqual(['n1']);
  });

  it('hides soft-deleted posts unless asked, and pages', async () => {
    const gone = await post('gone', { category: 'tutorial' });
    await db.posts.softDelete(gone.id);
    expect(await titles({ category: 'tutorial' })).not.toContain('gone');
    const withDeleted = await db.posts.findByMetadata({ category: 'tutorial' }, { withDeleted: true });
    expect(withDeleted.items.map((p) => p.title)).toContain('gone');
    const first = await db.posts.findByMetadata(
      { category: 'tutorial' },
      { first: 1, orderBy: { createdAt: 'asc' } },
    );
    expect(first.items.map((p) => p.title)).toEqual(['t1']);
    const next = await db.posts.findByMetadata(
      { category: 'tutorial' },
      { first: 1, orderBy: { createdAt: 'asc' }, after: first.nextCursor as string },
    );
    expect(next.items.map((p) => p.title)).toEqual(['t2']);
  });

  it('needs at least one criterion and refuses unknown ones', async () => {
    await expect(db.posts.findByMetadata({})).rejects.toBeInstanceOf(ValidationError);
    await expect(db.posts.findByMetadata({ categroy: 'x' } as never)).rejects.toMatchObject({
      field: 'filter.categroy',
    });
  });

  it("lets the spec's JSON query run verbatim", async () => {
    const rows = await db.executeRaw<{ title: string }>(SPEC_JSON_SQL);
    expect(rows.map((row) => row.title)).toEqual(['t1']);
  });
});

describe('posts.updateMetadata', () => {
  it('merges, sets a path, removes a key and a path', async () => {
    const created = await post('m', { category: 'a', tags: ['x'], nested: { keep: 1, drop: 2 } });
    const merged = await db.posts.updateMetadata(created.id, { merge: { category: 'b', extra: true } });
    expect(merged.metadata).toEqual({
      category: 'b',
      tags: ['x'],
      nested: { keep: 1, drop: 2 },
      extra: true,
    });
    const set = await db.posts.updateMetadata(created.id, { set: { path: ['tags', 1], value: 'y' } });
    expect(set.metadata.tags).toEqual(['x', 'y']);
    // jsonb_set creates the last step of a path only: under a missing parent nothing changes.
    const deep = await db.posts.updateMetadata(created.id, { set: { path: ['a', 'b'], value: [1, 2] } });
    expect(deep.metadata).not.toHaveProperty('a');
    const removed = await db.posts.updateMetadata(created.id, { remove: 'extra' });
    expect(removed.metadata).not.toHaveProperty('extra');
    const prunedPath = await db.posts.updateMetadata(created.id, { removePath: ['nested', 'drop'] });
    expect(prunedPath.metadata.nested).toEqual({ keep: 1 });
    expect(prunedPath.updatedAt.getTime()).toBeGreaterThanOrEqual(created.updatedAt.getTime());
  });

  it('keeps concurrent changes to different keys', async () => {
    const created = await post('c', {});
    await Promise.all([
      db.posts.updateMetadata(created.id, { merge: { one: 1 } }),
      db.posts.updateMetadata(created.id, { merge: { two: 2 } }),
    ]);
    expect((await db.posts.getById(created.id)).metadata).toEqual({ one: 1, two: 2 });
  });

  it('refuses bad changes, and one that would leave no object', async () => {
    const created = await post('r', { a: 1 });
    await expect(db.posts.updateMetadata(created.id, {} as never)).rejects.toBeInstanceOf(ValidationError);
    await expect(db.posts.updateMetadata('missing', { merge: { a: 2 } })).rejects.toBeInstanceOf(
      NotFoundError,
    );
    // Setting the top-level key 'a' to an array is fine; the object stays an object.
    await db.posts.updateMetadata(created.id, { set: { path: ['a'], value: [1] } });
    const stored = async () => (await db.posts.getById(created.id)).metadata;
    expect(await stored()).toEqual({ a: [1] });

    // The whole object cannot be addressed: an empty path would replace or remove it.
    const wholeObject: [MetadataChange, string][] = [
      [{ removePath: [] }, 'change.removePath'],
      [{ set: { path: [], value: [1] } }, 'change.set.path'],
    ];
    for (const [change, field] of wholeObject) {
      const error = await rejection(db.posts.updateMetadata(created.id, change));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual([{ field, message: 'must not be empty' }]);
    }
    // Nor can it become anything but an object by a write around the repository: the server's check
    // refuses it, mapped to CheckViolationError naming the table and the constraint.
    for (const value of ['[1]', '"text"', '1', 'null', 'true']) {
      const error = await rejection(
        db.executeRaw('UPDATE pg_posts SET metadata = $1::jsonb WHERE id = $2', [value, created.id]),
      );
      expect(error, value).toBeInstanceOf(CheckViolationError);
      expect(error, value).toMatchObject({
        code: '23514',
        table: 'pg_posts',
        constraint: 'pg_posts_metadata_is_object',
      });
    }
    expect(await stored()).toEqual({ a: [1] });
  });
});

describe('index use', () => {
  beforeAll(async () => {
    await db.executeRaw(
      `INSERT INTO pg_posts (id, title, published, "authorId", metadata)
       SELECT 'bulk-' || i, 'post ' || i, true, $1,
              jsonb_build_object('category', 'c' || (i % 50), 'tags', jsonb_build_array('t' || (i % 97), 'u' || (i % 89)))
         FROM generate_series(1, 5000) AS i`,
      [authorId],
    );
    // Fresh GIN entries wait in the index's pending list, which the planner shies away from: merge them.
    await db.executeRaw("SELECT gin_clean_pending_list('pg_posts_metadata_idx'::regclass)");
    await db.executeRaw('ANALYZE pg_posts');
  });

  const planFor = async (filter: Parameters<typeof matchesMetadata>[1]) => {
    const compiled = postsPageQuery(db.kysely, undefined, {}, planPage({}), (eb) =>
      matchesMetadata(eb, filter),
    ).compile();
    return JSON.stringify(await db.executeRaw(`EXPLAIN (FORMAT JSON) ${compiled.sql}`, compiled.parameters));
  };

  it('serves a category filter from the GIN index on metadata', async () => {
    expect(await planFor({ category: 'c7' })).toContain('pg_posts_metadata_idx');
  });

  it('serves tag filters, any and all, from the same index', async () => {
    expect(await planFor({ tags: { any: ['t5', 't6'] } })).toContain('pg_posts_metadata_idx');
    expect(await planFor({ tags: { all: ['t5', 'u5'] } })).toContain('pg_posts_metadata_idx');
  });
});
