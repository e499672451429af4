/**
 * Every write that returns an entity returns what the server stored, not what it was given: a fresh
 * read returns the same, even when the server changes the values on the way in (a service's own
 * trigger here; jsonb's key order always).
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
/** Only rows whose text holds this are changed by the triggers. */
const TAG = createId();

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()));
  // What a service's migration might add: values tidied on the way in, on every table the layer writes.
  await db.executeRaw(`
    CREATE FUNCTION test_tidy() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_TABLE_NAME = 'pg_users' THEN
        NEW.name := btrim(NEW.name);
        NEW.email := lower(NEW.email);
      ELSIF TG_TABLE_NAME = 'pg_posts' THEN
        NEW.title := btrim(NEW.title);
        NEW.metadata := NEW.metadata || '{"tidied": true}';
      ELSE
        NEW.description := upper(NEW.description);
      END IF;
      RETURN NEW;
    END
    $$`);
  for (const [table, column] of [
    ['pg_users', 'name'],
    ['pg_posts', 'title'],
    ['pg_roles', 'name'],
  ]) {
    await db.executeRaw(
      `CREATE TRIGGER test_tidy BEFORE INSERT OR UPDATE ON ${table}
         FOR EACH ROW WHEN (NEW.${column} LIKE '%${TAG}%') EXECUTE FUNCTION test_tidy()`,
    );
  }
});
afterAll(() => db.disconnect());

describe('what a write returns', () => {
  it('is what users.create stored, the nested posts and roles included', async () => {
    const created = await db.users.create({
      email: uniqueEmail(`Mixed.Case.${TAG}`),
      name: `  ${TAG}  `,
      posts: [
        { title: ` first ${TAG} `, metadata: { zebra: 1, apple: { b: 2, a: 1 } } },
        { title: `second ${TAG}` },
      ],
      roles: [
        { name: `role ${TAG}`, description: 'quiet' },
        { name: 'untouched', description: 'quiet' },
      ],
    });
    const read = await db.users.getById(created.id, { include: { posts: true, roles: true } });
    // The same object, key order inside metadata too (jsonb keeps shorter keys first).
    expect(JSON.stringify(created.posts[0]?.metadata)).toBe(
      JSON.stringify(read.posts.find((post) => post.id === created.posts[0]?.id)?.metadata),
    );
    expect({ ...created, posts: byId(created.posts), roles: byId(created.roles) }).toEqual({
      ...read,
      posts: byId(read.posts),
      roles: byId(read.roles),
    });
    expect(created.email).toBe(created.email.toLowerCase());
    expect(created.name).toBe(TAG);
    expect(created.posts.map((post) => post.title)).toEqual([`first ${TAG}`, `second ${TAG}`]);
    expect(created.posts[0]?.metadata).toEqual({ zebra: 1, apple: { a: 1, b: 2 }, tidied: true });
    expect(Object.keys(created.posts[0]?.metadata ?? {})).toEqual(['apple', 'zebra', 'tidied']);
    expect(created.roles.map((role) => role.description)).toEqual(['QUIET', 'quiet']);
  });

  it('is what posts.create, roles.assign and the updates stored', async () => {
    const author = await db.users.create({ email: uniqueEmail() });
    const post = await db.posts.create({ title: ` ${TAG} `, authorId: author.id, metadata: { b: 1, a: 2 } });
    expect(post).toEqual(await db.posts.getById(post.id));
    expect(post.title).toBe(TAG);
    expect(Object.keys(post.metadata)).toEqual(['a', 'b', 'tidied']);

    const role = await db.roles.assign(author.id, { name: `role ${TAG}`, description: 'quiet' });
    expect(role).toEqual((await db.roles.listForUser(author.id))[0]);
    expect(role.description).toBe('QUIET');

    const renamed = await db.users.update(author.id, { name: ` ${TAG} ` });
    expect(renamed).toEqual(await db.users.getById(author.id));
    expect(renamed.name).toBe(TAG);
    const retitled = await db.posts.update(post.id, { title: ` again ${TAG} `, metadata: { y: 1, x: 2 } });
    expect(retitled).toEqual(await db.posts.getById(post.id));
    expect(retitled).toMatchObject({ title: `again ${TAG}`, metadata: { x: 2, y: 1, tidied: true } });
    const merged = await db.posts.updateMetadata(post.id, { merge: { longer: 1, s: 2 } });
    expect(merged).toEqual(await db.posts.getById(post.id));
    expect(Object.keys(merged.metadata)).toEqual(['s', 'x', 'y', 'longer', 'tidied']);
  });
});

function byId<T extends { id: string }>(items: T[]): T[] {
  return [...items].sort((x, y) => (x.id < y.id ? -1 : 1));
}
