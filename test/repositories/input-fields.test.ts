/**
 * The fields every repository's input shares: text PostgreSQL cannot store is refused before it reaches
 * the server, naming the field; withDeleted and onlyDeleted exclude each other in every read.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
let authorId: string;

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()));
  authorId = (await db.users.create({ email: uniqueEmail() })).id;
});
afterAll(() => db.disconnect());

const NUL = '\u0000';

describe('the NUL character', () => {
  it.each([
    ['name', () => db.users.create({ email: uniqueEmail(), name: `a${NUL}b` })],
    [
      'posts.0.content',
      () => db.users.create({ email: uniqueEmail(), posts: [{ title: 't', content: NUL }] }),
    ],
    ['title', () => db.posts.create({ title: `x${NUL}`, authorId })],
    ['metadata', () => db.posts.create({ title: 't', authorId, metadata: { tags: [`a${NUL}`] } })],
    ['metadata', () => db.posts.create({ title: 't', authorId, metadata: { [`k${NUL}`]: 1 } })],
    ['description', () => db.roles.assign(authorId, { name: 'r', description: NUL })],
    ['where.emailContains', () => db.users.findMany({ where: { emailContains: NUL } })],
    ['id', () => db.users.findById(`id${NUL}`)],
  ])('is a ValidationError naming %s, and nothing is written', async (field, call) => {
    const before = await db.executeRaw<{ n: number }>(
      'SELECT (SELECT count(*) FROM pg_users) + (SELECT count(*) FROM pg_posts) + (SELECT count(*) FROM pg_roles) AS n',
    );
    const error = await call().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).field).toBe(field);
    expect((error as ValidationError).message).toContain('NUL');
    const after = await db.executeRaw<{ n: number }>(
      'SELECT (SELECT count(*) FROM pg_users) + (SELECT count(*) FROM pg_posts) + (SELECT count(*) FROM pg_roles) AS n',
    );
    expect(after).toEqual(before);
  });

  it('is fine as the six characters \\u0000 inside metadata text', async () => {
    const post = await db.posts.create({
      title: 't',
      authorId,
      metadata: { note: '\\u0000 is how JSON writes NUL' },
    });
    expect(post.metadata).toEqual({ note: '\\u0000 is how JSON writes NUL' });
  });
});

describe('withDeleted together with onlyDeleted', () => {
  const both = { withDeleted: true, onlyDeleted: true } as const;
  it.each([
    ['users.findById', () => db.users.findById(authorId, both)],
    ['users.findByEmail', () => db.users.findByEmail('someone@example.com', both)],
    ['users.findMany', () => db.users.findMany(both)],
    ['users.count', () => db.users.count(both)],
    ['posts.findById', () => db.posts.findById(authorId, both)],
    ['posts.findMany', () => db.posts.findMany(both)],
    ['posts.findByMetadata', () => db.posts.findByMetadata({ category: 'a' }, both)],
    ['posts.countByAuthor', () => db.posts.countByAuthor(both)],
  ])('is a ValidationError on onlyDeleted in %s', async (_read, call) => {
    const error = await call().then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { field: 'onlyDeleted', message: 'withDeleted and onlyDeleted exclude each other' },
    ]);
  });
});
