/**
 * db.users against a real PostgreSQL: every method and option, the one-statement promises (nested
 * create, soft delete, pages with relations) counted from the query log, and the failure modes.
 */
import { createId, isCuid } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import {
  CheckViolationError,
  NotFoundError,
  UniqueViolationError,
  ValidationError,
} from '../../src/errors/classes.js';
import type { User } from '../../src/repositories/models.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
const logger = collectingLogger();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env({ DATABASE_LOG_LEVEL: 'debug' })), { logger });
});
afterAll(() => db.disconnect());

/** A fresh, unique email; the tag keeps a test's users apart from every other test's. */
const newEmail = (tag = createId()) => `${tag}.${createId()}@example.com`;

/** How many statements `work` sent to the server (settled either way), from the debug query log. */
async function statementsOf(work: () => Promise<unknown>): Promise<number> {
  const before = logger.lines.length;
  await work().catch(() => undefined);
  return logger.lines
    .slice(before)
    .filter((line) => line.level === 'debug' && line.message.startsWith('query')).length;
}

/** The rejection of `work`, which must reject. */
async function rejectionOf(work: Promise<unknown>): Promise<Error> {
  const settled = await work.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!(settled instanceof Error)) throw new Error(`expected a rejection with an Error, got ${settled}`);
  return settled;
}

async function countRows(text: string, params: unknown[]): Promise<number> {
  const [row] = await db.executeRaw<{ n: number }>(text, params);
  return row?.n ?? -1;
}

const usersWithEmail = (email: string) =>
  countRows('SELECT count(*)::int AS n FROM pg_users WHERE lower(email) = lower($1)', [email]);

async function setCreatedAt(table: 'pg_users' | 'pg_posts', id: string, at: Date) {
  await db.executeRaw(`UPDATE ${table} SET created_at = $1 WHERE id = $2`, [at, id]);
}

async function postRow(id: string) {
  const [row] = await db.executeRaw<{ deleted_at: Date | null; title: string }>(
    'SELECT deleted_at, title FROM pg_posts WHERE id = $1',
    [id],
  );
  return row;
}

async function userRow(id: string) {
  const [row] = await db.executeRaw<{ deleted_at: Date | null; email: string }>(
    'SELECT deleted_at, email FROM pg_users WHERE id = $1',
    [id],
  );
  return row;
}

/** Live users for the tests that need a crowd; returns them in creation order. */
async function createUsers(tag: string, count: number): Promise<User[]> {
  const users: User[] = [];
  for (let index = 0; index < count; index++) {
    users.push(await db.users.create({ email: newEmail(tag), name: `User ${index}` }));
  }
  return users;
}

const at = (iso: string) => new Date(iso);

describe('users.create', () => {
  it('returns exactly what the server stored: values, timestamps and metadata, in the order given', async () => {
    const created = await db.users.create({
      email: newEmail('stored'),
      name: 'Stored',
      profileImage: 'https://example.com/a.png',
      posts: [
        { title: 'first', content: 'x', published: true, metadata: { b: 1, a: [1, 'two', { c: null }] } },
        { title: 'second' },
      ],
      roles: [{ name: 'editor', description: 'edits' }, { name: 'author' }],
    });
    const stored = await db.users.getById(created.id, { include: { posts: true, roles: true } });
    const byId = <T extends { id: string }>(items: T[]) => [...items].sort((x, y) => (x.id < y.id ? -1 : 1));
    expect({ ...created, posts: byId(created.posts), roles: byId(created.roles) }).toEqual({
      ...stored,
      posts: byId(stored.posts),
      roles: byId(stored.roles),
    });
    expect(created.posts.map((post) => post.title)).toEqual(['first', 'second']);
    expect(created.roles.map((role) => role.name)).toEqual(['editor', 'author']);
    expect(created.posts[0]?.createdAt).not.toBe(created.createdAt);
  });

  it("creates the spec's user with its posts and roles, shaped as the models say", async () => {
    const email = newEmail('spec');
    const user = await db.users.create({
      email,
      name: 'John Doe',
      posts: [{ title: 'First Post', content: 'Hello World!', published: true }],
      roles: [{ name: 'author', description: 'Content author role' }],
    });

    expect(isCuid(user.id)).toBe(true);
    expect(user).toMatchObject({ email, name: 'John Doe', profileImage: null, deletedAt: null });
    expect(user.createdAt).toBeInstanceOf(Date);
    expect(user.updatedAt).toBeInstanceOf(Date);
    expect(user.posts).toEqual([
      {
        id: expect.any(String),
        title: 'First Post',
        content: 'Hello World!',
        published: true,
        authorId: user.id,
        metadata: {},
        createdAt: expect.any(Date),
        updatedAt: expect.any(Date),
        deletedAt: null,
      },
    ]);
    expect(user.roles).toEqual([
      {
        id: expect.any(String),
        name: 'author',
        description: 'Content author role',
        userId: user.id,
        createdAt: expect.any(Date),
      },
    ]);
    expect(isCuid(user.posts[0]?.id ?? '')).toBe(true);
    expect(isCuid(user.roles[0]?.id ?? '')).toBe(true);
    // Nested dates come from JSON: they must still be the stored instants, as Dates.
    expect(user.posts[0]?.createdAt.getTime()).toBe(user.createdAt.getTime());

    const stored = await db.executeRaw<{ email: string; name: string }>(
      'SELECT email, name FROM pg_users WHERE id = $1',
      [user.id],
    );
    expect(stored).toEqual([{ email, name: 'John Doe' }]);
    const posts = await db.executeRaw('SELECT id, title, published FROM pg_posts WHERE "authorId" = $1', [
      user.id,
    ]);
    expect(posts).toEqual([{ id: user.posts[0]?.id, title: 'First Post', published: true }]);
    const roles = await db.executeRaw('SELECT id, name, description FROM pg_roles WHERE "userId" = $1', [
      user.id,
    ]);
    expect(roles).toEqual([{ id: user.roles[0]?.id, name: 'author', description: 'Content author role' }]);
  });

  it('creates a bare user with defaults: no name, no posts, no roles', async () => {
    const email = newEmail();
    const user = await db.users.create({ email });
    expect(user).toMatchObject({ email, name: null, profileImage: null, posts: [], roles: [] });
  });

  it('honours an explicit id and keeps metadata and profileImage', async () => {
    const id = createId();
    const user = await db.users.create({
      id,
      email: newEmail(),
      profileImage: 'https://example.com/a.png',
      posts: [{ title: 'With metadata', metadata: { tags: ['a', 'b'], views: 3 } }],
    });
    expect(user.id).toBe(id);
    expect(user.profileImage).toBe('https://example.com/a.png');
    expect(user.posts[0]).toMatchObject({
      published: false,
      content: null,
      metadata: { tags: ['a', 'b'], views: 3 },
    });
  });

  it('returns posts and roles in the order given, not in storage or name order', async () => {
    const titles = ['Charlie', 'alpha', 'Bravo', 'echo', 'Delta'];
    const names = ['zeta', 'alpha', 'mid', 'beta'];
    const user = await db.users.create({
      email: newEmail(),
      posts: titles.map((title) => ({ title })),
      roles: names.map((name) => ({ name })),
    });
    expect(user.posts.map((post) => post.title)).toEqual(titles);
    expect(user.roles.map((role) => role.name)).toEqual(names);
  });

  it('sends the user, its posts and its roles as ONE statement', async () => {
    const statements = await statementsOf(() =>
      db.users.create({
        email: newEmail(),
        posts: [{ title: 'one' }, { title: 'two' }, { title: 'three' }],
        roles: [{ name: 'a' }, { name: 'b' }],
      }),
    );
    expect(statements).toBe(1);
  });

  describe('is all or nothing', () => {
    it('writes no posts or roles when the user row fails (email of a live user)', async () => {
      const email = newEmail();
      await db.users.create({ email });
      const tag = createId();
      const error = await rejectionOf(
        db.users.create({
          email: email.toUpperCase(),
          posts: [{ title: `post ${tag}` }],
          roles: [{ name: `role ${tag}` }],
        }),
      );
      expect(error).toBeInstanceOf(UniqueViolationError);
      expect((error as UniqueViolationError).columns).toEqual(['email']);
      expect(await usersWithEmail(email)).toBe(1);
      expect(
        await countRows('SELECT count(*)::int AS n FROM pg_posts WHERE title = $1', [`post ${tag}`]),
      ).toBe(0);
      expect(
        await countRows('SELECT count(*)::int AS n FROM pg_roles WHERE name = $1', [`role ${tag}`]),
      ).toBe(0);
    });

    it('gives an existing user no posts or roles when an explicit id collides', async () => {
      const existing = await db.users.create({ email: newEmail() });
      const email = newEmail();
      const error = await rejectionOf(
        db.users.create({ id: existing.id, email, posts: [{ title: 'stray' }], roles: [{ name: 'stray' }] }),
      );
      expect(error).toBeInstanceOf(UniqueViolationError);
      expect((error as UniqueViolationError).columns).toEqual(['id']);
      expect(await usersWithEmail(email)).toBe(0);
      // The posts and roles would have pointed at the existing user's id.
      expect(
        await countRows('SELECT count(*)::int AS n FROM pg_posts WHERE "authorId" = $1', [existing.id]),
      ).toBe(0);
      expect(
        await countRows('SELECT count(*)::int AS n FROM pg_roles WHERE "userId" = $1', [existing.id]),
      ).toBe(0);
    });

    it('leaves no user and no earlier posts when a later post fails on the server', async () => {
      // A constraint only the server knows: validation cannot catch it, so the statement fails mid-way.
      await db.executeRaw("ALTER TABLE pg_posts ADD CONSTRAINT test_no_boom CHECK (title <> 'boom')");
      try {
        const email = newEmail();
        const tag = createId();
        const error = await rejectionOf(
          db.users.create({
            email,
            posts: [{ title: `ok ${tag}` }, { title: 'boom' }],
            roles: [{ name: `role ${tag}` }],
          }),
        );
        expect(error).toBeInstanceOf(CheckViolationError);
        expect(error).toMatchObject({ table: 'pg_posts', constraint: 'test_no_boom' });
        expect(await usersWithEmail(email)).toBe(0);
        expect(
          await countRows('SELECT count(*)::int AS n FROM pg_posts WHERE title = $1', [`ok ${tag}`]),
        ).toBe(0);
        expect(
          await countRows('SELECT count(*)::int AS n FROM pg_roles WHERE name = $1', [`role ${tag}`]),
        ).toBe(0);
      } finally {
        await db.executeRaw('ALTER TABLE pg_posts DROP CONSTRAINT test_no_boom');
      }
    });

    it('leaves no user and no posts when a role fails on the server', async () => {
      await db.executeRaw("ALTER TABLE pg_roles ADD CONSTRAINT test_no_boom CHECK (name <> 'boom')");
      try {
        const email = newEmail();
        const tag = createId();
        const error = await rejectionOf(
          db.users.create({
            email,
            posts: [{ title: `ok ${tag}` }],
            roles: [{ name: 'fine' }, { name: 'boom' }],
          }),
        );
        expect(error).toBeInstanceOf(CheckViolationError);
        expect(error).toMatchObject({ table: 'pg_roles', constraint: 'test_no_boom' });
        expect(await usersWithEmail(email)).toBe(0);
        expect(
          await countRows('SELECT count(*)::int AS n FROM pg_posts WHERE title = $1', [`ok ${tag}`]),
        ).toBe(0);
      } finally {
        await db.executeRaw('ALTER TABLE pg_roles DROP CONSTRAINT test_no_boom');
      }
    });
  });

  describe('rejects bad input before anything reaches the database', () => {
    const cases: [string, Record<string, unknown>, string][] = [
      ['a malformed email', { email: 'not-an-email' }, 'email'],
      ['a blank name', { email: 'x@example.com', name: '   ' }, 'name'],
      ['a name over 200 characters', { email: 'x@example.com', name: 'n'.repeat(201) }, 'name'],
      ['an unknown field', { email: 'x@example.com', emial: 'x@example.com' }, 'emial'],
      [
        'an empty post title',
        { email: 'x@example.com', posts: [{ title: 'ok' }, { title: '' }] },
        'posts.1.title',
      ],
      ['a blank post title', { email: 'x@example.com', posts: [{ title: ' \t ' }] }, 'posts.0.title'],
      ['a blank role name', { email: 'x@example.com', roles: [{ name: ' ' }] }, 'roles.0.name'],
      [
        'a role given twice',
        { email: 'x@example.com', roles: [{ name: 'a' }, { name: 'a' }] },
        'roles.1.name',
      ],
      [
        'metadata that is not an object',
        { email: 'x@example.com', posts: [{ title: 't', metadata: [1] }] },
        'posts.0.metadata',
      ],
      [
        'a profileImage over 500 characters',
        { email: 'x@example.com', profileImage: 'p'.repeat(501) },
        'profileImage',
      ],
    ];

    it.each(cases)('%s', async (_, input, field) => {
      const email = newEmail();
      const withOwnEmail = { ...input, email: input.email === 'x@example.com' ? email : input.email };
      let error: Error | undefined;
      const statements = await statementsOf(async () => {
        error = await rejectionOf(db.users.create(withOwnEmail as never));
      });
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect(statements).toBe(0);
      expect(await usersWithEmail(email)).toBe(0);
    });

    it('names both the missing email and the misspelt field', async () => {
      const error = await rejectionOf(db.users.create({ emial: 'x@example.com' } as never));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues.map((issue) => issue.field)).toEqual(
        expect.arrayContaining(['email', 'emial']),
      );
    });
  });

  it('lets exactly one of two concurrent creates with the same email (differing in case) win', async () => {
    const tag = createId();
    const email = `Race.${tag}@Example.com`;
    const results = await Promise.allSettled([
      db.users.create({ email }),
      db.users.create({ email: email.toLowerCase() }),
    ]);
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(UniqueViolationError);
    expect(reason.columns).toEqual(['email']);
    expect(await usersWithEmail(email)).toBe(1);
  });

  it("reports a failure with a stack that starts at the caller's line", async () => {
    const email = newEmail();
    await db.users.create({ email });
    const error = await rejectionOf(db.users.create({ email }));
    expect(error).toBeInstanceOf(UniqueViolationError);
    const firstFrame = (error.stack ?? '').split('\n').find((line) => line.startsWith('    at '));
    expect(firstFrame).toContain('test/repositories/users.test.ts');
  });

  it.each([
    ['NotFoundError', () => db.users.getById('no-such-user')],
    ['ValidationError', () => db.users.create({ email: 'not an email' })],
  ])("starts the stack of a %s at the caller's line too", async (name, call) => {
    const error = await rejectionOf(call());
    expect(error.name).toBe(name);
    const firstFrame = (error.stack ?? '').split('\n').find((line) => line.startsWith('    at '));
    expect(firstFrame).toContain('test/repositories/users.test.ts');
  });
});

describe('users.findById / getById / findByEmail / getByEmail', () => {
  it('finds a user by id and by email, case-insensitively, without relations unless asked', async () => {
    const email = `Mixed.${createId()}@Example.com`;
    const created = await db.users.create({
      email,
      name: 'Ada',
      posts: [{ title: 'p' }],
      roles: [{ name: 'r' }],
    });
    const { posts: _posts, roles: _roles, ...plain } = created;

    const byId = await db.users.findById(created.id);
    expect(byId).toEqual(plain);
    expect(byId).not.toHaveProperty('posts');
    expect(byId).not.toHaveProperty('roles');
    expect(await db.users.getById(created.id)).toEqual(plain);
    expect(await db.users.findByEmail(email.toLowerCase())).toEqual(plain);
    expect(await db.users.getByEmail(email.toUpperCase())).toEqual(plain);
  });

  it('returns undefined from find… and throws NotFoundError from get… when nothing matches', async () => {
    const id = createId();
    const email = newEmail();
    expect(await db.users.findById(id)).toBeUndefined();
    expect(await db.users.findByEmail(email)).toBeUndefined();

    const byId = await rejectionOf(db.users.getById(id));
    expect(byId).toBeInstanceOf(NotFoundError);
    expect(byId).toMatchObject({ entity: 'User', message: `User not found: id "${id}"` });
    const byEmail = await rejectionOf(db.users.getByEmail(email));
    expect(byEmail).toBeInstanceOf(NotFoundError);
    // The email is personal data: the message says which lookup failed, not the address.
    expect((byEmail as NotFoundError).criteria).toBe('with that email');
    expect((byEmail as NotFoundError).message).not.toContain(email);
  });

  it('treats LIKE wildcards in an email lookup as plain characters', async () => {
    const user = await db.users.create({ email: newEmail() });
    expect(await db.users.findByEmail(user.email.replace(/^./, '_'))).toBeUndefined();
    expect(await db.users.findByEmail('%')).toBeUndefined();
  });

  it('finds a user whose email is long but valid (up to 320 characters)', async () => {
    const email = `${'a'.repeat(60)}.${createId()}@${'b'.repeat(60)}.${'c'.repeat(60)}.example.com`;
    expect(email.length).toBeGreaterThan(128);
    const user = await db.users.create({ email });
    expect((await db.users.findByEmail(email))?.id).toBe(user.id);
    expect((await db.users.getByEmail(email.toUpperCase())).id).toBe(user.id);
  });

  it('rejects an empty id or email and contradictory soft-delete flags', async () => {
    expect(await rejectionOf(db.users.findById(''))).toMatchObject({ name: 'ValidationError', field: 'id' });
    expect(await rejectionOf(db.users.findByEmail(''))).toMatchObject({
      name: 'ValidationError',
      field: 'email',
    });
    expect(
      await rejectionOf(db.users.findById(createId(), { withDeleted: true, onlyDeleted: true })),
    ).toMatchObject({ name: 'ValidationError', field: 'onlyDeleted' });
    expect(
      await rejectionOf(db.users.findById(createId(), { include: { comments: true } } as never)),
    ).toMatchObject({ name: 'ValidationError', field: 'include.comments' });
  });

  describe('include', () => {
    let userId: string;
    const postIds: Record<string, string> = {};

    beforeAll(async () => {
      const user = await db.users.create({
        email: newEmail(),
        posts: [
          { title: 'first', published: true },
          { title: 'second', published: false },
          { title: 'third', published: true },
          { title: 'deleted', published: true },
        ],
        roles: [{ name: 'zeta' }, { name: 'alpha' }, { name: 'mid' }],
      });
      userId = user.id;
      // Controlled times, so the order is the test's and not the clock's.
      const times = [
        '2021-01-01T00:00:00.001Z',
        '2021-01-02T00:00:00Z',
        '2021-01-03T00:00:00Z',
        '2021-01-04T00:00:00Z',
      ];
      for (const [index, post] of user.posts.entries()) {
        postIds[post.title] = post.id;
        await setCreatedAt('pg_posts', post.id, at(times[index] as string));
      }
      await db.posts.softDelete(postIds.deleted as string);
    });

    const titles = (user: { posts: { title: string }[] } | undefined) =>
      user?.posts.map((post) => post.title);

    it('includes live posts, newest first, as Posts with Dates', async () => {
      const user = await db.users.findById(userId, { include: { posts: true } });
      expect(titles(user)).toEqual(['third', 'second', 'first']);
      expect(user?.posts[2]?.createdAt).toEqual(at('2021-01-01T00:00:00.001Z'));
      expect(user?.posts[0]?.deletedAt).toBeNull();
      expect(user).not.toHaveProperty('roles');
    });

    it('filters included posts by published', async () => {
      const published = await db.users.getById(userId, { include: { posts: { published: true } } });
      expect(titles(published)).toEqual(['third', 'first']);
      const drafts = await db.users.getById(userId, { include: { posts: { published: false } } });
      expect(titles(drafts)).toEqual(['second']);
    });

    it('orders included posts by createdAt asc or desc', async () => {
      const asc = await db.users.getById(userId, { include: { posts: { orderBy: { createdAt: 'asc' } } } });
      expect(titles(asc)).toEqual(['first', 'second', 'third']);
      const desc = await db.users.getById(userId, { include: { posts: { orderBy: { createdAt: 'desc' } } } });
      expect(titles(desc)).toEqual(['third', 'second', 'first']);
    });

    it('limits included posts, after filtering and ordering', async () => {
      const newest = await db.users.getById(userId, { include: { posts: { limit: 2 } } });
      expect(titles(newest)).toEqual(['third', 'second']);
      const oldestPublished = await db.users.getById(userId, {
        include: { posts: { published: true, orderBy: { createdAt: 'asc' }, limit: 1 } },
      });
      expect(titles(oldestPublished)).toEqual(['first']);
      expect(await rejectionOf(db.users.getById(userId, { include: { posts: { limit: 0 } } }))).toMatchObject(
        { name: 'ValidationError', field: 'include.posts.limit' },
      );
    });

    it('includes soft-deleted posts only when asked', async () => {
      const user = await db.users.getById(userId, { include: { posts: { withDeleted: true } } });
      expect(titles(user)).toEqual(['deleted', 'third', 'second', 'first']);
      expect(user.posts[0]?.deletedAt).toBeInstanceOf(Date);
    });

    it('includes roles ordered by name, and both relations in one statement', async () => {
      let user: Awaited<ReturnType<typeof db.users.getById<{ posts: true; roles: true }>>> | undefined;
      const statements = await statementsOf(async () => {
        user = await db.users.getById(userId, { include: { posts: true, roles: true } });
      });
      expect(statements).toBe(1);
      expect(user?.roles.map((role) => role.name)).toEqual(['alpha', 'mid', 'zeta']);
      expect(user?.roles[0]?.createdAt).toBeInstanceOf(Date);
      expect(user?.posts).toHaveLength(3);
      const byEmail = await db.users.findByEmail(user?.email ?? '', { include: { roles: true } });
      expect(byEmail?.roles.map((role) => role.name)).toEqual(['alpha', 'mid', 'zeta']);
      expect(byEmail).not.toHaveProperty('posts');
    });
  });

  describe('soft-deleted users', () => {
    it('are hidden by default, visible withDeleted, and alone with onlyDeleted', async () => {
      const deleted = await db.users.create({ email: newEmail() });
      const live = await db.users.create({ email: newEmail() });
      await db.users.softDelete(deleted.id);

      expect(await db.users.findById(deleted.id)).toBeUndefined();
      expect(await db.users.findByEmail(deleted.email)).toBeUndefined();
      await expect(db.users.getById(deleted.id)).rejects.toBeInstanceOf(NotFoundError);

      const withDeleted = await db.users.findById(deleted.id, { withDeleted: true });
      expect(withDeleted?.deletedAt).toBeInstanceOf(Date);
      expect((await db.users.findByEmail(deleted.email, { withDeleted: true }))?.id).toBe(deleted.id);
      expect((await db.users.findById(live.id, { withDeleted: true }))?.id).toBe(live.id);

      expect((await db.users.findById(deleted.id, { onlyDeleted: true }))?.id).toBe(deleted.id);
      expect(await db.users.findById(live.id, { onlyDeleted: true })).toBeUndefined();
      expect((await db.users.getByEmail(deleted.email, { onlyDeleted: true })).id).toBe(deleted.id);
    });

    it('lose to the live user holding their email again, with withDeleted', async () => {
      const email = newEmail();
      const old = await db.users.create({ email });
      await db.users.softDelete(old.id);
      const current = await db.users.create({ email: email.toUpperCase() });

      expect((await db.users.findByEmail(email, { withDeleted: true }))?.id).toBe(current.id);
      expect((await db.users.findByEmail(email))?.id).toBe(current.id);
      expect((await db.users.findByEmail(email, { onlyDeleted: true }))?.id).toBe(old.id);
    });

    it('without a live one, the most recently deleted user is found', async () => {
      const email = newEmail();
      const older = await db.users.create({ email });
      await db.users.softDelete(older.id);
      const newer = await db.users.create({ email });
      await db.users.softDelete(newer.id);
      // Make "older" the earlier deletion whatever the clock did.
      await db.executeRaw("UPDATE pg_users SET deleted_at = deleted_at - interval '1 day' WHERE id = $1", [
        older.id,
      ]);
      expect((await db.users.findByEmail(email, { withDeleted: true }))?.id).toBe(newer.id);
    });
  });
});

describe('users.findMany', () => {
  it('filters by emailContains, taking % and _ literally and ignoring case', async () => {
    const tag = createId();
    // The validator refuses % in an email; raw SQL stores the awkward ones.
    const insert = (email: string) =>
      db.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), email]);
    await insert(`${tag}.100%off@example.com`);
    await insert(`${tag}.100xoff@example.com`);
    await insert(`${tag}.a_b@example.com`);
    await insert(`${tag}.axb@example.com`);
    await insert(`${tag}.back\\slash@example.com`);
    await insert(`${tag}.backxslash@example.com`);

    const emails = async (emailContains: string) =>
      (await db.users.findMany({ where: { emailContains } })).items.map((user) => user.email);
    expect(await emails(`${tag}.100%off`)).toEqual([`${tag}.100%off@example.com`]);
    expect(await emails(`${tag}.a_b`)).toEqual([`${tag}.a_b@example.com`]);
    expect(await emails(`${tag}.back\\slash`)).toEqual([`${tag}.back\\slash@example.com`]);
    expect(await emails(`${tag.toUpperCase()}.AXB`)).toEqual([`${tag}.axb@example.com`]);
    expect((await emails(tag)).sort()).toHaveLength(6);
  });

  it('filters by nameContains, ignoring case and skipping users without a name', async () => {
    const tag = createId();
    const ada = await db.users.create({ email: newEmail(tag), name: 'Ada Lovelace' });
    await db.users.create({ email: newEmail(tag), name: 'Grace Hopper' });
    await db.users.create({ email: newEmail(tag) });
    const page = await db.users.findMany({ where: { emailContains: tag, nameContains: 'LOVE' } });
    expect(page.items.map((user) => user.id)).toEqual([ada.id]);
    expect((await db.users.findMany({ where: { emailContains: tag, nameContains: '' } })).items).toHaveLength(
      2,
    );
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    const tag = createId();
    const [early, middle, late] = await createUsers(tag, 3);
    await setCreatedAt('pg_users', early?.id as string, at('2020-01-01T00:00:00Z'));
    await setCreatedAt('pg_users', middle?.id as string, at('2020-06-01T00:00:00Z'));
    await setCreatedAt('pg_users', late?.id as string, at('2021-01-01T00:00:00Z'));

    const ids = async (where: { createdAfter?: Date; createdBefore?: Date }) =>
      (
        await db.users.findMany({ where: { emailContains: tag, ...where }, orderBy: { createdAt: 'asc' } })
      ).items.map((user) => user.id);
    expect(await ids({ createdAfter: at('2020-06-01T00:00:00Z') })).toEqual([middle?.id, late?.id]);
    expect(await ids({ createdBefore: at('2020-06-01T00:00:00Z') })).toEqual([early?.id]);
    expect(
      await ids({ createdAfter: at('2020-01-01T00:00:00.001Z'), createdBefore: at('2021-01-01T00:00:00Z') }),
    ).toEqual([middle?.id]);
    expect(
      await rejectionOf(db.users.findMany({ where: { createdAfter: new Date('nonsense') } })),
    ).toMatchObject({ name: 'ValidationError', field: 'where.createdAfter' });
  });

  it('filters by hasRole', async () => {
    const tag = createId();
    const editor = await db.users.create({
      email: newEmail(tag),
      roles: [{ name: 'editor' }, { name: 'author' }],
    });
    await db.users.create({ email: newEmail(tag), roles: [{ name: 'author' }] });
    await db.users.create({ email: newEmail(tag) });
    const page = await db.users.findMany({ where: { emailContains: tag, hasRole: 'editor' } });
    expect(page.items.map((user) => user.id)).toEqual([editor.id]);
    expect(
      (await db.users.findMany({ where: { emailContains: tag, hasRole: 'author' } })).items,
    ).toHaveLength(2);
    expect((await db.users.findMany({ where: { emailContains: tag, hasRole: 'Editor' } })).items).toEqual([]);
  });

  it('orders by createdAt, newest first by default, oldest first with asc', async () => {
    const tag = createId();
    const users = await createUsers(tag, 3);
    const times = ['2020-03-01T00:00:00Z', '2020-01-01T00:00:00Z', '2020-02-01T00:00:00Z'];
    for (const [index, user] of users.entries())
      await setCreatedAt('pg_users', user.id, at(times[index] as string));
    const [march, january, february] = users.map((user) => user.id);

    const ids = (page: { items: User[] }) => page.items.map((user) => user.id);
    expect(ids(await db.users.findMany({ where: { emailContains: tag } }))).toEqual([
      march,
      february,
      january,
    ]);
    expect(
      ids(await db.users.findMany({ where: { emailContains: tag }, orderBy: { createdAt: 'desc' } })),
    ).toEqual([march, february, january]);
    expect(
      ids(await db.users.findMany({ where: { emailContains: tag }, orderBy: { createdAt: 'asc' } })),
    ).toEqual([january, february, march]);
  });

  describe('keyset pagination', () => {
    let tag: string;

    beforeAll(async () => {
      tag = createId();
      const users = await createUsers(tag, 7);
      // Ties on created_at, so the id must break them for pages to neither repeat nor skip a row.
      const times = [
        '2020-01-01',
        '2020-01-01',
        '2020-01-01',
        '2020-01-02',
        '2020-01-02',
        '2020-01-03',
        '2020-01-03',
      ];
      for (const [index, user] of users.entries())
        await setCreatedAt('pg_users', user.id, at(`${times[index]}T00:00:00.000Z`));
    });

    async function walk(direction: 'asc' | 'desc', first: number, between?: () => Promise<unknown>) {
      const seen: string[] = [];
      let pages = 0;
      let after: string | undefined;
      do {
        const page = await db.users.findMany({
          where: { emailContains: tag },
          orderBy: { createdAt: direction },
          first,
          after,
        });
        pages++;
        expect(page.items.length).toBeLessThanOrEqual(first);
        seen.push(...page.items.map((user) => user.id));
        after = page.nextCursor;
        await between?.();
      } while (after !== undefined && pages < 20);
      return { seen, pages };
    }

    const everything = async (direction: 'asc' | 'desc') =>
      (
        await db.users.findMany({
          where: { emailContains: tag },
          orderBy: { createdAt: direction },
          first: 1000,
        })
      ).items;

    it('walks every page in either direction with no duplicates and no gaps', async () => {
      for (const direction of ['asc', 'desc'] as const) {
        const all = (await everything(direction)).map((user) => user.id);
        expect(all).toHaveLength(7);
        for (const first of [1, 2, 3, 7]) {
          const { seen, pages } = await walk(direction, first);
          expect(seen).toEqual(all);
          expect(pages).toBe(Math.ceil(7 / first));
        }
      }
      const asc = (await everything('asc')).map((user) => user.id);
      expect((await everything('desc')).map((user) => user.id)).toEqual([...asc].reverse());
    });

    it('keeps createdAt order across pages, ties included', async () => {
      const times = (await everything('asc')).map((user) => user.createdAt.getTime());
      expect(times).toEqual([...times].sort((a, b) => a - b));
    });

    it('ends without a cursor when the last page is exactly full', async () => {
      const first = await db.users.findMany({ where: { emailContains: tag }, first: 7 });
      expect(first.items).toHaveLength(7);
      expect(first.nextCursor).toBeUndefined();
      const six = await db.users.findMany({ where: { emailContains: tag }, first: 6 });
      expect(six.nextCursor).toBeDefined();
    });

    it('stays stable when users are created between pages', async () => {
      const before = (await everything('desc')).map((user) => user.id);
      const created: string[] = [];
      // New users are the newest: with offsets every later page would shift and repeat a row.
      const { seen } = await walk('desc', 2, async () => {
        created.push((await db.users.create({ email: newEmail(tag) })).id);
      });
      expect(seen).toEqual(before);
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of created) await db.users.hardDelete(id);
    });

    it('rejects a cursor that is not one, or was made for the other direction', async () => {
      const garbage = await rejectionOf(db.users.findMany({ after: 'not-a-cursor' }));
      expect(garbage).toBeInstanceOf(ValidationError);
      expect((garbage as ValidationError).field).toBe('after');
      const forged = Buffer.from(JSON.stringify(['asc', 'yesterday', 'x'])).toString('base64url');
      expect(await rejectionOf(db.users.findMany({ after: forged }))).toMatchObject({ field: 'after' });

      const desc = await db.users.findMany({ where: { emailContains: tag }, first: 2 });
      const reused = await rejectionOf(
        db.users.findMany({
          where: { emailContains: tag },
          first: 2,
          after: desc.nextCursor,
          orderBy: { createdAt: 'asc' },
        }),
      );
      expect(reused).toBeInstanceOf(ValidationError);
      expect((reused as ValidationError).field).toBe('after');
    });

    it('rejects a page size out of 1–1000 or not an integer', async () => {
      for (const first of [0, -1, 1001, 1.5, Number.NaN]) {
        const error = await rejectionOf(db.users.findMany({ first }));
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).field).toBe('first');
      }
      expect((await db.users.findMany({ where: { emailContains: tag }, first: 1000 })).items).toHaveLength(7);
    });
  });

  it('loads posts and roles for a whole page in ONE statement, however many users', async () => {
    const tag = createId();
    for (let index = 0; index < 6; index++) {
      await db.users.create({
        email: newEmail(tag),
        posts: [
          { title: `draft ${index}`, published: false },
          { title: `published ${index}`, published: true },
        ],
        roles: [{ name: 'writer' }, { name: 'reader' }],
      });
    }
    for (const first of [1, 6]) {
      let items: { posts: { title: string; createdAt: Date }[]; roles: { name: string }[] }[] = [];
      const statements = await statementsOf(async () => {
        const page = await db.users.findMany({
          where: { emailContains: tag },
          first,
          include: { posts: { published: true, orderBy: { createdAt: 'desc' } }, roles: true },
        });
        items = page.items;
      });
      expect(statements).toBe(1);
      expect(items).toHaveLength(first);
      for (const user of items) {
        expect(user.posts).toHaveLength(1);
        expect(user.posts[0]?.title).toMatch(/^published \d$/);
        expect(user.posts[0]?.createdAt).toBeInstanceOf(Date);
        expect(user.roles.map((role) => role.name)).toEqual(['reader', 'writer']);
      }
    }
  });

  it('applies the soft-delete options', async () => {
    const tag = createId();
    const [live, deleted] = await createUsers(tag, 2);
    await db.users.softDelete(deleted?.id as string);
    const ids = async (options: { withDeleted?: boolean; onlyDeleted?: boolean }) =>
      (
        await db.users.findMany({ where: { emailContains: tag }, orderBy: { createdAt: 'asc' }, ...options })
      ).items.map((user) => user.id);
    expect(await ids({})).toEqual([live?.id]);
    expect((await ids({ withDeleted: true })).sort()).toEqual([live?.id, deleted?.id].sort());
    expect(await ids({ onlyDeleted: true })).toEqual([deleted?.id]);
  });

  it('rejects unknown options and filters', async () => {
    expect(await rejectionOf(db.users.findMany({ where: { email: 'x' } } as never))).toMatchObject({
      name: 'ValidationError',
      field: 'where.email',
    });
    expect(await rejectionOf(db.users.findMany({ orderBy: { createdAt: 'up' } } as never))).toMatchObject({
      name: 'ValidationError',
      field: 'orderBy.createdAt',
    });
  });
});

describe('users.count', () => {
  it('counts with filters and the soft-delete options', async () => {
    const tag = createId();
    const users = await createUsers(tag, 4);
    await db.roles.assign(users[0]?.id as string, { name: 'counted' });
    await db.roles.assign(users[3]?.id as string, { name: 'counted' });
    await db.users.softDelete(users[3]?.id as string);

    expect(await db.users.count({ where: { emailContains: tag } })).toBe(3);
    expect(await db.users.count({ where: { emailContains: tag }, withDeleted: true })).toBe(4);
    expect(await db.users.count({ where: { emailContains: tag }, onlyDeleted: true })).toBe(1);
    expect(await db.users.count({ where: { emailContains: tag, hasRole: 'counted' } })).toBe(1);
    expect(
      await db.users.count({ where: { emailContains: tag, hasRole: 'counted' }, withDeleted: true }),
    ).toBe(2);
    expect(await db.users.count({ where: { emailContains: tag, nameContains: 'user 1' } })).toBe(1);
    expect(await db.users.count({ where: { emailContains: createId() } })).toBe(0);
    const all = await db.users.count();
    expect(all).toBe(await countRows('SELECT count(*)::int AS n FROM pg_users WHERE deleted_at IS NULL', []));
    expect(await rejectionOf(db.users.count({ withDeleted: true, onlyDeleted: true }))).toMatchObject({
      name: 'ValidationError',
      field: 'onlyDeleted',
    });
  });
});

describe('users.update', () => {
  it('changes only the fields given and moves updatedAt', async () => {
    const email = newEmail();
    const user = await db.users.create({ email, name: 'Before', profileImage: 'a.png' });
    await db.executeRaw("UPDATE pg_users SET updated_at = '2020-01-01T00:00:00Z' WHERE id = $1", [user.id]);

    const renamed = await db.users.update(user.id, { name: 'After' });
    expect(renamed).toMatchObject({
      id: user.id,
      email,
      name: 'After',
      profileImage: 'a.png',
      deletedAt: null,
    });
    expect(renamed.updatedAt.getTime()).toBeGreaterThan(at('2020-01-01T00:00:00Z').getTime());
    expect(renamed.createdAt).toEqual(user.createdAt);
    expect(renamed).not.toHaveProperty('posts');

    const newAddress = newEmail();
    const moved = await db.users.update(user.id, { email: newAddress, profileImage: null, name: null });
    expect(moved).toMatchObject({ email: newAddress, name: null, profileImage: null });
    expect(await db.users.findById(user.id)).toEqual(moved);
  });

  it('refuses an email another live user has, in any case, but takes a deleted user’s', async () => {
    const taken = await db.users.create({ email: newEmail() });
    const user = await db.users.create({ email: newEmail() });
    const error = await rejectionOf(db.users.update(user.id, { email: taken.email.toUpperCase() }));
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect((error as UniqueViolationError).columns).toEqual(['email']);
    expect((await userRow(user.id))?.email).toBe(user.email);

    await db.users.softDelete(taken.id);
    expect((await db.users.update(user.id, { email: taken.email })).email).toBe(taken.email);
  });

  it('refuses a soft-deleted or missing user with NotFoundError', async () => {
    const user = await db.users.create({ email: newEmail(), name: 'Kept' });
    await db.users.softDelete(user.id);
    await expect(db.users.update(user.id, { name: 'Changed' })).rejects.toBeInstanceOf(NotFoundError);
    expect((await db.users.findById(user.id, { withDeleted: true }))?.name).toBe('Kept');
    await expect(db.users.update(createId(), { name: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rejects an empty patch, a patch of only undefined values, unknown fields and bad values', async () => {
    const user = await db.users.create({ email: newEmail() });
    const cases: [unknown, string][] = [
      [{}, 'input'],
      [{ name: undefined }, 'input'],
      [{ emial: 'x@example.com' }, 'emial'],
      [{ email: 'nope' }, 'email'],
      [{ name: '' }, 'name'],
    ];
    for (const [patch, field] of cases) {
      const error = await rejectionOf(db.users.update(user.id, patch as never));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    }
    expect(await rejectionOf(db.users.update('', { name: 'x' }))).toMatchObject({ field: 'id' });
  });
});

describe('users.softDelete', () => {
  it('marks the user and its live posts deleted in one statement; earlier deletions keep their time', async () => {
    const user = await db.users.create({
      email: newEmail(),
      posts: [{ title: 'one' }, { title: 'two' }, { title: 'gone before' }],
      roles: [{ name: 'kept' }],
    });
    const [one, two, goneBefore] = user.posts.map((post) => post.id) as [string, string, string];
    await db.posts.softDelete(goneBefore);
    const earlier = at('2021-05-05T05:05:05.555Z');
    await db.executeRaw('UPDATE pg_posts SET deleted_at = $1 WHERE id = $2', [earlier, goneBefore]);
    expect((await db.posts.findMany({ where: { authorId: user.id } })).items).toHaveLength(2);

    let deleted: User | undefined;
    const statements = await statementsOf(async () => {
      deleted = await db.users.softDelete(user.id);
    });
    expect(statements).toBe(1);
    expect(deleted?.id).toBe(user.id);
    expect(deleted?.deletedAt).toBeInstanceOf(Date);

    const userDeletedAt = (await userRow(user.id))?.deleted_at;
    expect(userDeletedAt).toEqual(deleted?.deletedAt);
    expect((await postRow(one))?.deleted_at).toEqual(userDeletedAt);
    expect((await postRow(two))?.deleted_at).toEqual(userDeletedAt);
    expect((await postRow(goneBefore))?.deleted_at).toEqual(earlier);

    expect((await db.posts.findMany({ where: { authorId: user.id } })).items).toEqual([]);
    const visible = await db.executeRaw(
      'SELECT id FROM pg_posts WHERE "authorId" = $1 AND deleted_at IS NULL',
      [user.id],
    );
    expect(visible).toEqual([]);
    // Roles are not soft-deletable: they stay with the row.
    expect(await countRows('SELECT count(*)::int AS n FROM pg_roles WHERE "userId" = $1', [user.id])).toBe(1);
  });

  it('refuses a user already deleted, or missing, with NotFoundError', async () => {
    const user = await db.users.create({ email: newEmail() });
    await db.users.softDelete(user.id);
    const firstDeletion = (await userRow(user.id))?.deleted_at;
    await expect(db.users.softDelete(user.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await userRow(user.id))?.deleted_at).toEqual(firstDeletion);
    await expect(db.users.softDelete(createId())).rejects.toBeInstanceOf(NotFoundError);
  });

  it('frees the email for a new user', async () => {
    const email = newEmail();
    const old = await db.users.create({ email });
    await db.users.softDelete(old.id);
    const reused = await db.users.create({ email: email.toUpperCase() });
    expect(reused.id).not.toBe(old.id);
    expect(await usersWithEmail(email)).toBe(2);
  });
});

describe('users.restore', () => {
  it('brings back the user and exactly the posts its soft delete took', async () => {
    const user = await db.users.create({
      email: newEmail(),
      posts: [{ title: 'taken' }, { title: 'also taken' }, { title: 'deleted alone' }],
    });
    const [taken, alsoTaken, alone] = user.posts.map((post) => post.id) as [string, string, string];
    await db.posts.softDelete(alone);
    const aloneDeletedAt = (await postRow(alone))?.deleted_at;
    await db.users.softDelete(user.id);

    const restored = await db.users.restore(user.id);
    expect(restored).toMatchObject({ id: user.id, email: user.email, deletedAt: null });
    expect((await db.users.getById(user.id)).deletedAt).toBeNull();
    expect((await postRow(taken))?.deleted_at).toBeNull();
    expect((await postRow(alsoTaken))?.deleted_at).toBeNull();
    expect((await postRow(alone))?.deleted_at).toEqual(aloneDeletedAt);
    const visible = (await db.posts.findMany({ where: { authorId: user.id }, orderBy: { createdAt: 'asc' } }))
      .items;
    expect(visible.map((post) => post.id).sort()).toEqual([taken, alsoTaken].sort());
  });

  it('refuses, changing nothing, when another live user took the email meanwhile', async () => {
    const email = newEmail();
    const original = await db.users.create({ email, posts: [{ title: 'mine' }] });
    const postId = original.posts[0]?.id as string;
    await db.users.softDelete(original.id);
    const deletedAt = (await userRow(original.id))?.deleted_at;
    const usurper = await db.users.create({ email: email.toUpperCase() });

    const error = await rejectionOf(db.users.restore(original.id));
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect(error).toMatchObject({ table: 'pg_users', columns: ['email'] });
    expect((await userRow(original.id))?.deleted_at).toEqual(deletedAt);
    expect((await postRow(postId))?.deleted_at).toEqual(deletedAt);

    // Once the email is free again, the same restore works: the failed one left the state intact.
    await db.users.softDelete(usurper.id);
    await db.users.restore(original.id);
    expect((await postRow(postId))?.deleted_at).toBeNull();
  });

  it('refuses a live or missing user with NotFoundError', async () => {
    const user = await db.users.create({ email: newEmail() });
    await expect(db.users.restore(user.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.users.restore(createId())).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.users.restore('')).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('users.hardDelete', () => {
  it('removes the row with its posts and roles', async () => {
    const user = await db.users.create({
      email: newEmail(),
      posts: [{ title: 'a' }, { title: 'b' }],
      roles: [{ name: 'r' }],
    });
    await expect(db.users.hardDelete(user.id)).resolves.toBeUndefined();
    expect(await countRows('SELECT count(*)::int AS n FROM pg_users WHERE id = $1', [user.id])).toBe(0);
    expect(await countRows('SELECT count(*)::int AS n FROM pg_posts WHERE "authorId" = $1', [user.id])).toBe(
      0,
    );
    expect(await countRows('SELECT count(*)::int AS n FROM pg_roles WHERE "userId" = $1', [user.id])).toBe(0);
    expect(await db.users.findById(user.id, { withDeleted: true })).toBeUndefined();
  });

  it('also removes a soft-deleted user', async () => {
    const user = await db.users.create({ email: newEmail() });
    await db.users.softDelete(user.id);
    await db.users.hardDelete(user.id);
    expect(await userRow(user.id)).toBeUndefined();
  });

  it('refuses a missing user with NotFoundError', async () => {
    const id = createId();
    const error = await rejectionOf(db.users.hardDelete(id));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe(`User not found: id "${id}"`);
  });
});

describe('users inside a transaction', () => {
  it('roll back with the transaction, roles included', async () => {
    const email = newEmail();
    await expect(
      db.transaction(async (tx) => {
        const user = await tx.users.create({ email, posts: [{ title: 'tx post' }] });
        await tx.roles.assign(user.id, { name: 'tx role' });
        expect((await tx.users.getByEmail(email, { include: { roles: true } })).roles).toHaveLength(1);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await usersWithEmail(email)).toBe(0);
    expect(await countRows("SELECT count(*)::int AS n FROM pg_roles WHERE name = 'tx role'", [])).toBe(0);
  });
});
