/**
 * Raw SQL exactly as the users' documentation shows it (whitespace included), so the walk-through and
 * the tests prove that their own queries run verbatim — unqualified `pg_roles` and all.
 */

/** "Basic Usage": users with their post count and role names. */
export const SPEC_USER_SUMMARY_SQL = `
  SELECT 
    u.id,
    u.email,
    u.name,
    COUNT(p.id) as post_count,
    STRING_AGG(r.name, ', ') as roles
  FROM pg_users u
  LEFT JOIN pg_posts p ON u.id = p."authorId"
  LEFT JOIN pg_roles r ON u.id = r."userId"
  GROUP BY u.id, u.email, u.name
  ORDER BY post_count DESC
`;

/** "Full-Text Search": published posts matching `$1`, ranked, with the author's name. */
export const SPEC_SEARCH_SQL = `
  SELECT 
    p.*,
    u.name as author_name,
    ts_rank(to_tsvector('english', p.title || ' ' || COALESCE(p.content, '')), plainto_tsquery('english', $1)) as rank
  FROM pg_posts p
  JOIN pg_users u ON p."authorId" = u.id
  WHERE to_tsvector('english', p.title || ' ' || COALESCE(p.content, '')) @@ plainto_tsquery('english', $1)
  AND p.published = true
  ORDER BY rank DESC
`;

/** "JSON Operations": tutorial posts tagged programming. */
export const SPEC_JSON_SQL = `
  SELECT * FROM pg_posts 
  WHERE metadata->>'category' = 'tutorial'
  AND (metadata->>'tags')::jsonb ? 'programming'
`;
