/** The shape of `pg_posts.metadata` (jsonb): a JSON object with a category and tags, and room for more. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface PostMetadata {
  category?: string;
  tags?: string[];
  [key: string]: JsonValue | undefined;
}
