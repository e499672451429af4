/**
 * The jsonb helpers against a real PostgreSQL: each one's compiled SQL and parameters first, then the
 * same expression run on rows of pg_posts. Hostile keys and values must be stored and matched
 * literally; the GIN index on metadata must serve the operators it can.
 */
import { createId } from '@paralleldrive/cuid2';
import { type CompiledQuery, type RawBuilder, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { DatabaseError, ValidationError } from '../../src/errors/classes.js';
import type { PostMetadata } from '../../src/repositories/post-metadata.js';
import * as jsonb from '../../src/sql/jsonb.js';
import { indexesIn } from '../support/explain.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;
let authorId: string;

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()));
  authorId = (await db.users.create({ email: `${createId()}@example.com` })).id;
});
afterAll(() => db.disconnect());

const metadata = sql.ref('p.metadata');

async function newPost(data: PostMetadata, author = authorId): Promise<string> {
  return (await db.posts.create({ title: 'JSONB', authorId: author, metadata: data })).id;
}

async function newAuthor(): Promise<string> {
  return (await db.users.create({ email: `${createId()}@example.com` })).id;
}

function expectCompiled(query: { compile(): CompiledQuery }, text: string, parameters: readonly unknown[]) {
  const compiled = query.compile();
  expect(compiled.sql).toBe(text);
  expect(compiled.parameters).toEqual(parameters);
}

/** `select <expression> as "v"` for one post. */
function selectOf<T>(id: string, expression: RawBuilder<T>) {
  return db.kysely.selectFrom('pg_posts as p').select(expression.as('v')).where('p.id', '=', id);
}

async function selected<T>(id: string, expression: RawBuilder<T>) {
  return (await selectOf(id, expression).executeTakeFirstOrThrow()).v;
}

const selectSql = (expression: string, idParameter: number) =>
  `select ${expression} as "v" from "public"."pg_posts" as "p" where "p"."id" = $${idParameter}`;

const updateSql = (expression: string, idParameter: number) =>
  `update "public"."pg_posts" set "metadata" = ${expression} where "id" = $${idParameter} returning "metadata"`;

/** `update … set metadata = <change(metadata)>` for one post, returning the new metadata. */
function updateOf(id: string, change: (target: RawBuilder<unknown>) => RawBuilder<string>) {
  return db.kysely
    .updateTable('pg_posts')
    .set({ metadata: change(sql.ref('metadata')) })
    .where('id', '=', id)
    .returning('metadata');
}

async function changed(id: string, change: (target: RawBuilder<unknown>) => RawBuilder<string>) {
  return (await updateOf(id, change).executeTakeFirstOrThrow()).metadata;
}

/** The ids of this author's posts matching `condition`, in id order. */
async function matching(author: string, condition: RawBuilder<boolean>): Promise<string[]> {
  const rows = await db.kysely
    .selectFrom('pg_posts as p')
    .select('p.id')
    .where('p.authorId', '=', author)
    .where(condition)
    .orderBy('p.id')
    .execute();
  return rows.map((row) => row.id);
}

/** The ValidationError `work` throws synchronously, as `field: message`. */
function refusal(work: () => unknown): string {
  let caught: unknown;
  try {
    work();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ValidationError);
  const issue = (caught as ValidationError).issues[0];
  return `${issue?.field}: ${issue?.message}`;
}

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
      'a\u0000b',
      { 'k\u0000': 1 },
      [{ deep: ['\u0000'] }],
    ];
    for (const input of notJson) {
      expect(refusal(() => jsonb.value(input as jsonb.JsonValue))).toMatch(/^value: must be JSON: /);
    }
    expect(refusal(() => jsonb.value(undefined as never))).toBe(
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

describe('matching: contains, containedBy, hasKey, hasAnyKey, hasAllKeys, jsonpath', () => {
  let author: string;
  let sql1: string;
  let sqlAndPg: string;
  let bare: string;
  beforeAll(async () => {
    author = await newAuthor();
    // Ids sort in creation order here, so expectations can list them in that order.
    sql1 = await newPost({ category: 'guide', tags: ['sql'], level: 1 }, author);
    sqlAndPg = await newPost({ category: 'guide', tags: ['sql', 'pg'], level: 2 }, author);
    bare = await newPost({ category: 'news' }, author);
  });
  const sorted = (...ids: string[]) => [...ids].sort();

  it('contains (@>) and containedBy (<@): the value as one jsonb parameter', async () => {
    expectCompiled(
      selectOf(sql1, jsonb.contains(metadata, { tags: ['sql'] })),
      selectSql('("p"."metadata" @> $1::jsonb)', 2),
      ['{"tags":["sql"]}', sql1],
    );
    expectCompiled(
      selectOf(sql1, jsonb.containedBy(metadata, { category: 'news' })),
      selectSql('("p"."metadata" <@ $1::jsonb)', 2),
      ['{"category":"news"}', sql1],
    );
    expect(await matching(author, jsonb.contains(metadata, { tags: ['sql'] }))).toEqual(
      sorted(sql1, sqlAndPg),
    );
    expect(await matching(author, jsonb.contains(metadata, { tags: ['pg', 'sql'], level: 2 }))).toEqual([
      sqlAndPg,
    ]);
    expect(await matching(author, jsonb.contains(metadata, { category: 'news' }))).toEqual([bare]);
    expect(await matching(author, jsonb.contains(metadata, {}))).toEqual(sorted(sql1, sqlAndPg, bare));
    expect(
      await matching(
        author,
        jsonb.containedBy(metadata, { category: 'guide', tags: ['sql', 'pg', 'x'], level: 1 }),
      ),
    ).toEqual([sql1]);
    expect(await matching(author, jsonb.containedBy(metadata, { category: 'news', other: true }))).toEqual([
      bare,
    ]);
  });

  it('hasKey (?), hasAnyKey (?|) and hasAllKeys (?&): keys as text and text[] parameters', async () => {
    expectCompiled(
      selectOf(bare, jsonb.hasKey(metadata, 'tags')),
      selectSql('("p"."metadata" ? $1::text)', 2),
      ['tags', bare],
    );
    expectCompiled(
      selectOf(bare, jsonb.hasAnyKey(metadata, ['tags', 'level'])),
      selectSql('("p"."metadata" ?| $1::text[])', 2),
      [['tags', 'level'], bare],
    );
    expectCompiled(
      selectOf(bare, jsonb.hasAllKeys(metadata, ['tags', 'level'])),
      selectSql('("p"."metadata" ?& $1::text[])', 2),
      [['tags', 'level'], bare],
    );
    expect(await matching(author, jsonb.hasKey(metadata, 'tags'))).toEqual(sorted(sql1, sqlAndPg));
    // On an array, ? matches string elements.
    expect(await matching(author, jsonb.hasKey(jsonb.get(metadata, 'tags'), 'pg'))).toEqual([sqlAndPg]);
    expect(await matching(author, jsonb.hasAnyKey(metadata, ['level', 'nope']))).toEqual(
      sorted(sql1, sqlAndPg),
    );
    expect(await matching(author, jsonb.hasAnyKey(metadata, ['nope']))).toEqual([]);
    expect(await matching(author, jsonb.hasAllKeys(metadata, ['category', 'tags', 'level']))).toEqual(
      sorted(sql1, sqlAndPg),
    );
    expect(await matching(author, jsonb.hasAllKeys(metadata, ['category', 'nope']))).toEqual([]);
  });

  it('pathExists (jsonb_path_exists): the path and its variables as parameters', async () => {
    const condition = jsonb.pathExists(metadata, '$.tags[*] ? (@ == $tag)', { tag: 'pg' });
    expectCompiled(
      selectOf(sql1, condition),
      selectSql('jsonb_path_exists("p"."metadata", $1::jsonpath, $2::jsonb)', 3),
      ['$.tags[*] ? (@ == $tag)', '{"tag":"pg"}', sql1],
    );
    expect(await matching(author, condition)).toEqual([sqlAndPg]);
    expect(
      await matching(author, jsonb.pathExists(metadata, '$.tags[*] ? (@ == $tag)', { tag: 'x' })),
    ).toEqual([]);
    // A variable is a value, whatever it holds: no quoting inside the path.
    expect(
      await matching(
        author,
        jsonb.pathExists(metadata, '$.tags[*] ? (@ == $tag)', { tag: '" || true || "' }),
      ),
    ).toEqual([]);
    expect(await matching(author, jsonb.pathExists(metadata, '$.level ? (@ >= $min)', { min: 2 }))).toEqual([
      sqlAndPg,
    ]);
    expect(await matching(author, jsonb.pathExists(metadata, '$.tags'))).toEqual(sorted(sql1, sqlAndPg));
  });

  it('pathMatch (@?) and pathPredicate (@@)', async () => {
    expectCompiled(
      selectOf(sql1, jsonb.pathMatch(metadata, '$.tags[*] ? (@ == "pg")')),
      selectSql('("p"."metadata" @? $1::jsonpath)', 2),
      ['$.tags[*] ? (@ == "pg")', sql1],
    );
    expectCompiled(
      selectOf(sql1, jsonb.pathPredicate(metadata, '$.level > 1')),
      selectSql('("p"."metadata" @@ $1::jsonpath)', 2),
      ['$.level > 1', sql1],
    );
    expect(await matching(author, jsonb.pathMatch(metadata, '$.tags[*] ? (@ == "pg")'))).toEqual([sqlAndPg]);
    expect(await matching(author, jsonb.pathMatch(metadata, '$.level'))).toEqual(sorted(sql1, sqlAndPg));
    expect(await matching(author, jsonb.pathPredicate(metadata, '$.level > 1'))).toEqual([sqlAndPg]);
    expect(await matching(author, jsonb.pathPredicate(metadata, '$.category == "guide"'))).toEqual(
      sorted(sql1, sqlAndPg),
    );
    // A missing member compares false; a path that is not a predicate gives null.
    expect(await selected(bare, jsonb.pathPredicate(metadata, '$.level > 1'))).toBe(false);
    expect(await selected(bare, jsonb.pathPredicate(metadata, '$.category'))).toBeNull();
  });
});

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

/** Keys and values that would break SQL or PostgreSQL's array-literal syntax if ever spliced in. */
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
    expect(refusal(() => jsonb.get(target, 'a\u0000'))).toMatch(/^key: must not contain the NUL/);
    expect(refusal(() => jsonb.getText(target, 1.5))).toMatch(/^key: /);
    expect(refusal(() => jsonb.get(target, 2 ** 31))).toMatch(/^key: /);
    expect(refusal(() => jsonb.hasKey(target, 5 as never))).toBe('key: must be a string');
    expect(refusal(() => jsonb.removeKey(target, '\u0000'))).toMatch(/^key: /);
    expect(refusal(() => jsonb.getPath(target, []))).toBe('path: must be a non-empty array');
    expect(refusal(() => jsonb.setPath(target, [], 1))).toBe('path: must be a non-empty array');
    expect(refusal(() => jsonb.removePath(target, ['a', '\u0000']))).toMatch(/^path: /);
    expect(refusal(() => jsonb.getPathText(target, ['a', 1.5]))).toBe('path: element 1 must be an integer');
    expect(refusal(() => jsonb.insertAt(target, [null as never], 1))).toMatch(/^path: element 0 /);
    expect(refusal(() => jsonb.getPath(target, 'a.b' as never))).toBe('path: must be a non-empty array');
    expect(refusal(() => jsonb.hasAnyKey(target, []))).toMatch(/^keys: /);
    expect(refusal(() => jsonb.hasAllKeys(target, ['a', 'b\u0000']))).toMatch(/^keys: /);
    expect(refusal(() => jsonb.contains(target, { a: 'b\u0000' }))).toMatch(/^value: /);
    expect(refusal(() => jsonb.merge(target, { 'k\u0000': 1 }))).toMatch(/^value: /);
    expect(refusal(() => jsonb.setPath(target, ['a'], undefined as never))).toMatch(/^value: /);
    expect(refusal(() => jsonb.setPath(target, ['a'], 1, { createMissing: 'no' as never }))).toBe(
      'options.createMissing: must be a boolean',
    );
    expect(refusal(() => jsonb.pathMatch(target, 'strict $\u0000'))).toMatch(/^jsonpath: /);
    expect(refusal(() => jsonb.pathExists(target, '$.a', [1] as never))).toBe('vars: must be an object');
    expect(refusal(() => jsonb.pathExists(target, '$.a ? (@ == $v)', { v: Number.NaN }))).toMatch(/^vars: /);
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

describe('the GIN index on metadata (jsonb_ops)', () => {
  async function indexesFor(condition: RawBuilder<boolean>): Promise<string[]> {
    const rows = await db.kysely
      .selectFrom('pg_posts as p')
      .select('p.id')
      .where(condition)
      .explain<{ 'QUERY PLAN': unknown }>('json');
    return indexesIn(rows[0]?.['QUERY PLAN']);
  }

  beforeAll(async () => {
    const bulkAuthor = await newAuthor();
    // One statement; every 600th post is 'featured', so that key is rare.
    await db.executeRaw(
      `INSERT INTO pg_posts (id, title, "authorId", metadata)
       SELECT 'bulk-' || i, 'Bulk ' || i, $1,
              jsonb_build_object('category', 'c' || (i % 50), 'tags', jsonb_build_array('t' || (i % 97)))
              || CASE WHEN i % 600 = 0 THEN '{"featured": true}'::jsonb ELSE '{}'::jsonb END
         FROM generate_series(1, 3000) AS i`,
      [bulkAuthor],
    );
    // Bulk-inserted entries wait in the GIN index's pending list (fastupdate), which every index scan
    // must read in full, so the planner shuns the index until the list is merged: autovacuum would do
    // it later; do it now, as a bulk import should. Then ANALYZE for the row estimates.
    await db.executeRaw("SELECT gin_clean_pending_list('pg_posts_metadata_idx'::regclass)");
    await db.executeRaw('ANALYZE pg_posts');
  });

  it('serves @>, ?, ?|, ?&, @? and @@', async () => {
    const served = {
      contains: jsonb.contains(metadata, { category: 'c7' }),
      hasKey: jsonb.hasKey(metadata, 'featured'),
      hasAnyKey: jsonb.hasAnyKey(metadata, ['featured', 'archived']),
      hasAllKeys: jsonb.hasAllKeys(metadata, ['featured', 'category']),
      pathMatch: jsonb.pathMatch(metadata, '$.tags[*] ? (@ == "t5")'),
      pathPredicate: jsonb.pathPredicate(metadata, '$.category == "c7"'),
    };
    for (const [name, condition] of Object.entries(served)) {
      expect({ name, indexes: await indexesFor(condition) }).toEqual({
        name,
        indexes: ['pg_posts_metadata_idx'],
      });
    }
    // The index answers correctly too.
    const featured = await db.kysely
      .selectFrom('pg_posts as p')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where(served.hasKey)
      .executeTakeFirstOrThrow();
    expect(Number(featured.n)).toBe(5);
  });

  it('cannot serve ->> equality, <@ or jsonb_path_exists(): they read the whole table', async () => {
    const unserved = {
      getTextEquals: sql<boolean>`${jsonb.getText(metadata, 'category')} = ${'c7'}`,
      containedBy: jsonb.containedBy(metadata, { category: 'c7' }),
      pathExists: jsonb.pathExists(metadata, '$.tags[*] ? (@ == $tag)', { tag: 't5' }),
    };
    for (const [name, condition] of Object.entries(unserved)) {
      expect({ name, indexes: await indexesFor(condition) }).toEqual({ name, indexes: [] });
    }
  });
});

describe("the spec's JSON query", () => {
  const specQuery = `
  SELECT * FROM pg_posts 
  WHERE metadata->>'category' = 'tutorial'
  AND (metadata->>'tags')::jsonb ? 'programming'
`;

  it('runs verbatim and finds the tutorial tagged programming, and no other post', async () => {
    const author = await newAuthor();
    const wanted = await newPost({ category: 'tutorial', tags: ['programming', 'typescript'] }, author);
    await newPost({ category: 'tutorial', tags: ['cooking'] }, author);
    await newPost({ category: 'news', tags: ['programming'] }, author);
    await newPost({ category: 'tutorial', tags: ['Programming'] }, author);
    await newPost({ category: 'tutorial' }, author);

    const rows = await db.executeRaw<{ id: string; metadata: PostMetadata }>(specQuery);
    expect(rows.map((row) => row.id)).toEqual([wanted]);
    expect(rows[0]?.metadata).toEqual({ category: 'tutorial', tags: ['programming', 'typescript'] });

    // The same question with the helpers; contains() also lets the GIN index serve it.
    const typed = await db.kysely
      .selectFrom('pg_posts as p')
      .select('p.id')
      .where(jsonb.getText(metadata, 'category'), '=', 'tutorial')
      .where(jsonb.hasKey(jsonb.get(metadata, 'tags'), 'programming'))
      .execute();
    expect(typed.map((row) => row.id)).toEqual([wanted]);
    expect(
      await matching(author, jsonb.contains(metadata, { category: 'tutorial', tags: ['programming'] })),
    ).toEqual([wanted]);
  });

  it("fails as a whole when a tutorial's tags is a plain string, where the helpers do not", async () => {
    const author = await newAuthor();
    const plain = await newPost({ category: 'tutorial', tags: 'programming' as never }, author);
    try {
      // (metadata->>'tags') is the bare text programming, which is not JSON (22P02).
      await expect(db.executeRaw(specQuery)).rejects.toMatchObject({ code: '22P02' });
      await expect(db.executeRaw(specQuery)).rejects.toBeInstanceOf(DatabaseError);
      const condition = jsonb.hasKey(jsonb.get(metadata, 'tags'), 'programming');
      expect(await matching(author, condition)).toEqual([plain]);
    } finally {
      await db.posts.hardDelete(plain);
    }
  });
});
