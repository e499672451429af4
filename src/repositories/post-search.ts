/**
 * posts.search: ranked published posts with the author's name and a highlighted snippet. In English (the
 * default) it matches and ranks the stored document `search_vector` (GIN index pg_posts_search_vector_idx),
 * so ranking thousands of matches reads vectors instead of re-parsing every matching text; the ranks are
 * those of the spec's own query. Other configurations compute the document on the fly. Soft-deleted posts
 * and posts of soft-deleted authors never appear. Pages continue by (rank, id), with an opaque cursor.
 */
import { type Kysely, sql } from 'kysely';
import { z } from 'zod';
import type { DB } from '../../db-types/index.js';
import { ValidationError } from '../errors/classes.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import { unnamed } from '../pool/prepared-statements.js';
import { validate } from '../query/input-rules.js';
import { cursorIdSchema, packCursor, unpackCursor } from '../query/pagination.js';
import { placeholder, type QueryCache, type RunCompiled } from '../query/query-cache.js';
import * as fullText from '../sql/full-text.js';
import type { Page, Post } from './models.js';
import { type SearchOptions, searchOptionsSchema, searchTextSchema } from './post-search-input.js';
import { postColumns } from './select-lists.js';
import { authorIsLive } from './soft-delete.js';

export type { SearchOptions } from './post-search-input.js';

export interface PostSearchHit extends Post {
  authorName: string | null;
  /** ts_rank of the match; higher is better. */
  rank: number;
  /** The matching passage with the search words in <b>…</b>. */
  snippet: string;
}

/** The text search configurations the server has, read once per database. */
export interface ConfigurationCache {
  list?: Promise<string[]>;
}

const DEFAULT_LANGUAGE = 'english';
/** The configuration `search_vector` is built with (migration 1795773600005). */
const STORED_LANGUAGES = new Set(['english', 'pg_catalog.english']);
const queryBuilders = {
  websearch: fullText.webQuery,
  plain: fullText.plainQuery,
  phrase: fullText.phraseQuery,
  prefix: fullText.prefixQuery,
} as const;

/** Queries longer than this get an unhighlighted snippet (see searchQuery). */
export const MAX_HIGHLIGHTED_QUERY_WORDS = 64;
const PLAIN_SNIPPET_LENGTH = 200;
const wordCount = (text: string) => text.match(/[\p{L}\p{M}\p{N}]+/gu)?.length ?? 0;

const cursorSchema = z.tuple([z.literal('rank'), z.number(), cursorIdSchema]);

function encodeCursor(hit: PostSearchHit): string {
  return packCursor(['rank', hit.rank, hit.id]);
}

function decodeCursor(cursor: string): { rank: number; id: string } {
  const [, rank, id] = unpackCursor(cursor, cursorSchema, 'search');
  return { rank, id };
}

async function checkLanguage(kysely: Kysely<DB>, cache: ConfigurationCache, language: string): Promise<void> {
  let loading = cache.list;
  if (!loading) {
    // A failed read is not kept: the next search asks again.
    loading = fullText.configurations(kysely).catch((error: unknown) => {
      cache.list = undefined;
      throw error;
    });
    cache.list = loading;
  }
  const known = await loading;
  if (!known.includes(language)) {
    throw new ValidationError([
      {
        field: 'language',
        message: `is not a text search configuration of this server (${known.join(', ')})`,
      },
    ]);
  }
}

export interface SearchPlan {
  text: string;
  language: string;
  mode: keyof typeof queryBuilders;
  limit: number;
  /** Rows to read: one more than the page, to know whether there is a next page. */
  fetch: number;
  /**
   * Whether the snippet is highlighted. ts_headline's cost grows with the query: with thousands of words
   * it takes PostgreSQL 15 half a minute a row. Past a sane query length the snippet is the start of
   * the text, unhighlighted.
   */
  highlight: boolean;
  authorId: string | undefined;
  includeUnpublished: boolean;
  after: { rank: number; id: string } | undefined;
}

/** Validates what the caller asked for. */
export function planSearch(text: string, options: SearchOptions = {}): SearchPlan {
  const query = validate(searchTextSchema, text, 'query');
  const data = validate(searchOptionsSchema, options);
  const limit = data.first ?? 20;
  return {
    text: query,
    language: data.language ?? DEFAULT_LANGUAGE,
    mode: data.mode ?? 'websearch',
    limit,
    fetch: limit + 1,
    highlight: wordCount(query) <= MAX_HIGHLIGHTED_QUERY_WORDS,
    authorId: data.authorId,
    includeUnpublished: data.includeUnpublished ?? false,
    after: data.after === undefined ? undefined : decodeCursor(data.after),
  };
}

/** The search statement, one row more than the page. Exported for EXPLAIN tests. */
export function searchQuery(kysely: Kysely<DB>, plan: SearchPlan) {
  const document = STORED_LANGUAGES.has(plan.language)
    ? sql<string>`${sql.ref('p.search_vector')}`
    : fullText.postDocument(plan.language, 'p');
  const tsquery = queryBuilders[plan.mode](plan.language, plan.text);
  const rank = fullText.rank(document, tsquery);
  const { after } = plan;
  const text = sql<string>`${sql.ref('p.title')} || ' ' || COALESCE(${sql.ref('p.content')}, '')`;
  const snippet = plan.highlight
    ? fullText.headline(plan.language, text, tsquery)
    : sql<string>`left(${text}, ${PLAIN_SNIPPET_LENGTH}::int)`;
  // Ranked in a subquery that reads only posts (and the few soft-deleted users); the page's rows then
  // get their author and snippet, so ts_headline runs for one page, not for every match.
  const hits = kysely
    .selectFrom('pg_posts as p')
    .select(['p.id', rank.as('rank')])
    .where(fullText.matches(document, tsquery))
    .where('p.deleted_at', 'is', null)
    .where(authorIsLive)
    .$if(!plan.includeUnpublished, (q) => q.where('p.published', '=', true))
    .$if(plan.authorId !== undefined, (q) => q.where('p.authorId', '=', plan.authorId as string))
    .$if(after !== undefined, (q) =>
      q.where((eb) =>
        eb.or([
          eb(rank, '<', after?.rank as number),
          eb.and([eb(rank, '=', after?.rank as number), eb('p.id', '>', after?.id as string)]),
        ]),
      ),
    )
    .orderBy('rank', 'desc')
    .orderBy('p.id')
    .limit(plan.fetch);
  return kysely
    .selectFrom(hits.as('hit'))
    .innerJoin('pg_posts as p', 'p.id', 'hit.id')
    .innerJoin('pg_users as u', 'u.id', 'p.authorId')
    .select(postColumns)
    .select(['u.name as authorName', 'hit.rank', snippet.as('snippet')])
    .orderBy('hit.rank', 'desc')
    .orderBy('p.id');
}

/**
 * The compiled search for the plan's shape (configuration, mode, filters, highlighting), with
 * placeholders for the text, author, cursor and page size; compiled once per shape.
 */
function searchTemplate(kysely: Kysely<DB>, queries: QueryCache, plan: SearchPlan) {
  const shape = [
    plan.language,
    plan.mode,
    plan.highlight,
    plan.includeUnpublished,
    plan.authorId !== undefined,
    plan.after !== undefined,
  ];
  return queries.template(
    `posts.search ${JSON.stringify(shape)}`,
    () =>
      searchQuery(kysely, {
        ...plan,
        text: placeholder('text'),
        fetch: placeholder<number>('fetch'),
        authorId: plan.authorId === undefined ? undefined : placeholder('authorId'),
        after:
          plan.after === undefined ? undefined : { rank: placeholder<number>('rank'), id: placeholder('id') },
      }),
    // Unnamed: a generic plan cannot see the search text (see `unnamed`).
    { prepare: false },
  );
}

export async function searchPosts(
  kysely: Kysely<DB>,
  cache: ConfigurationCache,
  queries: QueryCache,
  run: RunCompiled,
  text: string,
  options: SearchOptions,
): Promise<Page<PostSearchHit>> {
  const plan = planSearch(text, options);
  return withDatabaseErrors(async () => {
    await checkLanguage(kysely, cache, plan.language);
    // Prefix mode rewrites the text into its own tsquery syntax, so it is compiled each time.
    const query =
      plan.mode === 'prefix'
        ? unnamed(searchQuery(kysely, plan).compile())
        : searchTemplate(kysely, queries, plan).fill<PostSearchHit>({
            text: fullText.checkedText(plan.text),
            fetch: plan.fetch,
            authorId: plan.authorId,
            rank: plan.after?.rank,
            id: plan.after?.id,
          });
    const { rows } = await run(query);
    const items = rows.slice(0, plan.limit) as PostSearchHit[];
    const last = items.at(-1);
    return { items, nextCursor: rows.length > plan.limit && last ? encodeCursor(last) : undefined };
  });
}
