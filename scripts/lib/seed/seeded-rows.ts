/**
 * The seeded users as `users.createMany` rows (each with its posts and roles, ids and timestamps kept),
 * drawn lazily user by user, and the progress count they feed as they are drawn.
 */
import type { CreateManyUserInput } from '../../../src/repositories/create-many-input.js';
import type { SeedProgress } from './options.js';
import { seededPosts } from './posts.js';
import { seededRoles } from './roles.js';
import { EmailBook, seededUser } from './users.js';

/** Calls onProgress at most every this many rows (and at every thousandth of the total, and at the end). */
const PROGRESS_EVERY = 5_000;

export class ProgressCounter {
  private done = 0;
  private reported = 0;
  private readonly every: number;

  constructor(
    private readonly total: number,
    private readonly report: SeedProgress | undefined,
  ) {
    this.every = Math.max(1, Math.min(PROGRESS_EVERY, Math.floor(total / 1000)));
  }

  add(rows: number): void {
    this.done += rows;
    if (this.done - this.reported >= this.every || this.done === this.total) {
      this.reported = this.done;
      this.report?.(this.done, this.total);
    }
  }
}

const dateOf = (ms: number | null) => (ms === null ? null : new Date(ms));

/** User N's row is drawn when the load takes it; the progress counts it and its posts then. */
export function* seededUserRows(
  seed: number,
  users: number,
  postsPerUser: number,
  progress: ProgressCounter,
): Generator<CreateManyUserInput> {
  const emails = new EmailBook();
  for (let index = 0; index < users; index += 1) {
    const user = seededUser(seed, index);
    const posts = [];
    for (const post of seededPosts(seed, user, postsPerUser)) {
      posts.push({
        id: post.id,
        title: post.title,
        content: post.content,
        published: post.published,
        metadata: JSON.parse(post.metadata),
        createdAt: new Date(post.createdAt),
        updatedAt: new Date(post.updatedAt),
        deletedAt: dateOf(post.deletedAt),
      });
    }
    yield {
      id: user.id,
      email: emails.emailOf(user),
      name: user.name,
      profileImage: user.profileImage,
      createdAt: new Date(user.createdAt),
      updatedAt: new Date(user.updatedAt),
      deletedAt: dateOf(user.deletedAt),
      posts,
      roles: seededRoles(seed, user).map((role) => ({
        id: role.id,
        name: role.name,
        description: role.description,
        createdAt: new Date(role.createdAt),
      })),
    };
    progress.add(1 + posts.length);
  }
}
