/**
 * Queries that put an expression of the jsonb helpers to work on pg_posts.metadata: select it for one
 * post, set a post's metadata to it, or find an author's posts it matches; with the SQL text the first
 * two compile to, so a test checks the statement before it runs it.
 */
import { type RawBuilder, sql } from 'kysely';
import type { Database } from '../../src/database/database.js';
import type { PostMetadata } from '../../src/repositories/post-metadata.js';
import { uniqueEmail } from './unique-email.js';

/** The metadata column of `pg_posts as p`, as the expressions under test read it. */
export const metadata = sql.ref('p.metadata');

/** What `selectOf` compiles to, with `expression` in place and the post's id as parameter `idParameter`. */
export const selectSql = (expression: string, idParameter: number) =>
  `select ${expression} as "v" from "public"."pg_posts" as "p" where "p"."id" = $${idParameter}`;

/** What `updateOf` compiles to, with `expression` in place and the post's id as parameter `idParameter`. */
export const updateSql = (expression: string, idParameter: number) =>
  `update "public"."pg_posts" set "metadata" = ${expression} where "id" = $${idParameter} returning "metadata"`;

/** The queries on the database `database()` gives (the test file's own, opened in its beforeAll). */
export function metadataQueries(database: () => Database) {
  let defaultAuthor: Promise<string> | undefined;

  async function newAuthor(): Promise<string> {
    return (await database().users.create({ email: uniqueEmail() })).id;
  }

  /** A post with `data` as its metadata, by `author` or else by one author all such posts share. */
  async function newPost(data: PostMetadata, author?: string): Promise<string> {
    defaultAuthor ??= newAuthor();
    const authorId = author ?? (await defaultAuthor);
    return (await database().posts.create({ title: 'JSONB', authorId, metadata: data })).id;
  }

  /** `select <expression> as "v"` for one post. */
  function selectOf<T>(id: string, expression: RawBuilder<T>) {
    return database().kysely.selectFrom('pg_posts as p').select(expression.as('v')).where('p.id', '=', id);
  }

  async function selected<T>(id: string, expression: RawBuilder<T>) {
    return (await selectOf(id, expression).executeTakeFirstOrThrow()).v;
  }

  /** `update … set metadata = <change(metadata)>` for one post, returning the new metadata. */
  function updateOf(id: string, change: (target: RawBuilder<unknown>) => RawBuilder<string>) {
    return database()
      .kysely.updateTable('pg_posts')
      .set({ metadata: change(sql.ref('metadata')) })
      .where('id', '=', id)
      .returning('metadata');
  }

  async function changed(id: string, change: (target: RawBuilder<unknown>) => RawBuilder<string>) {
    return (await updateOf(id, change).executeTakeFirstOrThrow()).metadata;
  }

  /** The ids of this author's posts matching `condition`, in id order. */
  async function matching(author: string, condition: RawBuilder<boolean>): Promise<string[]> {
    const rows = await database()
      .kysely.selectFrom('pg_posts as p')
      .select('p.id')
      .where('p.authorId', '=', author)
      .where(condition)
      .orderBy('p.id')
      .execute();
    return rows.map((row) => row.id);
  }

  return { newAuthor, newPost, selectOf, selected, updateOf, changed, matching };
}
