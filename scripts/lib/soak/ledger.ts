/**
 * The ledger of every write the layer acknowledged. Each workload worker owns its entities, so what each
 * entity must hold is known exactly: an acknowledged write moves its expected state on. A write that
 * failed has an unknown outcome (a crash may come just before or just after the commit): the entity may
 * then be in the state before it or after it, whole, and takes no more writes. At the end the database
 * is read from a fresh connection and every entity judged against the states it may be in.
 */
import type pg from 'pg';
import { deletionOf, type EntityState, explainDifferences, judge, type UserState } from './entity-state.js';

export interface LedgerEntity {
  readonly id: string;
  readonly worker: number;
  /** The state the last acknowledged write left; undefined before the create is acknowledged. */
  state: EntityState;
  /** Set by a write with an unknown outcome: the states the entity may be in. No write follows. */
  uncertain: EntityState[] | undefined;
  /** A counter for names that must be unique within the entity (titles, emails). */
  serial: number;
}

export interface Verification {
  entities: number;
  exact: number;
  /** Entities with a part no allowed state has: an acknowledged write missing or changed. */
  lost: number;
  /** Entities mixing the parts of two allowed states: a write applied in part. */
  halfWritten: number;
  /** Users in the database the ledger does not know, or knows as hard-deleted. */
  stray: number;
  /** Entities a failed write left in one of two states, and which one each was found in. */
  unknownOutcomes: { before: number; after: number };
  /** Of those, nested creates that failed: stored whole, or not at all. */
  failedCreates: { stored: number; absent: number };
  /** A few of the entities that are not exact, with what differs. */
  examples: string[];
}

interface UserRow {
  id: string;
  email: string;
  name: string | null;
  profile_image: string | null;
  deleted_at: Date | null;
}

interface PostRow {
  id: string;
  authorId: string;
  title: string;
  content: string | null;
  published: boolean;
  metadata: UserState['posts'][number]['metadata'];
  deleted_at: Date | null;
}

interface RoleRow {
  userId: string;
  name: string;
  description: string | null;
}

/** Every user, post and role of the database, in the ledger's form, by user id. */
async function storedStates(client: pg.ClientBase): Promise<Map<string, UserState>> {
  const users = await client.query<UserRow>(
    'SELECT id, email, name, profile_image, deleted_at FROM pg_users ORDER BY id',
  );
  const posts = await client.query<PostRow>(
    'SELECT id, "authorId", title, content, published, metadata, deleted_at FROM pg_posts ORDER BY id',
  );
  const roles = await client.query<RoleRow>(
    'SELECT "userId", name, description FROM pg_roles ORDER BY "userId", name',
  );
  const states = new Map<string, UserState>();
  const deletedAt = new Map<string, Date | null>();
  for (const row of users.rows) {
    deletedAt.set(row.id, row.deleted_at);
    states.set(row.id, {
      email: row.email,
      name: row.name,
      profileImage: row.profile_image,
      deleted: row.deleted_at !== null,
      posts: [],
      roles: [],
    });
  }
  for (const row of posts.rows) {
    states.get(row.authorId)?.posts.push({
      id: row.id,
      title: row.title,
      content: row.content,
      published: row.published,
      metadata: row.metadata,
      deletion: deletionOf(row.deleted_at, deletedAt.get(row.authorId) ?? null),
    });
  }
  for (const row of roles.rows) {
    states.get(row.userId)?.roles.push({ name: row.name, description: row.description });
  }
  return states;
}

const EXAMPLES = 10;

export class Ledger {
  readonly #entities = new Map<string, LedgerEntity>();

  /** A new entity of `worker`, not created yet. */
  add(id: string, worker: number): LedgerEntity {
    const entity: LedgerEntity = { id, worker, state: undefined, uncertain: undefined, serial: 0 };
    this.#entities.set(id, entity);
    return entity;
  }

  /**
   * Drops an entity whose hard delete was acknowledged: a long run keeps no record of it. The final
   * check still finds it, should it come back, as a stray user.
   */
  forget(entity: LedgerEntity): void {
    this.#entities.delete(entity.id);
  }

  acknowledged(entity: LedgerEntity, state: EntityState): void {
    entity.state = state;
  }

  /** A write with an unknown outcome: the entity is `before` or `after`, whole. */
  unknownOutcome(entity: LedgerEntity, before: EntityState, after: EntityState): void {
    entity.uncertain = [before, after];
  }

  /** Judges every entity against the database that `client` (a fresh connection) reads. */
  async verify(client: pg.ClientBase): Promise<Verification> {
    const stored = await storedStates(client);
    const result: Verification = {
      entities: 0,
      exact: 0,
      lost: 0,
      halfWritten: 0,
      stray: 0,
      unknownOutcomes: { before: 0, after: 0 },
      failedCreates: { stored: 0, absent: 0 },
      examples: [],
    };
    for (const entity of this.#entities.values()) {
      result.entities += 1;
      const allowed = entity.uncertain ?? [entity.state];
      const found = stored.get(entity.id);
      stored.delete(entity.id);
      const verdict = judge(found, allowed);
      if (verdict === 'exact') {
        result.exact += 1;
        if (entity.uncertain) this.#countOutcome(result, entity.uncertain, found);
        continue;
      }
      if (verdict === 'lost') result.lost += 1;
      else result.halfWritten += 1;
      if (result.examples.length < EXAMPLES) {
        result.examples.push(
          `${verdict}: user ${entity.id} of worker ${entity.worker}: ${explainDifferences(found, allowed)}`,
        );
      }
    }
    for (const [id, state] of stored) {
      result.stray += 1;
      if (result.examples.length < EXAMPLES) {
        result.examples.push(`stray: user ${id} (${state.email}) is stored, and no write left it there`);
      }
    }
    return result;
  }

  #countOutcome(result: Verification, [before, after]: EntityState[], found: EntityState): void {
    const isAfter = judge(found, [after]) === 'exact';
    if (isAfter) result.unknownOutcomes.after += 1;
    else result.unknownOutcomes.before += 1;
    if (before !== undefined) return;
    if (isAfter) result.failedCreates.stored += 1;
    else result.failedCreates.absent += 1;
  }
}
