/**
 * The full-text helpers against a real PostgreSQL: each one's SQL and parameters first, then what the
 * same query returns for posts inserted here; text a person might type never makes the server fail;
 * and the spec's search expression, with the configuration as a parameter, still uses its GIN index.
 */
import { type Expression, type RawBuilder, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { DatabaseError } from '../../src/errors/classes.js';
import * as fullText from '../../src/sql/full-text.js';
import { indexesIn } from '../support/explain.js';
import { useTestDatabase } from '../support/test-database.js';
import { invalidFieldsThrown } from '../support/validation-error.js';

const testDb = useTestDatabase();
let db: Database;

const fixtures = {
  titleElephant: { title: 'Elephant care', content: 'Feeding and washing every morning.' },
  contentElephant: { title: 'Zoo diary', content: 'Today we saw an elephant near the lake.' },
  mascot: { title: 'The PostgreSQL mascot', content: 'Slonik the elephant is the mascot of PostgreSQL.' },
  kysely: { title: 'Typed queries with Kysely', content: 'Kysely builds SQL for PostgreSQL and MySQL.' },
  mysql: { title: 'MySQL notes', content: 'Full text search in MySQL works differently.' },
  phrase: { title: 'Searching', content: 'full text search in postgres' },
  reversed: { title: 'Searching backwards', content: 'search text full' },
  green: { title: 'Post about green tea', content: null },
  near: { title: 'Near', content: 'elephant mascot' },
  far: { title: 'Far', content: `elephant ${'zebra '.repeat(40)}mascot` },
  story: {
    title: 'A story',
    content:
      'Once upon a time a small elephant lived in a quiet valley beside a wide river. ' +
      'Every spring the rains came, the grass grew tall, and the birds returned from the south. ' +
      'Many seasons passed, the valley changed, and the villagers forgot the old stories. ' +
      'Years later the elephant came back to the valley and stood by the river again.',
  },
} as const;
type Fixture = keyof typeof fixtures;
const ids = {} as Record<Fixture, string>;

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()));
  const author = await db.users.create({ email: 'search@example.com' });
  for (const [key, post] of Object.entries(fixtures)) {
    ids[key as Fixture] = (await db.posts.create({ ...post, authorId: author.id })).id;
  }
});
afterAll(() => db.disconnect());

const title = sql.ref<string>('p.title');
const content = sql.ref<string | null>('p.content');
const document = () => fullText.postDocument('english');

/** Titles of the given fixtures that match `query`, sorted. */
async function titlesMatching(query: RawBuilder<string>, among: Fixture[]): Promise<string[]> {
  const rows = await db.kysely
    .selectFrom('pg_posts as p')
    .select('p.title')
    .where(
      'p.id',
      'in',
      among.map((key) => ids[key]),
    )
    .where(fullText.matches(document(), query))
    .execute();
  // Sorted here: the server's collation may order capitals differently from JavaScript.
  return rows.map((row) => row.title).sort();
}

const titlesOf = (...keys: Fixture[]) => keys.map((key) => fixtures[key].title).sort();

describe('vector', () => {
  it('weights each part and counts a NULL part as empty', async () => {
    const query = db.kysely
      .selectFrom('pg_posts as p')
      .select(
        sql<string>`${fullText.vector('english', { text: title, weight: 'A' }, { text: content, weight: 'D' })}::text`.as(
          'weighted',
        ),
      )
      .select(sql<string>`${fullText.vector('english', content)}::text`.as('plain'))
      .where('p.id', 'in', [ids.mascot, ids.green])
      .orderBy('p.title');
    const compiled = query.compile();
    expect(compiled.sql).toBe(
      'select (setweight(to_tsvector($1::regconfig, coalesce("p"."title", \'\')), \'A\') || ' +
        'setweight(to_tsvector($2::regconfig, coalesce("p"."content", \'\')), \'D\'))::text as "weighted", ' +
        'to_tsvector($3::regconfig, coalesce("p"."content", \'\'))::text as "plain" ' +
        'from "public"."pg_posts" as "p" where "p"."id" in ($4, $5) order by "p"."title"',
    );
    expect(compiled.parameters).toEqual(['english', 'english', 'english', ids.mascot, ids.green]);

    expect(await query.execute()).toEqual([
      { weighted: "'green':3A 'post':1A 'tea':4A", plain: '' },
      {
        weighted: "'eleph':6 'mascot':3A,9 'postgresql':2A,11 'slonik':4",
        plain: "'eleph':3 'mascot':6 'postgresql':8 'slonik':1",
      },
    ]);
  });

  it('can stand on either side of @@, since several parts come in parentheses', async () => {
    const both = fullText.vector('english', title, { text: content, weight: 'B' });
    const row = await db.kysely
      .selectFrom('pg_posts as p')
      .select(sql<boolean>`${fullText.plainQuery('english', 'slonik')} @@ ${both}`.as('hit'))
      .where('p.id', '=', ids.mascot)
      .executeTakeFirstOrThrow();
    expect(row.hit).toBe(true);
  });

  it('refuses no parts and an unknown weight', () => {
    expect(invalidFieldsThrown(() => fullText.vector('english'))).toEqual(['parts']);
    expect(
      invalidFieldsThrown(() =>
        fullText.vector('english', title, { text: content, weight: 'E' as fullText.Weight }),
      ),
    ).toEqual(['parts.1.weight']);
  });
});

describe('postDocument', () => {
  it('spells the index expression, with the alias as an identifier', () => {
    const compiled = db.kysely
      .selectFrom('pg_posts as post')
      .select(fullText.postDocument('english', 'post').as('document'))
      .compile();
    expect(compiled.sql).toBe(
      'select to_tsvector($1::regconfig, "post"."title" || \' \' || COALESCE("post"."content", \'\')) as "document" ' +
        'from "public"."pg_posts" as "post"',
    );
    expect(compiled.parameters).toEqual(['english']);
    expect(invalidFieldsThrown(() => fullText.postDocument('english', ''))).toEqual(['alias']);
  });
});

describe('plainQuery', () => {
  it('requires every word, in any order, and ignores punctuation', async () => {
    const query = fullText.plainQuery('english', 'mascot, elephant!');
    const compiled = db.kysely.selectNoFrom(query.as('q')).compile();
    expect(compiled.sql).toBe('select plainto_tsquery($1::regconfig, $2) as "q"');
    expect(compiled.parameters).toEqual(['english', 'mascot, elephant!']);
    expect(await db.kysely.selectNoFrom(query.as('q')).executeTakeFirst()).toEqual({
      q: "'mascot' & 'eleph'",
    });

    const among: Fixture[] = ['titleElephant', 'contentElephant', 'mascot', 'near'];
    expect(await titlesMatching(query, among)).toEqual(titlesOf('mascot', 'near'));
    expect(await titlesMatching(fullText.plainQuery('english', 'Elephants'), among)).toEqual(
      titlesOf('titleElephant', 'contentElephant', 'mascot', 'near'),
    );
    expect(
      await titlesMatching(fullText.plainQuery('english', 'search text full'), ['phrase', 'reversed']),
    ).toEqual(titlesOf('phrase', 'reversed'));
  });
});

describe('webQuery', () => {
  it('understands "quoted phrases", or, and -excluded words', async () => {
    const query = fullText.webQuery('english', '"full text" -mysql');
    const compiled = db.kysely.selectNoFrom(query.as('q')).compile();
    expect(compiled.sql).toBe('select websearch_to_tsquery($1::regconfig, $2) as "q"');
    expect(compiled.parameters).toEqual(['english', '"full text" -mysql']);

    const among: Fixture[] = ['phrase', 'reversed', 'mysql', 'kysely', 'mascot'];
    expect(await titlesMatching(fullText.webQuery('english', '"full text"'), among)).toEqual(
      titlesOf('phrase', 'mysql'),
    );
    expect(await titlesMatching(query, among)).toEqual(titlesOf('phrase'));
    expect(await titlesMatching(fullText.webQuery('english', 'kysely or mysql'), among)).toEqual(
      titlesOf('kysely', 'mysql'),
    );
    expect(await titlesMatching(fullText.webQuery('english', 'postgresql -kysely'), among)).toEqual(
      titlesOf('mascot'),
    );
  });
});

describe('phraseQuery', () => {
  it('needs the words in order, next to each other', async () => {
    const query = fullText.phraseQuery('english', 'full text search');
    const compiled = db.kysely.selectNoFrom(query.as('q')).compile();
    expect(compiled.sql).toBe('select phraseto_tsquery($1::regconfig, $2) as "q"');
    expect(compiled.parameters).toEqual(['english', 'full text search']);

    const among: Fixture[] = ['phrase', 'reversed'];
    expect(await titlesMatching(query, among)).toEqual(titlesOf('phrase'));
    expect(await titlesMatching(fullText.phraseQuery('english', 'search text full'), among)).toEqual(
      titlesOf('reversed'),
    );
  });
});

describe('prefixQuery', () => {
  it('sends every word as a required prefix, in one parameter', async () => {
    const query = fullText.prefixQuery('english', "Post-gre! (it's)");
    const compiled = db.kysely.selectNoFrom(query.as('q')).compile();
    expect(compiled.sql).toBe('select to_tsquery($1::regconfig, $2) as "q"');
    expect(compiled.parameters).toEqual(['english', "'Post':* & 'gre':* & 'it':* & 's':*"]);
    expect(await db.kysely.selectNoFrom(query.as('q')).executeTakeFirst()).toEqual({
      // 'it' and 's' are English stop words: dropped, as they are from documents.
      q: "'post':* & 'gre':*",
    });
  });

  it("finds 'postgres' from 'postg', and 'post gre' needs both prefixes", async () => {
    const among: Fixture[] = ['phrase', 'mascot', 'green', 'titleElephant'];
    expect(await titlesMatching(fullText.prefixQuery('english', 'postg'), among)).toEqual(
      titlesOf('phrase', 'mascot'),
    );
    expect(await titlesMatching(fullText.prefixQuery('english', 'post gre'), among)).toEqual(
      titlesOf('green'),
    );
    expect(await titlesMatching(fullText.prefixQuery('english', 'eleph'), among)).toEqual(
      titlesOf('mascot', 'titleElephant'),
    );
  });

  it('without words is the empty query: it matches nothing and raises nothing', async () => {
    const query = fullText.prefixQuery('english', ' ?!*: ');
    expect(query.compile(db.kysely).parameters).toEqual(['english', '']);
    expect(await titlesMatching(query, ['phrase', 'mascot', 'green'])).toEqual([]);
  });
});

describe('matches', () => {
  it('is the @@ operator, in parentheses', () => {
    const compiled = db.kysely
      .selectFrom('pg_posts as p')
      .select('p.id')
      .where(fullText.matches(document(), fullText.webQuery('english', 'elephant')))
      .compile();
    expect(compiled.sql).toBe(
      'select "p"."id" from "public"."pg_posts" as "p" where ' +
        '(to_tsvector($1::regconfig, "p"."title" || \' \' || COALESCE("p"."content", \'\')) @@ ' +
        'websearch_to_tsquery($2::regconfig, $3))',
    );
    expect(compiled.parameters).toEqual(['english', 'english', 'elephant']);
  });
});

describe('rank', () => {
  const weighted = () =>
    fullText.vector('english', { text: title, weight: 'A' }, { text: content, weight: 'D' });

  async function ranks(
    among: Fixture[],
    query: Expression<string>,
    vector: Expression<string>,
    options?: fullText.RankOptions,
  ) {
    const rows = await db.kysely
      .selectFrom('pg_posts as p')
      .select(['p.title', fullText.rank(vector, query, options).as('rank')])
      .where(
        'p.id',
        'in',
        among.map((key) => ids[key]),
      )
      .orderBy('rank', 'desc')
      .execute();
    return rows;
  }

  it('ranks a title match (weight A) above a content match (weight D)', async () => {
    const query = db.kysely
      .selectFrom('pg_posts as p')
      .select(fullText.rank(weighted(), fullText.plainQuery('english', 'elephant')).as('rank'));
    expect(query.compile().sql).toBe(
      'select ts_rank((setweight(to_tsvector($1::regconfig, coalesce("p"."title", \'\')), \'A\') || ' +
        'setweight(to_tsvector($2::regconfig, coalesce("p"."content", \'\')), \'D\')), ' +
        'plainto_tsquery($3::regconfig, $4)) as "rank" from "public"."pg_posts" as "p"',
    );

    const rows = await ranks(
      ['contentElephant', 'titleElephant'],
      fullText.plainQuery('english', 'elephant'),
      weighted(),
    );
    expect(rows.map((row) => row.title)).toEqual([
      fixtures.titleElephant.title,
      fixtures.contentElephant.title,
    ]);
    // One occurrence ranks weight / 1.6449 (ts_rank's normalising constant), with {0.1, 0.2, 0.4, 1}.
    expect(rows[0]?.rank).toBeCloseTo(1 / 1.64493406685, 5);
    expect(rows[1]?.rank).toBeCloseTo(0.1 / 1.64493406685, 5);
  });

  it('passes weights as a float4[] parameter and the normalization as an integer', async () => {
    const query = fullText.plainQuery('english', 'elephant');
    const compiled = db.kysely
      .selectNoFrom(
        fullText
          .rank(sql<string>`to_tsvector('elephant')`, query, {
            coverDensity: true,
            weights: [1, 1, 1, 1],
            normalization: 33,
          })
          .as('rank'),
      )
      .compile();
    expect(compiled.sql).toBe(
      'select ts_rank_cd($1::float4[], to_tsvector(\'elephant\'), plainto_tsquery($2::regconfig, $3), $4::integer) as "rank"',
    );
    expect(compiled.parameters).toEqual([[1, 1, 1, 1], 'english', 'elephant', 33]);

    const [contentHit] = await ranks(['contentElephant'], query, weighted(), { weights: [1, 1, 1, 1] });
    expect(contentHit?.rank).toBeCloseTo(1 / 1.64493406685, 5);
  });

  it('ts_rank_cd divides by the words between the matches, and needs positions', async () => {
    const query = fullText.plainQuery('english', 'elephant mascot');
    const plain = await ranks(['near', 'far'], query, document());
    const cover = await ranks(['near', 'far'], query, document(), { coverDensity: true });
    expect(plain.map((row) => row.title)).toEqual(['Near', 'Far']);
    expect(cover.map((row) => row.title)).toEqual(['Near', 'Far']);
    expect(cover[0]?.rank).not.toBeCloseTo(plain[0]?.rank ?? 0, 3);
    // 'Far' has 40 words between its two matches: its cover is worth 1 / (1 + 40) of 'Near''s.
    expect((cover[0]?.rank ?? 0) / (cover[1]?.rank ?? 1)).toBeCloseTo(41, 3);

    // Without positions (strip) ts_rank still counts the words; ts_rank_cd has no cover to measure.
    const stripped = sql<string>`strip(${document()})`;
    const [counted] = await ranks(['near'], query, stripped);
    const [covered] = await ranks(['near'], query, stripped, { coverDensity: true });
    expect(counted?.rank).toBeGreaterThan(0);
    expect(covered?.rank).toBe(0);
  });

  it('normalization changes the value: 32 scales rank to rank / (rank + 1)', async () => {
    const query = fullText.plainQuery('english', 'elephant');
    const [raw] = await ranks(['mascot'], query, weighted());
    const [scaled] = await ranks(['mascot'], query, weighted(), { normalization: 32 });
    const [byLength] = await ranks(['mascot'], query, weighted(), { normalization: 1 });
    const value = raw?.rank ?? 0;
    expect(scaled?.rank).toBeCloseTo(value / (value + 1), 5);
    expect(byLength?.rank).toBeLessThan(value);
  });

  it('refuses a normalization outside 0–63 or not an integer, and weights outside 0–1', () => {
    const vector = document();
    const query = fullText.plainQuery('english', 'x');
    expect(invalidFieldsThrown(() => fullText.rank(vector, query, { normalization: 64 }))).toEqual([
      'normalization',
    ]);
    expect(invalidFieldsThrown(() => fullText.rank(vector, query, { normalization: 1.5 }))).toEqual([
      'normalization',
    ]);
    expect(invalidFieldsThrown(() => fullText.rank(vector, query, { weights: [0.1, 0.2, 0.4, 2] }))).toEqual([
      'weights.3',
    ]);
    const three = [0.1, 0.2, 0.4] as unknown as [number, number, number, number];
    expect(invalidFieldsThrown(() => fullText.rank(vector, query, { weights: three }))).toEqual(['weights']);
    const typo = { normalisation: 1 } as fullText.RankOptions;
    expect(invalidFieldsThrown(() => fullText.rank(vector, query, typo))).toEqual(['normalisation']);
  });
});

describe('headline', () => {
  const elephant = () => fullText.plainQuery('english', 'elephant');

  async function headlineOf(key: Fixture, options?: fullText.HeadlineOptions): Promise<string> {
    const row = await db.kysely
      .selectFrom('pg_posts as p')
      .select(fullText.headline('english', content, elephant(), options).as('headline'))
      .where('p.id', '=', ids[key])
      .executeTakeFirstOrThrow();
    return row.headline;
  }
  const words = (text: string) =>
    text
      .replace(/<[^>]*>/g, '')
      .split(/\s+/)
      .filter(Boolean);

  it('marks matches with StartSel/StopSel, commas and equals signs included', async () => {
    const options = { startSel: '<mark class=hit, data-x=1>', stopSel: "</mark>,='" };
    const query = db.kysely
      .selectFrom('pg_posts as p')
      .select(fullText.headline('english', content, elephant(), options).as('headline'))
      .where('p.id', '=', ids.contentElephant);
    const compiled = query.compile();
    expect(compiled.sql).toBe(
      'select ts_headline($1::regconfig, "p"."content", plainto_tsquery($2::regconfig, $3), $4) as "headline" ' +
        'from "public"."pg_posts" as "p" where "p"."id" = $5',
    );
    expect(compiled.parameters).toEqual([
      'english',
      'english',
      'elephant',
      'StartSel="<mark class=hit, data-x=1>", StopSel="</mark>,=\'"',
      ids.contentElephant,
    ]);
    expect(await query.executeTakeFirst()).toEqual({
      headline: "Today we saw an <mark class=hit, data-x=1>elephant</mark>,=' near the lake.",
    });
    expect(await headlineOf('contentElephant')).toBe('Today we saw an <b>elephant</b> near the lake.');
    expect(await headlineOf('contentElephant', { startSel: '', stopSel: '' })).toBe(
      fixtures.contentElephant.content,
    );
  });

  it('keeps the headline between MinWords and MaxWords', async () => {
    const short = await headlineOf('story', { maxWords: 6, minWords: 3 });
    expect(short).toContain('<b>elephant</b>');
    expect(words(short).length).toBeLessThanOrEqual(6);
    expect(words(short).length).toBeGreaterThanOrEqual(3);
    expect(words(await headlineOf('story')).length).toBeGreaterThan(6);
  });

  it('HighlightAll returns the whole document, every match marked', async () => {
    const all = await headlineOf('story', { highlightAll: true, startSel: '[', stopSel: ']' });
    expect(all).toBe(fixtures.story.content.replaceAll('elephant', '[elephant]'));
  });

  it('MaxFragments joins fragments with FragmentDelimiter', async () => {
    const fragments = await headlineOf('story', {
      maxFragments: 2,
      maxWords: 8,
      minWords: 3,
      fragmentDelimiter: ' ,=[…]=, ',
    });
    expect(fragments.split(' ,=[…]=, ')).toHaveLength(2);
    expect(fragments.match(/<b>elephant<\/b>/g)).toHaveLength(2);
  });

  it('refuses bad options, naming the option', () => {
    const invalid = (options: object) =>
      invalidFieldsThrown(() =>
        fullText.headline('english', content, elephant(), options as fullText.HeadlineOptions),
      );
    expect(invalid({ startSel: '<b class="x">' })).toEqual(['startSel']);
    expect(invalid({ stopSel: 'a\u0000b' })).toEqual(['stopSel']);
    expect(invalid({ fragmentDelimiter: 42 })).toEqual(['fragmentDelimiter']);
    expect(invalid({ maxWords: 0 })).toEqual(['maxWords']);
    expect(invalid({ maxWords: 2.5 })).toEqual(['maxWords']);
    expect(invalid({ maxWords: 100_000 })).toEqual(['maxWords']);
    expect(invalid({ shortWord: -1 })).toEqual(['shortWord']);
    expect(invalid({ maxFragments: Number.NaN })).toEqual(['maxFragments']);
    expect(invalid({ highlightAll: 'yes' })).toEqual(['highlightAll']);
    expect(invalid({ minWords: 10, maxWords: 10 })).toEqual(['minWords']);
    // MinWords defaults to 15: MaxWords 10 alone is what the server would refuse.
    expect(invalid({ maxWords: 10 })).toEqual(['maxWords']);
    expect(invalid({ MaxWords: 10 })).toEqual(['MaxWords']);
    // With HighlightAll the server ignores the word limits, so it does not check them either.
    expect(() =>
      fullText.headline('english', content, elephant(), { highlightAll: true, maxWords: 10 }),
    ).not.toThrow();
  });
});

describe('text a person types', () => {
  const operators = ['&', '|', '!', '<->', '(', ')', ':*', '<2>'];
  const corpus: [string, string][] = [
    ['a quote', "'"],
    ['a double quote', '"'],
    ['two quotes', "''"],
    ['an unbalanced double quote', '"unbalanced'],
    ['tsquery operators', '& | ! <-> :* ( ) <2>'],
    ['a prefix operator', 'foo:*'],
    ['operators between words', 'a & | b'],
    ['exclamation marks', '!!!'],
    ['open parentheses', '((('],
    ['a close parenthesis', ')'],
    ['a dash', '-'],
    ['two dashes', '--'],
    ['or', 'or'],
    ['and', 'and'],
    ['not', 'not'],
    ['the empty string', ''],
    ['blanks', '   '],
    ['emoji', '🐘🔥'],
    ['mixed scripts', '日本語 Ελληνικά русский'],
    ['a combining accent', 'e\u0301le\u0301phant'],
    ['SQL injection', "'); DROP TABLE pg_posts; --"],
    ['a placeholder', '$1'],
    ['a backslash', '\\'],
    ['websearch syntax gone wrong', '"a" or -"b" -or or- "'],
    ['10,000 characters of words', 'elephant postgres search kysely index '.repeat(300).slice(0, 10_000)],
    ['10,000 characters of one-letter words (5,000 words)', 'b c d e f g h i j k '.repeat(500)],
    ['10,000 characters of hyphenated words', 'b-c '.repeat(2_500)],
    ['a 10,000-character word', 'a'.repeat(10_000)],
    ['a 100,000-character word', 'x'.repeat(100_000)],
    [
      '2,000 operators',
      Array.from({ length: 2_000 }, (_, index) => operators[index % operators.length]).join(' '),
    ],
  ];
  const builders = {
    plainQuery: fullText.plainQuery,
    webQuery: fullText.webQuery,
    phraseQuery: fullText.phraseQuery,
    prefixQuery: fullText.prefixQuery,
  };

  it.each(Object.entries(builders))(
    'never makes %s fail, matched, ranked or highlighted',
    async (_name, build) => {
      const failures: string[] = [];
      for (const [label, text] of corpus) {
        const query = build('english', text);
        try {
          await db.kysely
            .selectFrom('pg_posts as p')
            .select([
              fullText.matches(document(), query).as('hit'),
              fullText.rank(document(), query, { coverDensity: true }).as('rank'),
              // ts_headline with a query of thousands of words takes PostgreSQL 15 half a minute a row.
              (text.length <= 2_000 ? fullText.headline('english', content, query) : sql<string>`''`).as(
                'headline',
              ),
            ])
            // One row: ranking and highlighting a 5,000-word query costs a few hundred ms a row.
            .where('p.id', '=', ids.story)
            .where((eb) => eb.or([fullText.matches(document(), query), eb.lit(true)]))
            .execute();
        } catch (error) {
          failures.push(`${label}: ${(error as Error).message}`);
        }
      }
      expect(failures).toEqual([]);
      const [table] = await db.executeRaw<{ table: string | null }>(
        "SELECT to_regclass('pg_posts')::text AS table",
      );
      expect(table?.table).toBe('pg_posts');
    },
    // Ranking a 5,000-word prefix query is slow work for the server (seconds on a busy two-core machine).
    120_000,
  );

  it('refuses NUL, more than 100,000 characters and more than 5,000 words before any SQL', () => {
    for (const build of Object.values(builders)) {
      expect(invalidFieldsThrown(() => build('english', 'nul\u0000byte'))).toEqual(['text']);
      expect(invalidFieldsThrown(() => build('english', 'x'.repeat(100_001)))).toEqual(['text']);
      expect(invalidFieldsThrown(() => build('english', 'b '.repeat(5_001)))).toEqual(['text']);
      expect(() => build('english', 'b '.repeat(5_000))).not.toThrow();
    }
  });
});

describe('configurations', () => {
  it('lists the server’s configurations', async () => {
    const names = await fullText.configurations(db.kysely);
    expect(names).toEqual(expect.arrayContaining(['english', 'simple', 'german']));
  });

  it('sends a well-formed name as a parameter: the server rejects an unknown one with 42704', async () => {
    const query = db.kysely.selectNoFrom(fullText.plainQuery('klingon', 'qapla').as('q'));
    const compiled = query.compile();
    expect(compiled.parameters).toEqual(['klingon', 'qapla']);
    const raw = await db.executeRaw(compiled.sql, compiled.parameters).catch((error: unknown) => error);
    expect(raw).toBeInstanceOf(DatabaseError);
    expect(raw).toMatchObject({ code: '42704', message: expect.stringContaining('klingon') });
    const direct = await query.execute().catch((error: unknown) => error);
    expect(direct).toBeInstanceOf(pg.DatabaseError);
    expect(direct).toMatchObject({ code: '42704' });
  });

  it('accepts a schema-qualified name', async () => {
    const row = await db.kysely
      .selectNoFrom(fullText.plainQuery('pg_catalog.english', 'Elephants').as('q'))
      .executeTakeFirst();
    expect(row).toEqual({ q: "'eleph'" });
  });

  it('refuses a malformed name before any SQL, in every helper', () => {
    const query = fullText.plainQuery('english', 'x');
    const helpers: ((config: string) => unknown)[] = [
      (config) => fullText.vector(config, title),
      (config) => fullText.postDocument(config),
      (config) => fullText.plainQuery(config, 'x'),
      (config) => fullText.webQuery(config, 'x'),
      (config) => fullText.phraseQuery(config, 'x'),
      (config) => fullText.prefixQuery(config, 'x'),
      (config) => fullText.headline(config, content, query),
    ];
    const malformed = [
      'english; DROP',
      'English',
      '',
      ' english',
      "'english'",
      '1english',
      'a.b.c',
      'x'.repeat(64),
    ];
    for (const helper of helpers) {
      for (const config of malformed) expect(invalidFieldsThrown(() => helper(config))).toEqual(['config']);
    }
  });
});

describe('the search index', () => {
  async function explain(compiled: { sql: string; parameters: readonly unknown[] }): Promise<string[]> {
    const rows = await db.executeRaw<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (FORMAT JSON) ${compiled.sql}`,
      compiled.parameters,
    );
    return indexesIn(rows.map((row) => row['QUERY PLAN']));
  }

  beforeAll(async () => {
    const author = await db.users.create({ email: 'bulk@example.com' });
    await db.executeRaw(
      `INSERT INTO pg_posts (id, title, content, "authorId")
       SELECT 'bulk-' || i,
              'post ' || i || ' about ' || (ARRAY['postgres','kysely','elephant','search','index'])[1 + i % 5],
              CASE WHEN i % 2 = 0 THEN 'some words about databases' END,
              $1
         FROM generate_series(1, 5000) AS i`,
      [author.id],
    );
    await db.executeRaw('ANALYZE pg_posts');
  });

  it('is used with the configuration as a parameter', async () => {
    const search = (config: string) =>
      db.kysely
        .selectFrom('pg_posts as p')
        .select('p.id')
        .where(fullText.matches(fullText.postDocument(config), fullText.webQuery('english', 'elephant')));
    const compiled = search('english').compile();
    expect(compiled.sql).toBe(
      'select "p"."id" from "public"."pg_posts" as "p" where ' +
        '(to_tsvector($1::regconfig, "p"."title" || \' \' || COALESCE("p"."content", \'\')) @@ ' +
        'websearch_to_tsquery($2::regconfig, $3))',
    );
    expect(compiled.parameters).toEqual(['english', 'english', 'elephant']);
    expect(await explain(compiled)).toContain('pg_posts_search_idx');
    // regconfig is an OID: the qualified name is the same configuration, so the same index.
    expect(await explain(search('pg_catalog.english').compile())).toContain('pg_posts_search_idx');

    const rows = await search('english').execute();
    expect(rows.filter((row) => row.id.startsWith('bulk-'))).toHaveLength(1000);
  });

  it('is not used by a document spelled differently (vector() coalesces each part)', async () => {
    const compiled = db.kysely
      .selectFrom('pg_posts as p')
      .select('p.id')
      .where(
        fullText.matches(
          fullText.vector('english', title, content),
          fullText.webQuery('english', 'elephant'),
        ),
      )
      .compile();
    expect(await explain(compiled)).not.toContain('pg_posts_search_idx');
  });

  it('is not used by a generic plan, which cannot see the configuration', async () => {
    const compiled = db.kysely
      .selectFrom('pg_posts as p')
      .select('p.id')
      .where(fullText.matches(fullText.postDocument('english'), fullText.webQuery('english', 'elephant')))
      .compile();
    const indexes = await db.transaction(async (tx) => {
      await tx.executeRaw(`PREPARE generic_search AS ${compiled.sql}`);
      await tx.executeRaw('SET LOCAL plan_cache_mode = force_generic_plan');
      const rows = await tx.executeRaw<{ 'QUERY PLAN': unknown }>(
        "EXPLAIN (FORMAT JSON) EXECUTE generic_search('english', 'english', 'elephant')",
      );
      await tx.executeRaw('DEALLOCATE generic_search');
      return indexesIn(rows.map((row) => row['QUERY PLAN']));
    });
    expect(indexes).not.toContain('pg_posts_search_idx');
  });
});
