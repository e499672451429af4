/**
 * A seeded user's posts: a pure function of (seed, user, how many), written while they are drawn.
 */
import { seededId } from './ids.js';
import { postMetadata } from './post-metadata.js';
import { postContent, postTitle } from './post-text.js';
import { Random } from './random.js';
import { instantBetween } from './timeline.js';
import type { SeededUser } from './users.js';

export const POST_SHAPE = {
  published: 0.8,
  /** Soft-deleted on their own, before (and apart from) any deletion of their author. */
  deleted: 0.01,
  /** Changed (updated_at moved) after being written. */
  edited: 0.3,
} as const;

export interface SeededPost {
  id: string;
  title: string;
  content: string | null;
  published: boolean;
  authorId: string;
  /** JSON text. */
  metadata: string;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
}

export function* seededPosts(seed: number, user: SeededUser, count: number): Generator<SeededPost> {
  const random = Random.of(seed, user.index, 'posts');
  for (let i = 0; i < count; i += 1) {
    const id = seededId(random);
    const createdAt = instantBetween(user.createdAt, user.activeUntil, random.float());
    const title = postTitle(random);
    const content = postContent(random);
    const published = random.chance(POST_SHAPE.published);
    const metadata = postMetadata(random);
    const editedAt = random.chance(POST_SHAPE.edited)
      ? instantBetween(createdAt, user.activeUntil, random.float())
      : createdAt;
    const ownDeletion = random.chance(POST_SHAPE.deleted)
      ? instantBetween(createdAt, user.activeUntil, random.float())
      : null;
    // The author's soft delete marks every post still live with the author's own timestamp, so that
    // users.restore can bring back exactly those; a post deleted before keeps its own.
    const deletedAt = ownDeletion ?? user.deletedAt;
    yield {
      id,
      title,
      content,
      published,
      authorId: user.id,
      metadata,
      createdAt,
      // A soft delete is an UPDATE, so it is the post's last change.
      updatedAt: deletedAt ?? editedAt,
      deletedAt,
    };
  }
}
