/**
 * One pooled `pg` client as Kysely sees it, for as long as the pool keeps it. It instruments every
 * statement (duration, the checkout's wait, failures), sends the layer's statements as named prepared
 * statements when they are on (prepared-statements.ts), and survives the server closing it while it is
 * checked out (see `#lostWith`).
 */

import { CompiledQuery, type DatabaseConnection, type QueryResult } from 'kysely';
import pg from 'pg';
import Cursor from 'pg-cursor';
import {
  ConnectionError,
  type DatabaseError,
  TransactionEndedError,
  TransactionLeftOpenError,
  TransactionScopeError,
  ValidationError,
} from '../errors/classes.js';
import { staleStatement } from '../errors/stale-statement.js';
import { toDatabaseError } from '../errors/to-database-error.js';
import type { ExecutedQuery, Logger } from '../logging/logger.js';
import type { StatementTarget } from '../telemetry/statement-record.js';
import type { Telemetry } from '../telemetry/telemetry.js';
import { sendCancelRequest } from './connect.js';
import { type CopySource, copyIn } from './copy-in.js';
import {
  assertPgInternals,
  isUnnamed,
  type PreparedStatements,
  type QueryCallback,
} from './prepared-statements.js';
import { nextReadyForQuery } from './ready-for-query.js';
import { abortSignalOf, untilAborted } from './stream-signal.js';

/** Raw statements run unnamed unless the caller asked for them to be prepared (`executeRaw`'s `prepare`). */
const rawToPrepare = new WeakSet<CompiledQuery>();

/**
 * Whether `compiled` runs named where prepared statements are on: the query builder's statements are,
 * raw SQL (BEGIN, SET LOCAL, a caller's own text) only when asked for, and never what `unnamed` marked.
 */
export function mayPrepare(compiled: CompiledQuery): boolean {
  return (compiled.query.kind !== 'RawNode' || rawToPrepare.has(compiled)) && !isUnnamed(compiled);
}

/** A raw statement that runs as a named prepared statement where prepared statements are on. */
export function preparedRawQuery(text: string, params: readonly unknown[]): CompiledQuery {
  const query = CompiledQuery.raw(text, [...params]);
  rawToPrepare.add(query);
  return query;
}

const ROLLBACK = /^\s*rollback\s*;?\s*$/i;

const STREAM_OPEN =
  'a stream on this transaction is still open: a connection runs one thing at a time, so finish or break ' +
  'the loop before the next statement (or stream outside the transaction)';

/** Most rows one round trip of a stream may fetch. */
export const MAX_BATCH_SIZE = 100_000;

/**
 * Kysely appends its own frames to the stack of whatever a statement throws (extendStackTrace); the
 * layer's error already starts at the caller's line, and keeps exactly that stack.
 */
function keepStack(error: DatabaseError): DatabaseError {
  const stack = error.stack;
  Object.defineProperty(error, 'stack', { get: () => stack, set: () => {}, configurable: true });
  return error;
}

/** A failed check's cause: the statement's own error, mapped only then. */
function causeOf(statementError: unknown): DatabaseError | undefined {
  return statementError === undefined ? undefined : toDatabaseError(statementError);
}

/**
 * `client.query` in its callback form, wrapped in a promise of our own. pg's promise form keeps every
 * result reachable a little longer, so results survive the young-generation collector: with a page of
 * rows per statement that multiplied the client's garbage-collection time (measured; bench/README.md).
 * A server error is passed on once the ReadyForQuery after it has come: the transaction status it
 * carries is what the layer checks next (registered from pg's callback, so it cannot have come yet).
 */
function send(
  client: pg.PoolClient,
  text: string,
  params: readonly unknown[],
  statements: PreparedStatements | undefined,
): Promise<pg.QueryResult> {
  return new Promise((resolve, reject) => {
    const done = settle(client, resolve, reject);
    if (statements) client.query(statements.query(text, params, done));
    else client.query(text, params as unknown[], done);
  });
}

/**
 * pg's callback for `send`. Made by a function rather than as a named closure in `send`: a loader that
 * keeps function names (tsx) would rename that closure on every statement.
 */
function settle(
  client: pg.PoolClient,
  resolve: (result: pg.QueryResult) => void,
  reject: (error: unknown) => void,
): QueryCallback {
  return (error, result) => {
    if (!error) resolve(result);
    else if (error instanceof pg.DatabaseError) nextReadyForQuery(client).then(() => reject(error));
    else reject(error);
  };
}

export interface PooledConnectionOptions {
  report: (query: ExecutedQuery) => void;
  logger: Logger;
  /** This connection's named statements; undefined when prepared statements are off. */
  statements: PreparedStatements | undefined;
  /** Throws to refuse a statement of Kysely's before it is sent (server-pool.ts). */
  checkParameters: (parameters: readonly unknown[]) => void;
  /** The server this connection is to (`primary`, `replica-1`, …), told in every query event. */
  server: string;
  /** Spans and metrics per statement (telemetry.ts), with what they say of this server. */
  telemetry: Telemetry;
  target: StatementTarget;
}

export class PooledConnection implements DatabaseConnection {
  readonly #client: pg.PoolClient;
  readonly #options: PooledConnectionOptions;
  #inUse = false;
  /**
   * The transaction the layer opened (layer-driver.ts): `beginning` while BEGIN is sent, `open` until
   * COMMIT or ROLLBACK is sent. What the server reports after each statement is checked against it.
   */
  #transaction: 'none' | 'beginning' | 'open' = 'none';
  /** A statement of the caller's ended the layer's transaction: the rest of it is refused. */
  #endedByCaller = false;
  /** Set when ROLLBACK itself failed: the connection is closed instead of going back to the pool. */
  #discard = false;
  /** The wait before this checkout, until its first statement carries it. */
  #waitMs = 0;
  /**
   * Why the connection is gone, once it is. pg-pool listens for a client's 'error' only while the client
   * is idle: without this listener, a server that ends a session in use between two statements (an
   * idle-in-transaction timeout, pg_terminate_backend, a shutdown) would raise an unhandled 'error' and
   * end the process.
   */
  #lostWith: unknown;
  /** A stream's cursor is open: the connection answers nothing else until it is closed. */
  #streaming = false;

  constructor(client: pg.PoolClient, options: PooledConnectionOptions) {
    this.#client = client;
    this.#options = options;
    if (options.statements) assertPgInternals((client as unknown as { connection: unknown }).connection);
    client.on('error', (error) => {
      if (!this.#inUse || this.#lostWith !== undefined) return;
      this.#lostWith = error;
      options.logger.warn(
        'a connection in use was closed by the server; the work on it fails with ConnectionError',
        { error: error.message },
      );
    });
  }

  checkedOut(waitMs: number): void {
    this.#inUse = true;
    this.#waitMs = waitMs;
    this.#lostWith = undefined;
    this.#discard = false;
    this.#transaction = 'none';
    this.#endedByCaller = false;
  }

  /** Inside a transaction of the layer's (or BEGIN on its way): a failed statement cannot be retried. */
  get inTransaction(): boolean {
    return this.#transaction !== 'none';
  }

  /** BEGIN is about to be sent, then has succeeded (`open`), or has failed or ended (`none`). */
  transactionIs(state: 'beginning' | 'open' | 'none'): void {
    this.#transaction = state;
    if (state === 'none') this.#endedByCaller = false;
  }

  /**
   * Back to the pool; a lost or discarded connection is closed, never handed to the next caller, and
   * so is one the server last reported inside a transaction (the checks in `query` make that the
   * exception; this is the last guard).
   */
  release(): void {
    this.#inUse = false;
    const lost = this.#lostWith;
    this.#lostWith = undefined;
    const notIdle = this.#client.getTransactionStatus() !== 'I';
    this.#client.release(lost instanceof Error ? lost : this.#discard || notIdle ? true : undefined);
  }

  discard(): void {
    this.#discard = true;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    this.#options.checkParameters(compiled.parameters);
    const { command, rowCount, rows } = await this.query(
      compiled.sql,
      compiled.parameters,
      mayPrepare(compiled),
    );
    if (command === 'ROLLBACK' || command === 'COMMIT') return { rows: [{ command } as R] };
    const changed =
      command === 'INSERT' || command === 'UPDATE' || command === 'DELETE' || command === 'MERGE';
    return { numAffectedRows: changed ? BigInt(rowCount ?? 0) : undefined, rows: rows ?? [] };
  }

  /**
   * Streams the rows of `compiled` through a server-side cursor (pg-cursor), `chunkSize` rows per round
   * trip. Outside a transaction of the layer's the cursor gets one of its own, `BEGIN READ ONLY` …
   * `COMMIT`: a cursor lives in a transaction, and PgBouncer in transaction mode keeps the server
   * connection only while one is open. Inside one, it uses the transaction. However the loop ends (done,
   * `break`, a throw, the query's AbortSignal) the cursor is closed and that transaction ended before the
   * connection is released; a batch in flight when the signal aborts is cancelled on the server.
   */
  async *streamQuery<R>(compiled: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_BATCH_SIZE) {
      throw new ValidationError([
        { field: 'batchSize', message: `must be an integer from 1 to ${MAX_BATCH_SIZE}` },
      ]);
    }
    this.#options.checkParameters(compiled.parameters);
    const signal = abortSignalOf(compiled);
    signal?.throwIfAborted();
    if (this.#streaming) throw keepStack(new TransactionScopeError(STREAM_OPEN));
    const own = !this.inTransaction;
    if (own) {
      this.transactionIs('beginning');
      try {
        await this.query('BEGIN READ ONLY', [], false);
      } catch (error) {
        this.transactionIs('none');
        throw error;
      }
      this.transactionIs('open');
    }
    this.#streaming = true;
    const { report, server, telemetry, target } = this.#options;
    const started = performance.now();
    const record = telemetry.startStatement(target, compiled.sql, compiled.parameters, false, 0);
    let rowCount = 0;
    const cursor = this.#client.query(new Cursor<R>(compiled.sql, [...compiled.parameters]));
    let reading: Promise<R[]> | undefined;
    let failure: { error: unknown } | undefined;
    try {
      for (;;) {
        reading = cursor.read(chunkSize);
        const rows = await untilAborted(reading, signal);
        reading = undefined;
        if (rows.length === 0) break;
        rowCount += rows.length;
        yield { rows };
        // Aborted while the caller held the batch: the next batch is not fetched.
        signal?.throwIfAborted();
      }
    } catch (error) {
      failure = { error };
      if (toDatabaseError(error) instanceof ConnectionError) this.#lostWith ??= error;
      throw error;
    } finally {
      await this.#closeCursor(cursor, reading);
      this.#streaming = false;
      const mapped = failure && toDatabaseError(failure.error);
      record?.end(rowCount, failure && failure.error !== signal?.reason ? mapped : undefined);
      report({
        server,
        sql: compiled.sql,
        params: compiled.parameters,
        durationMs: performance.now() - started,
        waitMs: 0,
        prepared: false,
        ...(mapped &&
          failure?.error !== signal?.reason && { error: { name: mapped.name, code: mapped.code } }),
      });
      if (own) {
        this.transactionIs('none');
        // After a failure the first error is the one to report; a lost connection has nothing to end.
        if (failure) await this.query('ROLLBACK', [], false).catch(() => {});
        else await this.query('COMMIT', [], false);
      }
    }
  }

  /**
   * Ends a stream's cursor: a batch still in flight (the signal aborted) is cancelled and awaited, then
   * the portal is closed unless the server already ended it (the last row, an error, a lost connection:
   * closing it then would wait for a ReadyForQuery that has come already).
   */
  async #closeCursor<R>(cursor: Cursor<R>, reading: Promise<R[]> | undefined): Promise<void> {
    if (this.#lostWith !== undefined) return;
    const { state } = cursor as unknown as { state: string };
    if (reading && state === 'busy') {
      await Promise.all([sendCancelRequest(this.#client), reading.catch(() => {})]);
    }
    const after = (cursor as unknown as { state: string }).state;
    if (after !== 'done' && after !== 'error' && this.#lostWith === undefined) await cursor.close();
  }

  /** Runs one statement; named (prepared once on this connection) when `prepare` and they are on. */
  async query(text: string, params: readonly unknown[], prepare: boolean): Promise<pg.QueryResult> {
    const wait = this.#waitMs;
    this.#waitMs = 0;
    if (this.#lostWith !== undefined) {
      // The server rolled the transaction back when the session ended: there is nothing to roll back,
      // and the callback's own error (not this one) is what the caller should see.
      if (ROLLBACK.test(text)) return { command: 'ROLLBACK', rowCount: 0, rows: [] } as never;
      const lost = toDatabaseError(this.#lostWith);
      this.#options.report({
        server: this.#options.server,
        sql: text,
        params,
        durationMs: 0,
        waitMs: wait,
        prepared: false,
        error: { name: lost.name, code: lost.code },
      });
      throw keepStack(lost);
    }
    if (this.#endedByCaller && this.#transaction === 'open') throw keepStack(new TransactionEndedError());
    if (this.#streaming) throw keepStack(new TransactionScopeError(STREAM_OPEN));
    let result: pg.QueryResult;
    try {
      result = await this.#sendRetryingStale(text, params, prepare, wait);
    } catch (error) {
      const checked = this.#checkTransactionState(error);
      if (checked) await checked;
      throw error;
    }
    const checked = this.#checkTransactionState(undefined);
    if (checked) await checked;
    return result;
  }

  async #sendRetryingStale(
    text: string,
    params: readonly unknown[],
    prepare: boolean,
    wait: number,
  ): Promise<pg.QueryResult> {
    const statements = prepare ? this.#options.statements : undefined;
    try {
      return await this.#timed(text, params, statements, wait);
    } catch (error) {
      const stale = statements && staleStatement(error);
      if (!stale) throw error;
      // A migration changed what the statement returns, or the session lost its statements: prepare it
      // again. Outside a transaction that is transparent; inside one the transaction is already aborted,
      // and the error (StalePreparedStatementError) says to run it again, as `retry` does.
      statements.wentStale(text, stale);
      if (this.inTransaction) throw error;
      return await this.#timed(text, params, statements, 0);
    }
  }

  /**
   * Compares the transaction status the server reported with the statement's ReadyForQuery to the
   * layer's own: outside its transactions the session must be idle, inside one it must not be. A
   * session left in a transaction is rolled back and discarded, so its work is never committed by a
   * later caller and nobody inherits an aborted transaction; the call fails with `TransactionLeftOpenError`.
   */
  #checkTransactionState(statementError: unknown): Promise<never> | undefined {
    if (this.#lostWith !== undefined || this.#transaction === 'beginning') return undefined;
    const status = this.#client.getTransactionStatus();
    if (this.#transaction === 'none' && (status === 'T' || status === 'E')) {
      return this.#rollBackLeftOpen(status, statementError);
    }
    if (this.#transaction === 'open' && status === 'I') {
      this.#endedByCaller = true;
      throw keepStack(new TransactionEndedError({ cause: causeOf(statementError) }));
    }
    // Nothing to do, as after nearly every statement: no promise, so the caller awaits nothing.
    return undefined;
  }

  async #rollBackLeftOpen(status: 'T' | 'E', statementError: unknown): Promise<never> {
    this.#discard = true;
    await this.#timed('ROLLBACK', [], undefined, 0).catch(() => {});
    throw keepStack(
      new TransactionLeftOpenError(status === 'T' ? 'open' : 'failed', { cause: causeOf(statementError) }),
    );
  }

  async #timed(
    text: string,
    params: readonly unknown[],
    statements: PreparedStatements | undefined,
    waitMs: number,
  ): Promise<pg.QueryResult> {
    const { report, server, telemetry, target } = this.#options;
    const started = performance.now();
    const record = telemetry.startStatement(target, text, params, !!statements, waitMs);
    try {
      const result = record
        ? await record.run(() => send(this.#client, text, params, statements))
        : await send(this.#client, text, params, statements);
      record?.end(result.rows?.length);
      report({
        server,
        sql: text,
        params,
        durationMs: performance.now() - started,
        waitMs,
        prepared: !!statements,
      });
      return result;
    } catch (error) {
      const durationMs = performance.now() - started;
      const mapped = toDatabaseError(error);
      record?.end(undefined, mapped);
      report({
        server,
        sql: text,
        params,
        durationMs,
        waitMs,
        prepared: !!statements,
        error: { name: mapped.name, code: mapped.code },
      });
      // A lost connection is the layer's ConnectionError whichever API ran the statement; any other
      // failure stays the driver's error here (repositories and executeRaw map it themselves).
      if (!(mapped instanceof ConnectionError)) throw error;
      this.#lostWith ??= error;
      throw keepStack(mapped);
    }
  }

  /**
   * Runs `COPY … FROM STDIN` with `source`'s text (copy-in.ts); resolves to the rows copied. Like any
   * statement: one query event, the lost-connection and transaction-state checks. A failure is thrown as
   * it came (the server's error, or the source's own), a lost connection as ConnectionError.
   */
  async copyFrom(statement: string, source: CopySource): Promise<number> {
    const waitMs = this.#waitMs;
    this.#waitMs = 0;
    if (this.#lostWith !== undefined) throw keepStack(toDatabaseError(this.#lostWith));
    if (this.#endedByCaller && this.#transaction === 'open') throw keepStack(new TransactionEndedError());
    if (this.#streaming) throw keepStack(new TransactionScopeError(STREAM_OPEN));
    const event = { server: this.#options.server, sql: statement, params: [], waitMs, prepared: false };
    const started = performance.now();
    const record = this.#options.telemetry.startStatement(this.#options.target, statement, [], false, waitMs);
    let rows: number;
    try {
      rows = record
        ? await record.run(() => copyIn(this.#client, statement, source))
        : await copyIn(this.#client, statement, source);
    } catch (error) {
      const mapped = toDatabaseError(error);
      record?.end(undefined, mapped);
      this.#options.report({
        ...event,
        durationMs: performance.now() - started,
        error: { name: mapped.name, code: mapped.code },
      });
      if (mapped instanceof ConnectionError) this.#lostWith ??= error;
      const checked = this.#checkTransactionState(error);
      if (checked) await checked;
      throw mapped instanceof ConnectionError ? keepStack(mapped) : error;
    }
    record?.end(rows);
    this.#options.report({ ...event, durationMs: performance.now() - started });
    const checked = this.#checkTransactionState(undefined);
    if (checked) await checked;
    return rows;
  }
}
