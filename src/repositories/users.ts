/**
 * Users: the spec's `postgresUser` calls. Reads hide soft-deleted users unless asked; relations come
 * in the same statement (jsonArrayFrom); a nested create is one statement (data-modifying CTEs).
 */
import { createId } from '@paralleldrive/cuid2';
import { type ExpressionBuilder, type Kysely, sql } from 'kysely';
import { jsonArrayFrom } from 'kysely/helpers/postgres';
import type { DB } from '../../db-types/index.js';
import { NotFoundError } from '../errors/classes.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import { validate } from '../query/input-rules.js';
import { afterKeyset, type PageOptions, planPage, toPage } from '../query/pagination.js';
import {
  definedKeys,
  placeholder,
  placeholdersFor,
  QueryCache,
  type RunCompiled,
} from '../query/query-cache.js';
import { mapRows, type StreamOptions, streamRows } from '../query/stream.js';
import type { CreateManyOptions, CreateManyUserInput, Rows } from './create-many-input.js';
import { idSchema } from './input-fields.js';
import type { NoInclude, Page, Post, Role, SoftDeleteFilter, User, UserWithRelations } from './models.js';
import {
  type Jsonified,
  postColumns,
  postFromJson,
  roleColumns,
  roleFromJson,
  userColumns,
} from './select-lists.js';
import { type DeletedState, deletedState } from './soft-delete.js';
import { POST_COLUMNS, ROLE_COLUMNS, USER_COLUMNS } from './stored-columns.js';
import { type CreateManyUsersResult, createManyUsers } from './users-create-many.js';
import {
  type CreateUserInput,
  countUsersOptionsSchema,
  createUserSchema,
  emailLookupSchema,
  findUserOptionsSchema,
  findUsersOptionsSchema,
  type PostsInclude,
  streamUsersOptionsSchema,
  type UpdateUserInput,
  type UserInclude,
  type UserWhere,
  updateUserSchema,
} from './users-input.js';

/** The relations a read includes: `posts` (optionally filtered, ordered, limited) and `roles`. */
export type UserWith<I> = User &
  (I extends { posts: true | Exclude<PostsInclude, boolean> } ? { posts: Post[] } : unknown) &
  (I extends { roles: true } ? { roles: Role[] } : unknown);

export interface FindUserOptions<I extends UserInclude> extends SoftDeleteFilter {
  include?: I;
}

export interface FindUsersOptions<I extends UserInclude> extends FindUserOptions<I>, PageOptions {
  where?: UserWhere;
}

export interface StreamUsersOptions<I extends UserInclude> extends FindUserOptions<I>, StreamOptions {
  where?: UserWhere;
  /** By creation time, then id; default newest first. */
  orderBy?: { createdAt: 'asc' | 'desc' };
}

export interface UsersRepository {
  /**
   * Creates a user with its posts and roles in one statement: all of it, or nothing. Returns them as
   * the server stored them, as a read would (posts and roles in the order given).
   */
  create(input: CreateUserInput): Promise<UserWithRelations>;
  /**
   * Loads many users with their posts and roles through COPY: all of them, or nothing (its own
   * transaction; inside `db.transaction` a savepoint). `rows` is an array or any (async) iterable, drawn
   * lazily a chunk at a time. A bad row, a row the server rejects, a post's missing author: the error
   * names the row (`row`, `rows.<index>.<field>`). See docs/repositories.md, Bulk loads.
   */
  createMany(rows: Rows<CreateManyUserInput>, options?: CreateManyOptions): Promise<CreateManyUsersResult>;
  findById<const I extends UserInclude = NoInclude>(
    id: string,
    options?: FindUserOptions<I>,
  ): Promise<UserWith<I> | undefined>;
  /** Like findById; throws NotFoundError instead of returning undefined. */
  getById<const I extends UserInclude = NoInclude>(
    id: string,
    options?: FindUserOptions<I>,
  ): Promise<UserWith<I>>;
  /** Emails compare case-insensitively. With `withDeleted`, the live user wins over deleted ones. */
  findByEmail<const I extends UserInclude = NoInclude>(
    email: string,
    options?: FindUserOptions<I>,
  ): Promise<UserWith<I> | undefined>;
  getByEmail<const I extends UserInclude = NoInclude>(
    email: string,
    options?: FindUserOptions<I>,
  ): Promise<UserWith<I>>;
  /** One page, by creation time then id (newest first by default); `nextCursor` continues it. */
  findMany<const I extends UserInclude = NoInclude>(
    options?: FindUsersOptions<I>,
  ): Promise<Page<UserWith<I>>>;
  /**
   * Every user `findMany` would page through, in its order, one at a time through a server-side cursor
   * (relations included as in findMany). Memory holds one batch of rows however many there are; breaking
   * out of the loop (or the signal) ends it and frees the connection.
   */
  stream<const I extends UserInclude = NoInclude>(
    options?: StreamUsersOptions<I>,
  ): AsyncIterableIterator<UserWith<I>>;
  count(options?: { where?: UserWhere } & SoftDeleteFilter): Promise<number>;
  /** Changes the given fields of a live user. */
  update(id: string, patch: UpdateUserInput): Promise<User>;
  /** Marks the user and its live posts deleted with one timestamp, in one statement. */
  softDelete(id: string): Promise<User>;
  /**
   * Brings back a soft-deleted user and exactly the posts its soft delete took with it. Fails with
   * UniqueViolationError when another live user has taken the email meanwhile.
   */
  restore(id: string): Promise<User>;
  /** Deletes the row for good; its posts and roles go with it (ON DELETE CASCADE). */
  hardDelete(id: string): Promise<void>;
}

type UsersScope = ExpressionBuilder<DB & { u: DB['pg_users'] }, 'u'>;

/** Escapes LIKE's wildcards, so `contains` means contains. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, '\\$&')}%`;

function whereDeleted(eb: UsersScope, state: DeletedState) {
  if (state === 'live') return eb('u.deleted_at', 'is', null);
  if (state === 'deleted') return eb('u.deleted_at', 'is not', null);
  return eb.lit(true);
}

/**
 * The conditions of `where`. `pattern` turns a `…Contains` text into its LIKE pattern; a template's
 * placeholders are left as they are (the pattern is made from the value when the template is filled).
 */
function matches(eb: UsersScope, where: UserWhere = {}, pattern: (text: string) => string = likePattern) {
  const conditions = [];
  if (where.emailContains !== undefined)
    conditions.push(eb('u.email', 'ilike', pattern(where.emailContains)));
  if (where.nameContains !== undefined) conditions.push(eb('u.name', 'ilike', pattern(where.nameContains)));
  if (where.createdAfter) conditions.push(eb('u.created_at', '>=', where.createdAfter));
  if (where.createdBefore) conditions.push(eb('u.created_at', '<', where.createdBefore));
  if (where.hasRole !== undefined) {
    conditions.push(
      eb.exists(
        eb
          .selectFrom('pg_roles as r')
          .select(eb.lit(1).as('one'))
          .whereRef('r.userId', '=', 'u.id')
          .where('r.name', '=', where.hasRole),
      ),
    );
  }
  return eb.and(conditions);
}

function postsOf(eb: UsersScope, include: PostsInclude) {
  const options = include === true ? {} : include === false ? {} : include;
  const direction = options.orderBy?.createdAt ?? 'desc';
  let posts = eb
    .selectFrom('pg_posts as p')
    .select(postColumns)
    .whereRef('p.authorId', '=', 'u.id')
    .orderBy('p.created_at', direction)
    .orderBy('p.id', direction);
  if (!options.withDeleted) posts = posts.where('p.deleted_at', 'is', null);
  if (options.published !== undefined) posts = posts.where('p.published', '=', options.published);
  if (options.limit !== undefined) posts = posts.limit(options.limit);
  return jsonArrayFrom(posts);
}

function rolesOf(eb: UsersScope) {
  return jsonArrayFrom(
    eb.selectFrom('pg_roles as r').select(roleColumns).whereRef('r.userId', '=', 'u.id').orderBy('r.name'),
  );
}

/** The user columns plus the relations asked for, each a JSON array from a correlated subquery. */
function selectUsers(kysely: Kysely<DB>, include: UserInclude = {}) {
  return kysely
    .selectFrom('pg_users as u')
    .select(userColumns)
    .$if(Boolean(include.posts), (query) =>
      query.select((eb) => postsOf(eb, include.posts as PostsInclude).as('posts')),
    )
    .$if(Boolean(include.roles), (query) => query.select((eb) => rolesOf(eb).as('roles')));
}

type UserRow = User & { posts?: Jsonified<Post>[]; roles?: Jsonified<Role>[] };

/** The row as a user, its relations' timestamps as Dates (in place: the row is the driver's, fresh). */
function toUser<I>(row: UserRow): UserWith<I> {
  if (row.posts) for (const post of row.posts) postFromJson(post);
  else delete row.posts;
  if (row.roles) for (const role of row.roles) roleFromJson(role);
  else delete row.roles;
  return row as UserWith<I>;
}

/** The columns a nested create returns of each new row: all the select lists read. */
const storedUser = USER_COLUMNS;
const storedPost = POST_COLUMNS;
const storedRole = ROLE_COLUMNS;

/** Sorts `items` (in place) into the order of `given`, matched by id. */
function inOrderOf(items: { id: string }[], given: readonly { id: string }[]): void {
  if (items.length < 2) return;
  const position = new Map(given.map((item, index) => [item.id, index]));
  items.sort((a, b) => (position.get(a.id) ?? 0) - (position.get(b.id) ?? 0));
}

export function usersRepository(
  kysely: Kysely<DB>,
  queries: QueryCache = new QueryCache(),
  run: RunCompiled = (query) => kysely.executeQuery(query),
): UsersRepository {
  async function findOne<I extends UserInclude>(
    key: 'id' | 'email',
    value: string,
    options: FindUserOptions<I>,
  ): Promise<UserWith<I> | undefined> {
    validate(key === 'id' ? idSchema : emailLookupSchema, value, key);
    const { include, ...filter } = validate(findUserOptionsSchema, options);
    const state = deletedState(filter);
    // Compiled once per key, relations and soft-delete state; the id or email fills the placeholder.
    const template = queries.template(
      `users.findOne ${key} ${state} ${JSON.stringify(include ?? {})}`,
      () => {
        const wanted = placeholder('value');
        return selectUsers(kysely, include)
          .where((eb) => whereDeleted(eb, state))
          .$if(key === 'id', (query) => query.where('u.id', '=', wanted))
          .$if(key === 'email', (query) =>
            query
              .where(sql<boolean>`lower(${sql.ref('u.email')}) = lower(${wanted})`)
              // Several deleted users may share an email with the live one: the live one first.
              .orderBy(sql`${sql.ref('u.deleted_at')} is not null`)
              .orderBy('u.deleted_at', 'desc'),
          )
          .limit(1);
      },
    );
    return withDatabaseErrors(async () => {
      const { rows } = await run(template.fill<UserRow>({ value }));
      const row = rows[0];
      return row && toUser<I>(row);
    });
  }

  const getOne = async <I extends UserInclude>(
    key: 'id' | 'email',
    value: string,
    options: FindUserOptions<I>,
  ) => {
    const user = await findOne(key, value, options);
    if (!user) throw new NotFoundError('User', key === 'id' ? `id "${value}"` : 'with that email');
    return user;
  };

  return {
    async create(input) {
      const data = validate(createUserSchema, input);
      const id = data.id ?? createId();
      const posts = (data.posts ?? []).map((post) => ({
        id: createId(),
        title: post.title,
        content: post.content ?? null,
        published: post.published ?? false,
        authorId: id,
        metadata: JSON.stringify(post.metadata ?? {}),
      }));
      const roles = (data.roles ?? []).map((role) => ({
        id: createId(),
        name: role.name,
        description: role.description ?? null,
        userId: id,
      }));
      const user = {
        id,
        email: data.email,
        name: data.name ?? null,
        profile_image: data.profileImage ?? null,
      };
      // Compiled once per number of posts and roles; every value fills a placeholder named after its row
      // and column (`posts.0.title`). The placeholder rows are built only when the statement is compiled.
      const template = queries.template(`users.create ${posts.length} ${roles.length}`, () => {
        const userTemplate = placeholdersFor('user', user);
        const postTemplates = posts.map((post, index) => placeholdersFor(`posts.${index}`, post));
        const roleTemplates = roles.map((role, index) => placeholdersFor(`roles.${index}`, role));
        // One statement: the user, its posts and its roles are inserted by data-modifying CTEs (each runs,
        // read or not). The foreign keys are checked at the end of the statement, when the user row exists.
        // What comes back is what the rows hold as stored, through the select lists every read uses, so
        // the result is what a read returns, whatever the server did to the values.
        return kysely
          .with('new_user', (db) => db.insertInto('pg_users').values(userTemplate).returning(storedUser))
          .with('new_posts', (db) =>
            postTemplates.length
              ? db.insertInto('pg_posts').values(postTemplates).returning(storedPost)
              : db.selectFrom('pg_posts').select(storedPost).where(sql<boolean>`false`),
          )
          .with('new_roles', (db) =>
            roleTemplates.length
              ? db.insertInto('pg_roles').values(roleTemplates).returning(storedRole)
              : db.selectFrom('pg_roles').select(storedRole).where(sql<boolean>`false`),
          )
          .selectFrom('new_user as u')
          .select(userColumns)
          .$if(postTemplates.length > 0, (query) =>
            query.select((eb) =>
              jsonArrayFrom(eb.selectFrom('new_posts as p').select(postColumns)).as('posts'),
            ),
          )
          .$if(roleTemplates.length > 0, (query) =>
            query.select((eb) =>
              jsonArrayFrom(eb.selectFrom('new_roles as r').select(roleColumns)).as('roles'),
            ),
          );
      });
      return withDatabaseErrors(async () => {
        const { rows } = await run(template.fill<UserRow>({ user, posts, roles }));
        const row = rows[0];
        if (!row) throw new Error('the nested create returned no row');
        // No posts (roles) given: none selected, and none stored.
        row.posts ??= [];
        row.roles ??= [];
        const created = toUser<{ posts: true; roles: true }>(row);
        // RETURNING promises no order: in the order they were given.
        inOrderOf(created.posts, posts);
        inOrderOf(created.roles, roles);
        return created;
      });
    },

    createMany: (rows, options) => createManyUsers(kysely, rows, options),

    findById: (id, options = {}) => findOne('id', id, options),
    getById: (id, options = {}) => getOne('id', id, options),
    findByEmail: (email, options = {}) => findOne('email', email, options),
    getByEmail: (email, options = {}) => getOne('email', email, options),

    async findMany(options = {}) {
      const {
        where = {},
        include,
        first,
        after,
        orderBy,
        ...filter
      } = validate(findUsersOptionsSchema, options);
      const plan = planPage({ first, after, orderBy });
      const direction = plan.direction;
      const state = deletedState(filter);
      const conditions = definedKeys(where);
      // Compiled once per shape (relations, visibility, direction, cursor or not, which conditions); the
      // values fill placeholders, each `…Contains` as its LIKE pattern.
      const template = queries.template(
        `users.page ${state} ${direction} ${plan.after ? 'after' : '-'} ${JSON.stringify(include ?? {})} ${conditions.join(',')}`,
        () => {
          return selectUsers(kysely, include)
            .where((eb) =>
              eb.and([whereDeleted(eb, state), matches(eb, placeholdersFor('where', where), (text) => text)]),
            )
            .$if(plan.after !== undefined, (query) =>
              query.where(
                afterKeyset('u', direction, {
                  createdAt: placeholder('createdAt'),
                  id: placeholder('afterId'),
                }),
              ),
            )
            .orderBy('u.created_at', direction)
            .orderBy('u.id', direction)
            .limit(placeholder<number>('fetch'));
        },
      );
      const values = {
        where: {
          ...where,
          emailContains: where.emailContains === undefined ? undefined : likePattern(where.emailContains),
          nameContains: where.nameContains === undefined ? undefined : likePattern(where.nameContains),
        },
        fetch: plan.limit + 1,
        createdAt: plan.after?.createdAt,
        afterId: plan.after?.id,
      };
      return withDatabaseErrors(async () => {
        const { rows } = await run(template.fill<UserRow>(values));
        return toPage(
          rows.map((row) => toUser(row)),
          plan,
        );
      });
    },

    stream<I extends UserInclude>(options: StreamUsersOptions<I> = {}) {
      const { where, include, orderBy, batchSize, signal, ...filter } = validate(
        streamUsersOptionsSchema,
        options,
      );
      const direction = orderBy?.createdAt ?? 'desc';
      const query = selectUsers(kysely, include)
        .where((eb) => eb.and([whereDeleted(eb, deletedState(filter)), matches(eb, where)]))
        .orderBy('u.created_at', direction)
        .orderBy('u.id', direction)
        .compile();
      return mapRows(streamRows(kysely, query, { batchSize, signal }), (row) => toUser<I>(row as UserRow));
    },

    async count(options = {}) {
      const { where, ...filter } = validate(countUsersOptionsSchema, options);
      return withDatabaseErrors(async () => {
        const row = await kysely
          .selectFrom('pg_users as u')
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .where((eb) => eb.and([whereDeleted(eb, deletedState(filter)), matches(eb, where)]))
          .executeTakeFirstOrThrow();
        return Number(row.count);
      });
    },

    async update(id, patch) {
      validate(idSchema, id, 'id');
      const data = validate(updateUserSchema, patch);
      return withDatabaseErrors(async () => {
        const row = await kysely
          .updateTable('pg_users as u')
          .set({
            ...(data.email !== undefined && { email: data.email }),
            ...(data.name !== undefined && { name: data.name }),
            ...(data.profileImage !== undefined && { profile_image: data.profileImage }),
          })
          .where('u.id', '=', id)
          .where('u.deleted_at', 'is', null)
          .returning(userColumns)
          .executeTakeFirst();
        if (!row) throw new NotFoundError('User', `id "${id}"`);
        return row;
      });
    },

    async softDelete(id) {
      validate(idSchema, id, 'id');
      return withDatabaseErrors(async () => {
        // One statement, so the user and its posts change together. The user's deleted_at, copied to its
        // live posts, marks the posts this soft delete took, for restore(). Timestamps keep milliseconds,
        // so a post deleted on its own within the same millisecond would carry the same mark: the mark is
        // now(), or else one millisecond after the latest deletion among the author's posts.
        const lastPostDeletion = kysely
          .selectFrom('pg_posts')
          .select((eb) => eb.fn.max('deleted_at').as('deleted_at'))
          .where('authorId', '=', id);
        const row = await kysely
          .with('deleted_user', (db) =>
            db
              .updateTable('pg_users')
              .set({ deleted_at: sql`greatest(now(), (${lastPostDeletion}) + interval '1 millisecond')` })
              .where('id', '=', id)
              .where('deleted_at', 'is', null)
              .returningAll(),
          )
          .with('deleted_posts', (db) =>
            db
              .updateTable('pg_posts')
              .set((eb) => ({
                deleted_at: eb.selectFrom('deleted_user').select('deleted_user.deleted_at'),
              }))
              .where('authorId', 'in', (eb) => eb.selectFrom('deleted_user').select('deleted_user.id'))
              .where('deleted_at', 'is', null)
              .returning('pg_posts.id'),
          )
          .selectFrom('deleted_user as u')
          .select(userColumns)
          .executeTakeFirst();
        if (!row) throw new NotFoundError('User', `id "${id}" (not a live user)`);
        return row;
      });
    },

    async restore(id) {
      validate(idSchema, id, 'id');
      return withDatabaseErrors(async () => {
        const row = await kysely
          .with('deleted_user', (db) =>
            db
              .selectFrom('pg_users')
              .select(['id', 'deleted_at'])
              .where('id', '=', id)
              .where('deleted_at', 'is not', null)
              .forUpdate(),
          )
          .with('restored_user', (db) =>
            db
              .updateTable('pg_users')
              .set({ deleted_at: null })
              .from('deleted_user')
              .whereRef('pg_users.id', '=', 'deleted_user.id')
              .returningAll('pg_users'),
          )
          .with('restored_posts', (db) =>
            db
              .updateTable('pg_posts')
              .set({ deleted_at: null })
              .from('deleted_user')
              .whereRef('pg_posts.authorId', '=', 'deleted_user.id')
              // Exactly the posts the user's soft delete took: they carry its timestamp.
              .whereRef('pg_posts.deleted_at', '=', 'deleted_user.deleted_at')
              .returning('pg_posts.id'),
          )
          .selectFrom('restored_user as u')
          .select(userColumns)
          .executeTakeFirst();
        if (!row) throw new NotFoundError('User', `id "${id}" (not a soft-deleted user)`);
        return row;
      });
    },

    async hardDelete(id) {
      validate(idSchema, id, 'id');
      await withDatabaseErrors(async () => {
        const result = await kysely.deleteFrom('pg_users').where('id', '=', id).executeTakeFirst();
        if (result.numDeletedRows === 0n) throw new NotFoundError('User', `id "${id}"`);
      });
    },
  };
}
