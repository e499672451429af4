/** What posts.search accepts: the typed text and the search's options. */
import { z } from 'zod';
import { storableText } from '../query/input-rules.js';
import { idSchema } from './input-fields.js';

export const searchOptionsSchema = z.strictObject({
  language: storableText(63).optional(),
  mode: z.enum(['websearch', 'plain', 'phrase', 'prefix']).optional(),
  first: z.number().int('must be an integer').min(1).max(1000).optional(),
  after: z.string().optional(),
  authorId: idSchema.optional(),
  includeUnpublished: z.boolean().optional(),
});

export type SearchOptions = z.input<typeof searchOptionsSchema>;

/** What a person typed into a search box: anything at all, as long as PostgreSQL can hold it. */
export const searchTextSchema = storableText(100_000);
