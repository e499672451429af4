/**
 * The SQL behind posts.findByMetadata and posts.updateMetadata, built on the jsonb helpers. Filters are
 * containment tests (`metadata @> …`), the operator the GIN index on metadata serves; "any of these tags"
 * is one containment per tag joined with OR, which the planner answers with a BitmapOr of index scans.
 */
import { type Expression, type ExpressionBuilder, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { DB } from '../../db-types/index.js';
import type { JsonValue } from '../post-metadata.js';
import * as jsonb from '../sql/jsonb.js';
import type { MetadataChange, MetadataFilter } from '../validation.js';

type PostsScope = ExpressionBuilder<DB & { p: DB['pg_posts'] }, 'p'>;

const metadataColumn = sql.ref('p.metadata');

export function matchesMetadata(eb: PostsScope, filter: MetadataFilter): Expression<SqlBool> {
  const conditions: Expression<SqlBool>[] = [];
  if (filter.category !== undefined)
    conditions.push(jsonb.contains(metadataColumn, { category: filter.category }));
  if (filter.tags?.all) conditions.push(jsonb.contains(metadataColumn, { tags: filter.tags.all }));
  if (filter.tags?.any) {
    conditions.push(eb.or(filter.tags.any.map((tag) => jsonb.contains(metadataColumn, { tags: [tag] }))));
  }
  if (filter.contains) conditions.push(jsonb.contains(metadataColumn, filter.contains as JsonValue));
  return eb.and(conditions);
}

/**
 * The new value of `metadata` after `change`, as an expression over the current one, so concurrent
 * changes to different keys do not overwrite each other. Typed as the column's update type (JSON text).
 */
export function metadataAfter(change: MetadataChange): RawBuilder<string> {
  const column = metadataColumn;
  if ('merge' in change) return jsonb.merge<string>(column, change.merge as JsonValue);
  if ('set' in change) {
    const { path, value, createMissing } = change.set;
    return jsonb.setPath<string>(column, path, value as JsonValue, { createMissing: createMissing ?? true });
  }
  if ('remove' in change) return jsonb.removeKey<string>(column, change.remove);
  return jsonb.removePath<string>(column, change.removePath);
}
