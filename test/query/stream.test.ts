/**
 * Streams against a real PostgreSQL: `db.stream` over a `db.kysely` select, Kysely's own `.stream()`,
 * `db.streamRaw`, and the repositories' `stream`, with their batch size and AbortSignal. However a loop
 * ends (done, break, a throw in its body, an error of the statement, the signal before or during a batch)
 * the connection goes back to the pool and no backend is left in a transaction; inside `db.transaction`
 * the stream sees the transaction's rows, and a statement sent on the transaction inside the loop fails
 * at once instead of waiting for ever. CI runs this file through PgBouncer in transaction mode too.
 */
import { createId } from '@paralleldrive/cuid2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database, type QueryEvent } from '../../src/database/database.js';
import { DatabaseError, TransactionScopeError, ValidationError } from '../../src/errors/classes.js';
import { collectingLogger } from '../support/collecting-logger.js';
import { queryOnce } from '../support/query-once.js';
import { rejection, rejectionReason } from '../support/rejection.js';
import { useTestDatabase } from '../support/test-database.js';
import { uniqueEmail } from '../support/unique-email.js';

const testDb = useTestDatabase();
let db: Database;

/** Posts of one author, created 1 ms apart, so every order is known. */
const POSTS = 1_234;
let authorId: string;
let otherAuthorId: string;

beforeAll(async () => {
  db = createDatabase(loadConfig(testDb.env()), { logger: collectingLogger() });
  authorId = (await db.users.create({ email: uniqueEmail(), name: 'Streamed' })).id;
  otherAuthorId = (await db.users.create({ email: uniqueEmail(), roles: [{ name: 'exporter' }] })).id;
  await queryOnce(
    testDb.url,
    `INSERT INTO pg_posts (id, title, content, published, "authorId", created_at, updated_at, deleted_at)
     SELECT 'stream-' || lpad(i::text, 5, '0'), 'Post ' || i, repeat('x', i % 50), i % 3 = 0, $1,
            timestamptz '2024-01-01' + i * interval '1 millisecond',
            timestamptz '2024-01-01' + i * interval '1 millisecond',
            CASE WHEN i % 100 = 0 THEN now() END
       FROM generate_series(1, $2::int) AS i`,
    [authorId, POSTS],
  );
  await db.posts.create({ title: 'Not theirs', authorId: otherAuthorId });
});
afterAll(() => db?.disconnect());

async function collect<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const row of rows) all.push(row);
  return all;
}

/** Every page of findMany, in order: what a stream of the same posts must give. */
async function allPages<T>(
  page: (after?: string) => Promise<{ items: T[]; nextCursor: string | undefined }>,
) {
  const items: T[] = [];
  let after: string | undefined;
  do {
    const result = await page(after);
    items.push(...result.items);
    after = result.nextCursor;
  } while (after);
  return items;
}

/**
 * The backends of this test's database other than the checking one, by state: after a stream has
 * ended there is none in a transaction and none running a statement.
 */
async function busyBackends(): Promise<string[]> {
  const rows = await queryOnce<{ state: string }>(
    testDb.url,
    `SELECT state FROM pg_stat_activity
      WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
        AND state IS DISTINCT FROM 'idle'`,
  );
  return rows.map((row) => row.state);
}

/** Every connection of the pool is idle again (none checked out), and no backend is busy. */
async function expectEverythingReleased(): Promise<void> {
  const { pool } = await db.health();
  expect(pool.total - pool.idle, 'connections still checked out').toBe(0);
  await expect.poll(busyBackends, { timeout: 10_000 }).toEqual([]);
}

describe('db.stream over a db.kysely select', () => {
  const query = () =>
    db.kysely
      .selectFrom('pg_posts')
      .select(['id', 'title', 'created_at'])
      .where('authorId', '=', authorId)
      .orderBy('created_at');

  it.each([1, 7, 500, 5_000])('gives every row, in order, with batches of %i', async (batchSize) => {
    const rows = await collect(db.stream(query(), { batchSize }));
    expect(rows).toHaveLength(POSTS);
    expect(rows.map((row) => row.title)).toEqual(
      Array.from({ length: POSTS }, (_, index) => `Post ${index + 1}`),
    );
    expect(rows[0]?.created_at).toBeInstanceOf(Date);
    await expectEverythingReleased();
  });

  it("Kysely's own .stream() works on the layer's connections", async () => {
    const rows = await collect(query().stream(100));
    expect(rows).toHaveLength(POSTS);
    await expectEverythingReleased();
  });

  it('sends BEGIN READ ONLY, the statement (one event, when the cursor closes) and COMMIT', async () => {
    const events: QueryEvent[] = [];
    const listener = (event: QueryEvent) => events.push(event);
    db.on('query', listener);
    try {
      await collect(db.stream(query(), { batchSize: 100 }));
    } finally {
      db.off('query', listener);
    }
    expect(events.map((event) => event.sql.split(/\s/)[0]?.toLowerCase())).toEqual([
      'begin',
      'select',
      'commit',
    ]);
    expect(events[0]?.sql).toMatch(/^BEGIN READ ONLY$/);
    expect(events[1]?.durationMs).toBeGreaterThan(0);
    expect(events[1]?.error).toBeUndefined();
  });

  it('a read-only transaction of its own: a statement that writes is refused, and nothing is kept', async () => {
    const id = createId();
    const error = await rejection(
      collect(
        db.streamRaw('INSERT INTO pg_posts (id, title, "authorId") VALUES ($1, $2, $3) RETURNING id', [
          id,
          'Written',
          authorId,
        ]),
      ),
    );
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe('25006');
    expect(await db.posts.findById(id)).toBeUndefined();
    await expectEverythingReleased();
  });
});

describe('db.streamRaw', () => {
  it('takes $1 parameters and gives the rows as executeRaw would', async () => {
    const text =
      'SELECT id, title, published FROM pg_posts WHERE "authorId" = $1 AND published = $2 ORDER BY id';
    const streamed = await collect(db.streamRaw<{ id: string }>(text, [authorId, true], { batchSize: 33 }));
    expect(streamed).toEqual(await db.executeRaw(text, [authorId, true]));
    expect(streamed.length).toBe(Math.floor(POSTS / 3));
  });

  it('fetches lazily: breaking out of ten million rows after 250 ends it', async () => {
    let seen = 0;
    for await (const row of db.streamRaw<{ i: number }>(
      'SELECT i FROM generate_series(1, 10000000) AS i',
      [],
      {
        batchSize: 100,
      },
    )) {
      seen += 1;
      expect(row.i).toBe(seen);
      if (seen === 250) break;
    }
    expect(seen).toBe(250);
    await expectEverythingReleased();
  });

  it("an error of the statement mid-stream is the layer's, after the rows before it", async () => {
    const seen: number[] = [];
    const error = await rejection(
      (async () => {
        for await (const row of db.streamRaw<{ v: number }>(
          'SELECT 10 / (3 - i) AS v FROM generate_series(1, 5) AS i',
          [],
          { batchSize: 1 },
        )) {
          seen.push(row.v);
        }
      })(),
    );
    expect(seen).toEqual([5, 10]);
    expect(error).toBeInstanceOf(DatabaseError);
    expect((error as DatabaseError).code).toBe('22012');
    await expectEverythingReleased();
  });

  it('refuses bad input before taking a connection', () => {
    const bad: [unknown, string][] = [
      [{ batchSize: 0 }, 'options.batchSize'],
      [{ batchSize: 1.5 }, 'options.batchSize'],
      [{ batchSize: 100_001 }, 'options.batchSize'],
      [{ signal: 'stop' }, 'options.signal'],
      [{ first: 10 }, 'options.first'],
    ];
    for (const [options, field] of bad) {
      let thrown: unknown;
      try {
        db.streamRaw('SELECT 1', [], options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(ValidationError);
      expect((thrown as ValidationError).field).toBe(field);
    }
    expect(() => db.streamRaw('SELECT $1', ['\u0000'])).toThrow(ValidationError);
  });
});

describe('the connection goes back to the pool however the loop ends', () => {
  const wide = () =>
    db.streamRaw<{ i: number }>(
      'SELECT i, repeat($1, 100) AS filler FROM generate_series(1, 20000) AS i',
      ['y'],
      {
        batchSize: 50,
      },
    );

  it('break', async () => {
    for await (const row of wide()) if (row.i === 75) break;
    await expectEverythingReleased();
  });

  it('a throw in the loop body: that error, unchanged', async () => {
    const mine = new Error('mine');
    const error = await rejectionReason(
      (async () => {
        for await (const row of wide()) if (row.i === 120) throw mine;
      })(),
    );
    expect(error).toBe(mine);
    await expectEverythingReleased();
  });

  it('the signal, between batches: the loop throws its reason', async () => {
    const controller = new AbortController();
    let seen = 0;
    const error = await rejectionReason(
      (async () => {
        for await (const _ of db.streamRaw('SELECT i FROM generate_series(1, 100000) AS i', [], {
          batchSize: 10,
          signal: controller.signal,
        })) {
          seen += 1;
          if (seen === 15) controller.abort();
        }
      })(),
    );
    expect(error).toBe(controller.signal.reason);
    expect((error as Error).name).toBe('AbortError');
    expect(seen).toBe(15);
    await expectEverythingReleased();
  });

  it('the signal, while a batch runs on the server: the statement is cancelled there', async () => {
    const controller = new AbortController();
    const seen: number[] = [];
    const reason = new Error('stopped by the caller');
    const error = await rejectionReason(
      (async () => {
        // The third row takes an hour: the second batch is in flight when the signal aborts.
        for await (const row of db.streamRaw<{ i: number }>(
          'SELECT i, pg_sleep(CASE WHEN i = 3 THEN 3600 ELSE 0 END) FROM generate_series(1, 4) AS i',
          [],
          { batchSize: 2, signal: controller.signal },
        )) {
          seen.push(row.i);
          if (row.i === 2) {
            setTimeout(() => controller.abort(reason), 50);
          }
        }
      })(),
    );
    expect(error).toBe(reason);
    expect(seen).toEqual([1, 2]);
    await expectEverythingReleased();
  });

  it('a signal aborted already: nothing is sent', async () => {
    const events: QueryEvent[] = [];
    const listener = (event: QueryEvent) => events.push(event);
    db.on('query', listener);
    const controller = new AbortController();
    controller.abort();
    try {
      const error = await rejectionReason(collect(db.posts.stream({ signal: controller.signal })));
      expect(error).toBe(controller.signal.reason);
    } finally {
      db.off('query', listener);
    }
    expect(events).toEqual([]);
    await expectEverythingReleased();
  });

  it('many streams broken off early, more than the pool holds, leave the pool whole', async () => {
    for (let round = 0; round < 30; round += 1) {
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for await (const row of wide()) if (row.i === 60) break;
        }),
      );
    }
    await expectEverythingReleased();
  });
});

describe('repositories', () => {
  it('posts.stream gives what findMany pages through, in its order, with the author', async () => {
    for (const orderBy of [{ createdAt: 'asc' as const }, { createdAt: 'desc' as const }]) {
      const streamed = await collect(
        db.posts.stream({ where: { authorId }, orderBy, include: { author: true }, batchSize: 100 }),
      );
      const paged = await allPages((after) =>
        db.posts.findMany({ where: { authorId }, orderBy, include: { author: true }, first: 100, after }),
      );
      expect(streamed.length).toBe(POSTS - Math.floor(POSTS / 100));
      expect(streamed).toEqual(paged);
      expect(streamed[0]?.author.createdAt).toBeInstanceOf(Date);
    }
  });

  it('posts.stream: soft-deleted posts only when asked, and filters', async () => {
    const deleted = await collect(db.posts.stream({ where: { authorId }, onlyDeleted: true }));
    expect(deleted).toHaveLength(Math.floor(POSTS / 100));
    expect(deleted.every((post) => post.deletedAt instanceof Date)).toBe(true);
    const published = await collect(
      db.posts.stream({ where: { authorId, published: true }, withDeleted: true }),
    );
    expect(published).toHaveLength(Math.floor(POSTS / 3));
  });

  it('users.stream with posts and roles gives what findMany pages through', async () => {
    const options = { where: { hasRole: 'exporter' }, include: { posts: true, roles: true } } as const;
    const streamed = await collect(db.users.stream(options));
    expect(streamed.map((user) => user.id)).toEqual([otherAuthorId]);
    expect(streamed).toEqual(await allPages((after) => db.users.findMany({ ...options, after })));
    expect(streamed[0]?.roles.map((role) => role.name)).toEqual(['exporter']);
    expect(streamed[0]?.posts.map((post) => post.title)).toEqual(['Not theirs']);
  });

  it('refuses options a stream does not take, at the call', () => {
    expect(() => db.posts.stream({ first: 10 } as never)).toThrow(ValidationError);
    expect(() => db.users.stream({ withDeleted: true, onlyDeleted: true })).toThrow(ValidationError);
    expect(() => db.posts.stream({ batchSize: -1 })).toThrow(ValidationError);
  });
});

describe('inside db.transaction', () => {
  it("streams on the transaction's connection: its own uncommitted rows are there", async () => {
    const email = uniqueEmail();
    const seen = await db.transaction(async (tx) => {
      await tx.users.create({ email });
      return collect(tx.streamRaw<{ email: string }>('SELECT email FROM pg_users WHERE email = $1', [email]));
    });
    expect(seen).toEqual([{ email }]);
    await expectEverythingReleased();
  });

  it('a statement on the transaction inside the loop fails at once; after the loop the transaction goes on', async () => {
    const email = uniqueEmail();
    const created = await db.transaction(async (tx) => {
      let refused: unknown;
      for await (const post of tx.posts.stream({ where: { authorId }, batchSize: 10 })) {
        refused = await rejectionReason(tx.users.create({ email }));
        expect(post.authorId).toBe(authorId);
        break;
      }
      expect(refused).toBeInstanceOf(TransactionScopeError);
      expect((refused as Error).message).toMatch(/stream on this transaction is still open/);
      return tx.users.create({ email });
    });
    expect((await db.users.getById(created.id)).email).toBe(email);
    await expectEverythingReleased();
  });

  it("tx.kysely's own .stream() and tx.stream give the rows, and the transaction commits after", async () => {
    const { viaKysely, viaLayer } = await db.transaction(async (tx) => {
      const query = tx.kysely.selectFrom('pg_posts').select('id').where('authorId', '=', authorId);
      const viaKysely = await collect(query.stream(50));
      const viaLayer = await collect(tx.stream(query, { batchSize: 50 }));
      return { viaKysely, viaLayer };
    });
    expect(viaKysely).toHaveLength(POSTS);
    expect(viaLayer).toEqual(viaKysely);
    await expectEverythingReleased();
  });

  it('a stream that fails rolls back with the transaction when the callback throws', async () => {
    const email = uniqueEmail();
    const error = await rejection(
      db.transaction(async (tx) => {
        await tx.users.create({ email });
        await collect(tx.streamRaw('SELECT 1 / 0'));
      }),
    );
    expect((error as DatabaseError).code).toBe('22012');
    expect(await db.users.findByEmail(email)).toBeUndefined();
    await expectEverythingReleased();
  });

  it('the outer database inside the callback is refused, as for every other call', async () => {
    const error = await rejection(
      db.transaction(async () => collect(db.stream(db.kysely.selectFrom('pg_users').select('id')))),
    );
    expect(error).toBeInstanceOf(TransactionScopeError);
    await expectEverythingReleased();
  });
});
