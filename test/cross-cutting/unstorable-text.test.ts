/**
 * Text PostgreSQL cannot store exactly, through every entry point a caller's text or JSON takes to SQL
 * (the repositories, post metadata and its filters, the sql helpers, executeRaw): NUL, a lone high
 * surrogate, a lone low surrogate and a reversed pair are each a ValidationError naming the field, and
 * nothing in the database changes; a surrogate pair (an emoji) is accepted, and what is stored reads
 * back identical.
 */
import { createId } from '@paralleldrive/cuid2';
import { type AliasedExpression, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { packCursor } from '../../src/query/pagination.js';
import * as fullText from '../../src/sql/full-text.js';
import * as jsonb from '../../src/sql/jsonb.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
/** A connection of the test's own, beside the layer's pool. */
let beside: pg.Client;
let userId: string;
let postId: string;

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()));
  beside = new pg.Client({ connectionString: testDb.url });
  await beside.connect();
  const user = await db.users.create({
    email: uniqueEmail(),
    name: 'Kept',
    posts: [{ title: 'Kept', content: 'kept', metadata: { category: 'kept', tags: ['kept'] } }],
    roles: [{ name: 'kept' }],
  });
  userId = user.id;
  postId = user.posts[0]?.id as string;
});
afterAll(async () => {
  await beside.end();
  await db.disconnect();
});

const HIGH = '\uD83D';
const LOW = '\uDE00';
const UNSTORABLE = {
  NUL: { text: 'a\u0000b', says: 'NUL' },
  'a lone high surrogate': { text: `a${HIGH}b`, says: 'lone surrogate' },
  'a lone low surrogate': { text: `a${LOW}b`, says: 'lone surrogate' },
  'a reversed pair': { text: `a${LOW}${HIGH}b`, says: 'lone surrogate' },
} as const;
/** A pair, whole: one emoji. */
const EMOJI = `a${HIGH}${LOW}b`;

const m = sql.ref('p.metadata');
/** Runs a jsonb or full-text expression, built inside the query, over the posts. */
const overPosts = (expression: () => AliasedExpression<unknown, string>) =>
  db.kysely.selectFrom('pg_posts as p').select(expression).execute();
const cursor = (id: string) => packCursor(['desc', new Date().toISOString(), id]);

/** Each entry point: the field a refusal names, and a call that sends `text` there. */
const ENTRY_POINTS: [string, string, (text: string) => Promise<unknown>][] = [
  // users
  ['users.create email', 'email', (t) => db.users.create({ email: `${t}@example.com` })],
  ['users.create id', 'id', (t) => db.users.create({ id: t, email: uniqueEmail() })],
  ['users.create name', 'name', (t) => db.users.create({ email: uniqueEmail(), name: t })],
  [
    'users.create profileImage',
    'profileImage',
    (t) => db.users.create({ email: uniqueEmail(), profileImage: t }),
  ],
  [
    'users.create posts title',
    'posts.0.title',
    (t) => db.users.create({ email: uniqueEmail(), posts: [{ title: t }] }),
  ],
  [
    'users.create posts content',
    'posts.0.content',
    (t) => db.users.create({ email: uniqueEmail(), posts: [{ title: 't', content: t }] }),
  ],
  [
    'users.create posts metadata value',
    'posts.0.metadata',
    (t) => db.users.create({ email: uniqueEmail(), posts: [{ title: 't', metadata: { tags: [t] } }] }),
  ],
  [
    'users.create posts metadata key',
    'posts.0.metadata',
    (t) => db.users.create({ email: uniqueEmail(), posts: [{ title: 't', metadata: { deep: { [t]: 1 } } }] }),
  ],
  [
    'users.create roles name',
    'roles.0.name',
    (t) => db.users.create({ email: uniqueEmail(), roles: [{ name: t }] }),
  ],
  [
    'users.create roles description',
    'roles.0.description',
    (t) => db.users.create({ email: uniqueEmail(), roles: [{ name: 'r', description: t }] }),
  ],
  ['users.findById', 'id', (t) => db.users.findById(t)],
  ['users.getById', 'id', (t) => db.users.getById(t).catch(notFoundIsFine)],
  ['users.findByEmail', 'email', (t) => db.users.findByEmail(t)],
  ['users.getByEmail', 'email', (t) => db.users.getByEmail(t).catch(notFoundIsFine)],
  [
    'users.findMany emailContains',
    'where.emailContains',
    (t) => db.users.findMany({ where: { emailContains: t } }),
  ],
  [
    'users.findMany nameContains',
    'where.nameContains',
    (t) => db.users.findMany({ where: { nameContains: t } }),
  ],
  ['users.findMany hasRole', 'where.hasRole', (t) => db.users.findMany({ where: { hasRole: t } })],
  ['users.findMany after', 'after', (t) => db.users.findMany({ after: cursor(t) })],
  ['users.count nameContains', 'where.nameContains', (t) => db.users.count({ where: { nameContains: t } })],
  ['users.update id', 'id', (t) => db.users.update(t, { name: 'n' }).catch(notFoundIsFine)],
  ['users.update email', 'email', (t) => db.users.update(userId, { email: `${t}@example.com` })],
  ['users.update name', 'name', (t) => db.users.update(userId, { name: t })],
  ['users.update profileImage', 'profileImage', (t) => db.users.update(userId, { profileImage: t })],
  ['users.softDelete', 'id', (t) => db.users.softDelete(t).catch(notFoundIsFine)],
  ['users.restore', 'id', (t) => db.users.restore(t).catch(notFoundIsFine)],
  ['users.hardDelete', 'id', (t) => db.users.hardDelete(t).catch(notFoundIsFine)],
  // posts
  ['posts.create id', 'id', (t) => db.posts.create({ id: t, title: 't', authorId: userId })],
  [
    'posts.create authorId',
    'authorId',
    (t) => db.posts.create({ title: 't', authorId: t }).catch(notFoundIsFine),
  ],
  ['posts.create title', 'title', (t) => db.posts.create({ title: t, authorId: userId })],
  ['posts.create content', 'content', (t) => db.posts.create({ title: 't', content: t, authorId: userId })],
  [
    'posts.create metadata value',
    'metadata',
    (t) => db.posts.create({ title: 't', authorId: userId, metadata: { category: t } }),
  ],
  [
    'posts.create metadata key',
    'metadata',
    (t) => db.posts.create({ title: 't', authorId: userId, metadata: { [t]: 1 } }),
  ],
  ['posts.findById', 'id', (t) => db.posts.findById(t)],
  ['posts.findMany authorId', 'where.authorId', (t) => db.posts.findMany({ where: { authorId: t } })],
  ['posts.findMany after', 'after', (t) => db.posts.findMany({ after: cursor(t) })],
  ['posts.update id', 'id', (t) => db.posts.update(t, { title: 'n' }).catch(notFoundIsFine)],
  ['posts.update title', 'title', (t) => db.posts.update(postId, { title: t })],
  ['posts.update content', 'content', (t) => db.posts.update(postId, { content: t })],
  [
    'posts.update metadata',
    'metadata',
    (t) => db.posts.update(postId, { metadata: { category: 'kept', tags: ['kept'], [t]: [t] } }),
  ],
  ['posts.publish', 'id', (t) => db.posts.publish(t).catch(notFoundIsFine)],
  ['posts.countByAuthor', 'authorIds.0', (t) => db.posts.countByAuthor({ authorIds: [t] })],
  ['posts.findByMetadata category', 'filter.category', (t) => db.posts.findByMetadata({ category: t })],
  [
    'posts.findByMetadata tags.any',
    'filter.tags.any.0',
    (t) => db.posts.findByMetadata({ tags: { any: [t] } }),
  ],
  [
    'posts.findByMetadata tags.all',
    'filter.tags.all.0',
    (t) => db.posts.findByMetadata({ tags: { all: [t] } }),
  ],
  [
    'posts.findByMetadata contains',
    'filter.contains',
    (t) => db.posts.findByMetadata({ contains: { [t]: t } }),
  ],
  [
    'posts.findByMetadata after',
    'after',
    (t) => db.posts.findByMetadata({ category: 'kept' }, { after: cursor(t) }),
  ],
  [
    'posts.updateMetadata merge',
    'change.merge',
    (t) => db.posts.updateMetadata(postId, { merge: { note: t } }),
  ],
  [
    'posts.updateMetadata set path',
    'change.set.path.0',
    (t) => db.posts.updateMetadata(postId, { set: { path: [t], value: 1 } }),
  ],
  [
    'posts.updateMetadata set value',
    'change.set.value',
    (t) => db.posts.updateMetadata(postId, { set: { path: ['note'], value: { [t]: t } } }),
  ],
  ['posts.updateMetadata remove', 'change.remove', (t) => db.posts.updateMetadata(postId, { remove: t })],
  [
    'posts.updateMetadata removePath',
    'change.removePath.0',
    (t) => db.posts.updateMetadata(postId, { removePath: [t] }),
  ],
  ['posts.search query', 'query', (t) => db.posts.search(t)],
  ['posts.search prefix query', 'query', (t) => db.posts.search(t, { mode: 'prefix' })],
  [
    'posts.search language',
    'language',
    (t) => db.posts.search('kept', { language: t }).catch(unknownLanguageIsFine),
  ],
  ['posts.search authorId', 'authorId', (t) => db.posts.search('kept', { authorId: t })],
  [
    'posts.search after',
    'after',
    // The cursor of the way this server ranks: by rank through GIN, by distance through RUM.
    async (t) => {
      const kind = (await db.health()).search?.index === 'rum' ? 'rum' : 'rank';
      const after = Buffer.from(JSON.stringify([kind, 0.5, t])).toString('base64url');
      return db.posts.search('kept', { after });
    },
  ],
  // roles
  ['roles.assign userId', 'userId', (t) => db.roles.assign(t, { name: 'r' }).catch(notFoundIsFine)],
  ['roles.assign name', 'name', (t) => db.roles.assign(userId, { name: t })],
  [
    'roles.assign description',
    'description',
    (t) => db.roles.assign(userId, { name: 'described', description: t }),
  ],
  ['roles.revoke', 'name', (t) => db.roles.revoke(userId, t)],
  ['roles.listForUser', 'userId', (t) => db.roles.listForUser(t)],
  ['roles.findUsersWithRole', 'name', (t) => db.roles.findUsersWithRole(t)],
  // the full-text helpers
  ['fullText.plainQuery', 'text', async (t) => overPosts(() => fullText.plainQuery('english', t).as('q'))],
  ['fullText.webQuery', 'text', async (t) => overPosts(() => fullText.webQuery('english', t).as('q'))],
  ['fullText.phraseQuery', 'text', async (t) => overPosts(() => fullText.phraseQuery('english', t).as('q'))],
  ['fullText.prefixQuery', 'text', async (t) => overPosts(() => fullText.prefixQuery('english', t).as('q'))],
  [
    'fullText.postDocument alias',
    'alias',
    async (t) =>
      db.kysely
        .selectFrom(`pg_posts as ${t}` as 'pg_posts')
        .select(fullText.postDocument('english', t).as('d'))
        .execute(),
  ],
  ...(['startSel', 'stopSel', 'fragmentDelimiter'] as const).map(
    (option): [string, string, (text: string) => Promise<unknown>] => [
      `fullText.headline ${option}`,
      option,
      async (t) =>
        overPosts(() =>
          fullText
            .headline('english', sql.ref<string>('p.title'), fullText.plainQuery('english', 'kept'), {
              [option]: t,
            })
            .as('h'),
        ),
    ],
  ),
  // the jsonb helpers
  ['jsonb.value', 'value', async (t) => db.kysely.selectNoFrom(jsonb.value({ [t]: [t] }).as('v')).execute()],
  ['jsonb.get', 'key', async (t) => overPosts(() => jsonb.get(m, t).as('v'))],
  ['jsonb.getText', 'key', async (t) => overPosts(() => jsonb.getText(m, t).as('v'))],
  ['jsonb.getPath', 'path', async (t) => overPosts(() => jsonb.getPath(m, ['tags', t]).as('v'))],
  ['jsonb.getPathText', 'path', async (t) => overPosts(() => jsonb.getPathText(m, [t]).as('v'))],
  ['jsonb.contains', 'value', async (t) => overPosts(() => jsonb.contains(m, { tags: [t] }).as('v'))],
  ['jsonb.containedBy', 'value', async (t) => overPosts(() => jsonb.containedBy(m, { [t]: 1 }).as('v'))],
  ['jsonb.hasKey', 'key', async (t) => overPosts(() => jsonb.hasKey(m, t).as('v'))],
  ['jsonb.hasAnyKey', 'keys', async (t) => overPosts(() => jsonb.hasAnyKey(m, ['a', t]).as('v'))],
  ['jsonb.hasAllKeys', 'keys', async (t) => overPosts(() => jsonb.hasAllKeys(m, [t]).as('v'))],
  ['jsonb.merge', 'value', async (t) => overPosts(() => jsonb.merge(m, { note: t }).as('v'))],
  ['jsonb.removeKey', 'key', async (t) => overPosts(() => jsonb.removeKey(m, t).as('v'))],
  ['jsonb.removePath', 'path', async (t) => overPosts(() => jsonb.removePath(m, [t, 0]).as('v'))],
  ['jsonb.setPath path', 'path', async (t) => overPosts(() => jsonb.setPath(m, [t], 1).as('v'))],
  ['jsonb.setPath value', 'value', async (t) => overPosts(() => jsonb.setPath(m, ['note'], [t]).as('v'))],
  ['jsonb.insertAt path', 'path', async (t) => overPosts(() => jsonb.insertAt(m, [`${t} new`], 1).as('v'))],
  ['jsonb.insertAt value', 'value', async (t) => overPosts(() => jsonb.insertAt(m, ['tags', 0], t).as('v'))],
  [
    'jsonb.pathExists jsonpath',
    'jsonpath',
    async (t) => overPosts(() => jsonb.pathExists(m, `$."${t}"`).as('v')),
  ],
  [
    'jsonb.pathExists vars',
    'vars',
    async (t) => overPosts(() => jsonb.pathExists(m, '$.tags[*] ? (@ == $tag)', { tag: t }).as('v')),
  ],
  ['jsonb.pathMatch', 'jsonpath', async (t) => overPosts(() => jsonb.pathMatch(m, `$."${t}"`).as('v'))],
  [
    'jsonb.pathPredicate',
    'jsonpath',
    async (t) => overPosts(() => jsonb.pathPredicate(m, `$."${t}" == 1`).as('v')),
  ],
  // raw SQL
  ['executeRaw text', 'text', (t) => db.executeRaw(`SELECT '${t}' AS t`)],
  [
    'executeRaw string parameter',
    'params.1',
    (t) => db.executeRaw('SELECT $1::int AS n, $2::text AS t', [1, t]),
  ],
  ['executeRaw array parameter', 'params.0', (t) => db.executeRaw('SELECT $1::text[] AS a', [['x', t]])],
  ['executeRaw JSON parameter', 'params.0', (t) => db.executeRaw('SELECT $1::jsonb AS j', [{ [t]: t }])],
  [
    'executeRaw with a statement timeout',
    'params.0',
    (t) => db.executeRaw('SELECT $1::text AS t', [t], { statementTimeoutMs: 5_000 }),
  ],
  [
    'executeRaw in a transaction',
    'params.0',
    (t) => db.transaction((tx) => tx.executeRaw('UPDATE pg_users SET name = $1 WHERE id = $2', [t, userId])),
  ],
  [
    'executeRaw in a transaction, with a statement timeout',
    'params.0',
    (t) =>
      db.transaction((tx) =>
        tx.executeRaw('UPDATE pg_users SET name = $1 WHERE id = $2', [t, userId], {
          statementTimeoutMs: 5_000,
        }),
      ),
  ],
  // the query builder: what a caller gives db.kysely is checked where it is sent, named by position
  [
    'db.kysely insert',
    'params.1',
    (t) => db.kysely.insertInto('pg_roles').values({ id: createId(), name: t, userId }).execute(),
  ],
  [
    'db.kysely update in a transaction',
    'params.0',
    (t) =>
      db.transaction((tx) =>
        tx.kysely.updateTable('pg_posts').set({ title: t }).where('id', '=', postId).execute(),
      ),
  ],
  [
    'db.kysely where',
    'params.0',
    (t) => db.kysely.selectFrom('pg_users').select('id').where('name', '=', t).execute(),
  ],
  // users and roles inside a transaction take the same path
  [
    'users.create in a transaction',
    'name',
    (t) => db.transaction((tx) => tx.users.create({ email: uniqueEmail(), name: t })),
  ],
];

/** An id or email that matches no row is the entry point's business once the text is accepted. */
function notFoundIsFine(error: unknown): undefined {
  if (error instanceof Error && error.name === 'NotFoundError') return undefined;
  throw error;
}

/** A language name is checked against the server's list only once the text itself is accepted. */
function unknownLanguageIsFine(error: unknown): undefined {
  if (error instanceof ValidationError && /not a text search configuration/.test(error.message))
    return undefined;
  throw error;
}

/** Everything the three tables hold, as one digest per table, read beside the layer: any write shows. */
async function contents(): Promise<Record<string, string>> {
  const {
    rows: [row],
  } = await beside.query<Record<string, string>>(
    `SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM pg_users t) AS users,
            (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM pg_posts t) AS posts,
            (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM pg_roles t) AS roles`,
  );
  return row as Record<string, string>;
}

describe.each(Object.entries(UNSTORABLE))('%s', (_, { text, says }) => {
  it.each(ENTRY_POINTS)('is refused by %s, naming %s, and nothing changes', async (_entry, field, send) => {
    const before = await contents();
    const error = await send(text).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ValidationError);
    const refusal = error as ValidationError;
    // A cursor is opaque: one that holds such text was not made by the layer, and is refused as such.
    const message =
      field === 'after'
        ? /^is not a cursor from this (list|search)$/
        : new RegExp(`${says}.*, which PostgreSQL cannot store \\(.*at index \\d+\\)$`);
    expect(refusal.issues).toContainEqual({ field, message: expect.stringMatching(message) });
    expect(refusal.message).not.toContain(text);
    expect(await contents()).toEqual(before);
  });
});

/** An email address is ASCII (zod's rule), so a pair is refused there, as not an email address. */
const EMAILS = new Set(['users.create email', 'users.update email']);

describe('a surrogate pair', () => {
  it.each(ENTRY_POINTS.filter(([entry]) => !EMAILS.has(entry)))(
    'is accepted by %s',
    async (_entry, _field, send) => {
      await expect(send(EMOJI)).resolves.not.toThrow();
    },
  );

  it.each(ENTRY_POINTS.filter(([entry]) => EMAILS.has(entry)))(
    'is not an email address to %s',
    async (_entry, field, send) => {
      const error = await send(EMOJI).then(
        () => undefined,
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as ValidationError).issues).toEqual([{ field, message: 'must be an email address' }]);
    },
  );

  it('is stored by every write and reads back identical, as create and update return it', async () => {
    const text = `${EMOJI} 👩‍💻 🐘`;
    const created = await db.users.create({
      email: uniqueEmail(),
      name: text,
      profileImage: text,
      posts: [
        { title: text, content: text, metadata: { category: text, tags: [text], [text]: { [text]: text } } },
      ],
      roles: [{ name: text, description: text }],
    });
    const read = await db.users.getById(created.id, { include: { posts: true, roles: true } });
    expect(created).toEqual(read);
    expect([read.name, read.profileImage, read.posts[0]?.title, read.posts[0]?.content]).toEqual([
      text,
      text,
      text,
      text,
    ]);
    expect(read.posts[0]?.metadata).toEqual({ category: text, tags: [text], [text]: { [text]: text } });
    expect([read.roles[0]?.name, read.roles[0]?.description]).toEqual([text, text]);

    const post = await db.posts.create({
      title: text,
      content: text,
      authorId: created.id,
      metadata: { [text]: text },
    });
    expect(post).toEqual(await db.posts.getById(post.id));
    const changed = await db.posts.updateMetadata(post.id, {
      set: { path: [text, 'deeper'], value: [text] },
    });
    expect(changed.metadata).toEqual({ [text]: text });
    const merged = await db.posts.updateMetadata(post.id, { merge: { [`${text}!`]: { [text]: [text] } } });
    expect(merged).toEqual(await db.posts.getById(post.id));
    expect(merged.metadata[`${text}!`]).toEqual({ [text]: [text] });
    const role = await db.roles.assign(created.id, { name: `${text}?`, description: text });
    expect(role).toEqual((await db.roles.listForUser(created.id)).find((each) => each.id === role.id));
    const renamed = await db.users.update(created.id, { name: `${text}.` });
    expect(renamed).toEqual(await db.users.getById(created.id));
    expect(renamed.name).toBe(`${text}.`);

    // What the server itself holds, read beside the layer.
    const {
      rows: [stored],
    } = await beside.query<{ name: string; title: string; metadata: unknown }>(
      'SELECT u.name, p.title, p.metadata FROM pg_users u JOIN pg_posts p ON p."authorId" = u.id WHERE p.id = $1',
      [post.id],
    );
    expect(stored).toEqual({ name: `${text}.`, title: text, metadata: merged.metadata });
  });

  it('finds what it stored: filters, metadata containment and search match it literally', async () => {
    const tag = `tag ${EMOJI} ${createId()}`;
    const user = await db.users.create({
      email: uniqueEmail(),
      name: `name ${tag}`,
      posts: [{ title: `elephant ${EMOJI}`, published: true, metadata: { category: tag, tags: [tag] } }],
      roles: [{ name: tag }],
    });
    const ids = (page: { items: { id: string }[] }) => page.items.map((item) => item.id);
    expect(ids(await db.users.findMany({ where: { nameContains: tag } }))).toEqual([user.id]);
    expect(ids(await db.users.findMany({ where: { hasRole: tag } }))).toEqual([user.id]);
    expect(ids(await db.roles.findUsersWithRole(tag))).toEqual([user.id]);
    const postIds = [user.posts[0]?.id];
    expect(ids(await db.posts.findByMetadata({ category: tag }))).toEqual(postIds);
    expect(ids(await db.posts.findByMetadata({ tags: { all: [tag] } }))).toEqual(postIds);
    expect(ids(await db.posts.findByMetadata({ contains: { tags: [tag] } }))).toEqual(postIds);
    expect(ids(await db.posts.search('elephant', { authorId: user.id }))).toEqual(postIds);
  });

  it('goes through the sql helpers and executeRaw unchanged', async () => {
    const value = { [EMOJI]: [EMOJI, { [EMOJI]: EMOJI }] };
    const [row] = await db.kysely.selectNoFrom(jsonb.value(value).as('v')).execute();
    expect(row?.v).toEqual(value);
    expect(
      await db.executeRaw('SELECT $1::text AS t, $2::text[] AS a, $3::jsonb AS j', [EMOJI, [EMOJI], value]),
    ).toEqual([{ t: EMOJI, a: [EMOJI], j: value }]);
    expect(await db.executeRaw(`SELECT '${EMOJI}'::text AS t`)).toEqual([{ t: EMOJI }]);
  });
});
