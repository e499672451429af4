/**
 * The search-ranking step: `posts.search` reading its page from the RUM index against the same search
 * ranking every match through GIN, and GIN ranking only the first candidates the index finds; then how RUM's order
 * compares with `ts_rank`'s on the top 20 of several queries (one word, several words, a phrase).
 *
 * It needs the RUM index in the bench database, so a server with the rum extension: e.g.
 * `--url postgres://postgres@127.0.0.1:5432/postgres` on a PostgreSQL 15 with Debian's
 * postgresql-15-rum. On a server without it the step says so and measures nothing.
 */
import { wordWithFrequency } from '../scripts/lib/seed/search-words.js';
import { createDatabase, type Database } from '../src/database/database.js';
import { type Fixtures, loadFixtures } from './fixtures.js';
import { logMeasured, runSuite } from './harness/measure.js';
import type { BenchCase, CaseResult, SuiteOptions } from './harness/types.js';
import { benchConfig, POOL_SIZE, type Step, serverVersion } from './operations-step.js';

export const RUM = 'layer, RUM';
export const GIN = 'layer, GIN';
/** How many matches the bounded variant ranks: the first the index finds. */
export const CANDIDATES = 1000;
export const GIN_BOUNDED = `layer, GIN, first ${CANDIDATES.toLocaleString('en-US')} found`;
/**
 * The RUM path's throughput at least this many times the GIN path's at a million posts, where ranking
 * every match of a common word is what it costs; on less data, at least the GIN path's.
 */
export const RUM_MIN_RATIO = 5;
export const RUM_TARGET_POSTS = 1_000_000;
const PAGE = 20;

export const SEARCH_RANKING_CASE_PREFIX = 'search ranking';

export function searchRankingCaseName(fixtures: Pick<Fixtures, 'search'>): string {
  const { word, expectedShare } = fixtures.search;
  return `${SEARCH_RANKING_CASE_PREFIX}: "${word}" (~${Math.round(expectedShare * 1000) / 10} % of posts)`;
}

/** The two database objects: one ranking through RUM, one through GIN (`searchIndex: 'gin'`). */
export interface SearchRankingBench {
  rum: Database;
  gin: Database;
  /** Why there is no RUM path here, if there is none. */
  missing: string | undefined;
  close(): Promise<void>;
}

export async function openSearchRankingBench(url: string, poolSize: number): Promise<SearchRankingBench> {
  const config = benchConfig(url, poolSize);
  const rum = createDatabase(config);
  const gin = createDatabase(config, { searchIndex: 'gin' });
  const health = await rum.health();
  const search = health.search;
  const missing = !health.ok
    ? (health.error ?? 'the server did not answer')
    : search?.index === 'rum'
      ? undefined
      : (search?.reason ?? 'unknown');
  return {
    rum,
    gin,
    missing,
    close: async () => {
      await Promise.all([rum.disconnect(), gin.disconnect()]);
    },
  };
}

/** The case: one word in ~2.5 % of the posts, a page of 20, three ways. */
export function searchRankingCases(
  bench: SearchRankingBench,
  fixtures: Fixtures,
  posts: number,
): BenchCase[] {
  const { word } = fixtures.search;
  const minRatio = posts >= RUM_TARGET_POSTS ? RUM_MIN_RATIO : 1;
  return [
    {
      name: searchRankingCaseName(fixtures),
      variants: [
        {
          name: GIN,
          run: async () => {
            await bench.gin.posts.search(word, { first: PAGE });
          },
        },
        {
          name: RUM,
          run: async () => {
            await bench.rum.posts.search(word, { first: PAGE });
          },
        },
        {
          name: GIN_BOUNDED,
          run: async () => {
            await bench.gin.posts.search(word, { first: PAGE, candidates: CANDIDATES });
          },
        },
      ],
      // At concurrency 1, one search at a time: what a page costs, not how two cores share ten.
      targets: [{ baseline: GIN, subject: RUM, minRatio, concurrency: 1 }],
    },
  ];
}

/** One query's top 20 both ways, compared by their ts_rank values. */
export interface RankComparison {
  label: string;
  query: string;
  matches: number;
  /** Hits on the first page (at most 20) each way. */
  hits: number;
  /** Posts in both top 20s. */
  sameIds: number;
  /** Positions where both pages hold the same ts_rank value. */
  sameRanks: number;
  /** Σ ts_rank of RUM's top 20 ÷ that of GIN's (GIN's is the best possible: 1 means as good). */
  rankSumRatio: number;
  /** The lowest ts_rank in RUM's top 20 ÷ the lowest in GIN's. */
  lowestRatio: number;
}

/** The queries compared: words of known shares (the seed's), several words, and a phrase. */
export function comparisonQueries(): { label: string; query: string }[] {
  const common = wordWithFrequency(0.1).word;
  const mid = wordWithFrequency(0.025).word;
  const rare = wordWithFrequency(0.003).word;
  return [
    { label: 'one word, ~10 %', query: common },
    { label: 'one word, ~2.5 %', query: mid },
    { label: 'one word, ~0.3 %', query: rare },
    { label: 'two words, both', query: `${mid} ${common}` },
    { label: 'two words, either', query: `${rare} or ${mid}` },
    { label: 'three words, two required, one excluded', query: `${mid} ${common} -${rare}` },
    { label: 'phrase of two words', query: `"${common} ${mid}"` },
  ];
}

export async function compareRanks(bench: SearchRankingBench): Promise<RankComparison[]> {
  const comparisons: RankComparison[] = [];
  for (const { label, query } of comparisonQueries()) {
    const [byRum, byGin] = await Promise.all([
      bench.rum.posts.search(query, { first: PAGE, snippet: false, columns: ['id'] }),
      bench.gin.posts.search(query, { first: PAGE, snippet: false, columns: ['id'] }),
    ]);
    const [count] = await bench.gin.executeRaw<{ matches: number }>(
      `SELECT count(*)::int AS matches FROM pg_posts p
        WHERE p.search_vector @@ websearch_to_tsquery('english', $1) AND p.deleted_at IS NULL AND p.published`,
      [query],
    );
    const rum = byRum.items;
    const gin = byGin.items;
    const ginIds = new Set(gin.map((hit) => hit.id));
    const sum = (hits: typeof rum) => hits.reduce((total, hit) => total + hit.rank, 0);
    const lowest = (hits: typeof rum) => Math.min(...hits.map((hit) => hit.rank));
    comparisons.push({
      label,
      query,
      matches: count?.matches ?? 0,
      hits: rum.length,
      sameIds: rum.filter((hit) => ginIds.has(hit.id)).length,
      sameRanks: rum.filter((hit, i) => hit.rank === gin[i]?.rank).length,
      rankSumRatio: gin.length === 0 ? 1 : sum(rum) / sum(gin),
      lowestRatio: gin.length === 0 ? 1 : lowest(rum) / lowest(gin),
    });
  }
  return comparisons;
}

/** The step's notes: what it compared, the rank comparison, and the cost of bounding. */
export function describeSearchRanking(
  cases: readonly CaseResult[],
  comparisons: readonly RankComparison[],
): string[] {
  const notes = [
    `search ranking: two database objects on the same database: ${RUM} (the default, which found the ` +
      `RUM index) and ${GIN} (searchIndex: 'gin', ranking every match by ts_rank); ${GIN_BOUNDED} ranks ` +
      `only the first ${CANDIDATES.toLocaleString('en-US')} matches the index finds (candidates: ${CANDIDATES}); a page ` +
      `of ${PAGE} with snippets; target: ${RUM} ≥ ${RUM_MIN_RATIO}× ${GIN} at ` +
      `${RUM_TARGET_POSTS.toLocaleString('en-US')} posts and more, ≥ 1× below, at concurrency 1`,
  ];
  for (const result of cases) {
    const p50 = (name: string) => result.variants.find((v) => v.name === name)?.latencyMs.p50;
    const rum = p50(RUM);
    const gin = p50(GIN);
    const bounded = p50(GIN_BOUNDED);
    if (rum === undefined || gin === undefined || bounded === undefined) continue;
    notes.push(
      `search ranking, concurrency ${result.concurrency}: p50 ${rum.toFixed(2)} ms through RUM, ` +
        `${gin.toFixed(2)} ms ranking every match through GIN, ${bounded.toFixed(2)} ms ranking the first ` +
        `${CANDIDATES.toLocaleString('en-US')} found`,
    );
  }
  for (const c of comparisons) {
    notes.push(
      `search ranking, top ${PAGE} compared (${c.label}: ${JSON.stringify(c.query)}, ` +
        `${c.matches.toLocaleString('en-US')} matches): ${c.sameIds} of ${c.hits} posts in both, ` +
        `${c.sameRanks} of ${c.hits} positions with the same ts_rank; RUM's Σ ts_rank ${c.rankSumRatio.toFixed(3)}× ` +
        `GIN's, its lowest ${c.lowestRatio.toFixed(3)}× GIN's lowest`,
    );
  }
  return notes;
}

/** What measureSearchRanking needs to know of the run. */
export interface SearchRankingOptions {
  users: number;
  postsPerUser: number;
  concurrencies: number[];
}

/** The search-ranking cases on the seeded bench database `url`, where it has the RUM index. */
export async function measureSearchRanking(
  url: string,
  options: SearchRankingOptions,
  suite: SuiteOptions,
  selected: (name: string) => boolean,
): Promise<Step> {
  const fixtures = await loadFixtures(url, Math.max(...options.concurrencies));
  const dataset = { users: options.users, posts: options.users * options.postsPerUser };
  const bench = await openSearchRankingBench(url, POOL_SIZE);
  try {
    if (bench.missing !== undefined) {
      const note =
        `search ranking: not measured, no RUM path on this server (${bench.missing}); ` +
        'run it with --url on a server that has the rum extension';
      console.log(note);
      return { cases: [], postgresVersion: await serverVersion(url), dataset, notes: [note] };
    }
    const cases = searchRankingCases(bench, fixtures, dataset.posts).filter((c) => selected(c.name));
    const comparisons = await compareRanks(bench);
    const results = await runSuite(cases, suite, logMeasured);
    return {
      cases: results.cases,
      postgresVersion: await serverVersion(url),
      dataset,
      notes: describeSearchRanking(results.cases, comparisons),
    };
  } finally {
    await bench.close();
  }
}
