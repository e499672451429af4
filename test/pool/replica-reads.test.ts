/**
 * Which statements a replica may answer (src/pool/replica-reads.ts), from the query Kysely compiles:
 * plain SELECTs yes; locking SELECTs, data-modifying WITH, writes and unmarked raw SQL no. The routing
 * itself is tested on real replication in test/cross-cutting/read-replicas.test.ts.
 */
import {
  CompiledQuery,
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
} from 'kysely';
import { describe, expect, it } from 'vitest';
import type { DB } from '../../db-types/index.js';
import { isReplicaRead, markReplicaRead } from '../../src/pool/replica-reads.js';

const db = new Kysely<DB>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (kysely) => new PostgresIntrospector(kysely),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});
const users = () => db.selectFrom('pg_users').select('id');

describe('isReplicaRead', () => {
  it('is true for a plain SELECT, with joins, subqueries and a read-only WITH', () => {
    expect(isReplicaRead(users().compile())).toBe(true);
    expect(
      isReplicaRead(users().where('id', 'in', db.selectFrom('pg_posts').select('authorId')).compile()),
    ).toBe(true);
    expect(
      isReplicaRead(
        db
          .with('authors', (qb) => qb.selectFrom('pg_posts').select('authorId'))
          .selectFrom('authors')
          .selectAll()
          .compile(),
      ),
    ).toBe(true);
    expect(isReplicaRead(users().select(sql<string>`now()`.as('at')).compile())).toBe(true);
  });

  it('is false for every row-locking SELECT, as Kysely builds it or as a raw modifier', () => {
    expect(isReplicaRead(users().forUpdate().compile())).toBe(false);
    expect(isReplicaRead(users().forNoKeyUpdate().compile())).toBe(false);
    expect(isReplicaRead(users().forShare().compile())).toBe(false);
    expect(isReplicaRead(users().forKeyShare().compile())).toBe(false);
    expect(isReplicaRead(users().forUpdate().skipLocked().compile())).toBe(false);
    expect(isReplicaRead(users().modifyEnd(sql`for update`).compile())).toBe(false);
  });

  it('is false for a SELECT whose WITH inserts, updates or deletes', () => {
    const inserting = db
      .with('made', (qb) =>
        qb.insertInto('pg_roles').values({ id: 'r', name: 'x', userId: 'u' }).returning('id'),
      )
      .selectFrom('made')
      .selectAll();
    const updating = db
      .with('changed', (qb) => qb.updateTable('pg_users').set({ name: 'n' }).returning('id'))
      .selectFrom('changed')
      .selectAll();
    const deleting = db
      .with('gone', (qb) => qb.deleteFrom('pg_roles').returning('id'))
      .selectFrom('gone')
      .selectAll();
    for (const query of [inserting, updating, deleting]) expect(isReplicaRead(query.compile())).toBe(false);
  });

  it('is false for writes', () => {
    expect(
      isReplicaRead(db.insertInto('pg_roles').values({ id: 'r', name: 'x', userId: 'u' }).compile()),
    ).toBe(false);
    expect(isReplicaRead(db.updateTable('pg_users').set({ name: 'n' }).compile())).toBe(false);
    expect(isReplicaRead(db.deleteFrom('pg_users').compile())).toBe(false);
  });

  it('is false for raw SQL unless marked as a read', () => {
    expect(isReplicaRead(CompiledQuery.raw('SELECT 1'))).toBe(false);
    expect(isReplicaRead(markReplicaRead(CompiledQuery.raw('SELECT 1')))).toBe(true);
    expect(isReplicaRead(sql`SELECT 1`.compile(db))).toBe(false);
  });
});
