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
