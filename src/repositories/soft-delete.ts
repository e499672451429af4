/** The soft-delete filter every default read applies: deleted rows are hidden unless asked for. */
import type { ExpressionBuilder } from 'kysely';
import type { DB } from '../../db-types/index.js';
import type { SoftDeleteFilter } from './models.js';

export type DeletedState = 'live' | 'deleted' | 'any';

export function deletedState(filter: SoftDeleteFilter = {}): DeletedState {
  if (filter.onlyDeleted) return 'deleted';
  return filter.withDeleted ? 'any' : 'live';
}

export type PostsScope = ExpressionBuilder<DB & { p: DB['pg_posts'] }, 'p'>;

/**
 * The post's author is soft-deleted. Every post has an author (the foreign key), so "the author is live"
 * is its negation: both read only the few soft-deleted users (pg_users_deleted_at_idx), where asking for a
 * live author would have the planner read all of pg_users once a few hundred posts need checking.
 */
export function authorIsDeleted(eb: PostsScope) {
  return eb.exists(
    eb
      .selectFrom('pg_users as a')
      .select(eb.lit(1).as('one'))
      .whereRef('a.id', '=', 'p.authorId')
      .where('a.deleted_at', 'is not', null),
  );
}

/** The post's author is not soft-deleted (see authorIsDeleted). */
export function authorIsLive(eb: PostsScope) {
  return eb.not(authorIsDeleted(eb));
}
