/**
 * posts.search: ranked published posts with the author's name and a highlighted snippet. In English (the
 * default) it matches the stored document `search_vector`. Where the RUM index is there
 * (search-ranking.ts) a page of matches is read from it best first, by RUM's distance, and carries
 * `ts_rank` as its rank; elsewhere every match found through the GIN index (pg_posts_search_vector_idx) is
 * ranked by `ts_rank`, or only the first `candidates` of them the index finds. Other configurations compute the document
 * on the fly. Soft-deleted posts and posts of soft-deleted authors never appear. Pages continue by
 * (rank, id), or (distance, id) through RUM, with an opaque cursor.
 */
import { type Kysely, type RawBuilder, sql } from 'kysely';
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
import {
  SEARCH_COLUMNS,
  type SearchColumn,
  type SearchOptions,
  searchOptionsSchema,
  searchTextSchema,
} from './post-search-input.js';
import type { SearchRanking } from './search-ranking.js';
import { type FieldOf, fieldOf, postColumns } from './select-lists.js';
import { authorIsLive } from './soft-delete.js';

export type { SearchOptions } from './post-search-input.js';

/** A hit with every column and its snippet: what `posts.search` returns when no option narrows it. */
export interface PostSearchHit extends Post {
  authorName: string | null;
  /** ts_rank of the match; higher is better. */
  rank: number;
  /** The matching passage with the search words in <b>…</b>. */
  snippet: string;
}

/** A hit with the columns `C` and, unless `snippet: false`, the snippet. */
export type SearchHit<C extends SearchColumn = SearchColumn, S extends boolean = boolean> = Pick<
  PostSearchHit,
  C | 'id' | 'rank'
> &
  (false extends S ? (true extends S ? { snippet?: string } : unknown) : { snippet: string });

/** What every search of one database shares: the server's configurations, and how it ranks. */
export interface SearchContext {
  configurations: { list?: Promise<string[]> };
  /** How this database ranks (search-ranking.ts), decided once; run on the calling scope. */
  ranking(kysely: Kysely<DB>): Promise<SearchRanking>;
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

/** Which order a page continues: by ts_rank (GIN) or by RUM's distance. */
type CursorKind = 'rank' | 'rum';
const cursorSchema = z.tuple([z.enum(['rank', 'rum']), z.number(), cursorIdSchema]);

function decodeCursor(cursor: string): { kind: CursorKind; value: number; id: string } {
  const [kind, value, id] = unpackCursor(cursor, cursorSchema, 'search');
  return { kind, value, id };
}

const hitSelections = [...postColumns, 'u.name as authorName'] as const;
/**
 * The select list entry of each column: the post's from the list every read uses (pg_posts as p), the
 * author's name from pg_users as u. Typed by the fields the entries give, so a column without one fails to compile.
 */
const columnSelections: Record<SearchColumn, string> = Object.fromEntries(
  hitSelections.map((selection) => [fieldOf(selection), selection]),
) as { [S in (typeof hitSelections)[number] as FieldOf<S>]: S };

async function checkLanguage(context: SearchContext, kysely: Kysely<DB>, language: string): Promise<void> {
  const cache = context.configurations;
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
  /** Whether to make a snippet at all (`snippet: false` skips it). */
  snippet: boolean;
  /**
   * Whether the snippet is highlighted. ts_headline's cost grows with the query: with thousands of words
   * it takes PostgreSQL 15 half a minute a row. Past a sane query length the snippet is the start of
   * the text, unhighlighted.
   */
  highlight: boolean;
  /** The columns asked for, `id` first, each once. */
  columns: readonly SearchColumn[];
  /** Rank only the first this many matches the index finds (GIN only). */
  candidates: number | undefined;
  authorId: string | undefined;
  includeUnpublished: boolean;
  after: { kind: CursorKind; value: number; id: string } | undefined;
}

/** Validates what the caller asked for. */
export function planSearch(text: string, options: SearchOptions = {}): SearchPlan {
  const query = validate(searchTextSchema, text, 'query');
  const data = validate(searchOptionsSchema, options);
  const limit = data.first ?? 20;
  const asked = new Set<SearchColumn>(data.columns ?? SEARCH_COLUMNS);
  return {
    text: query,
    language: data.language ?? DEFAULT_LANGUAGE,
    mode: data.mode ?? 'websearch',
    limit,
    fetch: limit + 1,
    snippet: data.snippet ?? true,
    highlight: wordCount(query) <= MAX_HIGHLIGHTED_QUERY_WORDS,
    columns: SEARCH_COLUMNS.filter((column) => column === 'id' || asked.has(column)),
    candidates: data.candidates,
    authorId: data.authorId,
    includeUnpublished: data.includeUnpublished ?? false,
    after: data.after === undefined ? undefined : decodeCursor(data.after),
  };
}

/** Whether this plan reads its page from the RUM index. */
function readsRum(
  plan: SearchPlan,
  ranking: SearchRanking,
): ranking is Extract<SearchRanking, { index: 'rum' }> {
  return ranking.index === 'rum' && STORED_LANGUAGES.has(plan.language);
}

/** The order a page of this plan continues in, which its cursor must come from. */
function cursorKind(plan: SearchPlan, ranking: SearchRanking): CursorKind {
  return readsRum(plan, ranking) ? 'rum' : 'rank';
}

/** A row of the page: the post, its ts_rank, and RUM's distance when read through RUM. */
interface HitRow {
  id: string;
  rank: number;
  distance?: number;
}

/**
 * The search statement, one row more than the page. Exported for EXPLAIN tests. The page is found in a
 * subquery that reads only posts (and the few soft-deleted users); its rows then get their columns,
 * author and snippet, so ts_headline runs for one page, not for every match.
 */
export function searchQuery(kysely: Kysely<DB>, plan: SearchPlan, ranking: SearchRanking) {
  const stored = STORED_LANGUAGES.has(plan.language);
  const tsquery = queryBuilders[plan.mode](plan.language, plan.text);
  /** The visible posts whose `document` matches. */
  const matching = (document: RawBuilder<string>) =>
    kysely
      .selectFrom('pg_posts as p')
      .where(fullText.matches(document, tsquery))
      .where('p.deleted_at', 'is', null)
      .where(authorIsLive)
      .$if(!plan.includeUnpublished, (q) => q.where('p.published', '=', true))
      .$if(plan.authorId !== undefined, (q) => q.where('p.authorId', '=', plan.authorId as string));
  const { after } = plan;
  /** Rows after the cursor in the order (value, id): value ascending for a distance, descending for a rank. */
  const afterCursor = (value: RawBuilder<number>, direction: '<' | '>') =>
    sql<boolean>`(${value} ${sql.raw(direction)} ${after?.value} OR (${value} = ${after?.value} AND ${sql.ref('p.id')} > ${after?.id}))`;

  function rumHits(operatorSchema: string) {
    const vector = sql<string>`${sql.ref('p.search_vector')}`;
    const distance = fullText.rumDistance(vector, tsquery, operatorSchema);
    // By the distance alone, which the index returns in order (a second key would make the planner
    // rank every match instead); WITH TIES brings the whole last tie, which is then ordered by id and
    // cut, so that pages continue by (distance, id) exactly.
    const nearest = matching(vector)
      .select(['p.id', distance.as('distance')])
      .$if(after !== undefined, (q) => q.where(afterCursor(distance, '>')))
      .orderBy(distance)
      .modifyEnd(sql`fetch next ${plan.fetch} rows with ties`);
    // ts_rank for the page alone, in the outer query.
    return kysely
      .selectFrom(nearest.as('n'))
      .select(['n.id', sql<null>`NULL::real`.as('rank'), 'n.distance'])
      .orderBy('n.distance')
      .orderBy('n.id')
      .limit(plan.fetch)
      .$castTo<HitRow>();
  }
  function rankedHits() {
    const document = stored
      ? sql<string>`${sql.ref('p.search_vector')}`
      : fullText.postDocument(plan.language, 'p');
    if (plan.candidates === undefined)
      return rankedPage(matching(document), fullText.rank(document, tsquery));
    // Bounded: the first matches the index finds, in storage order, are the only ones read and ranked.
    // An order of our own (newest first) would read every match to sort them, the cost this avoids.
    const firstFound = matching(document)
      .select(['p.id', document.as('document')])
      .limit(plan.candidates);
    return rankedPage(
      // Typed as the posts it holds: the page reads their id alone, and the rank its own column.
      kysely.selectFrom(firstFound.as('p')) as unknown as ReturnType<typeof matching>,
      fullText.rank(sql.ref('p.document'), tsquery),
    );
  }
  /** A page of `from`'s posts by `rank`, best first, continued by (rank, id). */
  function rankedPage(from: ReturnType<typeof matching>, rank: RawBuilder<number>) {
    return from
      .select(['p.id', rank.as('rank')])
      .$if(after !== undefined, (q) => q.where(afterCursor(rank, '<')))
      .orderBy('rank', 'desc')
      .orderBy('p.id')
      .limit(plan.fetch)
      .$castTo<HitRow>();
  }
  const hits = readsRum(plan, ranking) ? rumHits(ranking.operatorSchema) : rankedHits();

  const text = sql<string>`${sql.ref('p.title')} || ' ' || COALESCE(${sql.ref('p.content')}, '')`;
  const snippet = plan.highlight
    ? fullText.headline(plan.language, text, tsquery)
    : sql<string>`left(${text}, ${PLAIN_SNIPPET_LENGTH}::int)`;
  const byDistance = readsRum(plan, ranking);
  return (
    kysely
      .selectFrom(hits.as('hit'))
      .innerJoin('pg_posts as p', 'p.id', 'hit.id')
      .$if(plan.columns.includes('authorName'), (q) => q.innerJoin('pg_users as u', 'u.id', 'p.authorId'))
      .select(plan.columns.map((column) => columnSelections[column]) as never)
      .$if(!byDistance, (q) => q.select('hit.rank'))
      .$if(byDistance, (q) => q.select(fullText.rank(sql.ref('p.search_vector'), tsquery).as('rank')))
      .$if(plan.snippet, (q) => q.select(snippet.as('snippet')))
      // The page's last distance is the next page's cursor; not part of the hit.
      .$if(byDistance, (q) => q.select('hit.distance'))
      .$if(byDistance, (q) => q.orderBy('hit.distance'))
      .$if(!byDistance, (q) => q.orderBy('hit.rank', 'desc'))
      .orderBy('p.id')
  );
}

/**
 * The compiled search for the plan's shape (ranking, configuration, mode, filters, columns, snippet),
 * with placeholders for the text, author, cursor, candidates and page size; compiled once per shape.
 */
function searchTemplate(kysely: Kysely<DB>, queries: QueryCache, plan: SearchPlan, ranking: SearchRanking) {
  const shape = [
    ranking.index === 'rum' ? ranking.operatorSchema : 'gin',
    plan.language,
    plan.mode,
    plan.snippet && plan.highlight,
    plan.snippet,
    plan.columns,
    plan.candidates !== undefined,
    plan.includeUnpublished,
    plan.authorId !== undefined,
    plan.after !== undefined,
  ];
  return queries.template(
    `posts.search ${JSON.stringify(shape)}`,
    () =>
      searchQuery(
        kysely,
        {
          ...plan,
          text: placeholder('text'),
          fetch: placeholder<number>('fetch'),
          candidates: plan.candidates === undefined ? undefined : placeholder<number>('candidates'),
          authorId: plan.authorId === undefined ? undefined : placeholder('authorId'),
          after:
            plan.after === undefined
              ? undefined
              : { kind: plan.after.kind, value: placeholder<number>('value'), id: placeholder('id') },
        },
        ranking,
      ),
    // Unnamed: a generic plan cannot see the search text (see `unnamed`).
    { prepare: false },
  );
}

export async function searchPosts(
  kysely: Kysely<DB>,
  context: SearchContext,
  queries: QueryCache,
  run: RunCompiled,
  text: string,
  options: SearchOptions,
): Promise<Page<SearchHit>> {
  const plan = planSearch(text, options);
  return withDatabaseErrors(async () => {
    await checkLanguage(context, kysely, plan.language);
    const ranking = await context.ranking(kysely);
    const kind = cursorKind(plan, ranking);
    if (plan.after !== undefined && plan.after.kind !== kind)
      throw new ValidationError([
        { field: 'after', message: 'is a cursor of a search ranked another way: start from the first page' },
      ]);
    // Prefix mode rewrites the text into its own tsquery syntax, so it is compiled each time.
    const query =
      plan.mode === 'prefix'
        ? unnamed(searchQuery(kysely, plan, ranking).compile())
        : searchTemplate(kysely, queries, plan, ranking).fill<SearchHit & { distance: number | null }>({
            text: fullText.checkedText(plan.text),
            fetch: plan.fetch,
            candidates: plan.candidates,
            authorId: plan.authorId,
            value: plan.after?.value,
            id: plan.after?.id,
          });
    const { rows } = await run(query);
    const items = rows.slice(0, plan.limit) as unknown as (SearchHit & { distance?: number | null })[];
    const last = items.at(-1);
    const nextCursor =
      rows.length > plan.limit && last
        ? packCursor([kind, kind === 'rum' ? last.distance : last.rank, last.id])
        : undefined;
    for (const item of items) delete item.distance;
    return { items, nextCursor };
  });
}
