import type { JsonValue } from '../sql/jsonb.js';

/** The shape of `pg_posts.metadata` (jsonb): a JSON object with a category and tags, and room for more. */
export interface PostMetadata {
  category?: string;
  tags?: string[];
  [key: string]: JsonValue | undefined;
}
