/** What the posts repository accepts: new posts, patches, and the options of its reads. */
import { z } from 'zod';
import { storableText } from '../query/input-rules.js';
import { streamOptionsShape } from '../query/stream.js';
import {
  createdAtOrder,
  date,
  idSchema,
  notBlank,
  pageOptions,
  readOptions,
  somethingToChange,
} from './input-fields.js';
import { metadataSchema } from './post-metadata-input.js';

const content = storableText(1_000_000).nullable();

export const newPostSchema = z.strictObject({
  title: notBlank(300),
  content: content.optional(),
  published: z.boolean().optional(),
  metadata: metadataSchema.optional(),
});

export const createPostSchema = newPostSchema.extend({ id: idSchema.optional(), authorId: idSchema });

export const updatePostSchema = z
  .strictObject({
    title: notBlank(300).optional(),
    content: content.optional(),
    published: z.boolean().optional(),
    metadata: metadataSchema.optional(),
  })
  .refine(somethingToChange, 'nothing to update');

export const postIncludeSchema = z.strictObject({ author: z.boolean().optional() });

export const postWhereSchema = z.strictObject({
  authorId: idSchema.optional(),
  published: z.boolean().optional(),
  createdAfter: date.optional(),
  createdBefore: date.optional(),
});

export const findPostOptionsSchema = readOptions({ include: postIncludeSchema.optional() });

export const findPostsOptionsSchema = readOptions({
  where: postWhereSchema.optional(),
  include: postIncludeSchema.optional(),
  ...pageOptions,
});

export const streamPostsOptionsSchema = readOptions({
  where: postWhereSchema.optional(),
  include: postIncludeSchema.optional(),
  orderBy: createdAtOrder.optional(),
  ...streamOptionsShape,
});

export const findPostsByMetadataOptionsSchema = readOptions({
  include: postIncludeSchema.optional(),
  ...pageOptions,
});

export const countByAuthorOptionsSchema = readOptions({
  authorIds: z.array(idSchema).max(10_000).optional(),
  published: z.boolean().optional(),
});

export type NewPostInput = z.input<typeof newPostSchema>;
export type CreatePostInput = z.input<typeof createPostSchema>;
export type UpdatePostInput = z.input<typeof updatePostSchema>;
export type PostInclude = z.input<typeof postIncludeSchema>;
export type PostWhere = z.input<typeof postWhereSchema>;
