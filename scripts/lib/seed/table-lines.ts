/**
 * The three tables' rows as COPY text lines, drawn lazily user by user (each line in the order of its
 * table's column list), and the progress count the users and posts feed.
 */
import { copyLine } from './copy-text.js';
import type { SeedProgress } from './options.js';
import { seededPosts } from './posts.js';
import { seededRoles } from './roles.js';
import { timestamp } from './timeline.js';
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

export const USER_COLUMNS = [
  'id',
  'email',
  'name',
  'profile_image',
  'created_at',
  'updated_at',
  'deleted_at',
];

export function* userLines(seed: number, users: number, progress: ProgressCounter): Generator<string> {
  const emails = new EmailBook();
  for (let index = 0; index < users; index += 1) {
    const user = seededUser(seed, index);
    yield copyLine([
      user.id,
      emails.emailOf(user),
      user.name,
      user.profileImage,
      timestamp(user.createdAt),
      timestamp(user.updatedAt),
      user.deletedAt === null ? null : timestamp(user.deletedAt),
    ]);
    progress.add(1);
  }
}

export const ROLE_COLUMNS = ['id', 'name', 'description', 'userId', 'created_at'];

export function* roleLines(seed: number, users: number): Generator<string> {
  for (let index = 0; index < users; index += 1) {
    for (const role of seededRoles(seed, seededUser(seed, index))) {
      yield copyLine([role.id, role.name, role.description, role.userId, timestamp(role.createdAt)]);
    }
  }
}

export const POST_COLUMNS = [
  'id',
  'title',
  'content',
  'published',
  'authorId',
  'metadata',
  'created_at',
  'updated_at',
  'deleted_at',
];

export function* postLines(seed: number, users: number, perUser: number, progress: ProgressCounter) {
  for (let index = 0; index < users; index += 1) {
    for (const post of seededPosts(seed, seededUser(seed, index), perUser)) {
      yield copyLine([
        post.id,
        post.title,
        post.content,
        post.published ? 't' : 'f',
        post.authorId,
        post.metadata,
        timestamp(post.createdAt),
        timestamp(post.updatedAt),
        post.deletedAt === null ? null : timestamp(post.deletedAt),
      ]);
      progress.add(1);
    }
  }
}
