/**
 * Compiled-statement templates: one compilation per shape, the caller's values only ever as parameters,
 * a bounded cache, and repositories that send the same SQL text for every value of one shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { placeholder, QueryCache } from '../../src/query/query-cache.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;
const sent: Array<{ sql: string; params: readonly unknown[] }> = [];

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()), { logParameters: true });
  db.on('query', (event) => sent.push({ sql: event.sql, params: event.params }));
});
afterAll(() => db.disconnect());

describe('QueryCache', () => {
  it('compiles a shape once and fills each call’s values into the parameters', async () => {
    const cache = new QueryCache();
    let compiled = 0;
    const byEmail = () =>
      cache.template('by email', () => {
        compiled += 1;
        return db.kysely
          .selectFrom('pg_users')
          .select('email')
          .where('email', '=', placeholder('email'))
          .where('deleted_at', 'is', null)
          .limit(1);
      });
    await db.users.create({ email: 'one@example.com' });
    await db.users.create({ email: "o'two@example.com" });
    const one = await db.kysely.executeQuery(byEmail().fill({ email: 'one@example.com' }));
    const two = await db.kysely.executeQuery(byEmail().fill({ email: "o'two@example.com" }));
    expect(one.rows).toEqual([{ email: 'one@example.com' }]);
    expect(two.rows).toEqual([{ email: "o'two@example.com" }]);
    expect(compiled).toBe(1);
    const filled = byEmail().fill({ email: 'x' });
    expect(filled.sql).not.toContain('x');
    // The query's own constants stay as they were compiled (the limit).
    expect(filled.parameters).toEqual(['x', 1]);
  });

  it('refuses to fill a template without a value for each placeholder', () => {
    const cache = new QueryCache();
    const template = cache.template('needs id', () =>
      db.kysely.selectFrom('pg_users').select('id').where('id', '=', placeholder('id')),
    );
    expect(() => template.fill({})).toThrow('no value for placeholder "id"');
  });

  it('reads a dotted placeholder as a path into the values, and names the path it misses', () => {
    const cache = new QueryCache();
    const template = cache.template('by path', () =>
      db.kysely
        .selectFrom('pg_users')
        .select('id')
        .where('email', '=', placeholder('users.1.email'))
        .where('name', '=', placeholder('where.name')),
    );
    const filled = template.fill({
      users: [{ email: 'first' }, { email: 'second' }],
      where: { name: 'Ada' },
    });
    expect(filled.parameters).toEqual(['second', 'Ada']);
    // A key that is there with an undefined value is a value (sent as NULL), not a missing one.
    expect(template.fill({ users: [{}, { email: undefined }], where: { name: 'Ada' } }).parameters).toEqual([
      undefined,
      'Ada',
    ]);
    expect(() => template.fill({ users: [{ email: 'only one' }], where: { name: 'Ada' } })).toThrow(
      'no value for placeholder "users.1.email"',
    );
    expect(() => template.fill({ users: [{}, { email: 'x' }], where: null })).toThrow(
      'no value for placeholder "where.name"',
    );
  });

  it('keeps at most `limit` shapes, dropping the least recently used', () => {
    const cache = new QueryCache(2);
    const builds: string[] = [];
    const get = (key: string) =>
      cache.template(key, () => {
        builds.push(key);
        return db.kysely.selectFrom('pg_users').select('id');
      });
    get('a');
    get('b');
    get('a');
    get('c'); // drops b, the least recently used
    get('a');
    get('b');
    expect(builds).toEqual(['a', 'b', 'c', 'b']);
    expect(cache.size).toBe(2);
  });
});

describe('repositories', () => {
  it('send one SQL text per shape, whatever the values', async () => {
    const a = await db.users.create({ email: 'a@example.com', posts: [{ title: 'alpha walrus' }] });
    const b = await db.users.create({ email: 'b@example.com', posts: [{ title: 'beta walrus' }] });
    await db.posts.search('warm'); // reads the server's text search configurations once
    sent.length = 0;
    for (const user of [a, b]) {
      await db.users.getById(user.id, { include: { posts: true } });
      await db.posts.findMany({ where: { authorId: user.id }, first: 5 });
      await db.posts.findByMetadata({ category: user.email }, { first: 5 });
      await db.posts.search(user.email.slice(0, 1) === 'a' ? 'alpha' : 'beta');
      await db.users.findMany({ where: { emailContains: user.email, hasRole: user.id }, first: 5 });
    }
    const [first, second] = [sent.slice(0, sent.length / 2), sent.slice(sent.length / 2)];
    expect(first.map((query) => query.sql)).toEqual(second.map((query) => query.sql));
    for (const { sql } of sent) {
      expect(sql).not.toContain('example.com');
      expect(sql).not.toContain('alpha');
      expect(sql).not.toContain('\uE000');
    }
    expect(first[0]?.params).toContain(a.id);
    expect(second[0]?.params).toContain(b.id);
  });

  it('give the same results from a cached statement as from a fresh one, in and out of transactions', async () => {
    const user = await db.users.create({
      email: 'c@example.com',
      posts: [{ title: 'gamma', metadata: { category: 'x' } }],
      roles: [{ name: 'r' }],
    });
    const outside = await db.users.getById(user.id, { include: { posts: true, roles: true } });
    const inside = await db.transaction((tx) =>
      tx.users.getById(user.id, { include: { posts: true, roles: true } }),
    );
    expect(inside).toEqual(outside);
    expect(outside.posts.map((post) => post.title)).toEqual(['gamma']);
    const page = await db.posts.findByMetadata({ category: 'x' });
    expect(page.items.map((post) => post.id)).toEqual([user.posts[0]?.id]);
  });

  it('users.findMany: a cached page keeps LIKE’s wildcards literal and continues from its cursor', async () => {
    const payer = (name: string) =>
      db.users.create({ email: `${name.replace('%', '-')}@example.com`, name, roles: [{ name: 'payer' }] });
    const percent = await payer('cent%one');
    await payer('centxone');
    const third = await payer('cent%two');
    const find = (after?: string) =>
      db.users.findMany({ where: { nameContains: 'cent%', hasRole: 'payer' }, first: 1, after });
    const first = await find();
    const second = await find(first.nextCursor);
    expect([...first.items, ...second.items].map((user) => user.name)).toEqual([third.name, percent.name]);
    expect(second.nextCursor).toBeUndefined();
  });
});
