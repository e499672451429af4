/**
 * The application can run as a role that only reads and writes rows; the tables' owner runs migrations.
 * That role cannot change the schema.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationRoleGrants } from '../../scripts/lib/least-privilege.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { DatabaseError } from '../../src/errors/classes.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const role = `app_rw_${randomBytes(4).toString('hex')}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
let db: Database;

async function asOwner(statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: testDb.url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  // A role name is an identifier, not a value: it cannot be a parameter, so it is made here, hex only.
  await asOwner([`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`, ...applicationRoleGrants(role)]);
  const url = new URL(testDb.url);
  url.username = role;
  url.password = password;
  db = createDatabase(loadConfig(testDb.env({ POSTGRES_PRISMA_URL: url.toString() })));
});

afterAll(async () => {
  await db.disconnect();
  await asOwner([`DROP OWNED BY ${role}`, `DROP ROLE ${role}`]);
});

describe('an application role with row privileges only', () => {
  it('runs the repositories, search and transactions', async () => {
    const [who] = await db.executeRaw<{ user: string }>('SELECT current_user AS user');
    expect(who?.user).toBe(role);
    const user = await db.users.create({
      email: uniqueEmail(),
      posts: [{ title: 'Least privilege', content: 'elephant', published: true }],
      roles: [{ name: 'author' }],
    });
    await db.transaction(async (tx) => {
      await tx.posts.create({ title: 'second', authorId: user.id });
      await tx.users.update(user.id, { name: 'Ada' });
    });
    expect((await db.posts.search('elephant')).items).toHaveLength(1);
    await db.users.softDelete(user.id);
    await db.users.restore(user.id);
    await db.users.hardDelete(user.id);
    expect(await db.users.findById(user.id)).toBeUndefined();
  });

  it.each([
    ['CREATE TABLE public.intruder (id int)'],
    ['DROP TABLE pg_users'],
    ['ALTER TABLE pg_posts ADD COLUMN extra text'],
    ['TRUNCATE pg_roles'],
  ])('cannot run %s', async (statement) => {
    const error = await db.executeRaw(statement).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(['42501', '42P01']).toContain((error as DatabaseError).code);
  });
});
