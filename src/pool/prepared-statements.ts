/**
 * Named prepared statements, per connection. An unnamed statement is parsed and planned on every call;
 * a named one is parsed once per connection, and the server can reuse its plan. For the layer's
 * JSON-aggregating reads that planning is a large share of the server's work.
 *
 * Each connection keeps at most `limit` statements. The least recently used one is closed with the
 * protocol's Close message, sent in the same write as the next statement (no extra round trip), so an
 * application that builds many distinct queries never grows the server's memory without bound. Close
 * rather than SQL `DEALLOCATE`: PgBouncer 1.21+ tracks Close, and a DEALLOCATE would reach whichever
 * server connection it happens to be on.
 *
 * `pg` records, per connection, which names it has parsed (`connection.parsedStatements`) and skips the
 * Parse for those. It has no way to forget one, so closing a statement also deletes it from that record;
 * `assertPgInternals` fails loudly if a `pg` release moves it.
 */
import { createHash } from 'node:crypto';
import type { CompiledQuery } from 'kysely';
import pg from 'pg';
import type { StaleReason } from '../errors/stale-statement.js';
import { leastRecentlyUsed } from './least-recently-used.js';

export type QueryCallback = (error: Error | undefined, result: pg.QueryResult) => void;

const NEVER_PREPARED = Symbol('shared-db: never prepared');

/**
 * `query`, to be sent unnamed even where prepared statements are on: for statements whose best plan
 * depends on the values. After five runs of a named statement PostgreSQL may settle on a generic plan,
 * which cannot see the values: for full-text search it ranks with a query rebuilt for every matching row,
 * and for metadata containment it picks a far slower plan (measured: bench/README.md). Filled templates
 * keep the mark (it is copied with the object).
 */
export function unnamed<Q extends CompiledQuery>(query: Q): Q {
  return { ...query, [NEVER_PREPARED]: true };
}

export function isUnnamed(query: CompiledQuery): boolean {
  return NEVER_PREPARED in query;
}

/** The part of pg's connection this module relies on (not in pg's typings). */
interface PgConnection {
  parsedStatements: Record<string, string>;
  close(message: { type: 'S'; name: string }): void;
}

/** The name of `text`'s statement: the same on every connection and in every process. */
export function statementName(text: string): string {
  return `shared_db_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
}

/** Throws when `pg` no longer has what closing a statement relies on. */
export function assertPgInternals(connection: unknown): asserts connection is PgConnection {
  const c = connection as Partial<PgConnection> | undefined;
  if (typeof c?.parsedStatements !== 'object' || typeof c.close !== 'function') {
    throw new Error(
      "prepared statements: this version of pg has no connection.parsedStatements or connection.close; set DATABASE_PREPARED_STATEMENTS=false and report pg's version",
    );
  }
}

const pgSubmit = pg.Query.prototype.submit;

/** A named statement that first closes the statements given, in the same write. */
class NamedQuery extends pg.Query {
  readonly #close: readonly string[];

  constructor(config: pg.QueryConfig, callback: QueryCallback, close: string[]) {
    super(config, undefined, callback as never);
    this.#close = close;
    if (close.length > 0) this.submit = (connection) => this.#closeThenSubmit(connection);
  }

  /** pg's submit returns an error it could not send the statement for; the client reports it. */
  #closeThenSubmit(connection: pg.Connection): Error | null {
    assertPgInternals(connection);
    for (const name of this.#close) {
      delete connection.parsedStatements[name];
      connection.close({ type: 'S', name });
    }
    // The server answers each Close with CloseComplete, which pg ignores, before this statement's replies.
    return pgSubmit.call(this, connection) as unknown as Error | null;
  }
}

/** Shared by a database's connections: bumped when a statement's result type changed under it. */
export interface StatementEpoch {
  value: number;
}

/** One connection's named statements, the least recently used closed past the limit. */
export class PreparedStatements {
  /** SQL text → its statement name and the tick of its last use (see least-recently-used.ts). */
  readonly #names = new Map<string, { name: string; used: number }>();
  #tick = 0;
  /** Names to close before the next statement is sent. */
  #toClose: string[] = [];
  readonly #shared: StatementEpoch;
  /** The shared epoch these statements were prepared in. */
  #epoch: number;

  constructor(
    readonly limit: number,
    shared: StatementEpoch,
  ) {
    this.#shared = shared;
    this.#epoch = shared.value;
  }

  /** `text` as a named statement for pg's `client.query`, prepared on this connection when it is new. */
  query(text: string, values: readonly unknown[], callback: QueryCallback): pg.Query {
    // A migration changed a result type somewhere: prepare every statement again rather than let each
    // fail once, possibly inside a transaction, where failing cannot be retried.
    if (this.#epoch !== this.#shared.value) {
      this.#epoch = this.#shared.value;
      this.#forgetAll();
    }
    let statement = this.#names.get(text);
    if (statement === undefined) {
      if (this.#names.size >= this.limit) this.#closeLeastRecentlyUsed();
      statement = { name: statementName(text), used: 0 };
      this.#names.set(text, statement);
    }
    statement.used = ++this.#tick;
    const close = this.#toClose;
    if (close.length > 0) this.#toClose = [];
    return new NamedQuery({ name: statement.name, text, values: values as unknown[] }, callback, close);
  }

  /**
   * The server refused `text`'s statement as stale (see errors/stale-statement.ts); it is closed and parsed again
   * on its next use. After a lost session (`missing`) every statement of this connection is; after a
   * changed result type, every statement of every connection (this one's included), since the same
   * migration may have made them stale too.
   */
  wentStale(text: string, reason: StaleReason): void {
    if (reason === 'missing') {
      this.#forgetAll();
      return;
    }
    const statement = this.#names.get(text);
    if (statement !== undefined) {
      this.#names.delete(text);
      this.#toClose.push(statement.name);
    }
    this.#shared.value += 1;
  }

  #closeLeastRecentlyUsed(): void {
    const oldest = leastRecentlyUsed(this.#names);
    if (oldest === undefined) return;
    const [text, { name }] = oldest;
    this.#names.delete(text);
    this.#toClose.push(name);
  }

  #forgetAll(): void {
    for (const { name } of this.#names.values()) this.#toClose.push(name);
    this.#names.clear();
  }
}
