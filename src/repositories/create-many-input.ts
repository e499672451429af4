/**
 * What `createMany` accepts for each row: what `create` takes, plus the ids and timestamps an import
 * keeps (`createdAt`, `updatedAt`, `deletedAt`; a role's `id` and `createdAt`).
 */
import { z } from 'zod';
import { date, idSchema } from './input-fields.js';
import { createPostSchema, newPostSchema } from './posts-input.js';
import { newRoleSchema } from './roles-input.js';
import { createUserSchema, uniqueRoleNames } from './users-input.js';

const timestamps = {
  createdAt: date.optional(),
  /** Default: the row's `createdAt`. */
  updatedAt: date.optional(),
  /** A soft-deleted row. */
  deletedAt: date.nullable().optional(),
};

export const createManyPostSchema = createPostSchema.extend(timestamps);

/** A post of a user row: its author is that user. */
export const createManyUserPostSchema = newPostSchema.extend({ id: idSchema.optional(), ...timestamps });

export const createManyRoleSchema = newRoleSchema.extend({
  id: idSchema.optional(),
  createdAt: date.optional(),
});

export const createManyUserSchema = createUserSchema.extend({
  ...timestamps,
  posts: z.array(createManyUserPostSchema).max(10_000, 'at most 10000 posts per user').optional(),
  roles: z
    .array(createManyRoleSchema)
    .max(100, 'at most 100 roles at once')
    .superRefine(uniqueRoleNames)
    .optional(),
});

export const createManyOptionsSchema = z.strictObject({
  onProgress: z
    .custom<(rows: number) => void>((value) => typeof value === 'function', 'must be a function')
    .optional(),
});

export type CreateManyPostInput = z.input<typeof createManyPostSchema>;
export type CreateManyUserInput = z.input<typeof createManyUserSchema>;
export type CreateManyUserRow = z.output<typeof createManyUserSchema>;
export type CreateManyPostRow = z.output<typeof createManyPostSchema>;

export interface CreateManyOptions {
  /**
   * Called after each chunk is copied, with the number of input rows copied so far (not committed
   * yet: they are kept only if the whole load succeeds).
   */
  onProgress?: (rows: number) => void;
}

/** The rows of a bulk load: an array, a generator, an async generator, a Readable in object mode. */
export type Rows<T> = Iterable<T> | AsyncIterable<T>;
