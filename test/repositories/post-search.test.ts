/** posts.search: ranked, filtered, paginated, safe for any input, and index-backed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_SEARCH_SQL } from '../../scripts/lib/spec-queries.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { planSearch, searchQuery } from '../../src/repositories/post-search.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { statementsSent } from '../support/statements-sent.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
let author: { id: string };
let otherAuthor: { id: string };

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
  author = await db.users.create({ email: uniqueEmail(), name: 'Ada' });
  otherAuthor = await db.users.create({ email: uniqueEmail(), name: 'Grace' });
  const post = (title: string, content: string, extra: { published?: boolean; authorId?: string } = {}) =>
    db.posts.create({
      title,
      content,
      published: extra.published ?? true,
      authorId: extra.authorId ?? author.id,
    });
  await post('Elephants in the database', 'The elephant never forgets a row.');
  await post('A note on herds', 'An elephant herd moves together; elephants are social.');
  await post('Unrelated', 'Nothing to see here.');
  await post('Draft about elephants', 'Not yet published elephant text.', { published: false });
  await post('Grace on elephants', 'An elephant, written by another author.', { authorId: otherAuthor.id });
});
afterAll(() => db.disconnect());

describe('posts.search', () => {
  it('returns ranked published posts with the author name and a highlighted snippet', async () => {
    const page = await db.posts.search('elephant');
    const titles = page.items.map((hit) => hit.title);
    expect(titles).toHaveLength(3);
    expect(titles).not.toContain('Draft about elephants');
    expect(titles).not.toContain('Unrelated');
    const ranks = page.items.map((hit) => hit.rank);
    expect([...ranks].sort((a, b) => b - a)).toEqual(ranks);
    const first = page.items[0];
    expect(first?.authorName).toBeTypeOf('string');
    expect(first?.snippet).toMatch(/<b>[Ee]lephant/);
    expect(first?.createdAt).toBeInstanceOf(Date);
  });

  it('takes unpublished posts only when asked, and filters by author', async () => {
    const all = await db.posts.search('elephant', { includeUnpublished: true });
    expect(all.items.map((hit) => hit.title)).toContain('Draft about elephants');
    const grace = await db.posts.search('elephant', { authorId: otherAuthor.id });
    expect(grace.items.map((hit) => hit.title)).toEqual(['Grace on elephants']);
  });

  it('never shows soft-deleted posts nor the posts of a soft-deleted author', async () => {
    const extra = await db.users.create({
      email: uniqueEmail(),
      posts: [{ title: 'Mammoth notes', content: 'mammoth mammoth', published: true }],
    });
    expect((await db.posts.search('mammoth')).items).toHaveLength(1);
    await db.users.softDelete(extra.id);
    expect((await db.posts.search('mammoth')).items).toHaveLength(0);
    await db.users.restore(extra.id);
    const [hit] = (await db.posts.search('mammoth')).items;
    await db.posts.softDelete(hit?.id as string);
    expect((await db.posts.search('mammoth')).items).toHaveLength(0);
  });

  it('understands web search syntax, phrases and prefixes', async () => {
    expect((await db.posts.search('elephant -herd')).items.map((hit) => hit.title)).not.toContain(
      'A note on herds',
    );
    expect((await db.posts.search('"elephant herd"')).items.map((hit) => hit.title)).toEqual([
      'A note on herds',
    ]);
    expect((await db.posts.search('herd elephant', { mode: 'phrase' })).items).toHaveLength(0);
    expect((await db.posts.search('eleph', { mode: 'prefix' })).items.length).toBeGreaterThan(0);
    expect((await db.posts.search('elephant', { mode: 'plain' })).items).toHaveLength(3);
  });

  it('searches in another language the server knows, and refuses one it does not', async () => {
    // english stems "forget" and "forgets" alike; simple keeps words as they are.
    expect((await db.posts.search('forget')).items.map((hit) => hit.title)).toEqual([
      'Elephants in the database',
    ]);
    expect((await db.posts.search('forget', { language: 'simple' })).items).toEqual([]);
    expect((await db.posts.search('forgets', { language: 'simple' })).items).toHaveLength(1);
    const error = await db.posts.search('x', { language: 'klingon' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe('language');
    expect((error as ValidationError).message).toContain('english');
  });

  it('pages by rank with an opaque cursor, without repeats or gaps', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await db.posts.search('elephant', {
        first: 1,
        includeUnpublished: true,
        ...(after && { after }),
      });
      seen.push(...page.items.map((hit) => hit.id));
      after = page.nextCursor;
    } while (after);
    const all = await db.posts.search('elephant', { includeUnpublished: true });
    expect(seen).toEqual(all.items.map((hit) => hit.id));
    await expect(db.posts.search('elephant', { after: 'garbage' })).rejects.toMatchObject({ field: 'after' });
  });

  it('is one statement once the server’s configurations are known', async () => {
    await db.posts.search('elephant');
    const statements = await statementsSent(db, () =>
      db.posts.search('elephant', { includeUnpublished: true }),
    );
    expect(statements).toHaveLength(1);
  });

  it.each([
    "'",
    '"',
    '"unbalanced',
    '& | ! <-> :* ( ) <2>',
    'foo:*',
    '!!!',
    '(((',
    '',
    '   ',
    '🐘🔥',
    "'); DROP TABLE pg_posts; --",
    '$1',
    '\\',
    'a'.repeat(10_000),
    'word '.repeat(2_000),
  ])('takes %j in every mode without an error', async (text) => {
    for (const mode of ['websearch', 'plain', 'phrase', 'prefix'] as const) {
      const page = await db.posts.search(text, { mode });
      expect(Array.isArray(page.items)).toBe(true);
    }
  });
});

describe('index use', () => {
  beforeAll(async () => {
    // Enough rows that a sequential scan would be the planner's choice without the GIN index.
    await db.executeRaw(
      `INSERT INTO pg_posts (id, title, content, published, "authorId")
       SELECT 'bulk-' || i, 'post ' || i, 'about ' || CASE WHEN i % 100 = 0 THEN 'walrus' ELSE (ARRAY['postgres','kysely','search','index'])[1 + i % 4] END || ' ' || md5(i::text),
              true, $1
         FROM generate_series(1, 5000) AS i`,
      [author.id],
    );
    // Fresh GIN entries wait in the index's pending list, which the planner shies away from: merge them.
    await db.executeRaw("SELECT gin_clean_pending_list('pg_posts_search_idx'::regclass)");
    await db.executeRaw("SELECT gin_clean_pending_list('pg_posts_search_vector_idx'::regclass)");
    await db.executeRaw('ANALYZE pg_posts');
  });

  const planOf = async (sql: string, parameters: readonly unknown[]) =>
    JSON.stringify(await db.executeRaw(`EXPLAIN (FORMAT JSON) ${sql}`, parameters));

  it('finds and ranks candidates with the stored vector and its GIN index pg_posts_search_vector_idx', async () => {
    const compiled = searchQuery(db.kysely, planSearch('walrus')).compile();
    expect(compiled.sql).not.toContain('to_tsvector');
    const plan = await planOf(compiled.sql, compiled.parameters);
    expect(plan).toContain('pg_posts_search_vector_idx');
    // The page's few authors may come from a sequential scan of this file's handful of users; the posts
    // never do (test/cross-cutting/query-plans.test.ts checks both on a realistic table).
    expect(plan).not.toMatch(/"Node Type":"Seq Scan"[^{}]*"Relation Name":"pg_posts"/);
  });

  it('keeps the index under a generic plan, as a prepared statement may get', async () => {
    const compiled = searchQuery(db.kysely, planSearch('walrus')).compile();
    const plan = await db.transaction(async (tx) => {
      await tx.executeRaw('SET LOCAL plan_cache_mode = force_generic_plan');
      await tx.executeRaw(`PREPARE generic_post_search AS ${compiled.sql}`);
      // EXECUTE takes literals only: the test's own values, quoted.
      const literals = compiled.parameters.map((value) => `'${String(value).replaceAll("'", "''")}'`);
      const rows = await tx.executeRaw(
        `EXPLAIN (FORMAT JSON) EXECUTE generic_post_search(${literals.join(', ')})`,
      );
      await tx.executeRaw('DEALLOCATE generic_post_search');
      return JSON.stringify(rows);
    });
    expect(plan).toContain('pg_posts_search_vector_idx');
  });

  it("ranks as the spec's own query does, with the same top results", async () => {
    const page = await db.posts.search('walrus', { first: 50 });
    const spec = await db.executeRaw<{ id: string; rank: number }>(`${SPEC_SEARCH_SQL} , p.id LIMIT 50`, [
      'walrus',
    ]);
    expect(page.items.map((hit) => [hit.id, hit.rank])).toEqual(spec.map((row) => [row.id, row.rank]));
  });

  it("serves the spec's own full-text query, verbatim, from the same index", async () => {
    expect(await planOf(SPEC_SEARCH_SQL, ['elephant'])).toContain('pg_posts_search_idx');
    const rows = await db.executeRaw<{ title: string; author_name: string }>(SPEC_SEARCH_SQL, ['elephant']);
    expect(rows.map((row) => row.title)).toContain('Elephants in the database');
  });
});

describe('a very long query', () => {
  it('gets a plain snippet instead of a highlighted one, so it stays cheap', async () => {
    const long = `${'elephant '.repeat(30)}${Array.from({ length: 100 }, (_, i) => `w${i}`).join(' ')}`;
    const page = await db.posts.search(long, { mode: 'plain' });
    expect(page.items).toEqual([]);
    const words = 'elephant '.repeat(70);
    const hits = await db.posts.search(words);
    expect(hits.items.length).toBeGreaterThan(0);
    for (const hit of hits.items) {
      expect(hit.snippet).not.toContain('<b>');
      expect(hit.snippet.startsWith(hit.title)).toBe(true);
    }
  });
});
