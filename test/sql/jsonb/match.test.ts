/**
 * The matching helpers of jsonb (contains, containedBy, hasKey, hasAnyKey, hasAllKeys, the jsonpath
 * ones) against a real PostgreSQL: compiled SQL and parameters, the posts each matches, which of them
 * the GIN index on metadata serves, and the spec's raw JSON query beside them.
 */
import { type RawBuilder, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import { DatabaseError } from '../../../src/errors/classes.js';
import type { PostMetadata } from '../../../src/repositories/post-metadata.js';
import * as jsonb from '../../../src/sql/jsonb.js';
import { expectCompiled } from '../../support/expect-compiled.js';
import { indexesIn } from '../../support/explain.js';
import { metadata, metadataQueries, selectSql } from '../../support/metadata-queries.js';
import { useTestDatabase } from '../../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

const { newAuthor, newPost, selectOf, selected, matching } = metadataQueries(() => db);

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
