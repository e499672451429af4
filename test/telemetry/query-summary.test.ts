/**
 * The summary of a statement read off its SQL text: the operations and their tables, in order, for the
 * layer's own statements (a read with relations, a nested create, a soft delete, a transaction's
 * statements, COPY) and for raw SQL, never misled by literals, quoted names or comments.
 */
import { describe, expect, it } from 'vitest';
import { querySummary, readQuerySummary } from '../../src/telemetry/query-summary.js';

const cases: [string, string, string | undefined, string | undefined][] = [
  // [sql, summary, operation, collection]
  [
    `select "u"."id", (select coalesce(json_agg(agg), '[]') from (select * from "app"."pg_posts" as "p" where "p"."authorId" = "u"."id") as agg) as "posts" from "app"."pg_users" as "u" where "u"."id" = $1`,
    'SELECT pg_users',
    'SELECT',
    'app.pg_users',
  ],
  [
    `with "new_user" as (insert into "app"."pg_users" ("id") values ($1) returning *), "new_posts" as (insert into "app"."pg_posts" select * from "new_user") select * from "new_user" as "u"`,
    'INSERT pg_users INSERT pg_posts SELECT new_user',
    'INSERT',
    'app.pg_users',
  ],
  [
    `with "deleted_user" as (update "app"."pg_users" set "deleted_at" = greatest(now(), (select max("deleted_at") from "app"."pg_posts")) where "id" = $1 returning *) select * from "deleted_user" as "u"`,
    'UPDATE pg_users SELECT deleted_user',
    'UPDATE',
    'app.pg_users',
  ],
  [
    `with "d" as (select "id" from "app"."pg_users" where "id" = $1 for update) update "app"."pg_users" set "deleted_at" = null from "d" where "pg_users"."id" = "d"."id"`,
    'UPDATE pg_users',
    'UPDATE',
    'app.pg_users',
  ],
  [
    'insert into pg_users (id) values ($1) on conflict (id) do update set name = excluded.name',
    'INSERT pg_users',
    'INSERT',
    'pg_users',
  ],
  ['delete from "app"."pg_roles" where "id" = $1', 'DELETE pg_roles', 'DELETE', 'app.pg_roles'],
  ['COPY "app"."pg_posts" ("id", "title") FROM STDIN', 'COPY pg_posts', 'COPY', 'app.pg_posts'],
  ['begin', 'BEGIN', 'BEGIN', undefined],
  ['start transaction isolation level serializable', 'START TRANSACTION', 'START TRANSACTION', undefined],
  ['rollback to savepoint "shared_db_savepoint_3"', 'ROLLBACK', 'ROLLBACK', undefined],
  ['set local statement_timeout = 5000', 'SET', 'SET', undefined],
  [`select pg_catalog.set_config('statement_timeout', $1, true)`, 'SELECT', 'SELECT', undefined],
  ['SELECT count(*) FROM ONLY pg_posts', 'SELECT pg_posts', 'SELECT', 'pg_posts'],
  // Literals, quoted names and comments say nothing about the statement.
  [
    `SELECT 'from secrets', $q$ from other $q$, E'it\\'s from x' FROM "a ""b""" -- from c`,
    'SELECT a "b"',
    'SELECT',
    'a "b"',
  ],
  ['/* update x */ SELECT 1 FROM t', 'SELECT t', 'SELECT', 't'],
  ['SELECT a FROM x UNION ALL SELECT a FROM y', 'SELECT x SELECT y', 'SELECT', 'x'],
  ['SELECT 1; DELETE FROM t', 'SELECT DELETE t', 'SELECT', undefined],
  ['CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON pg_posts (title)', 'CREATE', 'CREATE', undefined],
  ['VACUUM', 'VACUUM', 'VACUUM', undefined],
  ['', '', undefined, undefined],
];

describe('readQuerySummary', () => {
  it.each(cases)('%s', (sql, summary, operation, collection) => {
    expect(readQuerySummary(sql)).toEqual({ summary, operation, collection });
  });

  it('keeps a summary to 255 characters', () => {
    const sql = Array.from({ length: 100 }, (_, i) => `SELECT a FROM table_${i}`).join(' UNION ');
    expect(readQuerySummary(sql).summary.length).toBe(255);
  });

  it('querySummary remembers a text, and reads a new one', () => {
    expect(querySummary('SELECT 1 FROM t')).toBe(querySummary('SELECT 1 FROM t'));
    expect(querySummary('SELECT 1 FROM u').summary).toBe('SELECT u');
  });
});
