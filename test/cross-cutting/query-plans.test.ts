/**
 * Every statement every repository method sends is index-backed: on tables large enough that the planner
 * prefers an index wherever one helps (20,000 users, 200,000 posts, 25,000 roles), each method is called,
 * its statements are taken from the query events, and their plans (EXPLAIN (FORMAT JSON), same SQL, same
 * parameters) read no table sequentially and read the tables they touch through an index.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_USER_SUMMARY_SQL } from '../../scripts/lib/spec-queries.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import { NotFoundError } from '../../src/errors/classes.js';
import type { PostsRepository } from '../../src/repositories/posts.js';
import type { RolesRepository } from '../../src/repositories/roles.js';
import type { UsersRepository } from '../../src/repositories/users.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { explain, INDEX_SCANS, indexTables, rowsRead, type Scan, scansIn } from '../support/explain.js';
import { statementsSent } from '../support/statements-sent.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;
/** A connection of its own for EXPLAIN, so plans are never among the statements under test. */
let planner: pg.Client;
let tableOfIndex: Map<string, string>;

const USERS = 20_000;
const POSTS = 200_000;
const TABLES = ['pg_users', 'pg_posts', 'pg_roles'];

/** Seeded ids: `user-00042`, `post-000042`. */
const userId = (n: number) => `user-${String(n).padStart(5, '0')}`;
const postId = (n: number) => `post-${String(n).padStart(6, '0')}`;
/** Every 50th seeded user and post is soft-deleted. */
const deletedUser = userId(50);
const deletedPost = postId(50);
/**
 * Every user is a member; users 1, 6, 11… are editors, 1, 21, 41… moderators and 1, 1001, 2001… admins
 * (20 of them). The deleted users are 50, 100, 150…
 */
const ADMIN = 'admin';
const MEMBER = 'member';

/**
 * Realistic enough for the planner: authors spread over all users, two thirds published, creation
 * times over three years, five categories and twenty tags, 2% soft-deleted, and one word ("walrus")
 * in one post of 100, so a search matches a small fraction: ~1,300 visible posts, enough that joining
 * their authors before the LIMIT would read all of pg_users. Generated in SQL: 15–20 s on two busy
 * cores, most of it the search_vector trigger.
 */
const SEED = `
  INSERT INTO pg_users (id, email, name, created_at, updated_at, deleted_at)
  SELECT 'user-' || lpad(i::text, 5, '0'), 'user' || i || '@example.com', 'User ' || i, at, at,
         CASE WHEN i % 50 = 0 THEN at + interval '30 days' END
    FROM generate_series(1, ${USERS}) AS i,
         LATERAL (SELECT timestamptz '2022-01-01' + (i * 7919 % ${USERS}) * interval '77 minutes' AS at) t;

  INSERT INTO pg_posts (id, title, content, published, "authorId", metadata, created_at, updated_at, deleted_at)
  SELECT 'post-' || lpad(i::text, 6, '0'),
         w[1 + i % 8] || ' and ' || w[1 + (i / 8) % 8] || ', part ' || i,
         'Notes on ' || w[1 + (i / 64) % 8] || CASE WHEN i % 100 = 7 THEN ' with a walrus' ELSE '' END,
         abs(hashint4(-i)) % 3 <> 0,
         'user-' || lpad((1 + abs(hashint4(i)) % ${USERS})::text, 5, '0'),
         jsonb_build_object('category', c[1 + (i / 7) % 5], 'tags', jsonb_build_array('t' || i % 20, 't' || (i / 20) % 20)),
         at, at, CASE WHEN i % 50 = 0 THEN at + interval '1 day' END
    FROM generate_series(1, ${POSTS}) AS i,
         LATERAL (SELECT timestamptz '2022-01-01' + (i * 7919 % ${POSTS}) * interval '8 minutes' AS at) t,
         LATERAL (SELECT ARRAY['postgres', 'kysely', 'indexes', 'planner', 'vacuum', 'locks', 'joins', 'json'] AS w,
                         ARRAY['tutorial', 'news', 'opinion', 'review', 'howto'] AS c) v;

  INSERT INTO pg_roles (id, name, "userId")
  SELECT 'role-' || i || '-' || r.name, r.name, 'user-' || lpad(i::text, 5, '0')
    FROM generate_series(1, ${USERS}) AS i
    CROSS JOIN (VALUES ('${MEMBER}', 1), ('editor', 5), ('moderator', 20), ('${ADMIN}', 1000)) AS r(name, every)
   WHERE i % r.every = 1 % r.every;
`;

beforeAll(async () => {
  planner = new pg.Client({ connectionString: testDb.url });
  await planner.connect();
  await planner.query(SEED);
  // Statistics for the planner; VACUUM also sets the visibility map (index-only scans) and merges the
  // GIN indexes' pending lists, without which the planner shies away from them.
  await planner.query('VACUUM ANALYZE pg_users, pg_posts, pg_roles');
  tableOfIndex = await indexTables(planner);
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger(), logParameters: true });
});

afterAll(async () => {
  await db?.disconnect();
  await planner?.end();
});

/** BEGIN, COMMIT and ROLLBACK have no plan (a stream runs in a read-only transaction of its own). */
const TRANSACTION_CONTROL = /^\s*(begin|commit|rollback)\b/i;

/** The statements `work` sends (a NotFoundError path is a query too), transaction control left out. */
const statementsOf = async (work: (db: Database) => Promise<unknown>) =>
  (
    await statementsSent(db, () => work(db), {
      expectedRejection: (error) => error instanceof NotFoundError,
    })
  ).filter((statement) => !TRANSACTION_CONTROL.test(statement.sql));

/** Reads a stream to its end. */
async function drain(rows: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of rows) count += 1;
  return count;
}

interface StatementPlan {
  sql: string;
  scans: Scan[];
}

const UNPLANNED = /^\s*(begin|commit|rollback|savepoint|release|copy)\b/i;

async function plansOf(work: (db: Database) => Promise<unknown>): Promise<StatementPlan[]> {
  const statements = await statementsOf(work);
  expect(statements.length, 'the call sent no statement').toBeGreaterThan(0);
  const plans: StatementPlan[] = [];
  for (const statement of statements) {
    // Transaction control and COPY's data have no plan; the statements around them do.
    if (UNPLANNED.test(statement.sql)) continue;
    const plan = await explain(planner, statement.sql, statement.params);
    plans.push({ sql: statement.sql, scans: scansIn(plan, tableOfIndex) });
  }
  return plans;
}

const ours = (scan: Scan) => TABLES.includes(scan.table);
const BITMAP_HEAP = 'Bitmap Heap Scan';
const isIndexScan = (scan: Scan) => (INDEX_SCANS as readonly string[]).includes(scan.nodeType);
/** Reads the table without an index: anything but index scans and the heap half of a bitmap scan. */
const isSequential = (scan: Scan) => !isIndexScan(scan) && scan.nodeType !== BITMAP_HEAP;
/** How a scan reads its table, for messages: `Seq Scan on pg_posts`, `Index Scan on pg_posts_pkey`. */
const describeScan = (scan: Scan) => `${scan.nodeType} on ${scan.index ?? scan.table}`;

/** A call and what it should exercise; `run` may call the method more than once (a second page). */
interface Case {
  name: string;
  run: (db: Database) => Promise<unknown>;
}

type Cases<R> = { [Method in keyof R]: Case[] };

const later = new Date('2024-06-01T00:00:00Z');
const earlier = new Date('2023-06-01T00:00:00Z');

/** A page, then the page after it, so the keyset condition is planned too. */
async function twoPages<T>(
  list: (after?: string) => Promise<{ nextCursor: string | undefined; items: T[] }>,
) {
  const first = await list();
  expect(first.nextCursor).toBeDefined();
  return list(first.nextCursor);
}

const usersCases: Cases<UsersRepository> = {
  createMany: [
    {
      name: 'users with their posts and roles, through COPY',
      run: (db) =>
        db.users.createMany([
          { email: 'bulk-user@example.com', posts: [{ title: 'Bulk' }], roles: [{ name: MEMBER }] },
        ]),
    },
  ],
  create: [
    { name: 'a user alone', run: (db) => db.users.create({ email: 'new-alone@example.com' }) },
    {
      name: 'nested: with posts and roles, one statement',
      run: (db) =>
        db.users.create({
          email: 'new-nested@example.com',
          posts: [{ title: 'First' }, { title: 'Second', metadata: { category: 'news' } }],
          roles: [{ name: 'member' }],
        }),
    },
  ],
  findById: [
    { name: 'plain', run: (db) => db.users.findById(userId(7)) },
    {
      name: 'with posts and roles',
      run: (db) => db.users.findById(userId(7), { include: { posts: true, roles: true } }),
    },
    {
      name: 'with filtered, ordered, limited posts',
      run: (db) =>
        db.users.findById(userId(7), {
          include: { posts: { published: true, orderBy: { createdAt: 'asc' }, limit: 5, withDeleted: true } },
        }),
    },
    { name: 'withDeleted', run: (db) => db.users.findById(deletedUser, { withDeleted: true }) },
    { name: 'onlyDeleted', run: (db) => db.users.findById(deletedUser, { onlyDeleted: true }) },
  ],
  getById: [
    {
      name: 'with posts and roles',
      run: (db) => db.users.getById(userId(8), { include: { posts: true, roles: true } }),
    },
    { name: 'missing', run: (db) => db.users.getById('user-missing') },
  ],
  findByEmail: [
    { name: 'live', run: (db) => db.users.findByEmail('USER9@example.com') },
    { name: 'withDeleted', run: (db) => db.users.findByEmail('user100@example.com', { withDeleted: true }) },
    { name: 'onlyDeleted', run: (db) => db.users.findByEmail('user100@example.com', { onlyDeleted: true }) },
    {
      name: 'with roles',
      run: (db) => db.users.findByEmail('user9@example.com', { include: { roles: true } }),
    },
  ],
  getByEmail: [{ name: 'live', run: (db) => db.users.getByEmail('user11@example.com') }],
  findMany: [
    {
      name: 'newest first, two pages',
      run: (db) => twoPages((after) => db.users.findMany({ first: 20, after })),
    },
    {
      name: 'oldest first, two pages',
      run: (db) =>
        twoPages((after) => db.users.findMany({ first: 20, after, orderBy: { createdAt: 'asc' } })),
    },
    {
      name: 'with posts and roles, two pages',
      run: (db) =>
        twoPages((after) => db.users.findMany({ first: 10, after, include: { posts: true, roles: true } })),
    },
    {
      name: 'created in a range',
      run: (db) => db.users.findMany({ where: { createdAfter: earlier, createdBefore: later } }),
    },
    {
      name: 'with a role, two pages',
      run: (db) => twoPages((after) => db.users.findMany({ first: 10, after, where: { hasRole: ADMIN } })),
    },
    { name: 'withDeleted', run: (db) => db.users.findMany({ withDeleted: true }) },
    { name: 'onlyDeleted', run: (db) => db.users.findMany({ onlyDeleted: true }) },
    { name: 'email contains', run: (db) => db.users.findMany({ where: { emailContains: 'user12' } }) },
    { name: 'name contains', run: (db) => db.users.findMany({ where: { nameContains: 'User 12' } }) },
  ],
  stream: [
    { name: 'with a role', run: (db) => drain(db.users.stream({ where: { hasRole: ADMIN } })) },
    {
      name: 'with a role, with posts and roles, oldest first',
      run: (db) =>
        drain(
          db.users.stream({
            where: { hasRole: ADMIN },
            include: { posts: true, roles: true },
            orderBy: { createdAt: 'asc' },
          }),
        ),
    },
  ],
  count: [
    {
      name: 'created in a range',
      run: (db) => db.users.count({ where: { createdAfter: earlier, createdBefore: later } }),
    },
    { name: 'with a role', run: (db) => db.users.count({ where: { hasRole: ADMIN } }) },
    { name: 'onlyDeleted', run: (db) => db.users.count({ onlyDeleted: true }) },
  ],
  update: [{ name: 'name', run: (db) => db.users.update(userId(13), { name: 'Renamed' }) }],
  softDelete: [{ name: 'user and posts', run: (db) => db.users.softDelete(userId(14)) }],
  restore: [
    {
      name: 'user and the posts its delete took',
      run: async (db) => {
        await db.users.softDelete(userId(15));
        return db.users.restore(userId(15));
      },
    },
  ],
  hardDelete: [{ name: 'a user', run: (db) => db.users.hardDelete(userId(16)) }],
};

const postsCases: Cases<PostsRepository> = {
  createMany: [
    {
      name: 'posts whose authors are checked with one query, through COPY',
      run: (db) => db.posts.createMany([{ title: 'Bulk', authorId: userId(7) }]),
    },
  ],
  create: [
    { name: 'for a live author', run: (db) => db.posts.create({ title: 'New', authorId: userId(21) }) },
  ],
  findById: [
    { name: 'plain', run: (db) => db.posts.findById(postId(7)) },
    { name: 'with author', run: (db) => db.posts.findById(postId(7), { include: { author: true } }) },
    { name: 'withDeleted', run: (db) => db.posts.findById(deletedPost, { withDeleted: true }) },
    { name: 'onlyDeleted', run: (db) => db.posts.findById(deletedPost, { onlyDeleted: true }) },
  ],
  getById: [{ name: 'with author', run: (db) => db.posts.getById(postId(8), { include: { author: true } }) }],
  findMany: [
    {
      name: 'newest first, two pages',
      run: (db) => twoPages((after) => db.posts.findMany({ first: 20, after })),
    },
    {
      name: 'oldest first, two pages',
      run: (db) =>
        twoPages((after) => db.posts.findMany({ first: 20, after, orderBy: { createdAt: 'asc' } })),
    },
    {
      name: 'with author, two pages',
      run: (db) => twoPages((after) => db.posts.findMany({ first: 20, after, include: { author: true } })),
    },
    { name: "an author's posts", run: (db) => db.posts.findMany({ where: { authorId: userId(7) } }) },
    {
      name: "an author's published posts",
      run: (db) => db.posts.findMany({ where: { authorId: userId(7), published: true } }),
    },
    {
      name: 'published, two pages',
      run: (db) => twoPages((after) => db.posts.findMany({ after, where: { published: true } })),
    },
    { name: 'unpublished', run: (db) => db.posts.findMany({ where: { published: false } }) },
    {
      name: 'created in a range',
      run: (db) => db.posts.findMany({ where: { createdAfter: earlier, createdBefore: later } }),
    },
    { name: 'withDeleted', run: (db) => db.posts.findMany({ withDeleted: true }) },
    { name: 'onlyDeleted', run: (db) => db.posts.findMany({ onlyDeleted: true }) },
  ],
  stream: [
    { name: "an author's posts", run: (db) => drain(db.posts.stream({ where: { authorId: userId(7) } })) },
    {
      name: "an author's published posts, with author, oldest first",
      run: (db) =>
        drain(
          db.posts.stream({
            where: { authorId: userId(7), published: true },
            include: { author: true },
            orderBy: { createdAt: 'asc' },
          }),
        ),
    },
  ],
  update: [
    { name: 'title and content', run: (db) => db.posts.update(postId(31), { title: 'T', content: 'C' }) },
  ],
  publish: [{ name: 'a draft', run: (db) => db.posts.publish(postId(3)) }],
  unpublish: [{ name: 'a published post', run: (db) => db.posts.unpublish(postId(4)) }],
  softDelete: [{ name: 'a post', run: (db) => db.posts.softDelete(postId(32)) }],
  restore: [{ name: 'a soft-deleted post', run: (db) => db.posts.restore(postId(100)) }],
  hardDelete: [{ name: 'a post', run: (db) => db.posts.hardDelete(postId(33)) }],
  countByAuthor: [
    {
      name: 'some authors',
      run: (db) => db.posts.countByAuthor({ authorIds: [userId(1), userId(2), userId(3), 'user-missing'] }),
    },
    {
      name: "some authors' published posts",
      run: (db) => db.posts.countByAuthor({ authorIds: [userId(1), userId(2)], published: true }),
    },
    {
      name: 'some authors, withDeleted',
      run: (db) => db.posts.countByAuthor({ authorIds: [userId(50)], withDeleted: true }),
    },
  ],
  findByMetadata: [
    {
      name: 'category, two pages',
      run: (db) => twoPages((after) => db.posts.findByMetadata({ category: 'howto' }, { after })),
    },
    { name: 'any of some tags', run: (db) => db.posts.findByMetadata({ tags: { any: ['t3', 't4'] } }) },
    { name: 'all of some tags', run: (db) => db.posts.findByMetadata({ tags: { all: ['t3', 't7'] } }) },
    {
      name: 'contains an object',
      run: (db) => db.posts.findByMetadata({ contains: { category: 'news', tags: ['t1'] } }),
    },
    {
      name: 'category, with author, oldest first',
      run: (db) =>
        db.posts.findByMetadata(
          { category: 'review' },
          { include: { author: true }, orderBy: { createdAt: 'asc' } },
        ),
    },
  ],
  updateMetadata: [
    { name: 'merge', run: (db) => db.posts.updateMetadata(postId(41), { merge: { featured: true } }) },
    {
      name: 'set a path',
      run: (db) => db.posts.updateMetadata(postId(41), { set: { path: ['seo', 'title'], value: 'x' } }),
    },
    { name: 'remove a key', run: (db) => db.posts.updateMetadata(postId(41), { remove: 'featured' }) },
  ],
  search: [
    { name: 'websearch', run: (db) => db.posts.search('walrus') },
    {
      name: 'websearch, two pages',
      run: (db) => twoPages((after) => db.posts.search('walrus', { first: 50, ...(after && { after }) })),
    },
    {
      name: 'prefix',
      run: (db) => db.posts.search('walr', { mode: 'prefix' }),
    },
    { name: "an author's posts", run: (db) => db.posts.search('walrus', { authorId: userId(1) }) },
  ],
};

const rolesCases: Cases<RolesRepository> = {
  assign: [
    { name: 'a new role', run: (db) => db.roles.assign(userId(3), { name: 'reviewer' }) },
    { name: 'a role the user has', run: (db) => db.roles.assign(userId(1001), { name: ADMIN }) },
    {
      name: 'to a deleted user (both statements)',
      run: (db) => db.roles.assign(deletedUser, { name: 'reviewer' }),
    },
  ],
  revoke: [{ name: 'a role', run: (db) => db.roles.revoke(userId(2001), ADMIN) }],
  listForUser: [{ name: 'a user', run: (db) => db.roles.listForUser(userId(60)) }],
  findUsersWithRole: [
    {
      name: 'two pages',
      run: (db) => twoPages((after) => db.roles.findUsersWithRole(ADMIN, { first: 10, after })),
    },
    { name: 'with roles', run: (db) => db.roles.findUsersWithRole('editor', { include: { roles: true } }) },
  ],
};

const repositories = { users: usersCases, posts: postsCases, roles: rolesCases } as const;

/** The methods of a repository object, as the layer builds it. */
const methodsOf = (repository: object) =>
  Object.entries(repository)
    .filter(([, value]) => typeof value === 'function')
    .map(([key]) => key)
    .sort();

describe('the cases cover every repository method', () => {
  it.each(Object.keys(repositories) as (keyof typeof repositories)[])('%s', (name) => {
    expect(Object.keys(repositories[name]).sort()).toEqual(methodsOf(db[name]));
    for (const cases of Object.values<Case[]>(repositories[name])) expect(cases.length).toBeGreaterThan(0);
  });
});

for (const [repository, methods] of Object.entries(repositories)) {
  describe(`${repository}: every statement is index-backed`, () => {
    for (const [method, cases] of Object.entries<Case[]>(methods)) {
      for (const { name, run } of cases) {
        it(`${method}: ${name}`, async () => {
          const plans = await plansOf(run);
          for (const { sql, scans } of plans) {
            const tableScans = scans.filter(ours);
            expect(tableScans.filter(isSequential).map(describeScan), sql).toEqual([]);
            if (tableScans.length > 0) expect(tableScans.some(isIndexScan), sql).toBe(true);
          }
        });
      }
    }
  });
}

describe("users.hardDelete's cascades", () => {
  // ON DELETE CASCADE runs these statements inside the DELETE, where EXPLAIN cannot see them: the
  // foreign-key trigger's own query shape, planned here for a user with posts and roles.
  it.each([
    ['pg_posts', 'DELETE FROM ONLY public.pg_posts WHERE $1 OPERATOR(pg_catalog.=) "authorId"'],
    ['pg_roles', 'DELETE FROM ONLY public.pg_roles WHERE $1 OPERATOR(pg_catalog.=) "userId"'],
  ])('find the rows of %s through an index', async (table, statement) => {
    const scans = scansIn(await explain(planner, statement, [userId(17)]), tableOfIndex);
    expect(scans.filter((scan) => scan.table === table).map(describeScan)).toEqual([
      expect.stringMatching(/^(Index Scan|Bitmap Heap Scan)/),
      ...(scans.some((scan) => scan.nodeType === BITMAP_HEAP)
        ? [expect.stringMatching(/^Bitmap Index Scan/)]
        : []),
    ]);
  });
});

/**
 * What a query must read when the answer depends on (nearly) every row: no index can narrow it, and
 * reading the table (or a whole index) is the plan to want. Each is asserted to read at least 90% of the
 * table, so one that becomes selective moves to the index-backed cases above.
 */
const readsEverything: (Case & { table: 'pg_users' | 'pg_posts'; why: string })[] = [
  {
    name: 'users.count()',
    table: 'pg_users',
    why: 'counts every live user',
    run: (db) => db.users.count(),
  },
  {
    name: 'users.count({ withDeleted })',
    table: 'pg_users',
    why: 'counts every user',
    run: (db) => db.users.count({ withDeleted: true }),
  },
  {
    name: 'users.count({ where: { emailContains } })',
    table: 'pg_users',
    why: 'a substring can be anywhere in an email: a btree cannot find it (a trigram index could)',
    run: (db) => db.users.count({ where: { emailContains: 'user12' } }),
  },
  {
    name: 'users.count({ where: { hasRole } }) for a role every user has',
    table: 'pg_users',
    why: 'the users with the role are nearly all users; the planner rightly reads pg_users whole',
    run: (db) => db.users.count({ where: { hasRole: MEMBER } }),
  },
  {
    name: 'posts.countByAuthor() for all authors',
    table: 'pg_posts',
    why: 'counts every visible post, per author',
    run: (db) => db.posts.countByAuthor(),
  },
  {
    name: 'posts.countByAuthor({ published }) for all authors',
    table: 'pg_posts',
    why: 'two thirds of all posts are published: counting them reads the table',
    run: (db) => db.posts.countByAuthor({ published: true }),
  },
  {
    name: 'users.stream()',
    table: 'pg_users',
    why: 'every live user, one batch at a time',
    run: (db) => drain(db.users.stream()),
  },
  {
    name: 'posts.stream()',
    table: 'pg_posts',
    why: 'every visible post, one batch at a time',
    run: (db) => drain(db.posts.stream()),
  },
  {
    name: "the spec's user summary (raw SQL)",
    table: 'pg_posts',
    why: 'post count and roles of every user: an aggregate over all three tables',
    run: (db) => db.executeRaw(SPEC_USER_SUMMARY_SQL),
  },
];

describe('queries that read (nearly) every row by nature', () => {
  it.each(readsEverything)('$name reads all of $table: $why', async ({ run, table }) => {
    const [{ total }] = (
      await planner.query<{ total: number }>(`SELECT count(*)::int AS total FROM ${table}`)
    ).rows as [{ total: number }];
    const statements = await statementsOf(run);
    expect(statements).toHaveLength(1);
    const [statement] = statements as [QueryEvent];
    // ANALYZE runs the statement: these are all reads.
    const plan = await explain(planner, statement.sql, statement.params, { analyze: true });
    expect(rowsRead(plan, table)).toBeGreaterThanOrEqual(0.9 * total);
  });
});
