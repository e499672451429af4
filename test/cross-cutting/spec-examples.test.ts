/**
 * The spec's own flows (spec/postgres-integration.md), written the way a user of this layer writes them:
 * "Basic Usage", "Transactions", "Manual Testing", and its raw SQL run verbatim through executeRaw.
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPEC_SEARCH_SQL, SPEC_USER_SUMMARY_SQL } from '../../scripts/lib/spec-queries.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { DisconnectedError } from '../../src/errors/classes.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

describe('Basic Usage', () => {
  it('creates a user with posts and roles, queries it with its relations, and runs the raw aggregate', async () => {
    const address = uniqueEmail('user');
    // Create a user with posts and roles
    const user = await db.users.create({
      email: address,
      name: 'John Doe',
      posts: [{ title: 'First Post', content: 'Hello World!', published: true }],
      roles: [{ name: 'author', description: 'Content author role' }],
    });
    expect(user).toMatchObject({ email: address, name: 'John Doe', deletedAt: null });
    expect(user.posts).toEqual([
      expect.objectContaining({
        title: 'First Post',
        content: 'Hello World!',
        published: true,
        authorId: user.id,
      }),
    ]);
    expect(user.roles).toEqual([
      expect.objectContaining({ name: 'author', description: 'Content author role', userId: user.id }),
    ]);
    expect(user.posts[0]?.createdAt).toBeInstanceOf(Date);

    // An older published post and a draft, so the include's filter and order have something to do.
    const older = await db.posts.create({ title: 'Older Post', authorId: user.id, published: true });
    await db.executeRaw("UPDATE pg_posts SET created_at = created_at - interval '1 day' WHERE id = $1", [
      older.id,
    ]);
    await db.posts.create({ title: 'Draft', authorId: user.id, published: false });

    // Query with relationships
    const usersWithPosts = await db.users.findMany({
      include: {
        posts: { published: true, orderBy: { createdAt: 'desc' } },
        roles: true,
      },
    });
    const found = usersWithPosts.items.find((each) => each.id === user.id);
    expect(found?.posts.map((post) => post.title)).toEqual(['First Post', 'Older Post']);
    expect(found?.roles.map((role) => role.name)).toEqual(['author']);
    expect(found?.posts[1]?.createdAt).toBeInstanceOf(Date);

    // Raw SQL queries
    const result = await db.executeRaw<{ id: string; email: string; post_count: string; roles: string }>(
      SPEC_USER_SUMMARY_SQL,
    );
    const row = result.find((each) => each.id === user.id);
    expect(row).toMatchObject({ email: address, name: 'John Doe' });
    // The spec's query joins posts and roles side by side: each post row repeats per role.
    expect(Number(row?.post_count)).toBe(3);
    expect(row?.roles.split(', ')).toEqual(['author', 'author', 'author']);
  });
});

describe('Transactions', () => {
  it('creates a user, two posts at once and a role, all in one transaction', async () => {
    const address = uniqueEmail('author');
    const result = await db.transaction(async (tx) => {
      // Create user
      const user = await tx.users.create({ email: address, name: 'Content Author' });

      // Create multiple posts atomically
      const posts = await Promise.all([
        tx.posts.create({ title: 'Post 1', content: 'Content 1', authorId: user.id, published: true }),
        tx.posts.create({ title: 'Post 2', content: 'Content 2', authorId: user.id, published: false }),
      ]);

      // Create role
      const role = await tx.roles.assign(user.id, {
        name: 'content-creator',
        description: 'Creates and manages content',
      });

      return { user, posts, role };
    });

    expect(result.user).toMatchObject({ email: address, name: 'Content Author' });
    expect(result.posts.map((post) => post.title)).toEqual(['Post 1', 'Post 2']);
    expect(result.role).toMatchObject({ name: 'content-creator', userId: result.user.id });
    const stored = await db.users.getById(result.user.id, { include: { posts: true, roles: true } });
    expect(stored.posts.map((post) => post.title).sort()).toEqual(['Post 1', 'Post 2']);
    expect(stored.roles.map((role) => role.name)).toEqual(['content-creator']);
  });
});

describe('Manual Testing', () => {
  it('creates a user, a post and a role, reads them together, cleans up and disconnects', async () => {
    // Its own database object, since the flow ends with disconnect().
    const manual = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });

    // Test user CRUD
    const testUser = await manual.users.create({ email: uniqueEmail('test'), name: 'Test User' });

    // Test post creation
    const testPost = await manual.posts.create({
      title: 'Test Post',
      content: 'This is a test post',
      authorId: testUser.id,
      published: true,
    });

    // Test role assignment
    const testRole = await manual.roles.assign(testUser.id, { name: 'tester', description: 'Test role' });

    // Test complex query
    const userWithRelations = await manual.users.findById(testUser.id, {
      include: { posts: true, roles: true },
    });
    expect(userWithRelations).toMatchObject({ id: testUser.id, name: 'Test User' });
    expect(userWithRelations?.posts).toEqual([testPost]);
    expect(userWithRelations?.roles).toEqual([testRole]);

    // Cleanup
    expect(await manual.roles.revoke(testUser.id, testRole.name)).toBe(true);
    await manual.posts.hardDelete(testPost.id);
    await manual.users.hardDelete(testUser.id);
    await manual.disconnect();

    expect(manual.disconnected).toBe(true);
    await expect(manual.users.findById(testUser.id)).rejects.toBeInstanceOf(DisconnectedError);
    const [left] = await db.executeRaw<{ users: number; posts: number; roles: number }>(
      `SELECT (SELECT count(*)::int FROM pg_users WHERE id = $1) AS users,
              (SELECT count(*)::int FROM pg_posts WHERE id = $2) AS posts,
              (SELECT count(*)::int FROM pg_roles WHERE id = $3) AS roles`,
      [testUser.id, testPost.id, testRole.id],
    );
    expect(left).toEqual({ users: 0, posts: 0, roles: 0 });
  });
});

describe('raw SQL', () => {
  it("runs the spec's full-text search verbatim and finds the matching published post", async () => {
    const author = await db.users.create({ email: uniqueEmail('writer'), name: 'Searcher' });
    const hit = await db.posts.create({
      title: 'Searching made simple',
      content: 'Every search term is stemmed, so terms match too.',
      authorId: author.id,
      published: true,
    });
    await db.posts.create({
      title: 'A draft about search terms',
      content: 'Unpublished search term.',
      authorId: author.id,
    });
    await db.posts.create({
      title: 'Unrelated',
      content: 'Nothing here.',
      authorId: author.id,
      published: true,
    });

    const searchResults = await db.executeRaw<{
      id: string;
      title: string;
      authorId: string;
      author_name: string;
      rank: number;
    }>(SPEC_SEARCH_SQL, ['search term']);
    const mine = searchResults.filter((row) => row.authorId === author.id);
    expect(mine).toEqual([
      expect.objectContaining({
        id: hit.id,
        title: hit.title,
        author_name: 'Searcher',
        rank: expect.any(Number),
      }),
    ]);
    expect(mine[0]?.rank).toBeGreaterThan(0);
  });

  it('binds parameters and never interpolates them: hostile text is stored and read back literally', async () => {
    const hostile = "'; DROP TABLE pg_users; --";
    const id = createId();
    await db.executeRaw('INSERT INTO pg_users (id, email, name) VALUES ($1, $2, $3)', [
      id,
      uniqueEmail('hostile'),
      hostile,
    ]);
    const rows = await db.executeRaw<{ id: string; name: string }>(
      'SELECT id, name FROM pg_users WHERE name = $1',
      [hostile],
    );
    expect(rows).toEqual([{ id, name: hostile }]);
    expect(await db.users.findById(id)).toMatchObject({ name: hostile });
    const [table] = await db.executeRaw<{ exists: boolean }>(
      "SELECT to_regclass('public.pg_users') IS NOT NULL AS exists",
    );
    expect(table).toEqual({ exists: true });
  });
});
