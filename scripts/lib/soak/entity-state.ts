/**
 * What one workload entity is: a user with its posts and roles, as the ledger expects it and as the
 * database holds it, in one comparable form. A state is compared part by part (each user field, each
 * post, each role), so a mismatch can say which part differs, and a state that mixes the parts of two
 * expected states (a write half applied) can be told from one that lost a write.
 */
import type { Post, Role, User } from '../../../src/repositories/models.js';
import type { PostMetadata } from '../../../src/repositories/post-metadata.js';

/** A post is live, deleted on its own, or deleted with its author (and so restored with it). */
export type PostDeletion = 'live' | 'alone' | 'with-user';

export interface PostState {
  /** Unknown for the posts of a nested create that failed: the layer makes their ids. */
  id: string | undefined;
  /** Unique within its user, so posts are matched by title. */
  title: string;
  content: string | null;
  published: boolean;
  metadata: PostMetadata;
  deletion: PostDeletion;
}

export interface RoleState {
  name: string;
  description: string | null;
}

export interface UserState {
  email: string;
  name: string | null;
  profileImage: string | null;
  deleted: boolean;
  posts: PostState[];
  roles: RoleState[];
}

/** undefined: no row (not created yet, or hard-deleted). */
export type EntityState = UserState | undefined;

/** JSON with object keys sorted, so jsonb's key order does not matter. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, inner: unknown) =>
    inner && typeof inner === 'object' && !Array.isArray(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : inner,
  );
}

/** Each part of a state by name; a part a state lacks is absent from the map. */
function parts(state: EntityState, withPostIds: (title: string) => boolean): Map<string, string> {
  const map = new Map<string, string>();
  if (!state) {
    map.set('row', 'absent');
    return map;
  }
  map.set('row', 'present');
  map.set('email', state.email);
  map.set('name', canonicalJson(state.name));
  map.set('profileImage', canonicalJson(state.profileImage));
  map.set('deleted', String(state.deleted));
  for (const post of state.posts) {
    const { id, title, ...rest } = post;
    map.set(`post "${title}"`, canonicalJson(withPostIds(title) ? { id, ...rest } : rest));
  }
  for (const role of state.roles) map.set(`role "${role.name}"`, canonicalJson(role.description));
  return map;
}

/** Both states' parts, post ids included where `expected` knows them. */
function partsOf(stored: EntityState, expected: EntityState): [Map<string, string>, Map<string, string>] {
  const knownIds = new Set(expected?.posts.filter((post) => post.id !== undefined).map((post) => post.title));
  const withId = (title: string) => knownIds.has(title);
  return [parts(stored, withId), parts(expected, withId)];
}

/** The parts where `stored` differs from `expected` (post ids compared where the ledger knows them). */
export function differences(stored: EntityState, expected: EntityState): string[] {
  const [have, want] = partsOf(stored, expected);
  const names = new Set([...have.keys(), ...want.keys()]);
  return [...names].filter((name) => have.get(name) !== want.get(name));
}

/** Each part that differs from some allowed state: what is stored, and what each allowed state has. */
export function explainDifferences(stored: EntityState, allowed: readonly EntityState[]): string {
  const names = new Set(allowed.flatMap((state) => differences(stored, state)));
  const valueIn = (state: EntityState, name: string) => partsOf(state, state)[0].get(name) ?? 'none';
  return [...names]
    .map(
      (name) =>
        `${name}: stored ${valueIn(stored, name)}, allowed ${allowed.map((state) => valueIn(state, name)).join(' or ')}`,
    )
    .join('; ');
}

/**
 * How `stored` relates to the states the ledger allows: `exact` when it is one of them; `half-written`
 * when every part matches one of them but no state matches whole (a write applied in part); `lost`
 * otherwise (a part no allowed state has: an acknowledged write missing or changed).
 */
export function judge(
  stored: EntityState,
  allowed: readonly EntityState[],
): 'exact' | 'half-written' | 'lost' {
  const differing = allowed.map((state) => new Set(differences(stored, state)));
  if (differing.some((set) => set.size === 0)) return 'exact';
  const everyDiffering = new Set(differing.flatMap((set) => [...set]));
  const unexplained = [...everyDiffering].filter((part) => differing.every((set) => set.has(part)));
  return unexplained.length === 0 ? 'half-written' : 'lost';
}

/** A post's deletion, told from its deleted_at and its author's (a soft delete gives both one mark). */
export function deletionOf(postDeletedAt: Date | null, userDeletedAt: Date | null): PostDeletion {
  if (postDeletedAt === null) return 'live';
  return userDeletedAt !== null && postDeletedAt.getTime() === userDeletedAt.getTime()
    ? 'with-user'
    : 'alone';
}

/** A user as the layer returns it (users.getById with every post and its roles) in the ledger's form. */
export function stateOfUser(user: User & { posts: Post[]; roles: Role[] }): UserState {
  return {
    email: user.email,
    name: user.name,
    profileImage: user.profileImage,
    deleted: user.deletedAt !== null,
    posts: user.posts.map((post) => ({
      id: post.id,
      title: post.title,
      content: post.content,
      published: post.published,
      metadata: post.metadata,
      deletion: deletionOf(post.deletedAt, user.deletedAt),
    })),
    roles: user.roles.map((role) => ({ name: role.name, description: role.description })),
  };
}

export function cloneState(state: UserState): UserState {
  return structuredClone(state);
}
