/**
 * The grants an application role needs, apart from the role that owns the tables and runs migrations:
 * reading and writing rows, nothing else (no DDL, no TRUNCATE, no ownership). docs/production/least-privilege.md prints this SQL.
 */
const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

export function applicationRoleGrants(role: string, schema = 'public'): string[] {
  const r = quote(role);
  const s = quote(schema);
  return [
    `GRANT USAGE ON SCHEMA ${s} TO ${r}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ${s}.pg_users, ${s}.pg_posts, ${s}.pg_roles TO ${r}`,
  ];
}
