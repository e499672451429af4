/**
 * The domain types callers see. They follow the spec's model types (camelCase, dates as `Date`); the
 * generated `db-types/` keep the storage names. The repositories' select lists map one to the other.
 */
import type { PostMetadata } from './post-metadata.js';

export type { Page, SortDirection } from '../query/pagination.js';

export interface User {
  id: string;
  email: string;
  name: string | null;
  profileImage: string | null;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export interface Post {
  id: string;
  title: string;
  content: string | null;
  published: boolean;
  authorId: string;
  metadata: PostMetadata;
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export interface Role {
  id: string;
  name: string;
  description: string | null;
  userId: string;
  createdAt: Date;
}

export type UserWithRelations = User & { posts: Post[]; roles: Role[] };
export type PostWithAuthor = Post & { author: User };

/** Which rows a read sees with respect to soft delete. Default: only rows that are not deleted. */
export interface SoftDeleteFilter {
  /** Also rows that are soft-deleted (and posts of soft-deleted authors). */
  withDeleted?: boolean;
  /** Only soft-deleted rows. */
  onlyDeleted?: boolean;
}

/** The `include` of a read that loads no relations. */
export type NoInclude = Record<never, never>;
