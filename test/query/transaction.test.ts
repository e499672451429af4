/**
 * `db.transaction` against a real PostgreSQL: commit and rollback of the spec's example, isolation
 * levels, savepoints for nested calls, retry of serialization failures and deadlocks, the callback's own
 * errors, the guard against the outer database, and visibility to other sessions.
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database, type TransactionScope } from '../../src/database/database.js';
import {
  DatabaseError,
  DeadlockError,
  SerializationError,
  TransactionScopeError,
  UniqueViolationError,
  ValidationError,
} from '../../src/errors/classes.js';
import type { User } from '../../src/repositories/models.js';
import { barrier } from '../support/barrier.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { newUser } from '../support/new-user.js';
import { rejection, rejectionReason } from '../support/rejection.js';
import { sleep } from '../support/sleep.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
/** A second database object: another application instance, with its own pool. */
let other: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
  other = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => Promise.all([db.disconnect(), other.disconnect()]));

/** The spec's example, with a hook that runs after the posts are created. */
function specTransaction(authorEmail: string, afterPosts: () => void = () => {}) {
  return db.transaction(async (tx) => {
    const user = await tx.users.create({ email: authorEmail, name: 'Content Author' });
    const posts = await Promise.all([
      tx.posts.create({ title: 'Post 1', content: 'Content 1', authorId: user.id, published: true }),
      tx.posts.create({ title: 'Post 2', content: 'Content 2', authorId: user.id, published: false }),
    ]);
    afterPosts();
    const role = await tx.roles.assign(user.id, {
      name: 'content-creator',
      description: 'Creates and manages content',
    });
    return { user, posts, role };
  });
}

describe("the spec's transaction", () => {
  it('commits the user, both posts and the role, and returns them', async () => {
    const authorEmail = uniqueEmail();
    const { user, posts, role } = await specTransaction(authorEmail);
    expect(user).toMatchObject({ email: authorEmail, name: 'Content Author' });
    expect(posts.map((post) => [post.title, post.published])).toEqual([
      ['Post 1', true],
      ['Post 2', false],
    ]);
    expect(role).toMatchObject({ name: 'content-creator', userId: user.id });
    const stored = await other.users.getById(user.id, { include: { posts: true, roles: true } });
    expect(stored.posts.map((post) => post.title).sort()).toEqual(['Post 1', 'Post 2']);
    expect(stored.roles).toEqual([role]);
  });

  it('commits nothing at all when the callback fails after the posts', async () => {
    const authorEmail = uniqueEmail();
    const failure = new Error('failed after the posts');
    const error = await rejection(
      specTransaction(authorEmail, () => {
        throw failure;
      }),
    );
    expect(error).toBe(failure);
    expect(await other.users.findByEmail(authorEmail, { withDeleted: true })).toBeUndefined();
    const [row] = await other.executeRaw<{ posts: number; roles: number }>(
      `SELECT (SELECT count(*)::int FROM pg_posts p JOIN pg_users u ON u.id = p."authorId" WHERE u.email = $1) AS posts,
              (SELECT count(*)::int FROM pg_roles r JOIN pg_users u ON u.id = r."userId" WHERE u.email = $1) AS roles`,
      [authorEmail],
    );
    expect(row).toEqual({ posts: 0, roles: 0 });
  });
});

describe('isolation levels', () => {
  it.each([
    ['serializable', 'serializable'],
    ['repeatable read', 'repeatable read'],
    ['read committed', 'read committed'],
  ] as const)('runs at %s when asked', async (isolationLevel, shown) => {
    const rows = await db.transaction(
      (tx) => tx.executeRaw<{ transaction_isolation: string }>('SHOW transaction_isolation'),
      { isolationLevel },
    );
    expect(rows).toEqual([{ transaction_isolation: shown }]);
  });

  it('keeps one snapshot for the whole transaction at repeatable read', async () => {
    const user = await newUser(db);
    const names = await db.transaction(
      async (tx) => {
        const before = await tx.users.getById(user.id);
        await other.users.update(user.id, { name: 'Changed elsewhere' });
        const after = await tx.users.getById(user.id);
        return [before.name, after.name];
      },
      { isolationLevel: 'repeatable read' },
    );
    expect(names).toEqual([null, null]);
  });
});

describe('nested transactions', () => {
  it('roll back only their own work when they fail, and the outer transaction commits the rest', async () => {
    const failure = new Error('nested failed');
    const { user, caught } = await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: uniqueEmail() });
      await tx.posts.create({ title: 'Outer before', authorId: user.id });
      const caught = await rejection(
        tx.transaction(async (inner) => {
          await inner.posts.create({ title: 'Inner', authorId: user.id });
          throw failure;
        }),
      );
      await tx.posts.create({ title: 'Outer after', authorId: user.id });
      return { user, caught };
    });
    expect(caught).toBe(failure);
    const stored = await other.users.getById(user.id, { include: { posts: true } });
    expect(stored.posts.map((post) => post.title).sort()).toEqual(['Outer after', 'Outer before']);
  });

  it('keep the outer transaction usable after a statement in them failed', async () => {
    const taken = await newUser(db);
    const user = await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: uniqueEmail() });
      // Without a savepoint this error would abort the whole transaction (25P02 from then on).
      const error = await rejection(tx.transaction((inner) => inner.users.create({ email: taken.email })));
      expect(error).toBeInstanceOf(UniqueViolationError);
      await tx.posts.create({ title: 'Still fine', authorId: user.id });
      return user;
    });
    expect(await other.posts.countByAuthor({ authorIds: [user.id] })).toEqual(new Map([[user.id, 1]]));
  });

  it('keep their work when they succeed, also nested twice', async () => {
    const user = await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: uniqueEmail() });
      const post = await tx.transaction(async (inner) => {
        const created = await inner.posts.create({ title: 'Inner', authorId: user.id });
        await inner.transaction((innermost) => innermost.posts.publish(created.id));
        return created;
      });
      expect(post.title).toBe('Inner');
      return user;
    });
    const page = await other.posts.findMany({ where: { authorId: user.id } });
    expect(page.items.map((post) => [post.title, post.published])).toEqual([['Inner', true]]);
  });

  it('take turns when started together, so a failing one cannot undo its sibling', async () => {
    const user = await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: uniqueEmail() });
      const results = await Promise.allSettled([
        tx.transaction(async (inner) => {
          await inner.posts.create({ title: 'Undone', authorId: user.id });
          await sleep(30);
          throw new Error('first fails');
        }),
        tx.transaction((inner) => inner.posts.create({ title: 'Kept', authorId: user.id })),
      ]);
      expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled']);
      return user;
    });
    const page = await other.posts.findMany({ where: { authorId: user.id } });
    expect(page.items.map((post) => post.title)).toEqual(['Kept']);
  });

  it.each([
    ['isolationLevel', { isolationLevel: 'serializable' as const }],
    ['retry', { retry: true }],
  ])('refuse %s with TransactionScopeError, and the outer transaction goes on', async (_, options) => {
    const user = await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: uniqueEmail() });
      const error = await rejection(tx.transaction(async () => 'never runs', options));
      expect(error).toBeInstanceOf(TransactionScopeError);
      expect((error as Error).message).toMatch(/outermost transaction/);
      return user;
    });
    expect(await other.users.findById(user.id)).toBeDefined();
  });
});

describe('retry', () => {
  /**
   * Two SERIALIZABLE transactions that each count an author's posts, wait until both have counted,
   * then add a post numbered after the count: run serially they would number 1 and 2.
   */
  async function writeSkew(retry: boolean) {
    const author = await newUser(db);
    const bothCounted = barrier(2);
    let runs = 0;
    const numberedPost = () =>
      db.transaction(
        async (tx) => {
          runs += 1;
          const [row] = await tx.executeRaw<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_posts WHERE "authorId" = $1',
            [author.id],
          );
          await bothCounted.arrive();
          return tx.posts.create({ title: `Post #${(row?.n ?? 0) + 1}`, authorId: author.id });
        },
        { isolationLevel: 'serializable', retry: retry && { baseDelayMs: 5 } },
      );
    const results = await Promise.allSettled([numberedPost(), numberedPost()]);
    const titles = (await other.posts.findMany({ where: { authorId: author.id } })).items
      .map((post) => post.title)
      .sort();
    return { results, runs, titles };
  }

  it('runs a transaction that lost a serialization conflict again, until both commit', async () => {
    const { results, runs, titles } = await writeSkew(true);
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
    // One callback ran twice; its second run counted the other's post.
    expect(runs).toBe(3);
    expect(titles).toEqual(['Post #1', 'Post #2']);
  });

  it('without retry, fails the loser with SerializationError and keeps the winner', async () => {
    const { results, runs, titles } = await writeSkew(false);
    expect(runs).toBe(2);
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(SerializationError);
    expect(reason).toMatchObject({ code: '40001' });
    expect(titles).toEqual(['Post #1']);
  });

  /** Two transactions that lock two users in opposite order, each after the other has taken its first. */
  async function deadlock(retry: false | { attempts: number }) {
    const [a, b] = [await newUser(db), await newUser(db)];
    const bothLocked = barrier(2);
    let runs = 0;
    const lockInOrder = (first: User, second: User, label: string) =>
      db.transaction(
        async (tx) => {
          runs += 1;
          // Detect the deadlock after 100 ms instead of the default second.
          await tx.executeRaw("SET LOCAL deadlock_timeout = '100ms'");
          await tx.users.update(first.id, { name: label });
          await bothLocked.arrive();
          await tx.users.update(second.id, { name: label });
          await tx.posts.create({ title: label, authorId: a.id });
        },
        { retry },
      );
    const results = await Promise.allSettled([lockInOrder(a, b, 'a then b'), lockInOrder(b, a, 'b then a')]);
    const titles = (await other.posts.findMany({ where: { authorId: a.id } })).items
      .map((post) => post.title)
      .sort();
    return { results, runs, titles };
  }

  it('runs a transaction chosen as a deadlock victim again, and it commits', async () => {
    const { results, runs, titles } = await deadlock({ attempts: 3 });
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(runs).toBe(3);
    expect(titles).toEqual(['a then b', 'b then a']);
  });

  it('without retry, fails the deadlock victim with DeadlockError', async () => {
    const { results, runs, titles } = await deadlock(false);
    expect(runs).toBe(2);
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(rejected).toHaveLength(1);
    const reason = (rejected[0] as PromiseRejectedResult).reason;
    expect(reason).toBeInstanceOf(DeadlockError);
    expect(reason).toMatchObject({ code: '40P01' });
    expect(titles).toHaveLength(1);
  });

  it('does not run the callback again for an error that is not a conflict', async () => {
    let runs = 0;
    const mine = new Error('not retryable');
    const error = await rejection(
      db.transaction(
        async () => {
          runs += 1;
          throw mine;
        },
        { retry: true },
      ),
    );
    expect(error).toBe(mine);
    expect(runs).toBe(1);
  });

  it('refuses a number of attempts that is not an integer from 1 to 100', async () => {
    let ran = false;
    const error = await rejection(
      db.transaction(
        async () => {
          ran = true;
        },
        { retry: { attempts: 0 } },
      ),
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect(error).toMatchObject({ field: 'retry.attempts' });
    expect(ran).toBe(false);
  });
});

describe("the callback's own errors", () => {
  it('come out unchanged, and the transaction is rolled back', async () => {
    const address = uniqueEmail();
    const mine = new Error('changed my mind');
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.users.create({ email: address });
        throw mine;
      }),
    );
    expect(error).toBe(mine);
    expect(await other.users.findByEmail(address)).toBeUndefined();
  });

  it('come out unchanged even when they carry a code, as Node and many libraries set', async () => {
    const address = uniqueEmail();
    const mine = Object.assign(new Error('quota exceeded'), { code: 'ERR_QUOTA' });
    const fsLike = Object.assign(new Error('ENOENT: no such file'), {
      code: 'ENOENT',
      errno: -2,
      syscall: 'open',
    });
    for (const thrown of [mine, fsLike, 'a string']) {
      const error = await rejectionReason(
        db.transaction(async (tx) => {
          await tx.users.create({ email: address });
          throw thrown;
        }),
      );
      expect(error).toBe(thrown);
    }
    expect(await other.users.findByEmail(address)).toBeUndefined();
  });

  it('come out unchanged when the callback throws before returning a promise', async () => {
    const mine = new Error('thrown at once');
    let later!: Promise<unknown>;
    const error = await rejection(
      db.transaction((): Promise<never> => {
        later = new Promise((resolve) => {
          setTimeout(() => db.executeRaw('SELECT 1 AS one').then(resolve, resolve), 20);
        });
        throw mine;
      }),
    );
    expect(error).toBe(mine);
    // The transaction is over, so its guard no longer refuses the outer database.
    expect(await later).toEqual([{ one: 1 }]);
  });

  it('swallowed inside the callback still roll the transaction back, and say so', async () => {
    const taken = await newUser(db);
    const address = uniqueEmail();
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.users.create({ email: address });
        // Caught and ignored: PostgreSQL has aborted the transaction anyway, and COMMIT rolls back.
        await tx.users.create({ email: taken.email }).catch(() => undefined);
      }),
    );
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as Error).message).toMatch(/rolled back/);
    expect(await other.users.findByEmail(address)).toBeUndefined();
  });

  it('from the driver, via tx.kysely, become the layer errors', async () => {
    const taken = await newUser(db);
    const error = await rejection(
      db.transaction((tx) =>
        tx.kysely.insertInto('pg_users').values({ id: createId(), email: taken.email }).execute(),
      ),
    );
    expect(error).toBeInstanceOf(UniqueViolationError);
  });
});

describe('the outer database inside a transaction callback', () => {
  const uses: [string, (tx: TransactionScope) => Promise<unknown>][] = [
    ['db.users.findById', () => db.users.findById(createId())],
    ['db.executeRaw', () => db.executeRaw('SELECT 1')],
    ['db.kysely', () => db.kysely.selectFrom('pg_users').select('id').execute()],
    ['db.transaction', () => db.transaction(async () => 1)],
  ];

  it.each(uses)('refuses %s with TransactionScopeError telling to use tx', async (_, use) => {
    const user = await db.transaction(async (tx) => {
      const error = await rejection(use(tx));
      expect(error).toBeInstanceOf(TransactionScopeError);
      expect((error as Error).message).toMatch(/use the `tx`/);
      // Nothing was sent: the transaction itself goes on and commits.
      return tx.users.create({ email: uniqueEmail() });
    });
    expect(await other.users.findById(user.id)).toBeDefined();
  });

  it('is refused also inside a nested transaction', async () => {
    await db.transaction(async (tx) => {
      await tx.transaction(async () => {
        expect(await rejection(db.executeRaw('SELECT 1'))).toBeInstanceOf(TransactionScopeError);
      });
    });
  });

  it('is allowed again for work the callback started that runs after the commit', async () => {
    let later!: Promise<User | undefined>;
    let afterCommit!: Promise<number>;
    let committed!: () => void;
    const commit = new Promise<void>((resolve) => {
      committed = resolve;
    });
    const user = await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: uniqueEmail() });
      later = new Promise((resolve, reject) => {
        setTimeout(() => db.users.findById(user.id).then(resolve, reject), 50);
      });
      afterCommit = commit.then(() =>
        db.transaction((next) => next.posts.create({ title: 'Later', authorId: user.id })).then(() => 1),
      );
      return user;
    });
    committed();
    expect(await later).toMatchObject({ id: user.id });
    expect(await afterCommit).toBe(1);
  });

  it('is allowed for another database object, which runs outside the transaction', async () => {
    const address = uniqueEmail();
    await db.transaction(async (tx) => {
      await tx.users.create({ email: address });
      // Another application instance does not see the uncommitted user.
      expect(await other.users.findByEmail(address)).toBeUndefined();
    });
    expect(await other.users.findByEmail(address)).toBeDefined();
  });
});

describe('visibility', () => {
  it('lets a transaction see its own writes, and nobody else before the commit', async () => {
    const address = uniqueEmail();
    let inside: string | undefined;
    let outsideBefore: unknown = 'not read';
    await db.transaction(async (tx) => {
      const user = await tx.users.create({ email: address });
      await tx.users.update(user.id, { name: 'Written' });
      inside = (await tx.users.getById(user.id)).name ?? undefined;
      const [row] = await tx.executeRaw<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_users WHERE id = $1',
        [user.id],
      );
      expect(row?.n).toBe(1);
      outsideBefore = await other.users.findById(user.id);
    });
    expect(inside).toBe('Written');
    expect(outsideBefore).toBeUndefined();
    expect(await other.users.findByEmail(address)).toMatchObject({ name: 'Written' });
  });

  it('refuses to run anything on tx after the transaction ended', async () => {
    let escaped!: TransactionScope;
    await db.transaction(async (tx) => {
      escaped = tx;
    });
    await expect(escaped.executeRaw('SELECT 1')).rejects.toThrow();
  });
});
