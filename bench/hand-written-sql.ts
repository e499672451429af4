/**
 * The benchmark's baselines: each repository operation's SQL written out by hand, as a developer using
 * `pg` directly would send it (bench/cases.ts sends each one unnamed and as a named prepared statement).
 * The bench checks, before measuring, that the layer sends exactly this text (whitespace aside), so a
 * ratio compares the same work on the server and differs only in what the client does: building,
 * validating, mapping, and whether the statement is prepared.
 */

const USER_COLUMNS = `"u"."id", "u"."email", "u"."name", "u"."profile_image" as "profileImage",
  "u"."created_at" as "createdAt", "u"."updated_at" as "updatedAt", "u"."deleted_at" as "deletedAt"`;
const POST_COLUMNS = `"p"."id", "p"."title", "p"."content", "p"."published", "p"."authorId", "p"."metadata",
  "p"."created_at" as "createdAt", "p"."updated_at" as "updatedAt", "p"."deleted_at" as "deletedAt"`;
const ROLE_COLUMNS = `"r"."id", "r"."name", "r"."description", "r"."userId", "r"."created_at" as "createdAt"`;

const AUTHOR_OBJECT = `(select to_json(obj) from (select ${USER_COLUMNS} from "public"."pg_users" as "u"
    where "u"."id" = "p"."authorId") as obj) as "author"`;
const AUTHOR_IS_LIVE = `not exists (select 1 as "one" from "public"."pg_users" as "a"
    where "a"."id" = "p"."authorId" and "a"."deleted_at" is not null)`;
const VISIBLE_POST = `"p"."deleted_at" is null and ${AUTHOR_IS_LIVE}`;

/** $1 user id, $2 limit (1). */
export const USER_WITH_RELATIONS = `
select ${USER_COLUMNS},
  (select coalesce(json_agg(agg), '[]') from (select ${POST_COLUMNS} from "public"."pg_posts" as "p"
    where "p"."authorId" = "u"."id" and "p"."deleted_at" is null
    order by "p"."created_at" desc, "p"."id" desc) as agg) as "posts",
  (select coalesce(json_agg(agg), '[]') from (select ${ROLE_COLUMNS} from "public"."pg_roles" as "r"
    where "r"."userId" = "u"."id" order by "r"."name") as agg) as "roles"
from "public"."pg_users" as "u"
where "u"."deleted_at" is null and "u"."id" = $1
limit $2`;

/** $1 limit (page size + 1). */
export const POSTS_FIRST_PAGE = `
select ${POST_COLUMNS}, ${AUTHOR_OBJECT}
from "public"."pg_posts" as "p"
where ((${VISIBLE_POST}) and 1 = 1)
order by "p"."created_at" desc, "p"."id" desc
limit $1`;

/** $1 the last row's created_at, $2 its id, $3 limit. */
export const POSTS_PAGE_AFTER = `
select ${POST_COLUMNS}, ${AUTHOR_OBJECT}
from "public"."pg_posts" as "p"
where ((${VISIBLE_POST}) and 1 = 1) and ("p"."created_at", "p"."id") < ($1, $2)
order by "p"."created_at" desc, "p"."id" desc
limit $3`;

/** $1 {"category": …}, $2 {"tags": [one tag]}, $3 limit. */
export const POSTS_BY_METADATA = `
select ${POST_COLUMNS}
from "public"."pg_posts" as "p"
where ((${VISIBLE_POST}) and (("p"."metadata" @> $1::jsonb) and ("p"."metadata" @> $2::jsonb)))
order by "p"."created_at" desc, "p"."id" desc
limit $3`;

/** $1 post id. */
export const SOFT_DELETE_POST = `
update "public"."pg_posts" as "p" set "deleted_at" = now()
where "p"."id" = $1 and ${VISIBLE_POST}
returning ${POST_COLUMNS}`;

/** $1 null, $2 post id. */
export const RESTORE_POST = `
update "public"."pg_posts" as "p" set "deleted_at" = $1
where "p"."id" = $2 and "p"."deleted_at" is not null and ${AUTHOR_IS_LIVE}
returning ${POST_COLUMNS}`;

/**
 * posts.search's statement: $1, $2 the configuration and $3 the words for the snippets; $4, $6 the
 * configuration and $5, $7 the words to rank and match; $8 true (published); $9 limit (page size + 1).
 */
export const SEARCH_POSTS = `
select ${POST_COLUMNS}, "u"."name" as "authorName", "hit"."rank",
  ts_headline($1::regconfig, "p"."title" || ' ' || COALESCE("p"."content", ''), websearch_to_tsquery($2::regconfig, $3)) as "snippet"
from (
  select "p"."id", ts_rank("p"."search_vector", websearch_to_tsquery($4::regconfig, $5)) as "rank"
  from "public"."pg_posts" as "p"
  where ("p"."search_vector" @@ websearch_to_tsquery($6::regconfig, $7))
    and "p"."deleted_at" is null and ${AUTHOR_IS_LIVE} and "p"."published" = $8
  order by "rank" desc, "p"."id"
  limit $9
) as "hit"
inner join "public"."pg_posts" as "p" on "p"."id" = "hit"."id"
inner join "public"."pg_users" as "u" on "u"."id" = "p"."authorId"
order by "hit"."rank" desc, "p"."id"`;

/**
 * users.create with one post and one role, the layer's single statement (data-modifying CTEs) returning
 * the rows as stored: $1 user id, $2 email, $3 name, $4 profile image; $5 post id, $6 title, $7 content,
 * $8 published, $9 author id, $10 metadata; $11 role id, $12 name, $13 description, $14 user id.
 */
export const CREATE_USER_WITH_POST_AND_ROLE = `
with "new_user" as (
  insert into "public"."pg_users" ("id", "email", "name", "profile_image") values ($1, $2, $3, $4)
  returning "id", "email", "name", "profile_image", "created_at", "updated_at", "deleted_at"),
"new_posts" as (
  insert into "public"."pg_posts" ("id", "title", "content", "published", "authorId", "metadata")
  values ($5, $6, $7, $8, $9, $10)
  returning "id", "title", "content", "published", "authorId", "metadata", "created_at", "updated_at", "deleted_at"),
"new_roles" as (
  insert into "public"."pg_roles" ("id", "name", "description", "userId") values ($11, $12, $13, $14)
  returning "id", "name", "description", "userId", "created_at")
select ${USER_COLUMNS},
  (select coalesce(json_agg(agg), '[]') from (select ${POST_COLUMNS} from "new_posts" as "p") as agg) as "posts",
  (select coalesce(json_agg(agg), '[]') from (select ${ROLE_COLUMNS} from "new_roles" as "r") as agg) as "roles"
from "new_user" as "u"`;

/** The straightforward nested create: one INSERT per table, in a transaction of its own. */
export const INSERT_USER = `insert into "public"."pg_users" ("id", "email", "name") values ($1, $2, $3)`;
export const INSERT_POST = `insert into "public"."pg_posts" ("id", "title", "content", "published", "authorId", "metadata")
  values ($1, $2, $3, $4, $5, $6)`;
export const INSERT_ROLE = `insert into "public"."pg_roles" ("id", "name", "description", "userId") values ($1, $2, $3, $4)`;

/** Collapses whitespace (and drops it beside brackets) so formatting does not count as a difference. */
export function normalizeSql(text: string): string {
  return text
    .replace(/\s+/g, ' ')
    .replace(/\s*([(),])\s*/g, '$1')
    .trim();
}
