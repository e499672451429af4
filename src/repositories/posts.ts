/**
 * Posts: the spec's `postgresPost` calls. Default reads hide soft-deleted posts and the posts of
 * soft-deleted authors; the author comes in the same statement (jsonObjectFrom).
 */
import { createId } from '@paralleldrive/cuid2';
import { type Expression, type Kysely, type SqlBool, sql, type UpdateObject } from 'kysely';
import { jsonObjectFrom } from 'kysely/helpers/postgres';
import type { DB } from '../../db-types/index.js';
import { NotFoundError } from '../errors/classes.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import { validate } from '../query/input-rules.js';
import {
  afterKeyset,
  type Keyset,
  type PageOptions,
  type PagePlan,
  planPage,
  toPage,
} from '../query/pagination.js';
import {
  definedKeys,
  placeholder,
  placeholdersFor,
  QueryCache,
  type RunCompiled,
} from '../query/query-cache.js';
import { mapRows, type StreamOptions, streamRows } from '../query/stream.js';
import type { CreateManyOptions, CreateManyPostInput, Rows } from './create-many-input.js';
import { idSchema } from './input-fields.js';
import type { NoInclude, Page, Post, SoftDeleteFilter, User } from './models.js';
import {
  type MetadataChange,
  type MetadataFilter,
  metadataChangeSchema,
  metadataFilterSchema,
} from './post-metadata-input.js';
import { containmentDocuments, matchesMetadata, metadataAfter, metadataShape } from './post-metadata-sql.js';
import { type SearchContext, type SearchHit, type SearchOptions, searchPosts } from './post-search.js';
import type { SearchColumn } from './post-search-input.js';
import { createManyPosts } from './posts-create-many.js';
import {
  type CreatePostInput,
  countByAuthorOptionsSchema,
  createPostSchema,
  findPostOptionsSchema,
  findPostsByMetadataOptionsSchema,
  findPostsOptionsSchema,
  type PostInclude,
  type PostWhere,
  streamPostsOptionsSchema,
  type UpdatePostInput,
  updatePostSchema,
} from './posts-input.js';
import { type Jsonified, postColumns, userColumns, userFromJson } from './select-lists.js';
import {
  authorIsDeleted,
  authorIsLive,
  type DeletedState,
  deletedState,
  type PostsScope,
} from './soft-delete.js';

export type { PostsScope } from './soft-delete.js';

export type PostWith<I> = Post & (I extends { author: true } ? { author: User } : unknown);

export interface FindPostOptions<I extends PostInclude> extends SoftDeleteFilter {
  include?: I;
}

export interface FindPostsOptions<I extends PostInclude> extends FindPostOptions<I>, PageOptions {
  where?: PostWhere;
}

export interface StreamPostsOptions<I extends PostInclude> extends FindPostOptions<I>, StreamOptions {
  where?: PostWhere;
  /** By creation time, then id; default newest first. */
  orderBy?: { createdAt: 'asc' | 'desc' };
}

export interface CountByAuthorOptions extends SoftDeleteFilter {
  /** Only these authors; each one is in the result, with 0 when it has no posts. */
  authorIds?: string[];
  published?: boolean;
}

export interface PostsRepository {
  /** Creates a post for a live author; NotFoundError when the author is missing or soft-deleted. */
  create(input: CreatePostInput): Promise<Post>;
  /**
   * Loads many posts through COPY: all of them, or nothing (its own transaction; inside
   * `db.transaction` a savepoint). Every author must be live. See docs/repositories.md, Bulk loads.
   */
  createMany(rows: Rows<CreateManyPostInput>, options?: CreateManyOptions): Promise<{ count: number }>;
  findById<const I extends PostInclude = NoInclude>(
    id: string,
    options?: FindPostOptions<I>,
  ): Promise<PostWith<I> | undefined>;
  getById<const I extends PostInclude = NoInclude>(
    id: string,
    options?: FindPostOptions<I>,
  ): Promise<PostWith<I>>;
  /** One page, by creation time then id (newest first by default); `nextCursor` continues it. */
  findMany<const I extends PostInclude = NoInclude>(
    options?: FindPostsOptions<I>,
  ): Promise<Page<PostWith<I>>>;
  /**
   * Every post `findMany` would page through, in its order, one at a time through a server-side cursor:
   * `for await (const post of db.posts.stream({ where }))`. Memory holds one batch of rows however many
   * there are; breaking out of the loop (or the signal) ends it and frees the connection.
   */
  stream<const I extends PostInclude = NoInclude>(
    options?: StreamPostsOptions<I>,
  ): AsyncIterableIterator<PostWith<I>>;
  /** Changes the given fields of a visible post; `metadata` replaces the whole object. */
  update(id: string, patch: UpdatePostInput): Promise<Post>;
  publish(id: string): Promise<Post>;
  unpublish(id: string): Promise<Post>;
  softDelete(id: string): Promise<Post>;
  restore(id: string): Promise<Post>;
  hardDelete(id: string): Promise<void>;
  /** Number of visible posts per author, in one statement. */
  countByAuthor(options?: CountByAuthorOptions): Promise<Map<string, number>>;
  /**
   * Visible posts whose metadata has the category, any or all of some tags, or contains an object;
   * every criterion is index-backed (GIN, `@>`). A page, as findMany.
   */
  findByMetadata<const I extends PostInclude = NoInclude>(
    filter: MetadataFilter,
    options?: Omit<FindPostsOptions<I>, 'where'>,
  ): Promise<Page<PostWith<I>>>;
  /** Merges an object into the metadata, sets a value at a path, or removes a key or a path. */
  updateMetadata(id: string, change: MetadataChange): Promise<Post>;
  /**
   * Full-text search over title and content: ranked published posts (unless includeUnpublished) with
   * the author's name and a highlighted snippet. `mode` is websearch (default: quotes, or, -word), plain,
   * phrase or prefix (type-ahead). Whatever a person types is safe; it never causes a syntax error.
   * `columns` and `snippet: false` return less; `candidates` bounds the ranking where there is no RUM index.
   */
  search<const C extends SearchColumn = SearchColumn, const S extends boolean = true>(
    query: string,
    options?: SearchOptions<C, S>,
  ): Promise<Page<SearchHit<C, S>>>;
}

/** A post is visible when neither it nor its author is soft-deleted. */
function whereDeleted(eb: PostsScope, state: DeletedState) {
  if (state === 'live') return eb.and([eb('p.deleted_at', 'is', null), authorIsLive(eb)]);
  if (state === 'deleted') return eb.or([eb('p.deleted_at', 'is not', null), authorIsDeleted(eb)]);
  return eb.lit(true);
}

function matches(eb: PostsScope, where: PostWhere = {}) {
  const conditions = [];
  if (where.authorId !== undefined) conditions.push(eb('p.authorId', '=', where.authorId));
  if (where.published !== undefined) conditions.push(eb('p.published', '=', where.published));
  if (where.createdAfter) conditions.push(eb('p.created_at', '>=', where.createdAfter));
  if (where.createdBefore) conditions.push(eb('p.created_at', '<', where.createdBefore));
  return eb.and(conditions);
}

function selectPosts(kysely: Kysely<DB>, include: PostInclude = {}) {
  return kysely
    .selectFrom('pg_posts as p')
    .select(postColumns)
    .$if(Boolean(include.author), (query) =>
      query.select((eb) =>
        jsonObjectFrom(
          eb.selectFrom('pg_users as u').select(userColumns).whereRef('u.id', '=', 'p.authorId'),
        ).as('author'),
      ),
    );
}

type PostRow = Post & { author?: Jsonified<User> | null };

/** The row as a post, its author's timestamps as Dates (in place: the row is the driver's, fresh). */
function toPost<I>(row: PostRow): PostWith<I> {
  if (row.author) row.author = userFromJson(row.author as Jsonified<User>) as unknown as Jsonified<User>;
  else delete row.author;
  return row as PostWith<I>;
}

/**
 * The query behind a page of posts: visible ones (see whereDeleted) that pass `condition`, by
 * (created_at, id), one row more than the page to tell whether another follows. Exported for EXPLAIN tests.
 */
export function postsPageQuery(
  kysely: Kysely<DB>,
  include: PostInclude | undefined,
  filter: SoftDeleteFilter,
  plan: PagePlan & { fetch?: number },
  condition: (eb: PostsScope) => Expression<SqlBool>,
) {
  const direction = plan.direction;
  return selectPosts(kysely, include)
    .where((eb) => eb.and([whereDeleted(eb, deletedState(filter)), condition(eb)]))
    .$if(plan.after !== undefined, (query) => query.where(afterKeyset('p', direction, plan.after as Keyset)))
    .orderBy('p.created_at', direction)
    .orderBy('p.id', direction)
    .limit(plan.fetch ?? plan.limit + 1);
}

/** A page's condition as a template: its shape (the cache key), the builder, and the values it takes. */
interface PageCondition {
  shape: string;
  build: (eb: PostsScope) => Expression<SqlBool>;
  values: Record<string, unknown>;
  /** false: sent unnamed, since its best plan depends on the values (see `unnamed`). */
  prepare?: boolean;
}

/** The update of one visible post (it and its author not deleted) that `state` allows, returning it. */
function updateVisibleQuery(
  kysely: Kysely<DB>,
  values: UpdateObject<DB & { p: DB['pg_posts'] }, 'p'>,
  state: 'live' | 'deleted',
  postId: string,
) {
  return kysely
    .updateTable('pg_posts as p')
    .set(values)
    .where('p.id', '=', postId)
    .where('p.deleted_at', state === 'live' ? 'is' : 'is not', null)
    .where(authorIsLive)
    .returning(postColumns);
}

// Made once: the statement is compiled once, and a Kysely `now()` built per call was work for nothing.
const SOFT_DELETED = { deleted_at: sql<Date>`now()` };
const RESTORED = { deleted_at: null };

export function postsRepository(
  kysely: Kysely<DB>,
  search: SearchContext,
  queries: QueryCache = new QueryCache(),
  run: RunCompiled = (query) => kysely.executeQuery(query),
): PostsRepository {
  const notFound = (id: string, state = '') => new NotFoundError('Post', `id "${id}"${state}`);

  async function findById<I extends PostInclude>(id: string, options: FindPostOptions<I>) {
    validate(idSchema, id, 'id');
    const { include, ...filter } = validate(findPostOptionsSchema, options);
    return withDatabaseErrors(async () => {
      const row = await selectPosts(kysely, include)
        .where('p.id', '=', id)
        .where((eb) => whereDeleted(eb, deletedState(filter)))
        .executeTakeFirst();
      return row && toPost<I>(row as PostRow);
    });
  }

  /** Updates a visible post (it and its author not deleted); NotFoundError otherwise. */
  async function updateVisible(
    id: string,
    values: UpdateObject<DB & { p: DB['pg_posts'] }, 'p'>,
    state: 'live' | 'deleted' = 'live',
    /** Set when `values` hold no caller value, so the statement can be compiled once under this name. */
    cacheAs?: string,
  ): Promise<Post> {
    validate(idSchema, id, 'id');
    return withDatabaseErrors(async () => {
      const row = cacheAs
        ? (
            await run(
              queries
                .template(cacheAs, () => updateVisibleQuery(kysely, values, state, placeholder('id')))
                .fill<Post>({ id }),
            )
          ).rows[0]
        : await updateVisibleQuery(kysely, values, state, id).executeTakeFirst();
      if (!row) throw notFound(id, state === 'live' ? '' : ' (not a soft-deleted post)');
      return row;
    });
  }

  /** A keyset page of posts that pass `condition`, as findMany and findByMetadata return. */
  async function listPage<T extends Keyset>(
    include: PostInclude | undefined,
    filter: SoftDeleteFilter,
    pageOptions: PageOptions,
    condition: PageCondition,
  ): Promise<Page<T>> {
    const plan = planPage(pageOptions);
    // Compiled once per shape: what is included, which posts, which condition, and whether a cursor.
    const shape = `${include?.author ? 'author' : '-'} ${deletedState(filter)} ${plan.direction} ${plan.after ? 'after' : '-'}`;
    const template = queries.template(
      `posts.page ${shape} ${condition.shape}`,
      () =>
        postsPageQuery(
          kysely,
          include,
          filter,
          {
            ...plan,
            fetch: placeholder<number>('fetch'),
            after: plan.after && { createdAt: placeholder<Date>('createdAt'), id: placeholder('afterId') },
          },
          condition.build,
        ),
      { prepare: condition.prepare },
    );
    return withDatabaseErrors(async () => {
      const { rows } = await run(
        template.fill<PostRow>({
          ...condition.values,
          fetch: plan.limit + 1,
          createdAt: plan.after?.createdAt,
          afterId: plan.after?.id,
        }),
      );
      return toPage(
        rows.map((row) => toPost(row as PostRow) as unknown as T),
        plan,
      );
    });
  }

  return {
    async create(input) {
      const data = validate(createPostSchema, input);
      return withDatabaseErrors(async () => {
        // INSERT … SELECT … WHERE the author is live: one statement, and no post for a deleted author.
        const row = await kysely
          .insertInto('pg_posts')
          .columns(['id', 'title', 'content', 'published', 'authorId', 'metadata'])
          .expression((eb) =>
            kysely
              .selectNoFrom([
                eb.val(data.id ?? createId()).as('id'),
                eb.val(data.title).as('title'),
                eb.cast<string | null>(eb.val(data.content ?? null), 'text').as('content'),
                eb.cast<boolean>(eb.val(data.published ?? false), 'boolean').as('published'),
                eb.val(data.authorId).as('authorId'),
                eb.cast<string>(eb.val(JSON.stringify(data.metadata ?? {})), 'jsonb').as('metadata'),
              ])
              .where((inner) =>
                inner.exists(
                  inner
                    .selectFrom('pg_users')
                    .select('id')
                    .where('id', '=', data.authorId)
                    .where('deleted_at', 'is', null),
                ),
              ),
          )
          .returning(['id', 'title', 'content', 'published', 'authorId', 'metadata'])
          .returning(['created_at as createdAt', 'updated_at as updatedAt', 'deleted_at as deletedAt'])
          .executeTakeFirst();
        if (!row) throw new NotFoundError('User', `id "${data.authorId}" (the author)`);
        return row;
      });
    },

    createMany: (rows, options) => createManyPosts(kysely, rows, options),

    findById: (id, options = {}) => findById(id, options),
    async getById(id, options = {}) {
      const post = await findById(id, options);
      if (!post) throw notFound(id);
      return post;
    },

    async findMany(options = {}) {
      const {
        where = {},
        include,
        first,
        after,
        orderBy,
        ...filter
      } = validate(findPostsOptionsSchema, options);
      return listPage(
        include,
        filter,
        { first, after, orderBy },
        {
          shape: `where ${definedKeys(where).join(',')}`,
          // The placeholders only when the statement is compiled, not on every call.
          build: (eb) => matches(eb, placeholdersFor('where', where)),
          values: { where },
        },
      );
    },

    stream<I extends PostInclude>(options: StreamPostsOptions<I> = {}) {
      const { where, include, orderBy, batchSize, signal, ...filter } = validate(
        streamPostsOptionsSchema,
        options,
      );
      const direction = orderBy?.createdAt ?? 'desc';
      const query = selectPosts(kysely, include)
        .where((eb) => eb.and([whereDeleted(eb, deletedState(filter)), matches(eb, where)]))
        .orderBy('p.created_at', direction)
        .orderBy('p.id', direction)
        .compile();
      return mapRows(streamRows(kysely, query, { batchSize, signal }), (row) => toPost<I>(row as PostRow));
    },

    async findByMetadata(filter, options = {}) {
      const criteria = validate(metadataFilterSchema, filter, 'filter');
      const { include, first, after, orderBy, ...deleted } = validate(
        findPostsByMetadataOptionsSchema,
        options,
      );
      const documents = containmentDocuments(criteria);
      return listPage(
        include,
        deleted,
        { first, after, orderBy },
        {
          shape: `metadata ${JSON.stringify(metadataShape(criteria))}`,
          build: (eb) => matchesMetadata(eb, criteria, (index) => placeholder(`metadata.${index}`)),
          values: { metadata: documents },
          prepare: false,
        },
      );
    },

    async updateMetadata(id, change) {
      const data = validate(metadataChangeSchema, change, 'change');
      return updateVisible(id, { metadata: metadataAfter(data) });
    },

    search: ((text: string, options: SearchOptions = {}) =>
      searchPosts(kysely, search, queries, run, text, options)) as PostsRepository['search'],

    async update(id, patch) {
      const data = validate(updatePostSchema, patch);
      return updateVisible(id, {
        ...(data.title !== undefined && { title: data.title }),
        ...(data.content !== undefined && { content: data.content }),
        ...(data.published !== undefined && { published: data.published }),
        ...(data.metadata !== undefined && { metadata: JSON.stringify(data.metadata) }),
      });
    },
    publish: (id) => updateVisible(id, { published: true }),
    unpublish: (id) => updateVisible(id, { published: false }),
    softDelete: (id) => updateVisible(id, SOFT_DELETED, 'live', 'posts.softDelete'),
    restore: (id) => updateVisible(id, RESTORED, 'deleted', 'posts.restore'),

    async hardDelete(id) {
      validate(idSchema, id, 'id');
      await withDatabaseErrors(async () => {
        const result = await kysely.deleteFrom('pg_posts').where('id', '=', id).executeTakeFirst();
        if (result.numDeletedRows === 0n) throw notFound(id);
      });
    },

    async countByAuthor(options = {}) {
      const { authorIds, published, ...filter } = validate(countByAuthorOptionsSchema, options);
      return withDatabaseErrors(async () => {
        const rows = await kysely
          .selectFrom('pg_posts as p')
          .select(['p.authorId', (eb) => eb.fn.countAll<string>().as('count')])
          .where((eb) =>
            eb.and([
              whereDeleted(eb, deletedState(filter)),
              ...(published === undefined ? [] : [eb('p.published', '=', published)]),
              ...(authorIds ? [eb('p.authorId', '=', eb.fn.any(eb.val(authorIds)))] : []),
            ]),
          )
          .groupBy('p.authorId')
          .execute();
        const counts = new Map<string, number>((authorIds ?? []).map((authorId) => [authorId, 0]));
        for (const row of rows) counts.set(row.authorId, Number(row.count));
        return counts;
      });
    },
  };
}
