/**
 * db.users.findMany and db.users.count against a real PostgreSQL: every filter and order, keyset
 * pagination, a page with its posts and roles in one statement, and the soft-delete options.
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { createDatabase, type Database } from '../../../src/database/database.js';
import { ValidationError } from '../../../src/errors/classes.js';
import type { User } from '../../../src/repositories/models.js';
import { collectingLogger } from '../../support/collecting-logger.js';
import { setCreatedAt } from '../../support/created-at.js';
import { rejection } from '../../support/rejection.js';
import { countRows } from '../../support/row-counts.js';
import { statementsSent } from '../../support/statements-sent.js';
import { useTestDatabase } from '../../support/test-database.js';
import { uniqueEmail } from '../../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

/** Live users for the tests that need a crowd; returns them in creation order. */
async function createUsers(tag: string, count: number): Promise<User[]> {
  const users: User[] = [];
  for (let index = 0; index < count; index++) {
    users.push(await db.users.create({ email: uniqueEmail(tag), name: `User ${index}` }));
  }
  return users;
}

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
    const ada = await db.users.create({ email: uniqueEmail(tag), name: 'Ada Lovelace' });
    await db.users.create({ email: uniqueEmail(tag), name: 'Grace Hopper' });
    await db.users.create({ email: uniqueEmail(tag) });
    const page = await db.users.findMany({ where: { emailContains: tag, nameContains: 'LOVE' } });
    expect(page.items.map((user) => user.id)).toEqual([ada.id]);
    expect((await db.users.findMany({ where: { emailContains: tag, nameContains: '' } })).items).toHaveLength(
      2,
    );
  });

  it('filters by createdAfter (inclusive) and createdBefore (exclusive)', async () => {
    const tag = createId();
    const [early, middle, late] = await createUsers(tag, 3);
    await setCreatedAt(testDb.url, 'pg_users', early?.id as string, new Date('2020-01-01T00:00:00Z'));
    await setCreatedAt(testDb.url, 'pg_users', middle?.id as string, new Date('2020-06-01T00:00:00Z'));
    await setCreatedAt(testDb.url, 'pg_users', late?.id as string, new Date('2021-01-01T00:00:00Z'));

    const ids = async (where: { createdAfter?: Date; createdBefore?: Date }) =>
      (
        await db.users.findMany({ where: { emailContains: tag, ...where }, orderBy: { createdAt: 'asc' } })
      ).items.map((user) => user.id);
    expect(await ids({ createdAfter: new Date('2020-06-01T00:00:00Z') })).toEqual([middle?.id, late?.id]);
    expect(await ids({ createdBefore: new Date('2020-06-01T00:00:00Z') })).toEqual([early?.id]);
    expect(
      await ids({
        createdAfter: new Date('2020-01-01T00:00:00.001Z'),
        createdBefore: new Date('2021-01-01T00:00:00Z'),
      }),
    ).toEqual([middle?.id]);
    expect(
      await rejection(db.users.findMany({ where: { createdAfter: new Date('nonsense') } })),
    ).toMatchObject({ name: 'ValidationError', field: 'where.createdAfter' });
  });

  it('filters by hasRole', async () => {
    const tag = createId();
    const editor = await db.users.create({
      email: uniqueEmail(tag),
      roles: [{ name: 'editor' }, { name: 'author' }],
    });
    await db.users.create({ email: uniqueEmail(tag), roles: [{ name: 'author' }] });
    await db.users.create({ email: uniqueEmail(tag) });
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
      await setCreatedAt(testDb.url, 'pg_users', user.id, new Date(times[index] as string));
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
        await setCreatedAt(testDb.url, 'pg_users', user.id, new Date(`${times[index]}T00:00:00.000Z`));
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
        created.push((await db.users.create({ email: uniqueEmail(tag) })).id);
      });
      expect(seen).toEqual(before);
      expect(new Set(seen).size).toBe(seen.length);
      for (const id of created) await db.users.hardDelete(id);
    });

    it('rejects a cursor that is not one, or was made for the other direction', async () => {
      const garbage = await rejection(db.users.findMany({ after: 'not-a-cursor' }));
      expect(garbage).toBeInstanceOf(ValidationError);
      expect((garbage as ValidationError).field).toBe('after');
      const forged = Buffer.from(JSON.stringify(['asc', 'yesterday', 'x'])).toString('base64url');
      expect(await rejection(db.users.findMany({ after: forged }))).toMatchObject({ field: 'after' });

      const desc = await db.users.findMany({ where: { emailContains: tag }, first: 2 });
      const reused = await rejection(
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
        const error = await rejection(db.users.findMany({ first }));
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
        email: uniqueEmail(tag),
        posts: [
          { title: `draft ${index}`, published: false },
          { title: `published ${index}`, published: true },
        ],
        roles: [{ name: 'writer' }, { name: 'reader' }],
      });
    }
    for (const first of [1, 6]) {
      let items: { posts: { title: string; createdAt: Date }[]; roles: { name: string }[] }[] = [];
      const statements = await statementsSent(db, async () => {
        const page = await db.users.findMany({
          where: { emailContains: tag },
          first,
          include: { posts: { published: true, orderBy: { createdAt: 'desc' } }, roles: true },
        });
        items = page.items;
      });
      expect(statements).toHaveLength(1);
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
    expect(await rejection(db.users.findMany({ where: { email: 'x' } } as never))).toMatchObject({
      name: 'ValidationError',
      field: 'where.email',
    });
    expect(await rejection(db.users.findMany({ orderBy: { createdAt: 'up' } } as never))).toMatchObject({
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
    expect(all).toBe(
      await countRows(testDb.url, 'SELECT count(*)::int AS n FROM pg_users WHERE deleted_at IS NULL', []),
    );
    expect(await rejection(db.users.count({ withDeleted: true, onlyDeleted: true }))).toMatchObject({
      name: 'ValidationError',
      field: 'onlyDeleted',
    });
  });
});
