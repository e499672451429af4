/**
 * The mapping from storage names (db-types/) to the domain types (models.ts), in plain sight: each
 * repository selects these lists, so a row comes back already shaped as a `User`, `Post` or `Role`.
 * Relations loaded with `jsonArrayFrom` / `jsonObjectFrom` arrive as JSON, with timestamps as strings:
 * the `…FromJson` functions turn those back into `Date`.
 */

import { parseJsonTimestamp } from '../pool/timestamps.js';
import type { Post, Role, User } from './models.js';

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

/** The field a select list entry gives: its alias, or its column. */
export type FieldOf<S extends string> = S extends `${string} as ${infer Alias}`
  ? Alias
  : S extends `${string}.${infer Column}`
    ? Column
    : never;

export const fieldOf = <S extends string>(selection: S): FieldOf<S> =>
  (selection.split(' as ')[1] ?? selection.slice(selection.indexOf('.') + 1)) as FieldOf<S>;

/** The fields a select list gives, in its order. */
type FieldsOf<L extends readonly string[]> = { readonly [K in keyof L]: FieldOf<L[K] & string> };

/** The fields of a post, in the order `postColumns` selects them. */
export const postFields = postColumns.map(fieldOf) as unknown as FieldsOf<typeof postColumns>;

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

const toDate = parseJsonTimestamp;
const toDateOrNull = (value: string | null) => (value === null ? null : parseJsonTimestamp(value));

/*
 * The rows come fresh from the driver and belong to the caller's result alone, so the timestamps are
 * turned into Dates in place: a page of posts with authors is then no extra copy of every row.
 */

/** The three timestamps a user and a post both carry. */
interface Timestamps {
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

function timestampsFromJson<T extends Timestamps>(row: Jsonified<T>): T {
  const json = row as unknown as Jsonified<Timestamps>;
  const dated = row as unknown as Timestamps;
  dated.createdAt = toDate(json.createdAt);
  dated.updatedAt = toDate(json.updatedAt);
  dated.deletedAt = toDateOrNull(json.deletedAt);
  return dated as T;
}

export const userFromJson: (row: Jsonified<User>) => User = timestampsFromJson;
export const postFromJson: (row: Jsonified<Post>) => Post = timestampsFromJson;

export function roleFromJson(row: Jsonified<Role>): Role {
  const role = row as unknown as Role;
  role.createdAt = toDate(row.createdAt);
  return role;
}
