/**
 * The transaction status the server reports after every statement (ReadyForQuery), checked against
 * the layer's own: a call outside `db.transaction` that leaves its connection inside a transaction is
 * rolled back, its connection closed, and it fails with TransactionLeftOpenError; a statement that ends
 * `db.transaction`'s transaction fails with TransactionEndedError and the rest of the callback is
 * refused. With a pool of one connection, any connection handed back in a transaction would reach the
 * very next call. CI runs this file through PgBouncer in transaction mode too (.ci/run).
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import {
  DatabaseError,
  TransactionEndedError,
  TransactionLeftOpenError,
  TransactionScopeError,
} from '../../src/errors/classes.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { queryOnce } from '../support/query-once.js';
import { rejection } from '../support/rejection.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;
const events: QueryEvent[] = [];

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env({ POSTGRES_POOL_MAX: '1' })), { logger: collectingLogger() });
  db.on('query', (event) => events.push(event));
});
afterAll(() => db.disconnect());

/** Whether a user with `email` exists, read by a connection of its own (what others see, committed). */
async function committed(email: string): Promise<boolean> {
  const rows = await queryOnce(testDb.url, 'SELECT 1 FROM pg_users WHERE email = $1', [email]);
  return rows.length === 1;
}

/** Raw SQL that inserts a user with `email`; the email travels inside the text, as a script's would. */
const insertUser = (email: string) =>
  `INSERT INTO pg_users (id, email, created_at, updated_at) VALUES ('${email}', '${email}', now(), now())`;

/** The next calls on the pool's only connection run, see no aborted transaction, and commit. */
async function poolIsClean(): Promise<void> {
  const [status] = await db.executeRaw<{ open: boolean }>(
    'SELECT now() <> statement_timestamp() OR pg_current_xact_id_if_assigned() IS NOT NULL AS open',
  );
  expect(status?.open).toBe(false);
  for (let call = 0; call < 5; call += 1) {
    const email = uniqueEmail();
    await db.users.create({ email });
    expect(await committed(email)).toBe(true);
  }
}

describe('a call outside db.transaction that leaves a transaction open', () => {
  it('a raw BEGIN fails with TransactionLeftOpenError (open), is rolled back, and later writes commit', async () => {
    events.length = 0;
    const error = await rejection(db.executeRaw('BEGIN'));
    expect(error).toBeInstanceOf(TransactionLeftOpenError);
    expect(error).toBeInstanceOf(TransactionScopeError);
    expect(error).toMatchObject({ state: 'open' });
    expect(error.cause).toBeUndefined();
    expect(error.message).toContain('db.transaction');
    expect(events.map((event) => event.sql)).toEqual(['BEGIN', 'ROLLBACK']);

    // The writes that would have run inside it (and vanished at disconnect) commit one by one.
    const email = uniqueEmail();
    const user = await db.users.create({ email, name: 'after begin' });
    await db.users.update(user.id, { name: 'updated' });
    expect(await committed(email)).toBe(true);
    const [row] = await queryOnce<{ name: string }>(testDb.url, 'SELECT name FROM pg_users WHERE id = $1', [
      user.id,
    ]);
    expect(row?.name).toBe('updated');
    await poolIsClean();
  });

  // The spec's block, on a column the schema does not have yet (it has profile_image).
  it('the spec’s "safe migration" block fails with TransactionLeftOpenError (failed) carrying the statement’s error; nothing of it is kept', async () => {
    const error = await rejection(
      db.executeRaw(`
        BEGIN;
        ALTER TABLE pg_users ADD COLUMN banner_image VARCHAR(500) DEFAULT NULL;
        CREATE INDEX CONCURRENTLY pg_users_banner_image_idx ON pg_users(banner_image) WHERE banner_image IS NOT NULL;
        COMMIT;
      `),
    );
    expect(error).toBeInstanceOf(TransactionLeftOpenError);
    expect(error).toMatchObject({ state: 'failed' });
    // 25001: CREATE INDEX CONCURRENTLY cannot run inside a transaction block.
    expect(error.cause).toBeInstanceOf(DatabaseError);
    expect((error.cause as DatabaseError).code).toBe('25001');
    expect(error.message).toContain('a statement failed first');
    const columns = await queryOnce(
      testDb.url,
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'pg_users' AND column_name = 'banner_image'",
    );
    expect(columns).toEqual([]);
    // No later call sees 25P02 (current transaction is aborted).
    await poolIsClean();
  });

  it('a failed statement after BEGIN in one text: the rows inserted before it are rolled back', async () => {
    const email = uniqueEmail();
    const error = await rejection(db.executeRaw(`BEGIN; ${insertUser(email)}; SELECT 1 / 0`));
    expect(error).toMatchObject({ name: 'TransactionLeftOpenError', state: 'failed' });
    expect((error.cause as DatabaseError).code).toBe('22012');
    expect(await committed(email)).toBe(false);
    await poolIsClean();
  });

  it('a SAVEPOINT after BEGIN, released: left open, so rolled back with the row it inserted', async () => {
    const email = uniqueEmail();
    const error = await rejection(
      db.executeRaw(`BEGIN; SAVEPOINT s; ${insertUser(email)}; RELEASE SAVEPOINT s`),
    );
    expect(error).toMatchObject({ name: 'TransactionLeftOpenError', state: 'open' });
    expect(await committed(email)).toBe(false);
    await poolIsClean();
  });

  it('a SAVEPOINT alone is the server’s own error (25P01, no transaction block), and the connection stays', async () => {
    const error = await rejection(db.executeRaw('SAVEPOINT s'));
    expect(error).not.toBeInstanceOf(TransactionScopeError);
    expect(error).toMatchObject({ code: '25P01' });
    await poolIsClean();
  });

  it('a DO block after BEGIN is left open and rolled back; a DO block that commits by itself is fine', async () => {
    const rolledBack = uniqueEmail();
    const error = await rejection(db.executeRaw(`BEGIN; DO $$ BEGIN ${insertUser(rolledBack)}; END $$`));
    expect(error).toMatchObject({ name: 'TransactionLeftOpenError', state: 'open' });
    expect(await committed(rolledBack)).toBe(false);

    // Transaction control inside DO ends where the block ends: the session is idle after it.
    const kept = uniqueEmail();
    const later = uniqueEmail();
    await db.executeRaw(`DO $$ BEGIN ${insertUser(kept)}; COMMIT; ${insertUser(later)}; END $$`);
    expect(await committed(kept)).toBe(true);
    expect(await committed(later)).toBe(true);
    await poolIsClean();
  });

  it('BEGIN and COMMIT in one text is one whole transaction, and allowed', async () => {
    const email = uniqueEmail();
    await db.executeRaw(`BEGIN; ${insertUser(email)}; COMMIT`);
    expect(await committed(email)).toBe(true);
    await poolIsClean();
  });

  it('the same through db.kysely, on the pool and on a connection of its own', async () => {
    const onPool = await rejection(sql`begin`.execute(db.kysely));
    expect(onPool).toBeInstanceOf(TransactionLeftOpenError);

    const email = uniqueEmail();
    const onConnection = await rejection(
      db.kysely.connection().execute(async (connection) => {
        await sql`begin`.execute(connection);
        await sql.raw(insertUser(email)).execute(connection);
      }),
    );
    expect(onConnection).toBeInstanceOf(TransactionLeftOpenError);
    expect(await committed(email)).toBe(false);
    await poolIsClean();
  });
});

describe('a statement that ends db.transaction’s transaction', () => {
  it('a raw COMMIT fails with TransactionEndedError; the rest of the callback is refused, not run outside the transaction', async () => {
    const before = uniqueEmail();
    const after = uniqueEmail();
    let refused: unknown;
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.users.create({ email: before });
        const ended = await rejection(tx.executeRaw('COMMIT'));
        expect(ended).toBeInstanceOf(TransactionEndedError);
        refused = await rejection(tx.users.create({ email: after }));
        throw ended;
      }),
    );
    expect(error).toBeInstanceOf(TransactionEndedError);
    expect(refused).toBeInstanceOf(TransactionEndedError);
    // The COMMIT did what it said; nothing after it ran.
    expect(await committed(before)).toBe(true);
    expect(await committed(after)).toBe(false);
    await poolIsClean();
  });

  it('a raw ROLLBACK: what ran before it is undone, and db.transaction rejects even when the callback swallows the error', async () => {
    const before = uniqueEmail();
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.users.create({ email: before });
        await tx.executeRaw('ROLLBACK').catch(() => {});
        // A statement after it is refused, so the callback's own result cannot be committed.
        await tx.executeRaw('SELECT 1');
      }),
    );
    expect(error).toBeInstanceOf(TransactionEndedError);
    expect(await committed(before)).toBe(false);
    await poolIsClean();
  });

  it('transactions the layer runs are unaffected: commit, rollback, savepoints, a failed statement inside', async () => {
    const kept = uniqueEmail();
    const undone = uniqueEmail();
    await db.transaction(async (tx) => {
      await tx.users.create({ email: kept });
      await tx
        .transaction(async (inner) => {
          await inner.users.create({ email: undone });
          throw new Error('undo the savepoint');
        })
        .catch(() => {});
    });
    expect(await committed(kept)).toBe(true);
    expect(await committed(undone)).toBe(false);

    const failed = await rejection(
      db.transaction(async (tx) => {
        await tx.executeRaw('SELECT 1 / 0');
      }),
    );
    expect(failed).toMatchObject({ code: '22012' });
    expect(failed).not.toBeInstanceOf(TransactionScopeError);
    await poolIsClean();
  });
});
