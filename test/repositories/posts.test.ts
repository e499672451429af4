/**
 * `db.posts` against a real PostgreSQL: every method and option, the soft-delete rules, keyset pages,
 * and how many statements each call costs (counted from the query events, one per statement).
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { NotFoundError, ValidationError } from '../../src/errors/classes.js';
import type { Post, User } from '../../src/repositories/models.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { setCreatedAt } from '../support/created-at.js';
import { newUser } from '../support/new-user.js';
import { sleep } from '../support/sleep.js';
import { withStatementsSent } from '../support/statements-sent.js';
import { useTestDatabase } from '../support/test-database.js';
import { invalidFieldsRejected } from '../support/validation-error.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

/** Posts with exactly this title, deleted or not, straight from the table. */
async function rowsTitled(title: string) {
  return db.executeRaw('SELECT id FROM pg_posts WHERE title = $1', [title]);
}

describe('posts.create', () => {
  it('fills in the defaults: unpublished, no content, empty metadata, dates as Date', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({ title: 'Defaults', authorId: author.id });
    expect(post).toEqual({
      id: expect.any(String),
      title: 'Defaults',
      content: null,
      published: false,
      authorId: author.id,
      metadata: {},
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
      deletedAt: null,
    });
    expect(await db.posts.getById(post.id)).toEqual(post);
  });

  it('stores the given fields, and keeps a caller-chosen id', async () => {
    const author = await newUser(db);
    const id = createId();
    const post = await db.posts.create({
      id,
      title: 'Given',
      content: 'Body',
      published: true,
      authorId: author.id,
    });
    expect(post).toMatchObject({ id, title: 'Given', content: 'Body', published: true });
  });

  it('round-trips metadata with arrays and nested objects as one JSON object', async () => {
    const author = await newUser(db);
    const metadata = { category: 'tutorial', tags: ['a', 'b'], extra: { nested: [1, { deep: true }] } };
    const post = await db.posts.create({ title: 'Tagged', authorId: author.id, metadata });
    expect(post.metadata).toEqual(metadata);
    expect((await db.posts.getById(post.id)).metadata).toEqual(metadata);
    // In the column, the tags are a JSON array inside an object, never a PostgreSQL array.
    const [stored] = await db.executeRaw<{ root: string; tags: string; has: boolean }>(
      `SELECT jsonb_typeof(metadata) AS root, jsonb_typeof(metadata->'tags') AS tags,
              (metadata->'tags') ? 'b' AS has
         FROM pg_posts WHERE id = $1`,
      [post.id],
    );
    expect(stored).toEqual({ root: 'object', tags: 'array', has: true });
  });

  it('is one statement', async () => {
    const author = await newUser(db);
    const { statements } = await withStatementsSent(db, () =>
      db.posts.create({ title: 'One', authorId: author.id, metadata: { tags: ['x'] } }),
    );
    expect(statements).toHaveLength(1);
  });

  it('refuses a missing author with NotFoundError and writes nothing', async () => {
    const title = `orphan ${createId()}`;
    const missing = createId();
    const error = await db.posts.create({ title, authorId: missing }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ entity: 'User' });
    expect((error as Error).message).toContain(missing);
    expect(await rowsTitled(title)).toEqual([]);
  });

  it('refuses a soft-deleted author with NotFoundError and writes nothing', async () => {
    const author = await newUser(db);
    await db.users.softDelete(author.id);
    const title = `ghost ${createId()}`;
    await expect(db.posts.create({ title, authorId: author.id })).rejects.toBeInstanceOf(NotFoundError);
    expect(await rowsTitled(title)).toEqual([]);
  });

  it.each([
    ['a blank title', { title: '   ' }, 'title'],
    ['a title over 300 characters', { title: 'x'.repeat(301) }, 'title'],
    ['an unknown field', { title: 'T', colour: 'red' }, 'colour'],
    ['metadata that is not an object', { title: 'T', metadata: ['a'] }, 'metadata'],
  ])('refuses %s with a ValidationError naming the field, before any statement', async (_, input, field) => {
    const author = await newUser(db);
    const { result: fields, statements } = await withStatementsSent(db, () =>
      invalidFieldsRejected(() => db.posts.create({ authorId: author.id, ...input } as never)),
    );
    expect(fields).toContain(field);
    expect(statements).toHaveLength(0);
    expect(await db.posts.countByAuthor({ authorIds: [author.id], withDeleted: true })).toEqual(
      new Map([[author.id, 0]]),
    );
  });

  it('refuses a missing authorId with a ValidationError naming it', async () => {
    const title = `no author ${createId()}`;
    expect(await invalidFieldsRejected(() => db.posts.create({ title } as never))).toEqual(['authorId']);
    expect(await rowsTitled(title)).toEqual([]);
  });
});

describe('posts.findById and getById', () => {
  let author: User;
  let post: Post;
  beforeAll(async () => {
    author = await newUser(db, 'Ada');
    post = await db.posts.create({ title: 'Find me', authorId: author.id });
  });

  it('returns the post without its author unless asked', async () => {
    const found = await db.posts.findById(post.id);
    expect(found).toEqual(post);
    expect(found).not.toHaveProperty('author');
  });

  it('includes the author in the same statement, with its dates as Date', async () => {
    const { result, statements } = await withStatementsSent(db, () =>
      db.posts.findById(post.id, { include: { author: true } }),
    );
    expect(statements).toHaveLength(1);
    expect(result?.author).toEqual(author);
    expect(result?.author.createdAt).toBeInstanceOf(Date);
    expect(result?.author.updatedAt).toBeInstanceOf(Date);
    const viaGet = await db.posts.getById(post.id, { include: { author: true } });
    expect(viaGet.author.createdAt.getTime()).toBe(author.createdAt.getTime());
  });

  it('returns undefined, or NotFoundError from getById, for an unknown id', async () => {
    const unknown = createId();
    expect(await db.posts.findById(unknown)).toBeUndefined();
    await expect(db.posts.getById(unknown)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses an empty id with a ValidationError naming it', async () => {
    expect(await invalidFieldsRejected(() => db.posts.findById(''))).toEqual(['id']);
  });

  it('hides a soft-deleted post unless withDeleted or onlyDeleted is given', async () => {
    const gone = await db.posts.create({ title: 'Soon gone', authorId: author.id });
    await db.posts.softDelete(gone.id);
    expect(await db.posts.findById(gone.id)).toBeUndefined();
    await expect(db.posts.getById(gone.id)).rejects.toBeInstanceOf(NotFoundError);
    expect(await db.posts.findById(gone.id, { withDeleted: true })).toMatchObject({
      id: gone.id,
      deletedAt: expect.any(Date),
    });
    expect(await db.posts.findById(gone.id, { onlyDeleted: true })).toMatchObject({ id: gone.id });
    // onlyDeleted hides the live ones.
    expect(await db.posts.findById(post.id, { onlyDeleted: true })).toBeUndefined();
    expect(await db.posts.findById(post.id, { withDeleted: true })).toEqual(post);
  });

  it('hides the post of a soft-deleted author, also with the author included', async () => {
    const other = await newUser(db);
    const orphaned = await db.posts.create({ title: 'Author leaves', authorId: other.id });
    await db.users.softDelete(other.id);
    expect(await db.posts.findById(orphaned.id)).toBeUndefined();
    expect(await db.posts.findById(orphaned.id, { include: { author: true } })).toBeUndefined();
    const shown = await db.posts.findById(orphaned.id, { withDeleted: true, include: { author: true } });
    expect(shown?.author.deletedAt).toBeInstanceOf(Date);
    expect(await db.posts.findById(orphaned.id, { onlyDeleted: true })).toMatchObject({ id: orphaned.id });
  });

  it('refuses withDeleted together with onlyDeleted', async () => {
    expect(
      await invalidFieldsRejected(() => db.posts.findById(post.id, { withDeleted: true, onlyDeleted: true })),
    ).toEqual(['onlyDeleted']);
  });
});

describe('posts.findMany', () => {
  let author: User;
  /** Five posts of one author, created a day apart; the second and fourth published. */
  let posts: Post[];
  const day = (n: number) => new Date(Date.UTC(2024, 0, n, 12));

  beforeAll(async () => {
    author = await newUser(db, 'Pager');
    posts = [];
    for (let n = 1; n <= 5; n += 1) {
      const post = await db.posts.create({ title: `Day ${n}`, authorId: author.id, published: n % 2 === 0 });
      await setCreatedAt(testDb.url, 'pg_posts', post.id, day(n));
      posts.push({ ...post, createdAt: day(n) });
    }
  });

  const titles = (items: Post[]) => items.map((post) => post.title);
  it('filters by author and by published, newest first by default', async () => {
    const all = await db.posts.findMany({ where: { authorId: author.id } });
    expect(titles(all.items)).toEqual(['Day 5', 'Day 4', 'Day 3', 'Day 2', 'Day 1']);
    expect(all.nextCursor).toBeUndefined();
    const published = await db.posts.findMany({ where: { authorId: author.id, published: true } });
    expect(titles(published.items)).toEqual(['Day 4', 'Day 2']);
    const drafts = await db.posts.findMany({ where: { authorId: author.id, published: false } });
    expect(titles(drafts.items)).toEqual(['Day 5', 'Day 3', 'Day 1']);
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    const page = await db.posts.findMany({
      where: { authorId: author.id, createdAfter: day(2), createdBefore: day(4) },
    });
    expect(titles(page.items)).toEqual(['Day 3', 'Day 2']);
  });

  it('orders by createdAt ascending or descending', async () => {
    const asc = await db.posts.findMany({ where: { authorId: author.id }, orderBy: { createdAt: 'asc' } });
    expect(titles(asc.items)).toEqual(['Day 1', 'Day 2', 'Day 3', 'Day 4', 'Day 5']);
    expect(asc.items[0]?.createdAt).toEqual(day(1));
    const desc = await db.posts.findMany({ where: { authorId: author.id }, orderBy: { createdAt: 'desc' } });
    expect(titles(desc.items)).toEqual(['Day 5', 'Day 4', 'Day 3', 'Day 2', 'Day 1']);
  });

  it('leaves out soft-deleted posts unless asked', async () => {
    const extra = await db.posts.create({ title: 'Deleted one', authorId: author.id });
    await db.posts.softDelete(extra.id);
    try {
      const live = await db.posts.findMany({ where: { authorId: author.id } });
      expect(titles(live.items)).not.toContain('Deleted one');
      const any = await db.posts.findMany({ where: { authorId: author.id }, withDeleted: true });
      expect(titles(any.items)).toContain('Deleted one');
      expect(any.items).toHaveLength(6);
      const only = await db.posts.findMany({ where: { authorId: author.id }, onlyDeleted: true });
      expect(titles(only.items)).toEqual(['Deleted one']);
    } finally {
      await db.posts.hardDelete(extra.id);
    }
  });

  it.each(['asc', 'desc'] as const)(
    'walks every page %s, ties on createdAt included, without duplicates or gaps',
    async (direction) => {
      const pager = await newUser(db);
      // Seven posts, three of them sharing one timestamp: the id breaks the tie.
      const stamps = [day(1), day(2), day(2), day(2), day(3), day(4), day(5)];
      const created: Post[] = [];
      for (const [index, stamp] of stamps.entries()) {
        const post = await db.posts.create({ title: `P${index}`, authorId: pager.id });
        await setCreatedAt(testDb.url, 'pg_posts', post.id, stamp);
        created.push({ ...post, createdAt: stamp });
      }
      const sign = direction === 'asc' ? 1 : -1;
      const expected = [...created]
        .sort(
          (a, b) =>
            sign * (a.createdAt.getTime() - b.createdAt.getTime()) ||
            sign * (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
        )
        .map((post) => post.id);

      const seen: string[] = [];
      const sizes: number[] = [];
      let after: string | undefined;
      do {
        const page = await db.posts.findMany({
          where: { authorId: pager.id },
          orderBy: { createdAt: direction },
          first: 2,
          ...(after === undefined ? {} : { after }),
        });
        seen.push(...page.items.map((post) => post.id));
        sizes.push(page.items.length);
        after = page.nextCursor;
      } while (after !== undefined && sizes.length < 10);

      expect(seen).toEqual(expected);
      expect(new Set(seen).size).toBe(7);
      expect(sizes).toEqual([2, 2, 2, 1]);
    },
  );

  it('gives no next cursor when the last page is exactly full', async () => {
    const page = await db.posts.findMany({ where: { authorId: author.id }, first: 5 });
    expect(page.items).toHaveLength(5);
    expect(page.nextCursor).toBeUndefined();
  });

  it('includes the authors of a whole page in one statement, whatever the page size', async () => {
    for (const first of [1, 5, 50]) {
      const { result, statements } = await withStatementsSent(db, () =>
        db.posts.findMany({ where: { authorId: author.id }, include: { author: true }, first }),
      );
      expect(statements).toHaveLength(1);
      expect(result.items).toHaveLength(Math.min(first, 5));
      for (const post of result.items) {
        expect(post.author).toEqual(author);
        expect(post.author.createdAt).toBeInstanceOf(Date);
      }
    }
    // Across authors, each post carries its own author.
    const other = await newUser(db, 'Other');
    await db.posts.create({ title: 'By other', authorId: other.id });
    const page = await db.posts.findMany({ include: { author: true }, first: 1000 });
    for (const post of page.items) expect(post.author.id).toBe(post.authorId);
  });

  it('refuses a cursor that is not one, or that was made for the other direction', async () => {
    expect(await invalidFieldsRejected(() => db.posts.findMany({ after: 'not-a-cursor' }))).toEqual([
      'after',
    ]);
    const forged = Buffer.from(JSON.stringify(['desc', 'yesterday', 'x'])).toString('base64url');
    expect(await invalidFieldsRejected(() => db.posts.findMany({ after: forged }))).toEqual(['after']);
    const first = await db.posts.findMany({ where: { authorId: author.id }, first: 1 });
    expect(first.nextCursor).toEqual(expect.any(String));
    expect(
      await invalidFieldsRejected(() =>
        db.posts.findMany({
          where: { authorId: author.id },
          orderBy: { createdAt: 'asc' },
          after: first.nextCursor as string,
        }),
      ),
    ).toEqual(['after']);
  });

  it('refuses a page size outside 1 to 1000 and an unknown filter', async () => {
    expect(await invalidFieldsRejected(() => db.posts.findMany({ first: 0 }))).toEqual(['first']);
    expect(await invalidFieldsRejected(() => db.posts.findMany({ first: 1001 }))).toEqual(['first']);
    expect(await invalidFieldsRejected(() => db.posts.findMany({ where: { title: 'x' } as never }))).toEqual([
      'where.title',
    ]);
  });
});

describe('posts.update', () => {
  it('changes only the given fields and replaces metadata as a whole', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({
      title: 'Before',
      content: 'Kept',
      authorId: author.id,
      metadata: { category: 'a', tags: ['x', 'y'] },
    });
    const renamed = await db.posts.update(post.id, { title: 'After' });
    expect(renamed).toMatchObject({
      title: 'After',
      content: 'Kept',
      metadata: post.metadata,
      published: false,
    });
    const replaced = await db.posts.update(post.id, { metadata: { tags: ['z'] } });
    expect(replaced.metadata).toEqual({ tags: ['z'] });
    const cleared = await db.posts.update(post.id, { content: null });
    expect(cleared).toMatchObject({ title: 'After', content: null, metadata: { tags: ['z'] } });
    expect(await db.posts.getById(post.id)).toEqual(cleared);
  });

  it('moves updatedAt forward and leaves createdAt alone', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({ title: 'Clock', authorId: author.id });
    // Timestamps keep milliseconds: wait a few so the change is visible.
    await sleep(10);
    const updated = await db.posts.update(post.id, { published: true });
    expect(updated.updatedAt.getTime()).toBeGreaterThan(post.updatedAt.getTime());
    expect(updated.createdAt).toEqual(post.createdAt);
  });

  it('refuses a soft-deleted or unknown post, or one whose author is soft-deleted, with NotFoundError', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({ title: 'Deleted', authorId: author.id });
    await db.posts.softDelete(post.id);
    await expect(db.posts.update(post.id, { title: 'Nope' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.posts.update(createId(), { title: 'Nope' })).rejects.toBeInstanceOf(NotFoundError);
    const other = await newUser(db);
    const orphaned = await db.posts.create({ title: 'Orphaned', authorId: other.id });
    await db.users.softDelete(other.id);
    await expect(db.posts.update(orphaned.id, { title: 'Nope' })).rejects.toBeInstanceOf(NotFoundError);
    const [row] = await db.executeRaw<{ title: string }>('SELECT title FROM pg_posts WHERE id = $1', [
      post.id,
    ]);
    expect(row?.title).toBe('Deleted');
  });

  it('refuses an empty patch, an unknown field and a blank title with a ValidationError', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({ title: 'Stays', authorId: author.id });
    const empty = await db.posts.update(post.id, {}).catch((caught: unknown) => caught);
    expect(empty).toBeInstanceOf(ValidationError);
    expect((empty as Error).message).toMatch(/nothing to update/);
    expect(await invalidFieldsRejected(() => db.posts.update(post.id, { authorId: 'x' } as never))).toContain(
      'authorId',
    );
    expect(await invalidFieldsRejected(() => db.posts.update(post.id, { title: ' ' }))).toEqual(['title']);
    expect((await db.posts.getById(post.id)).title).toBe('Stays');
  });
});

describe('posts.publish, unpublish, softDelete, restore and hardDelete', () => {
  it('publishes and unpublishes', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({ title: 'Toggle', authorId: author.id });
    expect((await db.posts.publish(post.id)).published).toBe(true);
    expect((await db.posts.getById(post.id)).published).toBe(true);
    expect((await db.posts.unpublish(post.id)).published).toBe(false);
    expect((await db.posts.getById(post.id)).published).toBe(false);
    await expect(db.posts.publish(createId())).rejects.toBeInstanceOf(NotFoundError);
  });

  it('soft-deletes once, restores once, and refuses to restore a live post', async () => {
    const author = await newUser(db);
    const post = await db.posts.create({ title: 'Round trip', authorId: author.id });
    await expect(db.posts.restore(post.id)).rejects.toBeInstanceOf(NotFoundError);
    const deleted = await db.posts.softDelete(post.id);
    expect(deleted.deletedAt).toBeInstanceOf(Date);
    await expect(db.posts.softDelete(post.id)).rejects.toBeInstanceOf(NotFoundError);
    await expect(db.posts.publish(post.id)).rejects.toBeInstanceOf(NotFoundError);
    const restored = await db.posts.restore(post.id);
    expect(restored.deletedAt).toBeNull();
    expect(await db.posts.findById(post.id)).toMatchObject({ id: post.id, deletedAt: null });
    await expect(db.posts.restore(post.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('hard-deletes a post, live or soft-deleted, and refuses a missing one', async () => {
    const author = await newUser(db);
    const live = await db.posts.create({ title: 'Live', authorId: author.id });
    const deleted = await db.posts.create({ title: 'Deleted', authorId: author.id });
    await db.posts.softDelete(deleted.id);
    await db.posts.hardDelete(live.id);
    await db.posts.hardDelete(deleted.id);
    expect(await db.posts.findById(live.id, { withDeleted: true })).toBeUndefined();
    expect(await db.posts.findById(deleted.id, { withDeleted: true })).toBeUndefined();
    await expect(db.posts.hardDelete(live.id)).rejects.toBeInstanceOf(NotFoundError);
    // The author stays.
    expect(await db.users.findById(author.id)).toBeDefined();
  });
});

describe('posts.countByAuthor', () => {
  let alice: User;
  let bob: User;
  let idle: User;
  let leaver: User;

  beforeAll(async () => {
    [alice, bob, idle, leaver] = await Promise.all([newUser(db), newUser(db), newUser(db), newUser(db)]);
    await db.posts.create({ title: 'A1', authorId: alice.id, published: true });
    await db.posts.create({ title: 'A2', authorId: alice.id });
    const gone = await db.posts.create({ title: 'A3', authorId: alice.id, published: true });
    await db.posts.softDelete(gone.id);
    await db.posts.create({ title: 'B1', authorId: bob.id, published: true });
    await db.posts.create({ title: 'L1', authorId: leaver.id, published: true });
    await db.users.softDelete(leaver.id);
  });

  const ids = () => [alice.id, bob.id, idle.id, leaver.id];

  it('counts visible posts per author in one statement, with 0 for authors without any', async () => {
    const { result, statements } = await withStatementsSent(db, () =>
      db.posts.countByAuthor({ authorIds: ids() }),
    );
    expect(statements).toHaveLength(1);
    expect(result).toEqual(
      new Map([
        [alice.id, 2],
        [bob.id, 1],
        [idle.id, 0],
        [leaver.id, 0],
      ]),
    );
  });

  it('filters by published', async () => {
    expect(await db.posts.countByAuthor({ authorIds: ids(), published: true })).toEqual(
      new Map([
        [alice.id, 1],
        [bob.id, 1],
        [idle.id, 0],
        [leaver.id, 0],
      ]),
    );
    expect((await db.posts.countByAuthor({ authorIds: ids(), published: false })).get(alice.id)).toBe(1);
  });

  it('counts soft-deleted posts only when asked', async () => {
    expect(await db.posts.countByAuthor({ authorIds: ids(), withDeleted: true })).toEqual(
      new Map([
        [alice.id, 3],
        [bob.id, 1],
        [idle.id, 0],
        [leaver.id, 1],
      ]),
    );
    expect(await db.posts.countByAuthor({ authorIds: ids(), onlyDeleted: true })).toEqual(
      new Map([
        [alice.id, 1],
        [bob.id, 0],
        [idle.id, 0],
        [leaver.id, 1],
      ]),
    );
  });

  it('without authorIds, covers every author with visible posts and no one else', async () => {
    const counts = await db.posts.countByAuthor();
    expect(counts.get(alice.id)).toBe(2);
    expect(counts.get(bob.id)).toBe(1);
    expect(counts.has(idle.id)).toBe(false);
    expect(counts.has(leaver.id)).toBe(false);
  });
});
