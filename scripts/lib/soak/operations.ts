/**
 * The workload's calls: every repository write and read (and a transaction of several writes), each
 * on an entity its worker owns, with the state the entity has after a write, so the ledger can follow
 * it. Reads of an entity are checked against the ledger; reads across entities (pages, counts, search)
 * are only run. Text mixes accented letters, CJK and emoji, which must come back exactly as written.
 */
import { createId } from '@paralleldrive/cuid2';
import type { Database } from '../../../src/database/database.js';
import type { PostMetadata } from '../../../src/repositories/post-metadata.js';
import type { Random } from '../seed/random.js';
import {
  canonicalJson,
  cloneState,
  differences,
  type EntityState,
  type PostState,
  stateOfUser,
  type UserState,
} from './entity-state.js';
import type { LedgerEntity } from './ledger.js';

export interface WriteCall {
  readonly kind: 'write';
  readonly name: string;
  readonly entity: LedgerEntity;
  readonly before: EntityState;
  /** The state after the write; a nested create learns its posts' ids from the layer's answer. */
  readonly expected: EntityState;
  run(db: Database): Promise<void>;
}

export interface ReadCall {
  readonly kind: 'read';
  readonly name: string;
  /** Resolves with what differs from the ledger; undefined when it matches or cannot be checked. */
  run(db: Database): Promise<string | undefined>;
}

export type Call = WriteCall | ReadCall;

const WORDS = [
  'harbour',
  'lantern',
  'meadow',
  'copper',
  'winter',
  'orbit',
  'garden',
  'signal',
  'café',
  'naïve',
  'crème brûlée',
  'straße',
  'données',
  '日本語',
  'Ελληνικά',
  '🙂',
  '👩‍💻',
];
/** Plain words, for search queries. */
export const SEARCH_WORDS = WORDS.slice(0, 8);
const CATEGORIES = ['news', 'tech', 'life', 'café'];
export const ROLE_NAMES = ['admin', 'editor', 'viewer', 'author', 'moderator'];
/** The most posts an entity has at once (deleted ones included), so its reads stay one small page. */
const MOST_POSTS = 6;

function words(rng: Random, count: number): string {
  return Array.from({ length: count }, () => rng.pick(WORDS)).join(' ');
}

function nextSerial(entity: LedgerEntity): number {
  entity.serial += 1;
  return entity.serial;
}

const emailOf = (entity: LedgerEntity) =>
  `w${entity.worker}.${entity.id}.${nextSerial(entity)}@soak.example.com`;
const titleOf = (entity: LedgerEntity, rng: Random) => `${words(rng, 2)} #${nextSerial(entity)}`;

function metadataOf(rng: Random): PostMetadata {
  return { category: rng.pick(CATEGORIES), tags: [rng.pick(SEARCH_WORDS), rng.pick(WORDS)] };
}

function newPost(entity: LedgerEntity, rng: Random, id: string | undefined): PostState {
  return {
    id,
    title: titleOf(entity, rng),
    content: rng.chance(0.2) ? null : words(rng, rng.between(3, 12)),
    published: rng.chance(0.5),
    metadata: metadataOf(rng),
    deletion: 'live',
  };
}

const postInput = (post: PostState) => ({
  title: post.title,
  content: post.content,
  published: post.published,
  metadata: post.metadata,
});

/** The nested create of a new entity: the user with its posts and roles, in one call. */
export function createUser(entity: LedgerEntity, rng: Random): WriteCall {
  const unused = [...ROLE_NAMES];
  const roleNames = Array.from(
    { length: rng.between(0, 2) },
    () => unused.splice(rng.below(unused.length), 1)[0] as string,
  );
  const expected: UserState = {
    email: emailOf(entity),
    name: rng.chance(0.8) ? words(rng, 2) : null,
    profileImage: rng.chance(0.5) ? `https://img.example.com/${entity.id}.png` : null,
    deleted: false,
    posts: Array.from({ length: rng.between(1, 3) }, () => newPost(entity, rng, undefined)),
    roles: roleNames.map((name) => ({ name, description: rng.chance(0.5) ? words(rng, 3) : null })),
  };
  return {
    kind: 'write',
    name: 'users.create',
    entity,
    before: undefined,
    expected,
    async run(db) {
      const created = await db.users.create({
        id: entity.id,
        email: expected.email,
        name: expected.name,
        profileImage: expected.profileImage,
        posts: expected.posts.map(postInput),
        roles: expected.roles,
      });
      for (const mine of expected.posts) {
        mine.id = created.posts.find((post) => post.title === mine.title)?.id;
      }
    },
  };
}

/** Hard-deletes the entity (its posts and roles go with it). */
export function hardDeleteUser(entity: LedgerEntity): WriteCall {
  return {
    kind: 'write',
    name: 'users.hardDelete',
    entity,
    before: entity.state,
    expected: undefined,
    run: (db) => db.users.hardDelete(entity.id),
  };
}

interface Candidate {
  name: string;
  weight: number;
  /** Changes `next` (a copy of the state) and returns the call that makes the same change. */
  build: (next: UserState) => (db: Database) => Promise<unknown>;
}

function liveWrites(entity: LedgerEntity, state: UserState, rng: Random): Candidate[] {
  const id = entity.id;
  const live = state.posts.filter((post) => post.deletion === 'live');
  const alone = state.posts.filter((post) => post.deletion === 'alone');
  const missingRoles = ROLE_NAMES.filter((name) => !state.roles.some((role) => role.name === name));
  const postIn = (next: UserState, post: PostState) => next.posts.find((each) => each.title === post.title);
  const candidates: Candidate[] = [
    {
      name: 'users.update',
      weight: 10,
      build: (next) => {
        const which = rng.below(3);
        if (which === 0) next.name = rng.chance(0.9) ? words(rng, 2) : null;
        else if (which === 1)
          next.profileImage = rng.chance(0.8) ? `https://img.example.com/${createId()}.png` : null;
        else next.email = emailOf(entity);
        const patch =
          which === 0
            ? { name: next.name }
            : which === 1
              ? { profileImage: next.profileImage }
              : { email: next.email };
        return (db) => db.users.update(id, patch);
      },
    },
    {
      name: 'users.softDelete',
      weight: 5,
      build: (next) => {
        next.deleted = true;
        for (const post of next.posts) if (post.deletion === 'live') post.deletion = 'with-user';
        return (db) => db.users.softDelete(id);
      },
    },
  ];
  if (state.posts.length < MOST_POSTS) {
    candidates.push({
      name: 'posts.create',
      weight: 8,
      build: (next) => {
        const post = newPost(entity, rng, createId());
        next.posts.push(post);
        return (db) => db.posts.create({ id: post.id, authorId: id, ...postInput(post) });
      },
    });
    candidates.push({
      name: 'transaction',
      weight: 6,
      build: (next) => {
        // Several writes that commit together or not at all.
        next.name = words(rng, 2);
        const post = newPost(entity, rng, createId());
        next.posts.push(post);
        const role = missingRoles.length > 0 ? rng.pick(missingRoles) : undefined;
        if (role) next.roles.push({ name: role, description: null });
        const name = next.name;
        return (db) =>
          db.transaction(async (tx) => {
            await tx.users.update(id, { name });
            await tx.posts.create({ id: post.id, authorId: id, ...postInput(post) });
            if (role) await tx.roles.assign(id, { name: role });
          });
      },
    });
  }
  if (live.length > 0) {
    const target = rng.pick(live);
    const postId = target.id as string;
    candidates.push(
      {
        name: 'posts.update',
        weight: 8,
        build: (next) => {
          const post = postIn(next, target) as PostState;
          const patch: { title?: string; content?: string | null; metadata?: PostMetadata } = {};
          if (rng.chance(0.5)) patch.title = post.title = titleOf(entity, rng);
          if (rng.chance(0.5) || patch.title === undefined) patch.content = post.content = words(rng, 6);
          if (rng.chance(0.2)) patch.metadata = post.metadata = metadataOf(rng);
          return (db) => db.posts.update(postId, patch);
        },
      },
      {
        name: target.published ? 'posts.unpublish' : 'posts.publish',
        weight: 5,
        build: (next) => {
          const post = postIn(next, target) as PostState;
          post.published = !post.published;
          return (db) => (post.published ? db.posts.publish(postId) : db.posts.unpublish(postId));
        },
      },
      {
        name: 'posts.updateMetadata',
        weight: 5,
        build: (next) => {
          const post = postIn(next, target) as PostState;
          if (rng.chance(0.25) && 'views' in post.metadata) {
            delete post.metadata.views;
            return (db) => db.posts.updateMetadata(postId, { remove: 'views' });
          }
          const merge = { views: rng.below(1000), tags: [rng.pick(SEARCH_WORDS)] };
          post.metadata = { ...post.metadata, ...merge };
          return (db) => db.posts.updateMetadata(postId, { merge });
        },
      },
      {
        name: 'posts.softDelete',
        weight: 4,
        build: (next) => {
          (postIn(next, target) as PostState).deletion = 'alone';
          return (db) => db.posts.softDelete(postId);
        },
      },
    );
  }
  if (alone.length > 0) {
    const target = rng.pick(alone);
    candidates.push({
      name: 'posts.restore',
      weight: 4,
      build: (next) => {
        (postIn(next, target) as PostState).deletion = 'live';
        return (db) => db.posts.restore(target.id as string);
      },
    });
  }
  if (state.posts.length > 0) {
    const target = rng.pick(state.posts);
    candidates.push({
      name: 'posts.hardDelete',
      weight: 2,
      build: (next) => {
        next.posts = next.posts.filter((post) => post.title !== target.title);
        return (db) => db.posts.hardDelete(target.id as string);
      },
    });
  }
  if (missingRoles.length > 0) {
    candidates.push({
      name: 'roles.assign',
      weight: 5,
      build: (next) => {
        const role = { name: rng.pick(missingRoles), description: rng.chance(0.5) ? words(rng, 2) : null };
        next.roles.push(role);
        return (db) => db.roles.assign(id, role);
      },
    });
  }
  if (state.roles.length > 0) {
    const role = rng.pick(state.roles);
    candidates.push({
      name: 'roles.revoke',
      weight: 4,
      build: (next) => {
        next.roles = next.roles.filter((each) => each.name !== role.name);
        return async (db) => {
          if (!(await db.roles.revoke(id, role.name))) throw new Error(`revoke found no role "${role.name}"`);
        };
      },
    });
  }
  return candidates;
}

function weighted<T extends { weight: number }>(rng: Random, items: readonly T[]): T {
  let left = rng.float() * items.reduce((sum, item) => sum + item.weight, 0);
  for (const item of items) {
    left -= item.weight;
    if (left < 0) return item;
  }
  return items[items.length - 1] as T;
}

/** A write on an entity that exists: whichever its state allows (a deleted user can only be restored). */
export function nextWrite(entity: LedgerEntity, rng: Random): WriteCall {
  const state = entity.state as UserState;
  const candidates: Candidate[] = state.deleted
    ? [
        {
          name: 'users.restore',
          weight: 1,
          build: (next) => {
            next.deleted = false;
            for (const post of next.posts) if (post.deletion === 'with-user') post.deletion = 'live';
            return (db) => db.users.restore(entity.id);
          },
        },
      ]
    : liveWrites(entity, state, rng);
  const chosen = weighted(rng, candidates);
  const expected = cloneState(state);
  const call = chosen.build(expected);
  return {
    kind: 'write',
    name: chosen.name,
    entity,
    before: state,
    expected,
    run: async (db) => {
      await call(db);
    },
  };
}

const visiblePosts = (state: UserState) =>
  state.deleted ? [] : state.posts.filter((post) => post.deletion === 'live');
const sortedIds = (ids: (string | undefined)[]) => canonicalJson([...ids].sort());

/** A read of the entity, checked against the ledger's state. */
function entityReads(entity: LedgerEntity, state: UserState, rng: Random): ReadCall[] {
  const id = entity.id;
  const differ = (what: string, got: unknown, want: unknown) => {
    const [a, b] = [canonicalJson(got), canonicalJson(want)];
    return a === b ? undefined : `${what}: got ${a}, expected ${b}`;
  };
  const reads: ReadCall[] = [
    {
      kind: 'read',
      name: 'users.getById',
      async run(db) {
        const user = await db.users.getById(id, {
          withDeleted: true,
          include: { posts: { withDeleted: true }, roles: true },
        });
        const diff = differences(stateOfUser(user), state);
        return diff.length === 0 ? undefined : `user ${id} differs in ${diff.join(', ')}`;
      },
    },
    {
      kind: 'read',
      name: 'users.findById',
      async run(db) {
        const user = await db.users.findById(id);
        return differ(`users.findById ${id}`, user?.email ?? null, state.deleted ? null : state.email);
      },
    },
    {
      kind: 'read',
      name: state.deleted ? 'users.findByEmail' : 'users.getByEmail',
      async run(db) {
        const user = state.deleted
          ? await db.users.findByEmail(state.email, { withDeleted: true })
          : await db.users.getByEmail(state.email);
        return differ(`user by email ${state.email}`, user?.id ?? null, id);
      },
    },
    {
      kind: 'read',
      name: 'posts.findMany',
      async run(db) {
        const page = await db.posts.findMany({ where: { authorId: id }, first: MOST_POSTS });
        return differ(
          `posts of ${id}`,
          sortedIds(page.items.map((post) => post.id)),
          sortedIds(visiblePosts(state).map((post) => post.id)),
        );
      },
    },
    {
      kind: 'read',
      name: 'posts.countByAuthor',
      async run(db) {
        const counts = await db.posts.countByAuthor({ authorIds: [id] });
        return differ(`post count of ${id}`, counts.get(id), visiblePosts(state).length);
      },
    },
    {
      kind: 'read',
      name: 'roles.listForUser',
      async run(db) {
        const roles = await db.roles.listForUser(id);
        return differ(
          `roles of ${id}`,
          roles.map((role) => role.name),
          state.roles.map((role) => role.name).sort(),
        );
      },
    },
  ];
  const visible = visiblePosts(state);
  if (visible.length > 0) {
    const post = rng.pick(visible);
    reads.push({
      kind: 'read',
      name: 'posts.getById',
      async run(db) {
        const found = await db.posts.getById(post.id as string, { include: { author: true } });
        return differ(`post ${post.id}`, [found.title, found.author.id], [post.title, id]);
      },
    });
  }
  const any = state.posts.length > 0 ? rng.pick(state.posts) : undefined;
  if (any) {
    reads.push({
      kind: 'read',
      name: 'posts.findById',
      async run(db) {
        const found = await db.posts.findById(any.id as string, { withDeleted: true });
        return differ(`post ${any.id}`, found?.title ?? null, any.title);
      },
    });
  }
  return reads;
}

/** Reads across every worker's entities: pages, counts, search. Run, not checked. */
function sharedReads(worker: number, rng: Random): ReadCall[] {
  const unchecked = (name: string, run: (db: Database) => Promise<unknown>): ReadCall => ({
    kind: 'read',
    name,
    run: async (db) => {
      await run(db);
      return undefined;
    },
  });
  return [
    unchecked('users.findMany', (db) =>
      db.users.findMany({
        first: 20,
        where: { emailContains: `w${worker}.` },
        include: { posts: { limit: 3 }, roles: true },
      }),
    ),
    unchecked('users.count', (db) => db.users.count()),
    unchecked('posts.findMany (published)', (db) =>
      db.posts.findMany({ first: 20, where: { published: true } }),
    ),
    unchecked('posts.search', (db) => db.posts.search(rng.pick(SEARCH_WORDS), { first: 10 })),
    unchecked('posts.findByMetadata', (db) =>
      db.posts.findByMetadata({ category: rng.pick(CATEGORIES) }, { first: 20 }),
    ),
    unchecked('roles.findUsersWithRole', (db) =>
      db.roles.findUsersWithRole(rng.pick(ROLE_NAMES), { first: 20 }),
    ),
  ];
}

/** A read: of `entity` (checked) when given and the coin says so, else one across entities. */
export function nextRead(entity: LedgerEntity | undefined, worker: number, rng: Random): ReadCall {
  const state = entity?.state;
  if (entity && state && rng.chance(0.7)) return rng.pick(entityReads(entity, state, rng));
  return rng.pick(sharedReads(worker, rng));
}
