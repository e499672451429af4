/** What posts.findByMetadata and posts.updateMetadata accept, and the metadata a post is written with. */
import { z } from 'zod';
import { storableJson, storableText } from '../query/input-rules.js';
import type { PostMetadata } from './post-metadata.js';

export const metadataSchema = storableJson(z.record(z.string(), z.json())) as z.ZodType<PostMetadata>;

const jsonPath = z
  .array(z.union([storableText(10_000), z.number().int('must be an integer')]))
  .min(1, 'must not be empty')
  .max(1000, 'must be at most 1000 elements');
const jsonValue = storableJson(z.json());
const tagList = z.array(storableText(100_000)).min(1, 'must not be empty').max(100, 'at most 100 tags');

/** What findByMetadata looks for; every criterion is a containment (@>), which the GIN index serves. */
export const metadataFilterSchema = z
  .strictObject({
    category: storableText(100_000).optional(),
    tags: z.strictObject({ any: tagList.optional(), all: tagList.optional() }).optional(),
    contains: metadataSchema.optional(),
  })
  .refine(
    (filter) => filter.category !== undefined || filter.tags?.any || filter.tags?.all || filter.contains,
    'give category, tags.any, tags.all or contains',
  );

/** One change to a post's metadata. */
export const metadataChangeSchema = z.union([
  z.strictObject({ merge: metadataSchema }),
  z.strictObject({
    set: z.strictObject({ path: jsonPath, value: jsonValue, createMissing: z.boolean().optional() }),
  }),
  z.strictObject({ remove: storableText(10_000) }),
  z.strictObject({ removePath: jsonPath }),
]);

export type MetadataFilter = z.input<typeof metadataFilterSchema>;
export type MetadataChange = z.input<typeof metadataChangeSchema>;
