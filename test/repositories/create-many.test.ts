/**
 * users.createMany and posts.createMany against a real PostgreSQL: arrays and async iterables, ids and
 * timestamps as create makes them (or as given), the search vector, all or nothing with the failing row
 * named (a bad row, a duplicate in a chunk, across chunks and late in the input, a missing or
 * soft-deleted author, the caller's iterable throwing), savepoints inside db.transaction, and a heap that
 * stays small whatever the input's size.
 */
import { Readable } from 'node:stream';
import { isCuid } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { NotFoundError, UniqueViolationError, ValidationError } from '../../src/errors/classes.js';
import { pooledOf } from '../../src/pool/layer-driver.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { countRows, tableCounts } from '../support/row-counts.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

/** Rejects unless `work` fails; gives what it threw. */
async function failure(work: Promise<unknown>): Promise<unknown> {
  return work.then(
    () => {
      throw new Error('expected a failure');
    },
    (error: unknown) => error,
  );
}

/** Asserts `work` fails and changes none of the three tables. */
async function failsKeepingNothing(work: () => Promise<unknown>): Promise<unknown> {
  const before = await tableCounts(testDb.url);
  const error = await failure(work());
  expect(await tableCounts(testDb.url)).toEqual(before);
  return error;
}

const users = (count: number, tag: string, at = (index: number) => `${tag}-${index}@example.com`) =>
  Array.from({ length: count }, (_, index) => ({ email: at(index) }));

describe('users.createMany', () => {
  it('loads an array of users with their posts and roles, as create would store them', async () => {
    const tag = uniqueEmail('array').split('@')[0] as string;
    const rows = Array.from({ length: 3 }, (_, index) => ({
      email: `${tag}-${index}@example.com`,
      name: index === 0 ? null : `User\t${index}\\`,
      posts: [
        { title: 'First\nline', content: 'a\\b\tc\r\nd', published: true, metadata: { tags: ['x\ty'] } },
        { title: 'Second' },
      ],
      roles: [{ name: 'member', description: 'Reads' }, { name: 'editor' }],
    }));
    expect(await db.users.createMany(rows)).toEqual({ users: 3, posts: 6, roles: 6 });
    const stored = await db.users.getByEmail(`${tag}-1@example.com`, {
      include: { posts: { orderBy: { createdAt: 'asc' } }, roles: true },
    });
    expect(isCuid(stored.id)).toBe(true);
    expect(stored.name).toBe('User\t1\\');
    expect(stored.updatedAt).toEqual(stored.createdAt);
    expect(stored.deletedAt).toBeNull();
    const first = stored.posts.find((post) => post.title === 'First\nline');
    expect(first).toMatchObject({ content: 'a\\b\tc\r\nd', published: true, metadata: { tags: ['x\ty'] } });
    expect(stored.posts.find((post) => post.title === 'Second')).toMatchObject({
      content: null,
      published: false,
      metadata: {},
    });
    expect(stored.roles.map((role) => [role.name, role.description]).sort()).toEqual([
      ['editor', null],
      ['member', 'Reads'],
    ]);
    expect(stored.posts.every((post) => isCuid(post.id))).toBe(true);
  });

  it('gives rows without timestamps the transaction start, exactly what create gets', async () => {
    await db.transaction(async (tx) => {
      const made = await tx.users.create({
        email: uniqueEmail('by-create'),
        posts: [{ title: 'p' }],
        roles: [{ name: 'r' }],
      });
      const email = uniqueEmail('by-many');
      await tx.users.createMany([{ email, posts: [{ title: 'p' }], roles: [{ name: 'r' }] }]);
      const loaded = await tx.users.getByEmail(email, { include: { posts: true, roles: true } });
      expect(loaded.createdAt).toEqual(made.createdAt);
      expect(loaded.updatedAt).toEqual(made.updatedAt);
      expect(loaded.posts[0]?.createdAt).toEqual(made.posts[0]?.createdAt);
      expect(loaded.posts[0]?.updatedAt).toEqual(made.posts[0]?.updatedAt);
      expect(loaded.roles[0]?.createdAt).toEqual(made.roles[0]?.createdAt);
    });
  });

  it('keeps the ids and timestamps an import gives, from an async generator', async () => {
    const created = new Date('2021-03-04T05:06:07.089Z');
    const updated = new Date('2022-01-01T00:00:00.001Z');
    const deleted = new Date('2023-01-01T00:00:00.000Z');
    const email = uniqueEmail('import');
    async function* rows() {
      yield {
        id: 'imported-user-1',
        email,
        createdAt: created,
        updatedAt: updated,
        deletedAt: deleted,
        posts: [{ id: 'imported-post-1', title: 'Old', createdAt: created, deletedAt: deleted }],
        roles: [{ id: 'imported-role-1', name: 'admin', createdAt: updated }],
      };
    }
    expect(await db.users.createMany(rows())).toEqual({ users: 1, posts: 1, roles: 1 });
    const stored = await db.users.getById('imported-user-1', {
      withDeleted: true,
      include: { posts: { withDeleted: true }, roles: true },
    });
    expect(stored).toMatchObject({ email, createdAt: created, updatedAt: updated, deletedAt: deleted });
    expect(stored.posts).toEqual([
      expect.objectContaining({
        id: 'imported-post-1',
        createdAt: created,
        updatedAt: created,
        deletedAt: deleted,
      }),
    ]);
    expect(stored.roles).toEqual([expect.objectContaining({ id: 'imported-role-1', createdAt: updated })]);
  });

  it('refuses a bad row with its index, and keeps nothing of the rows before it', async () => {
    const rows = users(40, uniqueEmail('bad').split('@')[0] as string);
    (rows[37] as { email: string }).email = 'not an email';
    const error = await failsKeepingNothing(() => db.users.createMany(rows));
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).row).toBe(37);
    expect((error as ValidationError).field).toBe('rows.37.email');
  });

  it('names a nested field of a bad row', async () => {
    const error = await failsKeepingNothing(() =>
      db.users.createMany([
        { email: uniqueEmail('nested-ok') },
        { email: uniqueEmail('nested-bad'), posts: [{ title: 'ok' }, { title: ' ' }] },
      ]),
    );
    expect((error as ValidationError).field).toBe('rows.1.posts.1.title');
    expect((error as ValidationError).row).toBe(1);
  });

  it('maps a duplicate email late in the input to its row, naming the row and never the email', async () => {
    const tag = uniqueEmail('late').split('@')[0] as string;
    const rows = users(30_000, tag);
    (rows[25_000] as { email: string }).email = `${tag}-17@EXAMPLE.com`;
    const error = await failsKeepingNothing(() => db.users.createMany(rows));
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect((error as UniqueViolationError).row).toBe(25_000);
    expect((error as UniqueViolationError).constraint).toBe('pg_users_email_active_key');
    expect((error as Error).message).toContain('row 25000');
    expect((error as Error).message).not.toContain(tag);
  });

  it('maps a duplicate inside one chunk, across chunks and against a stored user', async () => {
    const stored = await db.users.create({ email: uniqueEmail('stored') });
    const tag = uniqueEmail('dup').split('@')[0] as string;
    const cases: [number, number | 'stored', number][] = [
      [200, 3, 7],
      [12_000, 2, 10_005],
      [50, 'stored', 31],
    ];
    for (const [count, first, second] of cases) {
      const rows = users(count, `${tag}-${count}`);
      (rows[second] as { email: string }).email =
        first === 'stored' ? stored.email : (rows[first] as { email: string }).email;
      const error = await failsKeepingNothing(() => db.users.createMany(rows));
      expect(error).toBeInstanceOf(UniqueViolationError);
      expect((error as UniqueViolationError).row).toBe(second);
    }
  });

  it("maps a role's or a post's failure to the row of its user", async () => {
    const tag = uniqueEmail('child').split('@')[0] as string;
    const rows = users(30, tag).map((row, index) => ({
      ...row,
      posts: [{ title: 'a' }, { title: 'b' }],
      roles: [{ name: 'member', ...(index === 23 ? { id: 'same-role-id' } : {}) }],
    }));
    (rows[5] as { roles: { id?: string }[] }).roles[0] = { id: 'same-role-id', name: 'member' } as never;
    const error = await failsKeepingNothing(() => db.users.createMany(rows));
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect((error as UniqueViolationError).row).toBe(23);
  });

  it("passes on what the caller's iterable threw, keeps nothing, and leaves the connection clean", async () => {
    const tag = uniqueEmail('throws').split('@')[0] as string;
    const thrown = new Error('the source broke');
    let cleanedUp = false;
    async function* rows() {
      try {
        for (let index = 0; index < 15_000; index += 1) yield { email: `${tag}-${index}@example.com` };
        throw thrown;
      } finally {
        cleanedUp = true;
      }
    }
    const error = await failsKeepingNothing(() => db.users.createMany(rows()));
    expect(error).toBe(thrown);
    expect(cleanedUp).toBe(true);
    // A sync iterable that throws while the first chunk's COPY is running.
    const sync = {
      *[Symbol.iterator]() {
        yield { email: `${tag}-sync@example.com` };
        throw thrown;
      },
    };
    expect(await failsKeepingNothing(() => db.users.createMany(sync))).toBe(thrown);
    const after = uniqueEmail('after-throw');
    await db.users.createMany([{ email: after }]);
    expect(await db.users.findByEmail(after)).toBeDefined();
    expect(
      await countRows(
        testDb.url,
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
      ),
    ).toBe(0);
  });

  it('loads a Readable in object mode', async () => {
    const tag = uniqueEmail('readable').split('@')[0] as string;
    const result = await db.users.createMany(Readable.from(users(5, tag)));
    expect(result).toEqual({ users: 5, posts: 0, roles: 0 });
  });
});

describe('posts.createMany', () => {
  let author: { id: string };
  beforeAll(async () => {
    author = await db.users.create({ email: uniqueEmail('author') });
  });

  it('loads posts an async iterable yields, searchable, with create-shaped ids', async () => {
    async function* rows() {
      for (let index = 0; index < 25_000; index += 1) {
        yield {
          title: `Bulk ${index}`,
          content: index === 24_321 ? 'the rare word quetzalcoatlus' : 'plain',
          published: true,
          authorId: author.id,
        };
      }
    }
    expect(await db.posts.createMany(rows())).toEqual({ count: 25_000 });
    const found = await db.posts.search('quetzalcoatlus');
    expect(found.items.map((item) => item.title)).toEqual(['Bulk 24321']);
    expect(isCuid(found.items[0]?.id as string)).toBe(true);
  });

  it('refuses a post whose author is missing or soft-deleted, naming the row', async () => {
    const gone = await db.users.create({ email: uniqueEmail('gone') });
    await db.users.softDelete(gone.id);
    for (const [authorId, row] of [
      ['no-such-user', 12_345],
      [gone.id, 3],
    ] as const) {
      const rows = Array.from({ length: 15_000 }, (_, index) => ({
        title: `t${index}`,
        authorId: index === row ? authorId : author.id,
      }));
      const error = await failsKeepingNothing(() => db.posts.createMany(rows));
      expect(error).toBeInstanceOf(NotFoundError);
      expect((error as NotFoundError).row).toBe(row);
    }
  });

  it('is on tx.posts and db.primary too', async () => {
    expect(await db.primary.posts.createMany([{ title: 'primary', authorId: author.id }])).toEqual({
      count: 1,
    });
  });
});

describe('createMany inside db.transaction', () => {
  it('fails in a savepoint, leaving the transaction usable; commit keeps the rest', async () => {
    const kept = uniqueEmail('kept');
    const failed = uniqueEmail('failed');
    await db.transaction(async (tx) => {
      await tx.users.createMany([{ email: kept }]);
      const error = await failure(tx.users.createMany([{ email: failed }, { email: kept }]));
      expect((error as UniqueViolationError).row).toBe(1);
      expect(await tx.users.findByEmail(failed)).toBeUndefined();
      await tx.users.create({ email: uniqueEmail('after') });
    });
    expect(await db.users.findByEmail(kept)).toBeDefined();
    expect(await db.users.findByEmail(failed)).toBeUndefined();
  });

  it('is undone with the transaction it ran in', async () => {
    const email = uniqueEmail('undone');
    const error = new Error('roll it back');
    await expect(
      db.transaction(async (tx) => {
        await tx.users.createMany([{ email, posts: [{ title: 'x' }] }]);
        expect(await tx.users.findByEmail(email)).toBeDefined();
        throw error;
      }),
    ).rejects.toBe(error);
    expect(await db.users.findByEmail(email)).toBeUndefined();
  });
});

describe('PooledConnection.copyFrom', () => {
  const onConnection = <T>(work: (connection: Awaited<ReturnType<typeof pooledOf>>) => Promise<T>) =>
    db.kysely.getExecutor().provideConnection(async (c) => work(await pooledOf(c)));

  it("fails with the source's own error when the source throws mid-COPY, and leaves the session clean", async () => {
    const user = await db.users.create({ email: uniqueEmail('copy-fail') });
    const thrown = new Error('the lines ran dry');
    const events: { sql: string; error?: unknown }[] = [];
    const listener = (event: { sql: string; error?: unknown }) => events.push(event);
    db.on('query', listener);
    try {
      await onConnection(async (connection) => {
        async function* lines() {
          for (let index = 0; index < 2_000; index += 1) {
            yield `copy-fail-${index}\tr${index}\t\\N\t${user.id}\t2024-01-01T00:00:00Z\n`;
          }
          // The COPY is under way: the server has had lines.
          await new Promise((resolve) => setTimeout(resolve, 50));
          throw thrown;
        }
        const statement = 'copy pg_roles (id, name, description, "userId", created_at) from stdin';
        await expect(connection.copyFrom(statement, lines())).rejects.toBe(thrown);
        const { rows } = await connection.query(
          'select count(*)::int as n from pg_roles where id like $1',
          ['copy-fail-%'],
          false,
        );
        expect(rows[0].n).toBe(0);
      });
    } finally {
      db.off('query', listener);
    }
    expect(events.filter((event) => event.sql.startsWith('copy'))).toEqual([
      expect.objectContaining({ error: expect.anything() }),
    ]);
    expect(await db.roles.listForUser(user.id)).toEqual([]);
  });
});
