/**
 * db.users.findById / getById / findByEmail / getByEmail against a real PostgreSQL: lookups by id and by
 * email, the relations they include (posts and roles in one statement), and soft-deleted users.
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import { NotFoundError } from '../../../src/errors/classes.js';
import { collectingLogger } from '../../support/collecting-logger.js';
import { setCreatedAt } from '../../support/created-at.js';
import { rejection } from '../../support/rejection.js';
import { statementsSent } from '../../support/statements-sent.js';
import { useTestDatabase } from '../../support/test-database.js';
import { uniqueEmail } from '../../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

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
    const email = uniqueEmail();
    expect(await db.users.findById(id)).toBeUndefined();
    expect(await db.users.findByEmail(email)).toBeUndefined();

    const byId = await rejection(db.users.getById(id));
    expect(byId).toBeInstanceOf(NotFoundError);
    expect(byId).toMatchObject({ entity: 'User', message: `User not found: id "${id}"` });
    const byEmail = await rejection(db.users.getByEmail(email));
    expect(byEmail).toBeInstanceOf(NotFoundError);
    // The email is personal data: the message says which lookup failed, not the address.
    expect((byEmail as NotFoundError).criteria).toBe('with that email');
    expect((byEmail as NotFoundError).message).not.toContain(email);
  });

  it('treats LIKE wildcards in an email lookup as plain characters', async () => {
    const user = await db.users.create({ email: uniqueEmail() });
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
    expect(await rejection(db.users.findById(''))).toMatchObject({ name: 'ValidationError', field: 'id' });
    expect(await rejection(db.users.findByEmail(''))).toMatchObject({
      name: 'ValidationError',
      field: 'email',
    });
    expect(
      await rejection(db.users.findById(createId(), { withDeleted: true, onlyDeleted: true })),
    ).toMatchObject({ name: 'ValidationError', field: 'onlyDeleted' });
    expect(
      await rejection(db.users.findById(createId(), { include: { comments: true } } as never)),
    ).toMatchObject({ name: 'ValidationError', field: 'include.comments' });
  });

  describe('include', () => {
    let userId: string;
    const postIds: Record<string, string> = {};

    beforeAll(async () => {
      const user = await db.users.create({
        email: uniqueEmail(),
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
        await setCreatedAt(testDb.url, 'pg_posts', post.id, new Date(times[index] as string));
      }
      await db.posts.softDelete(postIds.deleted as string);
    });

    const titles = (user: { posts: { title: string }[] } | undefined) =>
      user?.posts.map((post) => post.title);

    it('includes live posts, newest first, as Posts with Dates', async () => {
      const user = await db.users.findById(userId, { include: { posts: true } });
      expect(titles(user)).toEqual(['third', 'second', 'first']);
      expect(user?.posts[2]?.createdAt).toEqual(new Date('2021-01-01T00:00:00.001Z'));
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
      expect(await rejection(db.users.getById(userId, { include: { posts: { limit: 0 } } }))).toMatchObject({
        name: 'ValidationError',
        field: 'include.posts.limit',
      });
    });

    it('includes soft-deleted posts only when asked', async () => {
      const user = await db.users.getById(userId, { include: { posts: { withDeleted: true } } });
      expect(titles(user)).toEqual(['deleted', 'third', 'second', 'first']);
      expect(user.posts[0]?.deletedAt).toBeInstanceOf(Date);
    });

    it('includes roles ordered by name, and both relations in one statement', async () => {
      let user: Awaited<ReturnType<typeof db.users.getById<{ posts: true; roles: true }>>> | undefined;
      const statements = await statementsSent(db, async () => {
        user = await db.users.getById(userId, { include: { posts: true, roles: true } });
      });
      expect(statements).toHaveLength(1);
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
      const deleted = await db.users.create({ email: uniqueEmail() });
      const live = await db.users.create({ email: uniqueEmail() });
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
      const email = uniqueEmail();
      const old = await db.users.create({ email });
      await db.users.softDelete(old.id);
      const current = await db.users.create({ email: email.toUpperCase() });

      expect((await db.users.findByEmail(email, { withDeleted: true }))?.id).toBe(current.id);
      expect((await db.users.findByEmail(email))?.id).toBe(current.id);
      expect((await db.users.findByEmail(email, { onlyDeleted: true }))?.id).toBe(old.id);
    });

    it('without a live one, the most recently deleted user is found', async () => {
      const email = uniqueEmail();
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
