/**
 * The jsonb helpers against a real PostgreSQL with hostile keys and values, stored and matched
 * literally by every helper, and with values and paths 64 levels deep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import type { PostMetadata } from '../../../src/repositories/post-metadata.js';
import * as jsonb from '../../../src/sql/jsonb.js';
import { metadata, metadataQueries } from '../../support/metadata-queries.js';
import { useTestDatabase } from '../../support/test-database.js';
import { refusalThrown } from '../../support/validation-error.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

const { newPost, selected, changed } = metadataQueries(() => db);

const hostile = [
  "'); DROP TABLE pg_posts; --",
  "' OR '1'='1",
  "it's",
  'say "hi"',
  '\\',
  'back\\slash\\"quote',
  'a.b.c',
  '{}',
  '{a,b}',
  '{"a":1}',
  '[0]',
  '[]',
  'a,b',
  '$1',
  '$2::text',
  '?',
  '?|',
  '?&',
  '@>',
  '#>',
  '--',
  '/* */',
  'NULL',
  ' padded ',
  '\t\n\r',
  '0',
  '-1',
  'ünïcödé ☃ 日本語',
  '👩‍💻🚀',
  '',
  `'"\\{},[]$?@>-- ünï`.repeat(1000).slice(0, 10_000),
];

describe('hostile keys and values', () => {
  it('has a 10,000-character string and an empty-string key in the corpus', () => {
    expect(hostile.some((text) => text.length === 10_000)).toBe(true);
    expect(hostile).toContain('');
  });

  it('stores and matches each one literally, as key and value, in every helper', async () => {
    const compiledSql = new Set<string>();
    for (const text of hostile) {
      const other = `${text}~`;
      const id = await newPost({});
      expect(await changed(id, (target) => jsonb.setPath(target, [text], text))).toEqual({ [text]: text });
      expect((await db.posts.getById(id)).metadata).toEqual({ [text]: text });

      const reads = db.kysely
        .selectFrom('pg_posts as p')
        .select([
          jsonb.get(metadata, text).as('get'),
          jsonb.getText(metadata, text).as('getText'),
          jsonb.getPath(metadata, [text]).as('getPath'),
          jsonb.getPathText(metadata, [text]).as('getPathText'),
          jsonb.hasKey(metadata, text).as('hasKey'),
          jsonb.hasKey(metadata, other).as('hasOtherKey'),
          jsonb.hasAnyKey(metadata, [other, text]).as('hasAnyKey'),
          jsonb.hasAnyKey(metadata, [other]).as('hasAnyOtherKey'),
          jsonb.hasAllKeys(metadata, [text, text]).as('hasAllKeys'),
          jsonb.hasAllKeys(metadata, [text, other]).as('hasAllWithOther'),
          jsonb.contains(metadata, { [text]: text }).as('contains'),
          jsonb.contains(metadata, { [text]: other }).as('containsOther'),
          jsonb.containedBy(metadata, { [text]: text, [other]: other }).as('containedBy'),
          jsonb.pathExists(metadata, '$.* ? (@ == $v)', { v: text }).as('pathExists'),
        ])
        .where('p.id', '=', id);
      const compiled = reads.compile();
      compiledSql.add(compiled.sql);
      expect(compiled.parameters).toContain(text);
      expect(await reads.executeTakeFirstOrThrow()).toEqual({
        get: text,
        getText: text,
        getPath: text,
        getPathText: text,
        hasKey: true,
        hasOtherKey: false,
        hasAnyKey: true,
        hasAnyOtherKey: false,
        hasAllKeys: true,
        hasAllWithOther: false,
        contains: true,
        containsOther: false,
        containedBy: true,
        pathExists: true,
      });

      expect(
        await changed(id, (target) => jsonb.merge(target, { [text]: [text], [other]: { [text]: text } })),
      ).toEqual({
        [text]: [text],
        [other]: { [text]: text },
      });
      expect(await changed(id, (target) => jsonb.insertAt(target, [text, 0], text, { after: true }))).toEqual(
        {
          [text]: [text, text],
          [other]: { [text]: text },
        },
      );
      expect(await changed(id, (target) => jsonb.insertAt(target, [other, other], other))).toEqual({
        [text]: [text, text],
        [other]: { [text]: text, [other]: other },
      });
      expect(await selected(id, jsonb.getPath(metadata, [other, text]))).toBe(text);
      expect(await changed(id, (target) => jsonb.removePath(target, [other, text]))).toEqual({
        [text]: [text, text],
        [other]: { [other]: other },
      });
      expect(await changed(id, (target) => jsonb.removeKey(target, text))).toEqual({
        [other]: { [other]: other },
      });
      expect(await db.posts.getById(id)).toMatchObject({ metadata: { [other]: { [other]: other } } });
    }
    // The SQL text never depended on a key or value: only the parameters did.
    expect(compiledSql.size).toBe(1);
    const [tables] = await db.executeRaw<{ posts: string | null }>(
      "SELECT to_regclass('public.pg_posts')::text AS posts",
    );
    expect(tables?.posts).toBe('pg_posts');
  });

  it('refuses NUL, empty paths and key lists, and keys that are not strings, before any SQL', () => {
    const target = metadata;
    expect(refusalThrown(() => jsonb.get(target, 'a\u0000'))).toMatch(/^key: must not contain the NUL/);
    expect(refusalThrown(() => jsonb.getText(target, 1.5))).toMatch(/^key: /);
    expect(refusalThrown(() => jsonb.get(target, 2 ** 31))).toMatch(/^key: /);
    expect(refusalThrown(() => jsonb.hasKey(target, 5 as never))).toBe('key: must be a string');
    expect(refusalThrown(() => jsonb.removeKey(target, '\u0000'))).toMatch(/^key: /);
    expect(refusalThrown(() => jsonb.getPath(target, []))).toBe('path: must be a non-empty array');
    expect(refusalThrown(() => jsonb.setPath(target, [], 1))).toBe('path: must be a non-empty array');
    expect(refusalThrown(() => jsonb.removePath(target, ['a', '\u0000']))).toMatch(/^path: /);
    expect(refusalThrown(() => jsonb.getPathText(target, ['a', 1.5]))).toBe(
      'path: element 1 must be an integer',
    );
    expect(refusalThrown(() => jsonb.insertAt(target, [null as never], 1))).toMatch(/^path: element 0 /);
    expect(refusalThrown(() => jsonb.getPath(target, 'a.b' as never))).toBe(
      'path: must be a non-empty array',
    );
    expect(refusalThrown(() => jsonb.hasAnyKey(target, []))).toMatch(/^keys: /);
    expect(refusalThrown(() => jsonb.hasAllKeys(target, ['a', 'b\u0000']))).toMatch(/^keys: /);
    expect(refusalThrown(() => jsonb.contains(target, { a: 'b\u0000' }))).toMatch(/^value: /);
    expect(refusalThrown(() => jsonb.merge(target, { 'k\u0000': 1 }))).toMatch(/^value: /);
    expect(refusalThrown(() => jsonb.setPath(target, ['a'], undefined as never))).toMatch(/^value: /);
    expect(refusalThrown(() => jsonb.setPath(target, ['a'], 1, { createMissing: 'no' as never }))).toBe(
      'options.createMissing: must be a boolean',
    );
    expect(refusalThrown(() => jsonb.pathMatch(target, 'strict $\u0000'))).toMatch(/^jsonpath: /);
    expect(refusalThrown(() => jsonb.pathExists(target, '$.a', [1] as never))).toBe(
      'vars: must be an object',
    );
    expect(refusalThrown(() => jsonb.pathExists(target, '$.a ? (@ == $v)', { v: Number.NaN }))).toMatch(
      /^vars: /,
    );
  });
});

describe('deep values', () => {
  it('round-trips a 64-level value through value() and getPath with a 64-element path', async () => {
    // Levels alternate object and array, so the path mixes keys and indexes.
    let nested: jsonb.JsonValue = 'leaf';
    const path: (string | number)[] = [];
    for (let level = 63; level >= 0; level--) {
      nested = level % 2 === 0 ? { [`k${level}`]: nested } : [nested];
      path.unshift(level % 2 === 0 ? `k${level}` : 0);
    }
    expect(path).toHaveLength(64);
    const query = db.kysely.selectNoFrom([
      jsonb.value(nested).as('whole'),
      jsonb.getPath(jsonb.value(nested), path).as('leaf'),
      jsonb.getPathText(jsonb.value(nested), path.slice(0, 62)).as('lastLevels'),
    ]);
    const compiled = query.compile();
    expect(compiled.sql).toBe(
      'select $1::jsonb as "whole", ($2::jsonb #> $3::text[]) as "leaf", ' +
        '($4::jsonb #>> $5::text[]) as "lastLevels"',
    );
    expect(compiled.parameters[2]).toEqual(path.map(String));
    expect(await query.executeTakeFirstOrThrow()).toEqual({
      whole: nested,
      leaf: 'leaf',
      lastLevels: '{"k62": ["leaf"]}',
    });

    const id = await newPost(nested as PostMetadata);
    expect((await db.posts.getById(id)).metadata).toEqual(nested);
    expect(await selected(id, jsonb.getPath(metadata, path))).toBe('leaf');
    expect(await changed(id, (target) => jsonb.setPath(target, path, 'new leaf'))).toEqual(
      JSON.parse(JSON.stringify(nested).replace('"leaf"', '"new leaf"')),
    );
  });
});
