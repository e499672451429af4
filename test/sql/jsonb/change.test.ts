/**
 * The changing helpers of jsonb (merge, removeKey, removePath, setPath, insertAt) against a real
 * PostgreSQL: compiled SQL and parameters, then the metadata of a post changed by each.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import * as jsonb from '../../../src/sql/jsonb.js';
import { expectCompiled } from '../../support/expect-compiled.js';
import { metadata, metadataQueries, updateSql } from '../../support/metadata-queries.js';
import { useTestDatabase } from '../../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

const { newPost, selected, updateOf, changed } = metadataQueries(() => db);

describe('changing: merge, removeKey, removePath, setPath, insertAt', () => {
  it('merge (||): top-level keys of the value win', async () => {
    const id = await newPost({ category: 'guide', nested: { a: 1, b: 2 } });
    expectCompiled(
      updateOf(id, (target) => jsonb.merge(target, { nested: { a: 3 }, extra: [1] })),
      updateSql('("metadata" || $1::jsonb)', 2),
      ['{"nested":{"a":3},"extra":[1]}', id],
    );
    expect(await changed(id, (target) => jsonb.merge(target, { nested: { a: 3 }, extra: [1] }))).toEqual({
      category: 'guide',
      nested: { a: 3 },
      extra: [1],
    });
    // In an update through the expression builder, the result type follows the column.
    const row = await db.kysely
      .updateTable('pg_posts')
      .set((eb) => ({ metadata: jsonb.merge(eb.ref('metadata'), { reviewed: true }) }))
      .where('id', '=', id)
      .returning('metadata')
      .executeTakeFirstOrThrow();
    expect(row.metadata).toMatchObject({ reviewed: true, category: 'guide' });
  });

  it('removeKey (-) and removePath (#-)', async () => {
    const id = await newPost({ keep: 1, drop: 2, nested: { a: { b: 1, c: 2 }, list: ['x', 'y', 'z'] } });
    expectCompiled(
      updateOf(id, (target) => jsonb.removeKey(target, 'drop')),
      updateSql('("metadata" - $1::text)', 2),
      ['drop', id],
    );
    expectCompiled(
      updateOf(id, (target) => jsonb.removePath(target, ['nested', 'a', 'b'])),
      updateSql('("metadata" #- $1::text[])', 2),
      [['nested', 'a', 'b'], id],
    );
    expect(await changed(id, (target) => jsonb.removeKey(target, 'drop'))).toEqual({
      keep: 1,
      nested: { a: { b: 1, c: 2 }, list: ['x', 'y', 'z'] },
    });
    expect(await changed(id, (target) => jsonb.removePath(target, ['nested', 'a', 'b']))).toEqual({
      keep: 1,
      nested: { a: { c: 2 }, list: ['x', 'y', 'z'] },
    });
    expect(await changed(id, (target) => jsonb.removePath(target, ['nested', 'list', 1]))).toEqual({
      keep: 1,
      nested: { a: { c: 2 }, list: ['x', 'z'] },
    });
    // A missing key or path changes nothing.
    expect(
      await changed(id, (target) => jsonb.removePath(jsonb.removeKey(target, 'nope'), ['no', 'path'])),
    ).toEqual({
      keep: 1,
      nested: { a: { c: 2 }, list: ['x', 'z'] },
    });
    // A removal chained on another helper's result keeps its grouping.
    expect(await selected(id, jsonb.removeKey(jsonb.get(metadata, 'nested'), 'a'))).toEqual({
      list: ['x', 'z'],
    });
  });

  it('setPath (jsonb_set): replaces, adds a missing last step unless createMissing is false', async () => {
    const id = await newPost({ author: { name: 'Ada' }, tags: ['a'] });
    expectCompiled(
      updateOf(id, (target) => jsonb.setPath(target, ['author', 'name'], 'Grace')),
      updateSql('jsonb_set("metadata", $1::text[], $2::jsonb, $3::boolean)', 4),
      [['author', 'name'], '"Grace"', true, id],
    );
    expect(await changed(id, (target) => jsonb.setPath(target, ['author', 'name'], 'Grace'))).toEqual({
      author: { name: 'Grace' },
      tags: ['a'],
    });
    expect(
      await changed(id, (target) => jsonb.setPath(target, ['author', 'links'], ['x', { y: 1 }])),
    ).toEqual({
      author: { name: 'Grace', links: ['x', { y: 1 }] },
      tags: ['a'],
    });
    const before = (await db.posts.getById(id)).metadata;
    expect(
      await changed(id, (target) =>
        jsonb.setPath(target, ['author', 'email'], 'x@y', { createMissing: false }),
      ),
    ).toEqual(before);
    // A missing intermediate step leaves the value unchanged, whatever createMissing says.
    expect(await changed(id, (target) => jsonb.setPath(target, ['missing', 'deeper'], 1))).toEqual(before);
    // With createMissing false, an existing path is still replaced.
    expect(
      await changed(id, (target) => jsonb.setPath(target, ['tags', 0], 'b', { createMissing: false })),
    ).toEqual({ ...before, tags: ['b'] });
  });

  it('insertAt (jsonb_insert): before or after an array element, or a new object key', async () => {
    const id = await newPost({ tags: ['a', 'c'] });
    expectCompiled(
      updateOf(id, (target) => jsonb.insertAt(target, ['tags', 1], 'b')),
      updateSql('jsonb_insert("metadata", $1::text[], $2::jsonb, $3::boolean)', 4),
      [['tags', '1'], '"b"', false, id],
    );
    expect(await changed(id, (target) => jsonb.insertAt(target, ['tags', 1], 'b'))).toEqual({
      tags: ['a', 'b', 'c'],
    });
    expect(await changed(id, (target) => jsonb.insertAt(target, ['tags', -1], 'd', { after: true }))).toEqual(
      {
        tags: ['a', 'b', 'c', 'd'],
      },
    );
    expect(await changed(id, (target) => jsonb.insertAt(target, ['tags', 0], { first: true }))).toEqual({
      tags: [{ first: true }, 'a', 'b', 'c', 'd'],
    });
    expect(await changed(id, (target) => jsonb.insertAt(target, ['added'], [1, 2]))).toEqual({
      tags: [{ first: true }, 'a', 'b', 'c', 'd'],
      added: [1, 2],
    });
    // An existing object key is PostgreSQL's error (22023): setPath replaces keys.
    const replacing = updateOf(id, (target) => jsonb.insertAt(target, ['added'], 1));
    await expect(replacing.execute()).rejects.toMatchObject({ code: '22023' });
  });
});
