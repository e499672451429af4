/**
 * Full-text search pieces that compose into any Kysely query: documents (`tsvector`), queries built
 * from text a person typed (`tsquery`), matching, ranking and headlines.
 *
 * Everything a caller passes in travels as a parameter, the configuration name included (cast
 * `::regconfig`, so the server resolves it and rejects an unknown one with SQLSTATE 42704). The only
 * SQL text built from arguments is a weight letter, after checking it is one of A, B, C, D.
 *
 * Limits on typed text: at most 100,000 characters and 5,000 words (runs of letters, marks and digits).
 * PostgreSQL's tsquery code recurses once per operand, and around 10,000 words some inputs (hyphenated
 * words in a phrase, `-a-b` exclusions ranked with ts_rank_cd) exceed the server's default 2 MB
 * `max_stack_depth` (SQLSTATE 54001) or its 1 GB allocation limit. 5,000 words is the most a
 * 10,000-character text can hold, with a margin of about two before the first failure.
 */
import { type Expression, type Kysely, type RawBuilder, sql } from 'kysely';
import { z } from 'zod';
import { MAX_IDENTIFIER_BYTES } from '../config/postgres-limits.js';
import { ValidationError } from '../errors/classes.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import { storableText, validate } from '../query/input-rules.js';

/**
 * A lexeme weight, A (most important) to D (what an unweighted lexeme has); `rank` scores them.
 *
 * @example
 * fullText.vector('english', { text: sql.ref<string>('p.title'), weight: 'A' })
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * setweight(to_tsvector($1::regconfig, coalesce("p"."title", '')), 'A')
 * ```
 */
export type Weight = 'A' | 'B' | 'C' | 'D';

/**
 * One part of a document: text with an optional weight.
 *
 * @example
 * fullText.vector('english', sql.ref<string | null>('p.content'))
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * to_tsvector($1::regconfig, coalesce("p"."content", ''))
 * ```
 */
export type DocumentPart = Expression<string | null> | { text: Expression<string | null>; weight: Weight };

const MAX_TEXT_LENGTH = 100_000;
const MAX_WORDS = 5_000;
/** What prefixQuery keeps of the text: no tsquery operator, quote or backslash is a letter, mark or digit. */
const WORD = /[\p{L}\p{M}\p{N}]+/gu;
/** A configuration name as regconfig reads it unquoted, optionally schema-qualified. */
const CONFIG_NAME = /^(?:[a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/;

const configSchema = z
  .string()
  .regex(CONFIG_NAME, 'must be a text search configuration name such as english or pg_catalog.english')
  .refine(
    (name) => name.split('.').every((part) => Buffer.byteLength(part) <= MAX_IDENTIFIER_BYTES),
    `each part must be at most ${MAX_IDENTIFIER_BYTES} bytes`,
  );

const textSchema = storableText(MAX_TEXT_LENGTH).refine(
  (text) => countWords(text) <= MAX_WORDS,
  `must have at most ${MAX_WORDS} words`,
);

function countWords(text: string): number {
  return text.match(WORD)?.length ?? 0;
}

/** `$n::regconfig`: the name travels as a parameter, validated first so a typo fails before any SQL. */
function regconfig(config: string): RawBuilder<unknown> {
  validate(configSchema, config, 'config');
  return sql`${sql.val(config)}::regconfig`;
}

/**
 * Checks typed text against the limits above (length, words) and refuses what PostgreSQL cannot store
 * exactly (NUL, a lone surrogate); returns it unchanged.
 */
export function checkedText(text: string): string {
  return validate(textSchema, text, 'text');
}

function isExpression(part: unknown): part is Expression<unknown> {
  return (
    typeof part === 'object' &&
    part !== null &&
    typeof (part as { toOperationNode?: unknown }).toOperationNode === 'function'
  );
}

const weightSchema = z.enum(['A', 'B', 'C', 'D'], 'must be one of A, B, C, D');

/**
 * A document to search: each part becomes a `tsvector` (a NULL part counts as empty), weighted when
 * asked, and the parts are concatenated. Several parts are wrapped in parentheses, so the result can
 * stand on either side of any operator (`||` and `@@` share one precedence level).
 *
 * @example
 * fullText.vector(
 *   'english',
 *   { text: sql.ref<string>('p.title'), weight: 'A' },
 *   { text: sql.ref<string | null>('p.content'), weight: 'D' },
 * )
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * (setweight(to_tsvector($1::regconfig, coalesce("p"."title", '')), 'A')
 *   || setweight(to_tsvector($2::regconfig, coalesce("p"."content", '')), 'D'))
 * ```
 */
export function vector(config: string, ...parts: DocumentPart[]): RawBuilder<string> {
  validate(configSchema, config, 'config');
  if (parts.length === 0) {
    throw new ValidationError([{ field: 'parts', message: 'must name at least one part of the document' }]);
  }
  const vectors = parts.map((part, index) => {
    const text = isExpression(part) ? part : part.text;
    const tsvector = sql`to_tsvector(${regconfig(config)}, coalesce(${text}, ''))`;
    if (isExpression(part)) return tsvector;
    const weight = validate(weightSchema, part.weight, `parts.${index}.weight`);
    // A literal, not a parameter: setweight's second argument is "char", and the letter is checked.
    return sql`setweight(${tsvector}, ${sql.lit(weight)})`;
  });
  if (vectors.length === 1) return sql<string>`${vectors[0]}`;
  return sql<string>`(${sql.join(vectors, sql` || `)})`;
}

/**
 * The document the index `pg_posts_search_idx` is built on, spelled as the index spells it, so a query
 * that matches against it is index-backed. The configuration is a parameter: PostgreSQL plans Kysely's
 * (unnamed) statements with the parameter values, so `$1::regconfig` = 'english' still matches the
 * index's `'english'::regconfig` (and so does 'pg_catalog.english': regconfig is an OID). A generic
 * plan (a named prepared statement under `plan_cache_mode = force_generic_plan`) cannot see the value
 * and scans the table instead. `alias` is the posts table's name or alias in the query.
 *
 * @example
 * db.kysely.selectFrom('pg_posts as p').selectAll()
 *   .where(fullText.matches(fullText.postDocument('english'), fullText.webQuery('english', input)))
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * to_tsvector($1::regconfig, "p"."title" || ' ' || COALESCE("p"."content", ''))
 * ```
 */
export function postDocument(config: string, alias = 'p'): RawBuilder<string> {
  validate(storableText(MAX_IDENTIFIER_BYTES).min(1, 'must not be empty'), alias, 'alias');
  return sql<string>`to_tsvector(${regconfig(config)}, ${sql.id(alias, 'title')} || ' ' || COALESCE(${sql.id(alias, 'content')}, ''))`;
}

/**
 * Every word of `text` is required, in any order; punctuation and operators are ignored.
 *
 * @example
 * fullText.plainQuery('english', 'postgres search')
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * plainto_tsquery($1::regconfig, $2)
 * ```
 */
export function plainQuery(config: string, text: string): RawBuilder<string> {
  return sql<string>`plainto_tsquery(${regconfig(config)}, ${checkedText(text)})`;
}

/**
 * The query for text typed by a person, in search-engine syntax: `"quoted phrase"`, `or`, `-excluded`;
 * anything else is taken as words, and no input is a syntax error.
 *
 * @example
 * fullText.webQuery('english', '"full text" search -mysql')
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * websearch_to_tsquery($1::regconfig, $2)
 * ```
 */
export function webQuery(config: string, text: string): RawBuilder<string> {
  return sql<string>`websearch_to_tsquery(${regconfig(config)}, ${checkedText(text)})`;
}

/**
 * The words of `text` as a phrase: in this order, next to each other (stop words keep their place).
 *
 * @example
 * fullText.phraseQuery('english', 'full text search')
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * phraseto_tsquery($1::regconfig, $2)
 * ```
 */
export function phraseQuery(config: string, text: string): RawBuilder<string> {
  return sql<string>`phraseto_tsquery(${regconfig(config)}, ${checkedText(text)})`;
}

/**
 * Type-ahead: every word of `text` as a prefix (`word:*`), all required. Words are runs of letters,
 * marks and digits, so no tsquery operator can come through; each is quoted too, and the whole tsquery
 * text is one parameter. No words: the empty query, which matches nothing (the server says so in a
 * NOTICE). The words pass through the configuration's dictionaries like document words: with
 * `english`, `the` is dropped as a stop word and `elephants` becomes the prefix `eleph`.
 *
 * @example
 * fullText.prefixQuery('english', 'post gre') // the parameter $2 is `'post':* & 'gre':*`
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * to_tsquery($1::regconfig, $2)
 * ```
 */
export function prefixQuery(config: string, text: string): RawBuilder<string> {
  const words = checkedText(text).match(WORD) ?? [];
  const query = words.map((word) => `'${word}':*`).join(' & ');
  return sql<string>`to_tsquery(${regconfig(config)}, ${query})`;
}

/**
 * True when the document matches the query; a condition for `where`.
 *
 * @example
 * .where(fullText.matches(fullText.postDocument('english'), fullText.webQuery('english', input)))
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * (to_tsvector($1::regconfig, "p"."title" || ' ' || COALESCE("p"."content", '')) @@ websearch_to_tsquery($2::regconfig, $3))
 * ```
 */
export function matches(vector: Expression<string>, query: Expression<string>): RawBuilder<boolean> {
  return sql<boolean>`(${vector} @@ ${query})`;
}

/**
 * The `rum` extension's distance between a document and a query (its `<=>`): smaller is a better match.
 * Ordering by it reads the matches from a RUM index (`USING rum (… rum_tsvector_ops)`) best first,
 * without ranking every match. `schema` is the extension's, since the operator may be off the search
 * path; an identifier, not a value.
 *
 * @example
 * db.kysely.selectFrom('pg_posts as p').select('p.id')
 *   .where(fullText.matches(sql.ref('p.search_vector'), query))
 *   .orderBy(fullText.rumDistance(sql.ref('p.search_vector'), query)).limit(20)
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * ("p"."search_vector" OPERATOR("public".<=>) websearch_to_tsquery($1::regconfig, $2))
 * ```
 */
export function rumDistance(
  vector: Expression<string>,
  query: Expression<string>,
  schema = 'public',
): RawBuilder<number> {
  return sql<number>`(${vector} OPERATOR(${sql.id(schema)}.<=>) ${query})`;
}

/**
 * How `rank` scores; every field is optional.
 *
 * @example
 * fullText.rank(document, query, { coverDensity: true, normalization: 32 })
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * ts_rank_cd(<document>, <query>, $1::integer)
 * ```
 */
export interface RankOptions {
  /** ts_rank_cd (cover density: how close together the matches are) instead of ts_rank. */
  coverDensity?: boolean;
  /** Bitmask 0–63 of how document length scales the rank (1: divide by 1 + log(length), 32: rank/(rank+1), …). */
  normalization?: number;
  /** Weights for {D, C, B, A}, each 0–1; PostgreSQL's default is {0.1, 0.2, 0.4, 1.0}. */
  weights?: readonly [number, number, number, number];
}

const weightValue = z.number().min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1');
const rankOptionsSchema = z.strictObject({
  coverDensity: z.boolean().optional(),
  normalization: z.number().int('must be an integer').min(0).max(63).optional(),
  weights: z.tuple([weightValue, weightValue, weightValue, weightValue]).optional(),
});

/**
 * How well the document matches the query (a float4, higher is better), for `orderBy`.
 *
 * @example
 * fullText.rank(document, query, { coverDensity: true, weights: [0.1, 0.2, 0.4, 1], normalization: 32 })
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * ts_rank_cd($1::float4[], <document>, <query>, $2::integer)
 * ```
 */
export function rank(
  vector: Expression<string>,
  query: Expression<string>,
  options: RankOptions = {},
): RawBuilder<number> {
  const { coverDensity, normalization, weights } = validate(rankOptionsSchema, options);
  const args: unknown[] = [
    ...(weights ? [sql`${sql.val(weights)}::float4[]`] : []),
    vector,
    query,
    ...(normalization === undefined ? [] : [sql`${sql.val(normalization)}::integer`]),
  ];
  return sql<number>`${sql.raw(coverDensity ? 'ts_rank_cd' : 'ts_rank')}(${sql.join(args)})`;
}

/**
 * ts_headline's options, checked and written as its options string (sent as one parameter).
 *
 * @example
 * fullText.headline('english', sql.ref<string | null>('p.content'), query, { maxFragments: 2, fragmentDelimiter: ' … ' })
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * ts_headline($1::regconfig, "p"."content", <query>, $2) -- $2 = 'MaxFragments=2, FragmentDelimiter=" … "'
 * ```
 */
export interface HeadlineOptions {
  /** Put before each match; default `<b>`. No `"` and no NUL. */
  startSel?: string;
  /** Put after each match; default `</b>`. */
  stopSel?: string;
  /** Longest headline in words (1–1000; default 35). */
  maxWords?: number;
  /** Shortest headline in words (1–1000, below maxWords; default 15). */
  minWords?: number;
  /** Words this long or shorter are dropped at the start and end of a headline (0–100; default 3). */
  shortWord?: number;
  /** The whole document, highlighted; the word limits are ignored. */
  highlightAll?: boolean;
  /** Up to this many fragments instead of one headline (0–100; default 0: one headline). */
  maxFragments?: number;
  /** Put between fragments; default ` ... `. */
  fragmentDelimiter?: string;
}

const MAX_SELECTOR_LENGTH = 1_000;
// ts_headline parses its options with deserialize_deflist: inside "…" only `"` is special (doubled
// to escape it), so commas, `=`, quotes ' and backslashes are taken as they are.
const selector = storableText(MAX_SELECTOR_LENGTH).refine(
  (value) => !value.includes('"'),
  'must not contain a double quote (")',
);
const count = (min: number, max: number) =>
  z.number().int('must be an integer').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const DEFAULT_MIN_WORDS = 15;
const DEFAULT_MAX_WORDS = 35;

const headlineOptionsSchema = z.strictObject({
  startSel: selector.optional(),
  stopSel: selector.optional(),
  maxWords: count(1, 1000).optional(),
  minWords: count(1, 1000).optional(),
  shortWord: count(0, 100).optional(),
  highlightAll: z.boolean().optional(),
  maxFragments: count(0, 100).optional(),
  fragmentDelimiter: selector.optional(),
});

/** The server refuses MinWords >= MaxWords (defaults 15 and 35) unless HighlightAll is on. */
function checkWordLimits(options: z.output<typeof headlineOptionsSchema>): void {
  if (options.highlightAll) return;
  const min = options.minWords ?? DEFAULT_MIN_WORDS;
  const max = options.maxWords ?? DEFAULT_MAX_WORDS;
  if (min < max) return;
  throw new ValidationError([
    {
      field: options.minWords === undefined ? 'maxWords' : 'minWords',
      message: `minWords (${min}) must be less than maxWords (${max})`,
    },
  ]);
}

/** The options text ts_headline reads: `StartSel="<b>", MaxWords=20`; '' when there are none. */
function headlineOptionsText(options: HeadlineOptions): string {
  const valid = validate(headlineOptionsSchema, options);
  checkWordLimits(valid);
  const quoted = (value: string) => `"${value}"`;
  const entries: [string, string | undefined][] = [
    ['StartSel', valid.startSel === undefined ? undefined : quoted(valid.startSel)],
    ['StopSel', valid.stopSel === undefined ? undefined : quoted(valid.stopSel)],
    ['MaxWords', valid.maxWords?.toString()],
    ['MinWords', valid.minWords?.toString()],
    ['ShortWord', valid.shortWord?.toString()],
    ['HighlightAll', valid.highlightAll?.toString()],
    ['MaxFragments', valid.maxFragments?.toString()],
    [
      'FragmentDelimiter',
      valid.fragmentDelimiter === undefined ? undefined : quoted(valid.fragmentDelimiter),
    ],
  ];
  return entries
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `${key}=${value}`)
    .join(', ');
}

/**
 * An excerpt of the document with the query's words marked (NULL when the document is NULL). The
 * options string is built from checked values and sent as one parameter.
 *
 * @example
 * fullText.headline('english', sql.ref<string | null>('p.content'), query, {
 *   startSel: '<mark>', stopSel: '</mark>', maxWords: 20, minWords: 5,
 * })
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * ts_headline($1::regconfig, "p"."content", <query>, $2)
 * -- $2 = 'StartSel="<mark>", StopSel="</mark>", MaxWords=20, MinWords=5'
 * ```
 */
export function headline(
  config: string,
  document: Expression<string | null>,
  query: Expression<string>,
  options: HeadlineOptions = {},
): RawBuilder<string> {
  const configuration = regconfig(config);
  const text = headlineOptionsText(options);
  if (text === '') return sql<string>`ts_headline(${configuration}, ${document}, ${query})`;
  return sql<string>`ts_headline(${configuration}, ${document}, ${query}, ${text})`;
}

/**
 * The text search configurations the server has, as `::regconfig` reads them (schema-qualified when
 * not on the search path), e.g. to check a user's language choice before searching with it.
 *
 * @example
 * const available = await fullText.configurations(db.kysely) // ['arabic', …, 'english', …, 'simple', …]
 *
 * The generated SQL (PostgreSQL):
 * ```sql
 * SELECT c.oid::regconfig::text AS name FROM pg_catalog.pg_ts_config c ORDER BY 1
 * ```
 */
// biome-ignore lint/suspicious/noExplicitAny: any database's Kysely will do; the query reads pg_catalog only.
export function configurations(kysely: Kysely<any>): Promise<string[]> {
  return withDatabaseErrors(async () => {
    const { rows } = await sql<{ name: string }>`
      SELECT c.oid::regconfig::text AS name FROM pg_catalog.pg_ts_config c ORDER BY 1
    `.execute(kysely);
    return rows.map((row) => row.name);
  });
}
