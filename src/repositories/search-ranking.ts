/**
 * Which index `posts.search` ranks through, decided once per database object. Where the RUM index of
 * migration 1795773600007 is there, valid and usable, search reads a page of matches from it in rank
 * order; elsewhere it ranks every match found through the GIN index. A failed check is not kept: the
 * next search asks again.
 */
import { type Kysely, sql } from 'kysely';
import type { DB } from '../../db-types/index.js';
import type { Logger } from '../logging/logger.js';

export const RUM_INDEX = 'pg_posts_search_vector_rum_idx';

/** `createDatabase`'s `searchIndex`: `auto` takes RUM where the index is there; `gin` never does. */
export type SearchIndexSetting = 'auto' | 'gin';

export type SearchRanking =
  | { index: 'rum' /** The extension's schema, where its `<=>` operator lives. */; operatorSchema: string }
  | { index: 'gin' /** Why not RUM. */; reason: string };

export interface SearchRankingCache {
  decided?: Promise<SearchRanking>;
}

interface RumState {
  operator_schema: string;
  usable: boolean;
  index_valid: boolean | null;
}

async function check(kysely: Kysely<DB>, schema: string): Promise<SearchRanking> {
  const { rows } = await sql<RumState>`
    SELECT n.nspname AS operator_schema,
           pg_catalog.has_schema_privilege(n.oid, 'USAGE') AS usable,
           (SELECT i.indisvalid FROM pg_catalog.pg_index i
             WHERE i.indexrelid = pg_catalog.to_regclass(
               pg_catalog.quote_ident(${schema}) || '.' || ${RUM_INDEX})) AS index_valid
      FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'rum'`.execute(kysely);
  const rum = rows[0];
  if (!rum) return { index: 'gin', reason: 'the rum extension is not installed in this database' };
  if (rum.index_valid === null) return { index: 'gin', reason: `there is no index ${RUM_INDEX}` };
  if (!rum.index_valid)
    return { index: 'gin', reason: `the index ${RUM_INDEX} is not valid (still building?)` };
  if (!rum.usable)
    return {
      index: 'gin',
      reason: `this role may not use the schema ${rum.operator_schema} of the rum extension`,
    };
  return { index: 'rum', operatorSchema: rum.operator_schema };
}

/** The decision for this database object, made on its first search (or health check). */
export function searchRanking(
  kysely: Kysely<DB>,
  schema: string,
  setting: SearchIndexSetting,
  cache: SearchRankingCache,
  logger: Logger,
): Promise<SearchRanking> {
  if (cache.decided) return cache.decided;
  const deciding =
    setting === 'gin'
      ? Promise.resolve<SearchRanking>({ index: 'gin', reason: 'searchIndex: gin' })
      : check(kysely, schema);
  cache.decided = deciding.then(
    (ranking) => {
      logger.debug(
        ranking.index === 'rum'
          ? `posts.search ranks through the RUM index ${RUM_INDEX}`
          : `posts.search ranks every match through the GIN index: ${ranking.reason}`,
        { searchIndex: ranking.index },
      );
      return ranking;
    },
    (error: unknown) => {
      cache.decided = undefined;
      throw error;
    },
  );
  return cache.decided;
}
