/**
 * The error hierarchy, fed with errors the real server and pg produce: each one is caught right after
 * its `await` and mapped there, as the library does.
 */
import { createId } from '@paralleldrive/cuid2';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../scripts/lib/embedded-server.js';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase } from '../../src/database/database.js';
import {
  BackendTerminatedError,
  CheckViolationError,
  ConnectionError,
  DatabaseError,
  DeadlockError,
  ForeignKeyViolationError,
  IntegrityError,
  NotFoundError,
  NotNullViolationError,
  PoolTimeoutError,
  QueryTimeoutError,
  SerializationError,
  StatementTimeoutError,
  TooManyConnectionsError,
  TransactionRollbackError,
  TransactionScopeError,
  UniqueViolationError,
  ValidationError,
} from '../../src/errors/classes.js';
import { SqlState, sqlStateClass } from '../../src/errors/sql-state.js';
import { keyColumns, toDatabaseError } from '../../src/errors/to-database-error.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { openDespiteShortTimeout } from '../support/open-despite-short-timeout.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
const clients: pg.Client[] = [];

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: testDb.url });
  // A terminated backend also emits 'error'; the tests assert on the rejected query instead.
  client.on('error', () => {});
  await client.connect();
  clients.push(client);
  return client;
}

/** Runs `work`, which must fail, and maps the failure in the `catch` right after the `await`. */
async function failure(work: () => Promise<unknown>): Promise<DatabaseError> {
  try {
    await work();
  } catch (error) {
    return toDatabaseError(error);
  }
  throw new Error('expected the work to fail');
}

/** Like `failure`, for work that may also succeed. */
async function outcome(work: () => Promise<unknown>): Promise<DatabaseError | undefined> {
  try {
    await work();
    return undefined;
  } catch (error) {
    return toDatabaseError(error);
  }
}

let db: pg.Client;
beforeAll(async () => {
  db = await connect();
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.end().catch(() => {})));
});

async function insertUser(email = uniqueEmail()): Promise<string> {
  const id = createId();
  await db.query('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [id, email]);
  return id;
}

describe('integrity violations', () => {
  it('maps a live email that differs only in case to UniqueViolationError on the expression index', async () => {
    const email = `Ada.${createId()}@Example.com`;
    await insertUser(email);
    const error = await failure(() => insertUser(email.toLowerCase()));
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({
      name: 'UniqueViolationError',
      code: '23505',
      table: 'pg_users',
      constraint: 'pg_users_email_active_key',
      columns: ['email'],
      message: 'unique violation on pg_users (email): pg_users_email_active_key',
    });
    // The server's detail holds the email; the message must not.
    expect((error.cause as pg.DatabaseError).detail).toContain(email.toLowerCase());
    expect(error.message.toLowerCase()).not.toContain(email.toLowerCase());
    expect(error.cause).toBeInstanceOf(pg.DatabaseError);
  });

  it('reads both columns of the composite (userId, name) key, unquoting "userId"', async () => {
    const userId = await insertUser();
    await db.query('INSERT INTO pg_roles (id, name, "userId") VALUES ($1, $2, $3)', [
      createId(),
      'admin',
      userId,
    ]);
    const error = await failure(() =>
      db.query('INSERT INTO pg_roles (id, name, "userId") VALUES ($1, $2, $3)', [
        createId(),
        'admin',
        userId,
      ]),
    );
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect(error).toMatchObject({
      table: 'pg_roles',
      constraint: 'pg_roles_userId_name_key',
      columns: ['userId', 'name'],
    });
    expect(error.message).toBe('unique violation on pg_roles (userId, name): pg_roles_userId_name_key');
    expect(error.message).not.toContain(userId);
  });

  it('reports the primary key column of a duplicate id', async () => {
    const id = await insertUser();
    const error = await failure(() =>
      db.query('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [id, uniqueEmail()]),
    );
    expect(error).toBeInstanceOf(UniqueViolationError);
    expect(error).toMatchObject({ constraint: 'pg_users_pkey', columns: ['id'] });
    expect(error.message).not.toContain(id);
  });

  it('maps a post whose author does not exist to ForeignKeyViolationError', async () => {
    const missing = createId();
    const error = await failure(() =>
      db.query('INSERT INTO pg_posts (id, title, "authorId") VALUES ($1, $2, $3)', [
        createId(),
        'T',
        missing,
      ]),
    );
    expect(error).toBeInstanceOf(ForeignKeyViolationError);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error).toMatchObject({
      code: '23503',
      table: 'pg_posts',
      constraint: 'pg_posts_authorId_fkey',
      columns: ['authorId'],
      message: 'foreign key violation on pg_posts (authorId): pg_posts_authorId_fkey',
    });
    expect(error.message).not.toContain(missing);
  });

  it('maps a missing title to NotNullViolationError naming the column', async () => {
    const userId = await insertUser();
    const error = await failure(() =>
      db.query('INSERT INTO pg_posts (id, "authorId") VALUES ($1, $2)', [createId(), userId]),
    );
    expect(error).toBeInstanceOf(NotNullViolationError);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error).toMatchObject({ code: '23502', table: 'pg_posts', column: 'title' });
    expect(error.message).toMatch(/^not-null violation on pg_posts \(title\)/);
    // The server's detail is "Failing row contains (…)": the row's values.
    expect(error.message).not.toContain(userId);
  });

  it('maps a blank email to CheckViolationError naming the constraint', async () => {
    const error = await failure(() => insertUser('   '));
    expect(error).toBeInstanceOf(CheckViolationError);
    expect(error).toMatchObject({
      code: '23514',
      table: 'pg_users',
      constraint: 'pg_users_email_not_blank',
      message: 'check violation on pg_users: pg_users_email_not_blank',
    });
  });

  it('maps another class 23 code (an exclusion constraint) to a plain IntegrityError', async () => {
    const client = await connect();
    await client.query('CREATE TEMP TABLE booking (during int4range, EXCLUDE USING gist (during WITH &&))');
    await client.query("INSERT INTO booking VALUES ('[1,5)')");
    const error = await failure(() => client.query("INSERT INTO booking VALUES ('[3,8)')"));
    expect(error.constructor).toBe(IntegrityError);
    expect(error).toMatchObject({ code: '23P01', table: 'booking', constraint: 'booking_during_excl' });
  });
});

describe('transaction rollbacks', () => {
  it('maps the write-skew loser of two SERIALIZABLE transactions to SerializationError', async () => {
    const [a, b] = [await connect(), await connect()];
    const tag = createId();
    const first = await insertUser();
    const second = await insertUser();
    await db.query('UPDATE pg_users SET name = $1 WHERE id IN ($2, $3)', [tag, first, second]);
    const count = 'SELECT count(*) FROM pg_users WHERE name = $1';
    for (const client of [a, b]) {
      await client.query('BEGIN ISOLATION LEVEL SERIALIZABLE');
      await client.query(count, [tag]);
    }
    // Each reads both rows, then changes the one the other read.
    await a.query('UPDATE pg_users SET name = NULL WHERE id = $1', [first]);
    await b.query('UPDATE pg_users SET name = NULL WHERE id = $1', [second]);
    await a.query('COMMIT');
    const error = await failure(() => b.query('COMMIT'));
    await b.query('ROLLBACK');
    expect(error).toBeInstanceOf(SerializationError);
    expect(error).toBeInstanceOf(TransactionRollbackError);
    expect(error.code).toBe(SqlState.serializationFailure);
  });

  it('maps the victim of a deadlock to DeadlockError', async () => {
    const [a, b] = [await connect(), await connect()];
    const [first, second] = [await insertUser(), await insertUser()];
    const touch = 'UPDATE pg_users SET name = $1 WHERE id = $2';
    for (const client of [a, b]) await client.query("SET deadlock_timeout = '100ms'");
    await a.query('BEGIN');
    await b.query('BEGIN');
    await a.query(touch, ['a', first]);
    await b.query(touch, ['b', second]);
    const outcomes = await Promise.all([
      outcome(() => a.query(touch, ['a', second])),
      outcome(() => b.query(touch, ['b', first])),
    ]);
    await Promise.all([a.query('ROLLBACK'), b.query('ROLLBACK')]);
    const errors = outcomes.filter((each) => each !== undefined);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(DeadlockError);
    expect(errors[0]).toBeInstanceOf(TransactionRollbackError);
    expect(errors[0]?.code).toBe('40P01');
  });
});

describe('timeouts and connections', () => {
  it('maps a statement_timeout to StatementTimeoutError, a QueryTimeoutError', async () => {
    const client = await connect();
    await client.query('BEGIN');
    await client.query('SET LOCAL statement_timeout = 50');
    const error = await failure(() => client.query('SELECT pg_sleep(1)'));
    await client.query('ROLLBACK');
    expect(error).toBeInstanceOf(QueryTimeoutError);
    expect(error).toBeInstanceOf(StatementTimeoutError);
    expect(error.code).toBe('57014');
  });

  it('maps a backend terminated mid-query to BackendTerminatedError, a ConnectionError, and the dead client after it to ConnectionError', async () => {
    const victim = await connect();
    const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]?.pid;
    const sleeping = failure(() => victim.query('SELECT pg_sleep(5)'));
    // Terminate only once the sleep runs, so the error comes from the query, not from an idle client.
    await expect
      .poll(
        async () => (await db.query('SELECT state FROM pg_stat_activity WHERE pid = $1', [pid])).rows[0],
        {
          timeout: 20_000,
        },
      )
      .toEqual({ state: 'active' });
    await db.query('SELECT pg_terminate_backend($1)', [pid]);
    const error = await sleeping;
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toBeInstanceOf(BackendTerminatedError);
    expect(error.code).toBe(SqlState.adminShutdown);
    const after = await failure(() => victim.query('SELECT 1'));
    expect(after).toBeInstanceOf(ConnectionError);
  });

  it('maps a refused connection (nothing listens on the port) to ConnectionError', async () => {
    const port = await freePort();
    const client = new pg.Client({ host: '127.0.0.1', port, user: 'nobody', database: 'nothing' });
    const error = await failure(() => client.connect());
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBeUndefined();
    expect((error.cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
  });

  it('maps "too many connections" (53300) to TooManyConnectionsError, a ConnectionError', async () => {
    const role = `errors_test_${createId()}`;
    await db.query(`CREATE ROLE ${role} LOGIN PASSWORD 'secret' CONNECTION LIMIT 0`);
    try {
      const url = new URL(testDb.url);
      url.username = role;
      url.password = 'secret';
      const error = await failure(() => new pg.Client({ connectionString: url.toString() }).connect());
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error).toBeInstanceOf(TooManyConnectionsError);
      expect(error.code).toBe(SqlState.tooManyConnections);
    } finally {
      await db.query(`DROP ROLE ${role}`);
    }
  });

  it('maps waiting too long for a free pooled connection to PoolTimeoutError', async () => {
    const pool = new pg.Pool({ connectionString: testDb.url, max: 1, connectionTimeoutMillis: 100 });
    const held = await openDespiteShortTimeout(() => pool.connect());
    try {
      const error = await failure(() => pool.connect());
      expect(error).toBeInstanceOf(PoolTimeoutError);
      expect(error).toBeInstanceOf(ConnectionError);
      expect(error.message).toContain('POSTGRES_POOL_TIMEOUT_MS');
      expect((error.cause as Error).message).toBe('timeout exceeded when trying to connect');
    } finally {
      held.release();
      await pool.end();
    }
  });
});

describe('other errors', () => {
  it('returns a DatabaseError unchanged', async () => {
    const error = await failure(() => db.query('SELEC 1'));
    const stack = error.stack;
    expect(toDatabaseError(error)).toBe(error);
    expect(error.stack).toBe(stack);
  });

  it('keeps the server message and code of an unmapped SQLSTATE in a plain DatabaseError', async () => {
    const error = await failure(() => db.query('SELEC 1'));
    expect(error.constructor).toBe(DatabaseError);
    expect(error.code).toBe('42601');
    expect(error.message).toContain('syntax error');
  });

  it('wraps a non-pg error with its message and cause', () => {
    const original = new Error('x');
    const error = toDatabaseError(original);
    expect(error.constructor).toBe(DatabaseError);
    expect(error).toMatchObject({ message: 'x', cause: original, code: undefined });
    expect(toDatabaseError('boom')).toMatchObject({ message: 'boom', cause: 'boom' });
  });

  it("maps Node's AggregateError of refused connections to ConnectionError", () => {
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}:5432`), {
        code: 'ECONNREFUSED',
        errno: -111,
        syscall: 'connect',
      });
    const aggregate = new AggregateError([refused('::1'), refused('127.0.0.1')]);
    const error = toDatabaseError(aggregate);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.message).toBe('connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432');
    expect(error.cause).toBe(aggregate);
  });

  it("does not take a Node system error's five-letter code (EPIPE) for a SQLSTATE", () => {
    const epipe = Object.assign(new Error('write EPIPE'), { code: 'EPIPE', errno: -32, syscall: 'write' });
    const error = toDatabaseError(epipe);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error.code).toBeUndefined();
  });
});

describe('stack traces', () => {
  it("start at the caller's line, without pg's or this package's frames", async () => {
    const error = await failure(() => insertUser('  '));
    const original = (error.cause as Error).stack ?? '';
    expect(original).toMatch(/node_modules[\\/]pg/);
    const lines = (error.stack ?? '').split('\n');
    expect(lines[0]).toBe('CheckViolationError: check violation on pg_users: pg_users_email_not_blank');
    const frames = lines.filter((line) => line.startsWith('    at '));
    expect(frames[0]).toContain('test/errors/errors.test.ts');
    expect(frames.some((line) => /node_modules[\\/]pg|[\\/]src[\\/]|node:internal/.test(line))).toBe(false);
  });

  it("drop Kysely's and this package's frames between a transaction callback and its caller", async () => {
    const database = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
    let untrimmed = '';
    const error = await failure(() =>
      database.transaction(async (tx) => {
        untrimmed = new Error().stack ?? '';
        try {
          await tx.executeRaw('INSERT INTO pg_users (id, email) VALUES ($1, $2)', [createId(), ' ']);
        } catch (caught) {
          throw toDatabaseError(caught);
        }
      }),
    ).finally(() => database.disconnect());
    expect(untrimmed).toMatch(/node_modules[\\/]kysely/);
    expect(untrimmed).toMatch(/[\\/]src[\\/]/);
    expect(error).toBeInstanceOf(CheckViolationError);
    const frames = (error.stack ?? '').split('\n').filter((line) => line.startsWith('    at '));
    expect(frames[0]).toContain('test/errors/errors.test.ts');
    expect(frames.filter((line) => line.includes('test/errors/errors.test.ts')).length).toBeGreaterThan(1);
    expect(frames.some((line) => /node_modules[\\/](kysely|pg)|[\\/]src[\\/]/.test(line))).toBe(false);
  });
});

describe('key columns from a localised detail', () => {
  it.each([
    ['Key (lower(email))=(a@b.c) already exists.', ['email']],
    ['Schlüssel »("userId", name)=(x, y)« existiert bereits.', ['userId', 'name']],
    ['キー (id)=(x) はすでに存在します。', ['id']],
    ['La clé « ("a""b", (lower((email)::text)) COLLATE "C")=(1, 2) » existe déjà.', ['a"b', 'email']],
    ['Key (email)=(has (parens)=(inside)) already exists.', ['email']],
    ['Key ((a || b), lower(a), (b::character varying(5)))=(ab, a, b) already exists.', ['a', 'b']],
    ['Key (Id)=(1) is still referenced from table "child".', ['Id']],
    ['Failing row contains (x, null).', []],
    [undefined, []],
  ])('%s → %j', (detail, columns) => {
    expect(keyColumns(detail)).toEqual(columns);
  });
});

describe('errors raised by the layer itself', () => {
  it('NotFoundError names the entity and the criteria', () => {
    const error = new NotFoundError('User', 'id "ck123"');
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ name: 'NotFoundError', entity: 'User', criteria: 'id "ck123"' });
    expect(error.message).toBe('User not found: id "ck123"');
  });

  it('ValidationError lists every issue by its dotted field path', () => {
    const error = new ValidationError([
      { field: 'email', message: 'Invalid email address' },
      { field: 'posts.0.title', message: 'must not be empty' },
    ]);
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error.message).toBe(
      'invalid input: email: Invalid email address; posts.0.title: must not be empty',
    );
    expect(error.field).toBe('email');
    expect(error.issues).toHaveLength(2);
    expect(new ValidationError([])).toMatchObject({ message: 'invalid input', field: '' });
  });

  it('TransactionScopeError carries its message; SQLSTATE classes are two characters', () => {
    const error = new TransactionScopeError('use tx inside the transaction');
    expect(error).toBeInstanceOf(DatabaseError);
    expect(error).toMatchObject({ name: 'TransactionScopeError', message: 'use tx inside the transaction' });
    expect(sqlStateClass(SqlState.deadlockDetected)).toBe('40');
  });
});
