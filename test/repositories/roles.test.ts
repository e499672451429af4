/** db.roles against a real PostgreSQL: assign (idempotent, race-safe), revoke, listForUser, findUsersWithRole. */
import { createId, isCuid } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { NotFoundError, ValidationError } from '../../src/errors/classes.js';
import type { User } from '../../src/repositories/models.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { newUser } from '../support/new-user.js';
import { statementsSent } from '../support/statements-sent.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
});
afterAll(() => db.disconnect());

async function roleRows(userId: string, name: string) {
  return db.executeRaw<{ id: string; description: string | null }>(
    'SELECT id, description FROM pg_roles WHERE "userId" = $1 AND name = $2',
    [userId, name],
  );
}

describe('roles.assign', () => {
  it('gives a live user the role, in one statement, and returns it as a Role', async () => {
    const user = await newUser(db);
    let role: Awaited<ReturnType<typeof db.roles.assign>> | undefined;
    const statements = await statementsSent(db, async () => {
      role = await db.roles.assign(user.id, { name: 'editor', description: 'Edits content' });
    });
    expect(statements).toHaveLength(1);
    expect(role).toEqual({
      id: expect.any(String),
      name: 'editor',
      description: 'Edits content',
      userId: user.id,
      createdAt: expect.any(Date),
    });
    expect(isCuid(role?.id ?? '')).toBe(true);
    expect(await roleRows(user.id, 'editor')).toEqual([{ id: role?.id, description: 'Edits content' }]);
  });

  it('stores no description as null', async () => {
    const user = await newUser(db);
    expect((await db.roles.assign(user.id, { name: 'plain' })).description).toBeNull();
  });

  it('is idempotent: assigning a role the user has returns that role, unchanged', async () => {
    const user = await newUser(db);
    const first = await db.roles.assign(user.id, { name: 'author', description: 'original' });
    // A different description does not overwrite: the existing role comes back as it was.
    const again = await db.roles.assign(user.id, { name: 'author', description: 'changed' });
    expect(again).toEqual(first);
    expect(await roleRows(user.id, 'author')).toEqual([{ id: first.id, description: 'original' }]);
  });

  it('gives concurrent assigns of the same role the same id and one row', async () => {
    const user = await newUser(db);
    const roles = await Promise.all(
      Array.from({ length: 6 }, () => db.roles.assign(user.id, { name: 'racer' })),
    );
    const ids = new Set(roles.map((role) => role.id));
    expect(ids.size).toBe(1);
    expect(await roleRows(user.id, 'racer')).toEqual([{ id: roles[0]?.id, description: null }]);
  });

  it('keeps role names per user: the same name for two users is two roles', async () => {
    const [ada, grace] = [await newUser(db), await newUser(db)];
    const adaRole = await db.roles.assign(ada.id, { name: 'shared' });
    const graceRole = await db.roles.assign(grace.id, { name: 'shared' });
    expect(adaRole.id).not.toBe(graceRole.id);
    expect(graceRole.userId).toBe(grace.id);
  });

  it('refuses a missing user with NotFoundError, writing nothing', async () => {
    const id = createId();
    const error = await db.roles.assign(id, { name: 'ghost' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toMatchObject({ entity: 'User' });
    expect(await roleRows(id, 'ghost')).toEqual([]);
  });

  it('refuses a soft-deleted user with NotFoundError, writing nothing', async () => {
    const user = await newUser(db);
    await db.users.softDelete(user.id);
    await expect(db.roles.assign(user.id, { name: 'late' })).rejects.toBeInstanceOf(NotFoundError);
    expect(await roleRows(user.id, 'late')).toEqual([]);
  });

  it('refuses a soft-deleted user even for a role it already has', async () => {
    const user = await newUser(db);
    await db.roles.assign(user.id, { name: 'kept' });
    await db.users.softDelete(user.id);
    await expect(db.roles.assign(user.id, { name: 'kept' })).rejects.toBeInstanceOf(NotFoundError);
  });

  it('rejects bad input with a ValidationError naming the field, before any statement', async () => {
    const user = await newUser(db);
    const cases: [string, unknown, string][] = [
      [user.id, { name: '' }, 'name'],
      [user.id, { name: '   ' }, 'name'],
      [user.id, { name: 'r'.repeat(101) }, 'name'],
      [user.id, { name: 'ok', description: 'd'.repeat(501) }, 'description'],
      [user.id, { name: 'ok', colour: 'red' }, 'colour'],
      ['', { name: 'ok' }, 'userId'],
    ];
    for (const [userId, role, field] of cases) {
      let error: unknown;
      const statements = await statementsSent(db, async () => {
        error = await db.roles.assign(userId, role as never).catch((caught: unknown) => caught);
      });
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).field).toBe(field);
      expect(statements).toHaveLength(0);
    }
    expect(await db.roles.listForUser(user.id)).toEqual([]);
  });
});

describe('roles.revoke', () => {
  it('takes the role away: true the first time, false after', async () => {
    const user = await newUser(db);
    await db.roles.assign(user.id, { name: 'temporary' });
    await db.roles.assign(user.id, { name: 'permanent' });
    expect(await db.roles.revoke(user.id, 'temporary')).toBe(true);
    expect(await roleRows(user.id, 'temporary')).toEqual([]);
    expect(await db.roles.revoke(user.id, 'temporary')).toBe(false);
    expect((await db.roles.listForUser(user.id)).map((role) => role.name)).toEqual(['permanent']);
  });

  it('returns false for a role or user that never existed, and matches names exactly', async () => {
    const user = await newUser(db);
    await db.roles.assign(user.id, { name: 'Admin' });
    expect(await db.roles.revoke(user.id, 'admin')).toBe(false);
    expect(await db.roles.revoke(createId(), 'Admin')).toBe(false);
    expect(await roleRows(user.id, 'Admin')).toHaveLength(1);
  });

  it('rejects a blank name or an empty user id', async () => {
    await expect(db.roles.revoke(createId(), ' ')).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'name',
    });
    await expect(db.roles.revoke('', 'x')).rejects.toMatchObject({
      name: 'ValidationError',
      field: 'userId',
    });
  });
});

describe('roles.listForUser', () => {
  it("lists the user's roles ordered by name, as Roles with Dates", async () => {
    const user = await newUser(db);
    for (const name of ['zeta', 'alpha', 'mid']) await db.roles.assign(user.id, { name });
    const roles = await db.roles.listForUser(user.id);
    expect(roles.map((role) => role.name)).toEqual(['alpha', 'mid', 'zeta']);
    for (const role of roles) {
      expect(role.userId).toBe(user.id);
      expect(role.createdAt).toBeInstanceOf(Date);
    }
  });

  it('returns an empty list for a user without roles or an unknown user', async () => {
    expect(await db.roles.listForUser((await newUser(db)).id)).toEqual([]);
    expect(await db.roles.listForUser(createId())).toEqual([]);
    await expect(db.roles.listForUser('')).rejects.toBeInstanceOf(ValidationError);
  });
});

describe('roles.findUsersWithRole', () => {
  let role: string;
  let holders: User[];
  let deletedHolder: User;

  beforeAll(async () => {
    role = `reviewer-${createId()}`;
    holders = [];
    for (const name of ['A', 'B', 'C']) {
      const user = await newUser(db, name);
      await db.roles.assign(user.id, { name: role });
      holders.push(user);
    }
    deletedHolder = await newUser(db, 'deleted');
    await db.roles.assign(deletedHolder.id, { name: role });
    await db.users.softDelete(deletedHolder.id);
    // A user without the role, and one with a different role.
    await newUser(db, 'none');
    await db.roles.assign((await newUser(db, 'other')).id, { name: `${role}-other` });
  });

  const ids = (users: { id: string }[]) => users.map((user) => user.id).sort();

  it('returns a page of the live users that have the role', async () => {
    const page = await db.roles.findUsersWithRole(role);
    expect(ids(page.items)).toEqual(ids(holders));
    expect(page.nextCursor).toBeUndefined();
    expect(page.items[0]).not.toHaveProperty('roles');
  });

  it('includes soft-deleted holders only withDeleted, and only them with onlyDeleted', async () => {
    const withDeleted = await db.roles.findUsersWithRole(role, { withDeleted: true });
    expect(ids(withDeleted.items)).toEqual(ids([...holders, deletedHolder]));
    const onlyDeleted = await db.roles.findUsersWithRole(role, { onlyDeleted: true });
    expect(ids(onlyDeleted.items)).toEqual([deletedHolder.id]);
  });

  it('pages with first and after, in the order asked for', async () => {
    const first = await db.roles.findUsersWithRole(role, { first: 2, orderBy: { createdAt: 'asc' } });
    expect(first.items.map((user) => user.id)).toEqual(holders.slice(0, 2).map((user) => user.id));
    expect(first.nextCursor).toBeDefined();
    const second = await db.roles.findUsersWithRole(role, {
      first: 2,
      orderBy: { createdAt: 'asc' },
      after: first.nextCursor,
    });
    expect(second.items.map((user) => user.id)).toEqual([holders[2]?.id]);
    expect(second.nextCursor).toBeUndefined();
  });

  it('includes relations when asked', async () => {
    const page = await db.roles.findUsersWithRole(role, { include: { roles: true, posts: true } });
    for (const user of page.items) {
      expect(user.roles.map((each) => each.name)).toEqual([role]);
      expect(user.posts).toEqual([]);
    }
  });

  it('returns an empty page for a role nobody has', async () => {
    expect(await db.roles.findUsersWithRole(`nobody-${createId()}`)).toEqual({
      items: [],
      nextCursor: undefined,
    });
  });

  it('rejects a blank role name with a rejected promise, not a synchronous throw', async () => {
    let pending: Promise<unknown> | undefined;
    expect(() => {
      pending = db.roles.findUsersWithRole(' ');
    }).not.toThrow();
    await expect(pending).rejects.toMatchObject({ name: 'ValidationError', field: 'name' });
    await expect(db.roles.findUsersWithRole(role, { first: 0 })).rejects.toMatchObject({ field: 'first' });
  });
});
