/**
 * The SQL behind posts.findByMetadata and posts.updateMetadata, built on the jsonb helpers. Filters are
 * containment tests (`metadata @> …`), the operator the GIN index on metadata serves; "any of these tags"
 * is one containment per tag joined with OR, which the planner answers with a BitmapOr of index scans.
 */
import { type Expression, type RawBuilder, type SqlBool, sql } from 'kysely';
import type { JsonValue } from '../sql/jsonb.js';
import * as jsonb from '../sql/jsonb.js';
import type { MetadataChange, MetadataFilter } from './post-metadata-input.js';
import type { PostsScope } from './soft-delete.js';

const metadataColumn = sql.ref('p.metadata');

/**
 * The filter as containment tests: every group must hold, and a group holds when one of its documents is
 * contained (only "any of these tags" has more than one).
 */
function containmentGroups(filter: MetadataFilter): JsonValue[][] {
  const groups: JsonValue[][] = [];
  if (filter.category !== undefined) groups.push([{ category: filter.category }]);
  if (filter.tags?.all) groups.push([{ tags: filter.tags.all }]);
  if (filter.tags?.any) groups.push(filter.tags.any.map((tag) => ({ tags: [tag] })));
  if (filter.contains) groups.push([filter.contains as JsonValue]);
  return groups;
}

/** What the filter's SQL depends on (not its values): the size of each containment group. */
export function metadataShape(filter: MetadataFilter): number[] {
  return containmentGroups(filter).map((group) => group.length);
}

/** The JSON text of each containment document, in the order matchesMetadata numbers them. */
export function containmentDocuments(filter: MetadataFilter): string[] {
  return containmentGroups(filter)
    .flat()
    .map((document) => JSON.stringify(document));
}

/**
 * The filter as SQL. With `text`, the i-th document's JSON is `text(i)` (a template's placeholder)
 * instead of the document itself; the SQL is the same either way.
 */
export function matchesMetadata(
  eb: PostsScope,
  filter: MetadataFilter,
  text?: (index: number) => string,
): Expression<SqlBool> {
  let index = 0;
  const test = (document: JsonValue) => {
    const at = index++;
    return text
      ? sql<SqlBool>`(${metadataColumn} @> ${text(at)}::jsonb)`
      : jsonb.contains(metadataColumn, document);
  };
  return eb.and(
    containmentGroups(filter).map((group) =>
      group.length === 1 ? test(group[0] as JsonValue) : eb.or(group.map(test)),
    ),
  );
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
