/**
 * The error classes callers branch on when the server stops or refuses work, each caused for real
 * through the layer: a statement timeout and a cancel request (both 57014), a terminated backend
 * (57P01), an idle-in-transaction timeout (25P03), too many connections (53300). Each is a subclass of
 * the class the code mapped to before, so `catch` blocks written for that class still catch it.
 */
import { createId } from '@paralleldrive/cuid2';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase } from '../../src/database/database.js';
import {
  BackendTerminatedError,
  ConnectionError,
  DatabaseError,
  IdleInTransactionTimeoutError,
  QueryCancelledError,
  QueryTimeoutError,
  StatementTimeoutError,
  TooManyConnectionsError,
} from '../../src/errors/classes.js';
import { SqlState } from '../../src/errors/sql-state.js';
import { toDatabaseError } from '../../src/errors/to-database-error.js';
import { signalBackends, waitForBackend, waitUntilGone } from '../support/backends.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { openDatabases } from '../support/open-databases.js';
import { queryOnce } from '../support/query-once.js';
import { rejection } from '../support/rejection.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const { named } = openDatabases(testDb);

describe('57014: a statement timeout and a cancel request are told apart', () => {
  it("statementTimeoutMs: StatementTimeoutError, still a QueryTimeoutError, naming the limit's setting", async () => {
    const db = named(`errors_timeout_${createId()}`);
    const error = await rejection(db.executeRaw('SELECT pg_sleep(5)', [], { statementTimeoutMs: 50 }));
    expect(error).toBeInstanceOf(StatementTimeoutError);
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).not.toBeInstanceOf(QueryCancelledError);
    expect(error).toMatchObject({ name: 'StatementTimeoutError', code: SqlState.queryCanceled });
    expect(error.message).toBe(
      "canceling statement due to statement timeout (the statement ran longer than statement_timeout: statementTimeoutMs, or the role's or database's setting)",
    );
  });

  it('a statement_timeout the layer did not set (SET in the transaction) is a StatementTimeoutError too', async () => {
    const db = named(`errors_set_timeout_${createId()}`);
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.executeRaw('SET LOCAL statement_timeout = 50');
        await tx.executeRaw('SELECT pg_sleep(5)');
      }),
    );
    expect(error).toBeInstanceOf(StatementTimeoutError);
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(error).toMatchObject({ code: SqlState.queryCanceled });
  });

  it('pg_cancel_backend from another connection: QueryCancelledError, also under a limit the layer set', async () => {
    const name = `errors_cancel_${createId()}`;
    const db = named(name, { POSTGRES_POOL_MAX: '1' });
    for (const options of [{}, { statementTimeoutMs: 60_000 }]) {
      const running = rejection(db.executeRaw('SELECT pg_sleep(10)', [], options));
      await waitForBackend(testDb.url, name, 'active', '%pg_sleep%');
      expect(await signalBackends(testDb.url, name, 'pg_cancel_backend')).toContain(true);
      const error = await running;
      expect(error).toBeInstanceOf(QueryCancelledError);
      expect(error).toBeInstanceOf(QueryTimeoutError);
      expect(error).not.toBeInstanceOf(StatementTimeoutError);
      expect(error).toMatchObject({ name: 'QueryCancelledError', code: SqlState.queryCanceled });
      expect(error.message).toBe(
        'canceling statement due to user request (a cancel request stopped the statement: pg_cancel_backend, or the client cancelling it)',
      );
    }
    // A cancel ends the statement, not the session: the same (only) connection serves the next call.
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('a 57014 whose message is not English stays a plain QueryTimeoutError, the reason unknown', () => {
    // A server with lc_messages = 'de_DE' words a statement timeout so (PostgreSQL's own translation).
    const german = Object.assign(
      new pg.DatabaseError('storniere Anfrage wegen Zeitüberschreitung der Anfrage', 0, 'error'),
      { code: SqlState.queryCanceled, routine: 'ProcessInterrupts' },
    );
    const error = toDatabaseError(german);
    expect(error.constructor).toBe(QueryTimeoutError);
    expect(error.code).toBe(SqlState.queryCanceled);
    expect(error.message).toMatch(
      /^storniere Anfrage wegen Zeitüberschreitung der Anfrage \(a statement timeout or a cancel request/,
    );
  });
});

describe('57P01: a terminated backend', () => {
  it('pg_terminate_backend mid-query: BackendTerminatedError, still a ConnectionError; the pool recovers', async () => {
    const name = `errors_terminate_${createId()}`;
    const db = named(name, { POSTGRES_POOL_MAX: '1' });
    const running = rejection(db.executeRaw('SELECT pg_sleep(10)'));
    await waitForBackend(testDb.url, name, 'active', '%pg_sleep%');
    expect(await signalBackends(testDb.url, name, 'pg_terminate_backend')).toContain(true);
    const error = await running;
    expect(error).toBeInstanceOf(BackendTerminatedError);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ name: 'BackendTerminatedError', code: SqlState.adminShutdown });
    expect(error.message).toBe(
      'terminating connection due to administrator command (the server ended this session: pg_terminate_backend, a shutdown, or the server itself stopping; a transaction on it was rolled back)',
    );
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });

  it('between two statements of a transaction: the next statement fails with BackendTerminatedError', async () => {
    const name = `errors_terminate_idle_${createId()}`;
    const db = named(name, { POSTGRES_POOL_MAX: '1' });
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    const running = rejection(
      db.transaction(async (tx) => {
        await tx.executeRaw('SELECT 1');
        await paused;
        await tx.executeRaw('SELECT 2');
      }),
    );
    await waitForBackend(testDb.url, name, 'idle in transaction');
    expect(await signalBackends(testDb.url, name, 'pg_terminate_backend')).toContain(true);
    // The session is gone (the client has been told) before the callback goes on.
    await waitUntilGone(testDb.url, name);
    resume();
    const error = await running;
    expect(error).toBeInstanceOf(BackendTerminatedError);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: SqlState.adminShutdown });
  });
});

describe('25P03: an idle-in-transaction timeout', () => {
  it('SET idle_in_transaction_session_timeout, then a longer pause in the callback: IdleInTransactionTimeoutError', async () => {
    const name = `errors_idle_${createId()}`;
    const db = named(name, { POSTGRES_POOL_MAX: '1' });
    const email = uniqueEmail();
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), email]);
        await tx.executeRaw('SET LOCAL idle_in_transaction_session_timeout = 100');
        // Longer than the limit: until the server has ended the idle session.
        await waitUntilGone(testDb.url, name);
        await tx.executeRaw('SELECT 1');
      }),
    );
    expect(error).toBeInstanceOf(IdleInTransactionTimeoutError);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({
      name: 'IdleInTransactionTimeoutError',
      code: SqlState.idleInTransactionSessionTimeout,
    });
    expect(error.message).toBe(
      'terminating connection due to idle-in-transaction timeout (the transaction sat idle between statements longer than idle_in_transaction_session_timeout, idleInTransactionTimeoutMs; it was rolled back)',
    );
    const kept = await queryOnce(testDb.url, 'SELECT 1 FROM pg_users WHERE email = $1', [email]);
    expect(kept).toEqual([]);
    expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
  });
});

describe('53300: too many connections', () => {
  it("a role's CONNECTION LIMIT 1 and a second pooled connection: TooManyConnectionsError", async () => {
    const role = `errors_limit_${createId()}`;
    const admin = new pg.Client({ connectionString: testDb.url });
    await admin.connect();
    await admin.query(
      `CREATE ROLE ${admin.escapeIdentifier(role)} LOGIN PASSWORD 'secret' CONNECTION LIMIT 1`,
    );
    const url = new URL(testDb.url);
    url.username = role;
    url.password = 'secret';
    const db = createDatabase(
      loadConfig(testDb.env({ POSTGRES_PRISMA_URL: url.toString(), POSTGRES_POOL_MAX: '2' })),
      { logger: collectingLogger() },
    );
    let resume!: () => void;
    const paused = new Promise<void>((resolve) => {
      resume = resolve;
    });
    try {
      let holding!: () => void;
      const held = new Promise<void>((resolve) => {
        holding = resolve;
      });
      // The transaction holds the role's only connection while the pool opens a second one.
      const transaction = db.transaction(async (tx) => {
        await tx.executeRaw('SELECT 1');
        holding();
        await paused;
      });
      await held;
      const error = await rejection(db.executeRaw('SELECT 1'));
      resume();
      await transaction;
      expect(error).toBeInstanceOf(TooManyConnectionsError);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).toMatchObject({ name: 'TooManyConnectionsError', code: SqlState.tooManyConnections });
      expect(error.message).toBe(
        `too many connections for role "${role}" (the server refused a new connection: max_connections, or the role's or database's CONNECTION LIMIT, is reached)`,
      );
      // With the first connection free again, the role's work goes on.
      expect(await db.executeRaw('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      resume();
      await db.disconnect();
      await admin.query(`DROP ROLE ${admin.escapeIdentifier(role)}`);
      await admin.end();
    }
  });
});
