/**
 * db.users.update, softDelete, restore and hardDelete against a real PostgreSQL: what each changes (a
 * soft delete takes the user's live posts along, in one statement, and a restore brings back exactly
 * those), and what each refuses.
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import { NotFoundError, UniqueViolationError, ValidationError } from '../../../src/errors/classes.js';
import type { User } from '../../../src/repositories/models.js';
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

describe('users.update', () => {
  it('changes only the fields given and moves updatedAt', async () => {
    const email = uniqueEmail();
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
    expect(renamed.updatedAt.getTime()).toBeGreaterThan(new Date('2020-01-01T00:00:00Z').getTime());
    expect(renamed.createdAt).toEqual(user.createdAt);
    expect(renamed).not.toHaveProperty('posts');

    const newAddress = uniqueEmail();
    const moved = await db.users.update(user.id, { email: newAddress, profileImage: null, name: null });
    expect(moved).toMatchObject({ email: newAddress, name: null, profileImage: null });
    expect(await db.users.findById(user.id)).toEqual(moved);
  });

  it('refuses an email another live user has, in any case, but takes a deleted user’s', async () => {
    const taken = await db.users.create({ email: uniqueEmail() });
    const user = await db.users.create({ email: uniqueEmail() });
    const error = await rejection(db.users.update(user.id, { email: taken.email.toUpperCase() }));
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect((error as UniqueViolationError).columns).toEqual(['email']);
    expect((await userRow(user.id))?.email).toBe(user.email);

    await db.users.softDelete(taken.id);
    expect((await db.users.update(user.id, { email: taken.email })).email).toBe(taken.email);
  });

  it('refuses a soft-deleted or missing user with NotFoundError', async () => {
    const user = await db.users.create({ email: uniqueEmail(), name: 'Kept' });
    await db.users.softDelete(user.id);
    await expect(db.users.update(user.id, { name: 'Changed' })).rejects.toBeInstanceOf(NotFoundError);
    expect((await db.users.findById(user.id, { withDeleted: true }))?.name).toBe('Kept');
    await expect(db.users.update(createId(), { name: 'x' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rejects an empty patch, a patch of only undefined values, unknown fields and bad values', async () => {
    const user = await db.users.create({ email: uniqueEmail() });
    const cases: [unknown, string][] = [
      [{}, 'input'],
      [{ name: undefined }, 'input'],
      [{ emial: 'x@example.com' }, 'emial'],
      [{ email: 'nope' }, 'email'],
      [{ name: '' }, 'name'],
    ];
    for (const [patch, field] of cases) {
      const error = await rejection(db.users.update(user.id, patch as never));
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
    }
    expect(await rejection(db.users.update('', { name: 'x' }))).toMatchObject({ field: 'id' });
  });
});

describe('users.softDelete', () => {
  it('marks the user and its live posts deleted in one statement; earlier deletions keep their time', async () => {
    const user = await db.users.create({
      email: uniqueEmail(),
      posts: [{ title: 'one' }, { title: 'two' }, { title: 'gone before' }],
      roles: [{ name: 'kept' }],
    });
    const [one, two, goneBefore] = user.posts.map((post) => post.id) as [string, string, string];
    await db.posts.softDelete(goneBefore);
    const earlier = new Date('2021-05-05T05:05:05.555Z');
    await db.executeRaw('UPDATE pg_posts SET deleted_at = $1 WHERE id = $2', [earlier, goneBefore]);
    expect((await db.posts.findMany({ where: { authorId: user.id } })).items).toHaveLength(2);

    let deleted: User | undefined;
    const statements = await statementsSent(db, async () => {
      deleted = await db.users.softDelete(user.id);
    });
    expect(statements).toHaveLength(1);
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
    expect(
      await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_roles WHERE "userId" = $1', [user.id]),
    ).toBe(1);
  });

  it('refuses a user already deleted, or missing, with NotFoundError', async () => {
    const user = await db.users.create({ email: uniqueEmail() });
    await db.users.softDelete(user.id);
    const firstDeletion = (await userRow(user.id))?.deleted_at;
    await expect(db.users.softDelete(user.id)).rejects.toBeInstanceOf(NotFoundError);
    expect((await userRow(user.id))?.deleted_at).toEqual(firstDeletion);
    await expect(db.users.softDelete(createId())).rejects.toBeInstanceOf(NotFoundError);
  });

  it('frees the email for a new user', async () => {
    const email = uniqueEmail();
    const old = await db.users.create({ email });
    await db.users.softDelete(old.id);
    const reused = await db.users.create({ email: email.toUpperCase() });
    expect(reused.id).not.toBe(old.id);
    expect(await usersWithEmail(testDb.url, email)).toBe(2);
  });
});

describe('users.restore', () => {
  it('brings back the user and exactly the posts its soft delete took', async () => {
    const user = await db.users.create({
      email: uniqueEmail(),
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

  it('leaves deleted a post deleted on its own in the same millisecond as the user', async () => {
    const user = await db.users.create({
      email: uniqueEmail(),
      posts: [{ title: 'alone' }, { title: 'taken' }],
    });
    const [alone, taken] = user.posts.map((post) => post.id) as [string, string];
    // In one transaction now() does not move: the post's deletion and the user's share the millisecond.
    await db.transaction(async (tx) => {
      await tx.executeRaw('UPDATE pg_posts SET deleted_at = now() WHERE id = $1', [alone]);
      await tx.users.softDelete(user.id);
    });
    const aloneDeletedAt = (await postRow(alone))?.deleted_at;
    const userDeletedAt = (await userRow(user.id))?.deleted_at;
    expect(userDeletedAt?.getTime()).toBe((aloneDeletedAt?.getTime() ?? Number.NaN) + 1);
    expect((await postRow(taken))?.deleted_at).toEqual(userDeletedAt);

    await db.users.restore(user.id);
    expect((await postRow(alone))?.deleted_at).toEqual(aloneDeletedAt);
    expect((await postRow(taken))?.deleted_at).toBeNull();
  });

  it('refuses, changing nothing, when another live user took the email meanwhile', async () => {
    const email = uniqueEmail();
    const original = await db.users.create({ email, posts: [{ title: 'mine' }] });
    const postId = original.posts[0]?.id as string;
    await db.users.softDelete(original.id);
    const deletedAt = (await userRow(original.id))?.deleted_at;
    const usurper = await db.users.create({ email: email.toUpperCase() });

    const error = await rejection(db.users.restore(original.id));
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
    const user = await db.users.create({ email: uniqueEmail() });
    await expect(db.users.restore(user.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.users.restore(createId())).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.users.restore('')).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('users.hardDelete', () => {
  it('removes the row with its posts and roles', async () => {
    const user = await db.users.create({
      email: uniqueEmail(),
      posts: [{ title: 'a' }, { title: 'b' }],
      roles: [{ name: 'r' }],
    });
    await expect(db.users.hardDelete(user.id)).resolves.toBeUndefined();
    expect(
      await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_users WHERE id = $1', [user.id]),
    ).toBe(0);
    expect(
      await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_posts WHERE "authorId" = $1', [user.id]),
    ).toBe(0);
    expect(
      await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_roles WHERE "userId" = $1', [user.id]),
    ).toBe(0);
    expect(await db.users.findById(user.id, { withDeleted: true })).toBeUndefined();
  });

  it('also removes a soft-deleted user', async () => {
    const user = await db.users.create({ email: uniqueEmail() });
    await db.users.softDelete(user.id);
    await db.users.hardDelete(user.id);
    expect(await userRow(user.id)).toBeUndefined();
  });

  it('refuses a missing user with NotFoundError', async () => {
    const id = createId();
    const error = await rejection(db.users.hardDelete(id));
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error.message).toBe(`User not found: id "${id}"`);
  });
});
