/**
 * jsonb.value and the reading helpers (get, getText, getPath, getPathText, arrayLength) against a real
 * PostgreSQL: each one's compiled SQL and parameters first, then the same expression run on a row of
 * pg_posts.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import * as jsonb from '../../../src/sql/jsonb.js';
import { expectCompiled } from '../../support/expect-compiled.js';
import { metadata, metadataQueries, selectSql } from '../../support/metadata-queries.js';
import { useTestDatabase } from '../../support/test-database.js';
import { refusalThrown } from '../../support/validation-error.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

const { newPost, selectOf, selected } = metadataQueries(() => db);

describe('jsonb.value', () => {
  it('sends arrays and objects as JSON text cast to jsonb, never as PostgreSQL arrays', async () => {
    const query = db.kysely.selectNoFrom([
      jsonb.value([1, 2]).as('list'),
      jsonb.value({ tags: ['a'] }).as('object'),
      sql<string>`jsonb_typeof(${jsonb.value([1, 2])})`.as('type'),
      jsonb.value('text').as('text'),
      jsonb.value(null).as('nothing'),
    ]);
    expectCompiled(
      query,
      'select $1::jsonb as "list", $2::jsonb as "object", jsonb_typeof($3::jsonb) as "type", ' +
        '$4::jsonb as "text", $5::jsonb as "nothing"',
      ['[1,2]', '{"tags":["a"]}', '[1,2]', '"text"', 'null'],
    );
    expect(await query.executeTakeFirstOrThrow()).toEqual({
      list: [1, 2],
      object: { tags: ['a'] },
      type: 'array',
      text: 'text',
      nothing: null,
    });
  });

  it('writes a value that reads back as the same JSON', async () => {
    const id = await newPost({});
    const written = { tags: ['a'], nested: [[1, 2], { deep: [true, null, 1.5] }] };
    // The generated types take metadata writes as JSON text, so the jsonb expression is typed as such.
    const row = await db.kysely
      .updateTable('pg_posts')
      .set({ metadata: sql<string>`${jsonb.value(written)}` })
      .where('id', '=', id)
      .returning('metadata')
      .executeTakeFirstOrThrow();
    expect(row.metadata).toEqual(written);
    expect((await db.posts.getById(id)).metadata).toEqual(written);
  });

  it('refuses, synchronously, what JSON or jsonb cannot hold', () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const notJson: unknown[] = [
      undefined,
      () => 1,
      Symbol('s'),
      10n,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      { a: undefined },
      [1, undefined],
      // biome-ignore lint/suspicious/noSparseArray: a hole is what is being refused
      [1, , 3],
      { when: new Date() },
      new Map(),
      circular,
    ];
    for (const input of notJson) {
      expect(refusalThrown(() => jsonb.value(input as jsonb.JsonValue))).toMatch(/^value: must be JSON: /);
    }
    // JSON, but not what jsonb can hold exactly: NUL, or a lone surrogate, in a string or a key.
    const unstorable = [
      'a\u0000b',
      { 'k\u0000': 1 },
      [{ deep: ['\u0000'] }],
      '\uD800',
      { k: ['\uDC00'] },
      { '\uDC00\uD800': 1 },
    ];
    for (const input of unstorable) {
      expect(refusalThrown(() => jsonb.value(input as jsonb.JsonValue))).toMatch(
        /^value: must not contain (the NUL character|a lone surrogate) .*, which PostgreSQL cannot store \(in a (string|key), at index \d+\)$/,
      );
    }
    expect(refusalThrown(() => jsonb.value(undefined as never))).toBe(
      'value: must be JSON: undefined is not a JSON value',
    );
    // A value shared twice is not circular.
    const shared = { a: 1 };
    expect(jsonb.value({ x: shared, y: [shared] }).compile(db.kysely).parameters).toEqual([
      '{"x":{"a":1},"y":[{"a":1}]}',
    ]);
  });
});

describe('reading: get, getText, getPath, getPathText, arrayLength', () => {
  let id: string;
  beforeAll(async () => {
    id = await newPost({
      category: 'guide',
      tags: ['x', 'y'],
      nested: { a: { b: [10, 20] } },
      nothing: null,
      '1': 'key one',
    });
  });

  it('get: a key as a text parameter, an index as an int parameter', async () => {
    expectCompiled(selectOf(id, jsonb.get(metadata, 'tags')), selectSql('("p"."metadata" -> $1::text)', 2), [
      'tags',
      id,
    ]);
    expectCompiled(
      selectOf(id, jsonb.get(jsonb.get(metadata, 'tags'), -1)),
      selectSql('(("p"."metadata" -> $1::text) -> $2::int)', 3),
      ['tags', -1, id],
    );
    expect(await selected(id, jsonb.get(metadata, 'tags'))).toEqual(['x', 'y']);
    expect(await selected(id, jsonb.get(metadata, 'nested'))).toEqual({ a: { b: [10, 20] } });
    expect(await selected(id, jsonb.get(jsonb.get(metadata, 'tags'), 1))).toBe('y');
    expect(await selected(id, jsonb.get(jsonb.get(metadata, 'tags'), -1))).toBe('y');
    // A numeric string is a key, never an index.
    expect(await selected(id, jsonb.get(metadata, '1'))).toBe('key one');
    expect(await selected(id, jsonb.get(jsonb.get(metadata, 'tags'), '1'))).toBeNull();
    expect(await selected(id, jsonb.get(metadata, 'missing'))).toBeNull();
    expect(await selected(id, jsonb.get(metadata, 'nothing'))).toBeNull();
  });

  it('getText: strings unquoted, other values as JSON text', async () => {
    expectCompiled(
      selectOf(id, jsonb.getText(metadata, 'category')),
      selectSql('("p"."metadata" ->> $1::text)', 2),
      ['category', id],
    );
    expect(await selected(id, jsonb.getText(metadata, 'category'))).toBe('guide');
    expect(await selected(id, jsonb.getText(metadata, 'tags'))).toBe('["x", "y"]');
    expect(await selected(id, jsonb.getText(jsonb.get(metadata, 'tags'), 0))).toBe('x');
    expect(await selected(id, jsonb.getText(metadata, 'nothing'))).toBeNull();
    expect(await selected(id, jsonb.getText(metadata, 'missing'))).toBeNull();
  });

  it('getPath and getPathText: the path as one text[] parameter, numbers as decimal strings', async () => {
    const path = ['nested', 'a', 'b', 1];
    expectCompiled(
      selectOf(id, jsonb.getPath(metadata, path)),
      selectSql('("p"."metadata" #> $1::text[])', 2),
      [['nested', 'a', 'b', '1'], id],
    );
    expectCompiled(
      selectOf(id, jsonb.getPathText(metadata, path)),
      selectSql('("p"."metadata" #>> $1::text[])', 2),
      [['nested', 'a', 'b', '1'], id],
    );
    expect(await selected(id, jsonb.getPath(metadata, path))).toBe(20);
    expect(await selected(id, jsonb.getPath(metadata, ['nested', 'a']))).toEqual({ b: [10, 20] });
    expect(await selected(id, jsonb.getPathText(metadata, path))).toBe('20');
    expect(await selected(id, jsonb.getPathText(metadata, ['tags', -2]))).toBe('x');
    expect(await selected(id, jsonb.getPath(metadata, ['nested', 'missing', 'b']))).toBeNull();
  });

  it('arrayLength: jsonb_array_length, null for a missing member', async () => {
    expectCompiled(
      selectOf(id, jsonb.arrayLength(jsonb.get(metadata, 'tags'))),
      selectSql('jsonb_array_length(("p"."metadata" -> $1::text))', 2),
      ['tags', id],
    );
    expect(await selected(id, jsonb.arrayLength(jsonb.get(metadata, 'tags')))).toBe(2);
    expect(await selected(id, jsonb.arrayLength(jsonb.getPath(metadata, ['nested', 'a', 'b'])))).toBe(2);
    expect(await selected(id, jsonb.arrayLength(jsonb.get(metadata, 'missing')))).toBeNull();
  });
});
