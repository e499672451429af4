/**
 * A corpus of nasty strings through every repository method that takes text or JSON: each is stored and
 * matched literally, and nothing ends in an SQL error; the only error allowed is a typed ValidationError.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import type { JsonValue } from '../../src/sql/jsonb.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

const HOSTILE_STRINGS = [
  "'); DROP TABLE pg_users; --",
  "' OR '1'='1",
  'Robert"); DELETE FROM pg_posts; --',
  '$1',
  '$$ dollar $$',
  '%',
  '_',
  '\\',
  '\\%_',
  '& | ! <-> :* ( ) <2>',
  'foo:* & !bar',
  '"quoted" \'single\'',
  'key.with.dots',
  '{braces}',
  '[1,2]',
  '{"json": "inside"}',
  '?|',
  '@> <@',
  '#- #>',
  'ünïcödé 日本語 Ελληνικά',
  '🐘🔥👩‍💻',
  'line\nbreak\ttab',
  ' leading and trailing ',
  'x'.repeat(5_000),
];

/** Any error but a ValidationError fails the test; a ValidationError is allowed input rejection. */
async function allowed<T>(work: Promise<T>): Promise<T | ValidationError> {
  try {
    return await work;
  } catch (error) {
    if (error instanceof ValidationError) return error;
    throw error;
  }
}

const nested = (depth: number): JsonValue =>
  depth === 0 ? 'bottom' : { [`level ${depth}.$`]: nested(depth - 1) };

describe.each(HOSTILE_STRINGS.map((text, index) => [index, text] as const))(
  'hostile string #%i',
  (_, text) => {
    it('is stored and matched literally by users and roles', async () => {
      const email = uniqueEmail();
      if (text.length > 200) {
        // Longer than a name may be: refused, typed, before any SQL.
        await expect(db.users.create({ email, name: text })).rejects.toBeInstanceOf(ValidationError);
        return;
      }
      const user = await db.users.create({ email, name: text, roles: [{ name: text, description: text }] });
      expect(user.name).toBe(text);
      expect((await db.users.getById(user.id)).name).toBe(text);
      const byName = await db.users.findMany({ where: { nameContains: text } });
      expect(byName.items.map((u) => u.id)).toContain(user.id);
      expect(byName.items.every((u) => u.name?.includes(text))).toBe(true);
      const byRole = await db.users.findMany({ where: { hasRole: text } });
      expect(byRole.items.map((u) => u.id)).toEqual([user.id]);
      expect((await db.roles.listForUser(user.id)).map((r) => [r.name, r.description])).toEqual([
        [text, text],
      ]);
      expect((await db.roles.findUsersWithRole(text)).items.map((u) => u.id)).toEqual([user.id]);
      expect(await db.users.findByEmail(text)).toBeUndefined();
      expect((await db.users.findMany({ where: { emailContains: text } })).items).toEqual([]);
      const renamed = await db.users.update(user.id, { name: `${text}!` });
      expect(renamed.name).toBe(`${text}!`);
      expect(await db.roles.revoke(user.id, text)).toBe(true);
    });

    it('is stored and matched literally by posts, as text and as JSON keys and values', async () => {
      const author = await db.users.create({ email: uniqueEmail() });
      if (text.length > 300) {
        await expect(db.posts.create({ title: text, authorId: author.id })).rejects.toBeInstanceOf(
          ValidationError,
        );
      }
      const title = text.slice(0, 300);
      const metadata = { category: text, tags: [text, 'plain'], [text]: text, deep: { [text]: [text] } };
      const post = await db.posts.create({
        title,
        content: text,
        authorId: author.id,
        published: true,
        metadata,
      });
      expect(post.title).toBe(title);
      expect(post.content).toBe(text);
      expect(post.metadata).toEqual(metadata);

      const found = async (filter: Parameters<Database['posts']['findByMetadata']>[0]) =>
        (await db.posts.findByMetadata(filter)).items.map((p) => p.id);
      expect(await found({ category: text })).toEqual([post.id]);
      expect(await found({ tags: { any: [text] } })).toEqual([post.id]);
      expect(await found({ tags: { all: [text, 'plain'] } })).toEqual([post.id]);
      expect(await found({ contains: { deep: { [text]: [text] } } })).toEqual([post.id]);

      const set = await db.posts.updateMetadata(post.id, {
        set: { path: ['deep', text, 0], value: `${text}?` },
      });
      expect(set.metadata.deep).toEqual({ [text]: [`${text}?`] });
      const merged = await db.posts.updateMetadata(post.id, { merge: { [`${text}2`]: { nested: text } } });
      expect(merged.metadata[`${text}2`]).toEqual({ nested: text });
      const removed = await db.posts.updateMetadata(post.id, { remove: text });
      expect(removed.metadata).not.toHaveProperty(text);
      const pruned = await db.posts.updateMetadata(post.id, { removePath: ['deep', text] });
      expect(pruned.metadata.deep).toEqual({});

      const updated = await db.posts.update(post.id, { title: `${title.slice(0, 299)}.`, content: null });
      expect(updated).toMatchObject({ title: `${title.slice(0, 299)}.`, content: null });
    });

    it('searches without an error in every mode', async () => {
      for (const mode of ['websearch', 'plain', 'phrase', 'prefix'] as const) {
        const page = await allowed(db.posts.search(text, { mode, includeUnpublished: true }));
        expect(page).not.toBeInstanceOf(ValidationError);
      }
    });
  },
);

describe('extreme JSON', () => {
  it('stores and finds a 64-level nested object with hostile keys', async () => {
    const author = await db.users.create({ email: uniqueEmail() });
    const metadata = { deep: nested(64) };
    const post = await db.posts.create({ title: 'deep', authorId: author.id, metadata: metadata as never });
    expect((await db.posts.getById(post.id)).metadata).toEqual(metadata);
    expect((await db.posts.findByMetadata({ contains: metadata as never })).items.map((p) => p.id)).toEqual([
      post.id,
    ]);
  });

  it('refuses what PostgreSQL cannot store with a ValidationError, writing nothing', async () => {
    const author = await db.users.create({ email: uniqueEmail() });
    // NUL, which jsonb cannot hold; lone surrogates and a reversed pair, which it refuses as escapes.
    for (const bad of ['\u0000', `a\u0000b`, '\uD800', `a\uDC00b`, '\uDE00\uD83D']) {
      const attempt = await allowed(
        db.posts.create({ title: 't', authorId: author.id, metadata: { [bad]: 1 } }),
      );
      expect(attempt).toBeInstanceOf(ValidationError);
    }
    expect((await db.posts.findMany({ where: { authorId: author.id } })).items).toEqual([]);
  });
});
