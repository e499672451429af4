/** What posts.search accepts: the typed text and the search's options. */
import { z } from 'zod';
import { storableText } from '../query/input-rules.js';
import { idSchema } from './input-fields.js';
import type { Post } from './models.js';
import { postFields } from './select-lists.js';

/** What a hit can carry besides its rank: the post's fields and its author's name. */
export type SearchColumn = keyof Post | 'authorName';

export const SEARCH_COLUMNS = [...postFields, 'authorName'] as const satisfies readonly SearchColumn[];

/** Most candidates the bounded mode ranks. */
export const MAX_CANDIDATES = 100_000;

export const searchOptionsSchema = z.strictObject({
  language: storableText(63).optional(),
  mode: z.enum(['websearch', 'plain', 'phrase', 'prefix']).optional(),
  first: z.number().int('must be an integer').min(1).max(1000).optional(),
  after: z.string().optional(),
  authorId: idSchema.optional(),
  includeUnpublished: z.boolean().optional(),
  snippet: z.boolean().optional(),
  columns: z.array(z.enum(SEARCH_COLUMNS)).min(1, 'must name at least one column').optional(),
  candidates: z.number().int('must be an integer').min(1).max(MAX_CANDIDATES).optional(),
});

export interface SearchOptions<C extends SearchColumn = SearchColumn, S extends boolean = boolean> {
  /** A text search configuration of the server; default `english`, the stored vector's. */
  language?: string;
  /** websearch (default: quotes, or, -word), plain, phrase, or prefix (type-ahead). */
  mode?: 'websearch' | 'plain' | 'phrase' | 'prefix';
  /** Page size, 1–1000; default 20. */
  first?: number;
  /** The `nextCursor` of the page before. */
  after?: string;
  authorId?: string;
  includeUnpublished?: boolean;
  /** The highlighted passage (`ts_headline`); default true. False skips its cost. */
  snippet?: S;
  /** The hit's fields (default: every post field and `authorName`); `id` and `rank` always come. */
  columns?: readonly C[];
  /**
   * Rank only the first `candidates` matches (1–100,000) the index finds, in the table's storage order
   * (where rows sit on disk: mostly oldest first), instead of every match: bounded work for common words
   * where no RUM index ranks, at the price of better matches beyond them never showing, and of pages
   * that may shift when rows move. Where search ranks through RUM it is bounded already and this
   * changes nothing.
   */
  candidates?: number;
}

/** What posts.search accepts: the typed text and the search's options. */
export const searchTextSchema = storableText(100_000);
