/**
 * db.users.create against a real PostgreSQL: what it stores and returns, the user with its posts and roles
 * sent as one statement and written all or nothing, input refused before any SQL, the race for an email,
 * and stacks that start at the caller; and users inside a transaction.
 */
import { createId, isCuid } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import { CheckViolationError, UniqueViolationError, ValidationError } from '../../../src/errors/classes.js';
import { collectingLogger } from '../../support/collecting-logger.js';
import { rejection } from '../../support/rejection.js';
import { countRows, usersWithEmail } from '../../support/row-counts.js';
import { statementsSent } from '../../support/statements-sent.js';
import { useTestDatabase } from '../../support/test-database.js';
import { uniqueEmail } from '../../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

describe('users.create', () => {
  it('returns exactly what the server stored: values, timestamps and metadata, in the order given', async () => {
    const created = await db.users.create({
      email: uniqueEmail('stored'),
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
    const email = uniqueEmail('spec');
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
    const email = uniqueEmail();
    const user = await db.users.create({ email });
    expect(user).toMatchObject({ email, name: null, profileImage: null, posts: [], roles: [] });
  });

  it('honours an explicit id and keeps metadata and profileImage', async () => {
    const id = createId();
    const user = await db.users.create({
      id,
      email: uniqueEmail(),
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
      email: uniqueEmail(),
      posts: titles.map((title) => ({ title })),
      roles: names.map((name) => ({ name })),
    });
    expect(user.posts.map((post) => post.title)).toEqual(titles);
    expect(user.roles.map((role) => role.name)).toEqual(names);
  });

  it('sends the user, its posts and its roles as ONE statement', async () => {
    const statements = await statementsSent(db, () =>
      db.users.create({
        email: uniqueEmail(),
        posts: [{ title: 'one' }, { title: 'two' }, { title: 'three' }],
        roles: [{ name: 'a' }, { name: 'b' }],
      }),
    );
    expect(statements).toHaveLength(1);
  });

  describe('is all or nothing', () => {
    it('writes no posts or roles when the user row fails (email of a live user)', async () => {
      const email = uniqueEmail();
      await db.users.create({ email });
      const tag = createId();
      const error = await rejection(
        db.users.create({
          email: email.toUpperCase(),
          posts: [{ title: `post ${tag}` }],
          roles: [{ name: `role ${tag}` }],
        }),
      );
      expect(error).toBeInstanceOf(UniqueViolationError);
      expect((error as UniqueViolationError).columns).toEqual(['email']);
      expect(await usersWithEmail(testDb.url, email)).toBe(1);
      expect(
        await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_posts WHERE title = $1', [
          `post ${tag}`,
        ]),
      ).toBe(0);
      expect(
        await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_roles WHERE name = $1', [
          `role ${tag}`,
        ]),
      ).toBe(0);
    });

    it('gives an existing user no posts or roles when an explicit id collides', async () => {
      const existing = await db.users.create({ email: uniqueEmail() });
      const email = uniqueEmail();
      const error = await rejection(
        db.users.create({ id: existing.id, email, posts: [{ title: 'stray' }], roles: [{ name: 'stray' }] }),
      );
      expect(error).toBeInstanceOf(UniqueViolationError);
      expect((error as UniqueViolationError).columns).toEqual(['id']);
      expect(await usersWithEmail(testDb.url, email)).toBe(0);
      // The posts and roles would have pointed at the existing user's id.
      expect(
        await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_posts WHERE "authorId" = $1', [
          existing.id,
        ]),
      ).toBe(0);
      expect(
        await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_roles WHERE "userId" = $1', [
          existing.id,
        ]),
      ).toBe(0);
    });

    it('leaves no user and no earlier posts when a later post fails on the server', async () => {
      // A constraint only the server knows: validation cannot catch it, so the statement fails mid-way.
      await db.executeRaw("ALTER TABLE pg_posts ADD CONSTRAINT test_no_boom CHECK (title <> 'boom')");
      try {
        const email = uniqueEmail();
        const tag = createId();
        const error = await rejection(
          db.users.create({
            email,
            posts: [{ title: `ok ${tag}` }, { title: 'boom' }],
            roles: [{ name: `role ${tag}` }],
          }),
        );
        expect(error).toBeInstanceOf(CheckViolationError);
        expect(error).toMatchObject({ table: 'pg_posts', constraint: 'test_no_boom' });
        expect(await usersWithEmail(testDb.url, email)).toBe(0);
        expect(
          await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_posts WHERE title = $1', [
            `ok ${tag}`,
          ]),
        ).toBe(0);
        expect(
          await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_roles WHERE name = $1', [
            `role ${tag}`,
          ]),
        ).toBe(0);
      } finally {
        await db.executeRaw('ALTER TABLE pg_posts DROP CONSTRAINT test_no_boom');
      }
    });

    it('leaves no user and no posts when a role fails on the server', async () => {
      await db.executeRaw("ALTER TABLE pg_roles ADD CONSTRAINT test_no_boom CHECK (name <> 'boom')");
      try {
        const email = uniqueEmail();
        const tag = createId();
        const error = await rejection(
          db.users.create({
            email,
            posts: [{ title: `ok ${tag}` }],
            roles: [{ name: 'fine' }, { name: 'boom' }],
          }),
        );
        expect(error).toBeInstanceOf(CheckViolationError);
        expect(error).toMatchObject({ table: 'pg_roles', constraint: 'test_no_boom' });
        expect(await usersWithEmail(testDb.url, email)).toBe(0);
        expect(
          await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_posts WHERE title = $1', [
            `ok ${tag}`,
          ]),
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
      const email = uniqueEmail();
      const withOwnEmail = { ...input, email: input.email === 'x@example.com' ? email : input.email };
      let error: Error | undefined;
      const statements = await statementsSent(db, async () => {
        error = await rejection(db.users.create(withOwnEmail as never));
      });
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect(statements).toHaveLength(0);
      expect(await usersWithEmail(testDb.url, email)).toBe(0);
    });

    it('names both the missing email and the misspelt field', async () => {
      const error = await rejection(db.users.create({ emial: 'x@example.com' } as never));
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
    expect(await usersWithEmail(testDb.url, email)).toBe(1);
  });

  // These await the call here rather than in rejection(): the stack starts at the function that awaits.
  it("reports a failure with a stack that starts at the caller's line", async () => {
    const email = uniqueEmail();
    await db.users.create({ email });
    const error = await db.users.create({ email }).then(
      () => expect.fail('expected a rejection'),
      (caught: Error) => caught,
    );
    expect(error).toBeInstanceOf(UniqueViolationError);
    const firstFrame = (error.stack ?? '').split('\n').find((line) => line.startsWith('    at '));
    expect(firstFrame).toContain('test/repositories/users/create.test.ts');
  });

  it.each([
    ['NotFoundError', () => db.users.getById('no-such-user')],
    ['ValidationError', () => db.users.create({ email: 'not an email' })],
  ])("starts the stack of a %s at the caller's line too", async (name, call) => {
    const error = await call().then(
      () => expect.fail('expected a rejection'),
      (caught: Error) => caught,
    );
    expect(error.name).toBe(name);
    const firstFrame = (error.stack ?? '').split('\n').find((line) => line.startsWith('    at '));
    expect(firstFrame).toContain('test/repositories/users/create.test.ts');
  });
});

describe('users inside a transaction', () => {
  it('roll back with the transaction, roles included', async () => {
    const email = uniqueEmail();
    await expect(
      db.transaction(async (tx) => {
        const user = await tx.users.create({ email, posts: [{ title: 'tx post' }] });
        await tx.roles.assign(user.id, { name: 'tx role' });
        expect((await tx.users.getByEmail(email, { include: { roles: true } })).roles).toHaveLength(1);
        throw new Error('roll back');
      }),
    ).rejects.toThrow('roll back');
    expect(await usersWithEmail(testDb.url, email)).toBe(0);
    expect(
      await countRows(testDb.url, "SELECT count(*)::int AS n FROM pg_roles WHERE name = 'tx role'", []),
    ).toBe(0);
  });
});
