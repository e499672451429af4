/**
 * The mapping from storage names (db-types/) to the domain types (models.ts), in plain sight: each
 * repository selects these lists, so a row comes back already shaped as a `User`, `Post` or `Role`.
 * Relations loaded with `jsonArrayFrom` / `jsonObjectFrom` arrive as JSON, with timestamps as strings:
 * the `…FromJson` functions turn those back into `Date`.
 */
import type { Post, Role, User } from '../models.js';

/** `pg_users as u` */
export const userColumns = [
  'u.id',
  'u.email',
  'u.name',
  'u.profile_image as profileImage',
  'u.created_at as createdAt',
  'u.updated_at as updatedAt',
  'u.deleted_at as deletedAt',
] as const;

/** `pg_posts as p` */
export const postColumns = [
  'p.id',
  'p.title',
  'p.content',
  'p.published',
  'p.authorId',
  'p.metadata',
  'p.created_at as createdAt',
  'p.updated_at as updatedAt',
  'p.deleted_at as deletedAt',
] as const;

/** `pg_roles as r` */
export const roleColumns = [
  'r.id',
  'r.name',
  'r.description',
  'r.userId',
  'r.created_at as createdAt',
] as const;

/** A domain object as JSON carries it: dates as ISO strings. */
export type Jsonified<T> = {
  [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K];
};

const toDate = (value: string) => new Date(value);
const toDateOrNull = (value: string | null) => (value === null ? null : new Date(value));

export function userFromJson(row: Jsonified<User>): User {
  return {
    ...row,
    createdAt: toDate(row.createdAt),
    updatedAt: toDate(row.updatedAt),
    deletedAt: toDateOrNull(row.deletedAt),
  };
}

export function postFromJson(row: Jsonified<Post>): Post {
  return {
    ...row,
    createdAt: toDate(row.createdAt),
    updatedAt: toDate(row.updatedAt),
    deletedAt: toDateOrNull(row.deletedAt),
  };
}

export function roleFromJson(row: Jsonified<Role>): Role {
  return { ...row, createdAt: toDate(row.createdAt) };
}
