/** posts.search: ranked, filtered, paginated, safe for any input, and index-backed. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_SEARCH_SQL } from '../../scripts/lib/spec-queries.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { planSearch, type SearchHit, searchQuery } from '../../src/repositories/post-search.js';
import { RUM_INDEX, type SearchRanking } from '../../src/repositories/search-ranking.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { statementsSent, withStatementsSent } from '../support/statements-sent.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const GIN: SearchRanking = { index: 'gin', reason: 'the test asks for it' };
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

const planOf = async (sql: string, parameters: readonly unknown[]) =>
  JSON.stringify(await db.executeRaw(`EXPLAIN (FORMAT JSON) ${sql}`, parameters));

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

  // Where the RUM index is there too, the planner may match through either index on the stored vector.
  const STORED_VECTOR_INDEX = /pg_posts_search_vector_(rum_)?idx/;

  it('finds and ranks candidates with the stored vector and its GIN index pg_posts_search_vector_idx', async () => {
    const compiled = searchQuery(db.kysely, planSearch('walrus'), GIN).compile();
    expect(compiled.sql).not.toContain('to_tsvector');
    const plan = await planOf(compiled.sql, compiled.parameters);
    expect(plan).toMatch(STORED_VECTOR_INDEX);
    // The page's few authors may come from a sequential scan of this file's handful of users; the posts
    // never do (test/cross-cutting/query-plans.test.ts checks both on a realistic table).
    expect(plan).not.toMatch(/"Node Type":"Seq Scan"[^{}]*"Relation Name":"pg_posts"/);
  });

  it('keeps the index under a generic plan, as a prepared statement may get', async () => {
    const compiled = searchQuery(db.kysely, planSearch('walrus'), GIN).compile();
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
    expect(plan).toMatch(STORED_VECTOR_INDEX);
  });

  it("ranks as the spec's own query does, with the same top results, through GIN", async () => {
    const gin = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger(), searchIndex: 'gin' });
    const page = await gin.posts.search('walrus', { first: 50 }).finally(() => gin.disconnect());
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

/** Whether this server has the rum extension (CI's PostgreSQL 15 run must: TEST_EXPECT_RUM=1). */
async function serverHasRum(): Promise<boolean> {
  const [row] = await db.executeRaw<{ available: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'rum') AS available",
  );
  if (process.env.TEST_EXPECT_RUM === '1')
    expect(row?.available, 'the rum extension on this server').toBe(true);
  return row?.available === true;
}

/** Every hit of `text`, page by page. */
async function allHits(on: Database, text: string, first: number): Promise<SearchHit[]> {
  const hits: SearchHit[] = [];
  let after: string | undefined;
  do {
    const page = await on.posts.search(text, { first, ...(after && { after }) });
    hits.push(...page.items);
    after = page.nextCursor;
  } while (after);
  return hits;
}

describe('the index that ranks', () => {
  let gin: Database;
  let rum: boolean;
  beforeAll(async () => {
    rum = await serverHasRum();
    gin = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger(), searchIndex: 'gin' });
  });
  afterAll(() => gin.disconnect());

  it('is RUM where the server has the rum extension and GIN elsewhere, as health() and the debug log say', async () => {
    const logger = collectingLogger();
    const fresh = createDatabase(loadConfig(testDb.env({ DATABASE_LOG_LEVEL: 'debug' })), { logger });
    try {
      expect((await fresh.health()).search).toEqual(
        rum
          ? { index: 'rum' }
          : { index: 'gin', reason: 'the rum extension is not installed in this database' },
      );
      await fresh.posts.search('elephant');
      const decisions = logger.lines.filter((line) => line.message.startsWith('posts.search ranks'));
      expect(decisions).toEqual([
        expect.objectContaining({ level: 'debug', fields: { searchIndex: rum ? 'rum' : 'gin' } }),
      ]);
    } finally {
      await fresh.disconnect();
    }
    expect((await gin.health()).search).toEqual({ index: 'gin', reason: 'searchIndex: gin' });
  });

  it('reads the page from the RUM index where there is one, else from the GIN index', async () => {
    // The test database's migrations installed the extension into public, its schema.
    const ranking: SearchRanking = rum ? { index: 'rum', operatorSchema: 'public' } : GIN;
    const compiled = searchQuery(db.kysely, planSearch('walrus'), ranking).compile();
    const plan = await planOf(compiled.sql, compiled.parameters);
    expect(plan).toContain(rum ? RUM_INDEX : 'pg_posts_search_vector_idx');
    expect(plan).not.toMatch(/"Node Type":"Seq Scan"[^{}]*"Relation Name":"pg_posts"/);
  });

  it.each(['walrus', 'about walrus', 'postgres or index', '"about walrus"', 'kysely -search', 'elephant'])(
    'finds the same posts for %j either way, each with the same ts_rank',
    async (text) => {
      const ranked = await allHits(db, text, 1000);
      const byGin = await allHits(gin, text, 1000);
      const ranks = (hits: SearchHit[]) => new Map(hits.map((hit) => [hit.id, hit.rank]));
      expect(ranked.length).toBeGreaterThan(0);
      expect(ranks(ranked)).toEqual(ranks(byGin));
    },
  );

  it('pages through tied matches without repeats or gaps', async () => {
    const paged = await allHits(db, 'walrus', 7);
    const whole = await db.posts.search('walrus', { first: 1000 });
    expect(new Set(paged.map((hit) => hit.id)).size).toBe(paged.length);
    expect(paged.map((hit) => hit.id)).toEqual(whole.items.map((hit) => hit.id));
    // Each page is in the order its path ranks by: rank through GIN; RUM's distance, whose ties differ.
    if (!rum)
      expect(paged.map((hit) => hit.rank)).toEqual([...paged.map((hit) => hit.rank)].sort((a, b) => b - a));
  });

  it('refuses a cursor of a search ranked the other way, and changes nothing', async () => {
    const first = await gin.posts.search('walrus', { first: 5 });
    const next = db.posts.search('walrus', { first: 5, after: first.nextCursor as string });
    if (rum) await expect(next).rejects.toMatchObject({ name: 'ValidationError', field: 'after' });
    else
      expect((await next).items.map((hit) => hit.id)).toEqual(
        (await gin.posts.search('walrus', { first: 5, after: first.nextCursor as string })).items.map(
          (hit) => hit.id,
        ),
      );
  });
});

describe('search without the extras', () => {
  it('skips the snippet when asked: no ts_headline is computed', async () => {
    const { result, statements } = await withStatementsSent(db, () =>
      db.posts.search('elephant', { snippet: false }),
    );
    expect(result.items.length).toBeGreaterThan(0);
    for (const hit of result.items) expect(hit).not.toHaveProperty('snippet');
    expect(statements.map((statement) => statement.sql).join('\n')).not.toContain('ts_headline');
  });

  it('returns only the columns asked for, with the id and the rank', async () => {
    const page = await db.posts.search('elephant', { columns: ['title'], snippet: false });
    const [hit] = page.items;
    expect(Object.keys(hit ?? {}).sort()).toEqual(['id', 'rank', 'title']);
    expect(hit?.title).toBeTypeOf('string');
    // @ts-expect-error content was not asked for
    expect(hit?.content).toBeUndefined();
    const named = await db.posts.search('elephant', { columns: ['authorName', 'createdAt'] });
    expect(Object.keys(named.items[0] ?? {}).sort()).toEqual([
      'authorName',
      'createdAt',
      'id',
      'rank',
      'snippet',
    ]);
    expect(named.items[0]?.createdAt).toBeInstanceOf(Date);
  });

  it('refuses unknown columns, an empty list and a bad candidates bound, before sending anything', async () => {
    const refused = async (options: object) => {
      const statements = await statementsSent(db, () =>
        db.posts.search('elephant', options as never).catch((error: unknown) => {
          expect(error).toBeInstanceOf(ValidationError);
          return (error as ValidationError).field;
        }),
      );
      expect(statements).toEqual([]);
    };
    await refused({ columns: ['password'] });
    await refused({ columns: [] });
    await refused({ candidates: 0 });
    await refused({ candidates: 1.5 });
    await refused({ snippet: 'no' });
  });
});

describe('bounded ranking (candidates)', () => {
  it('ranks only the first matches found where GIN ranks, and changes nothing where RUM does', async () => {
    const rum = (await db.health()).search?.index === 'rum';
    const better = await db.posts.create({
      title: 'Okapi okapi okapi',
      content: 'okapi okapi okapi okapi',
      published: true,
      authorId: author.id,
    });
    const worse = await db.posts.create({
      title: 'A note',
      content: 'an okapi was seen',
      published: true,
      authorId: author.id,
    });
    const full = await db.posts.search('okapi');
    expect(full.items.map((hit) => hit.id)).toEqual([better.id, worse.id]);
    // Which one the index finds first depends on where the rows sit; only one of them is ranked.
    const bounded = (await db.posts.search('okapi', { candidates: 1 })).items.map((hit) => hit.id);
    if (rum) expect(bounded).toEqual([better.id, worse.id]);
    else {
      expect(bounded).toHaveLength(1);
      expect([better.id, worse.id]).toContain(bounded[0]);
    }
    const both = await db.posts.search('okapi', { candidates: 2 });
    expect(both.items.map((hit) => hit.id)).toEqual([better.id, worse.id]);
  });
});
