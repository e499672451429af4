/**
 * What both `createMany` share: the connection a load runs on, all or nothing (its own transaction, or
 * a savepoint of the caller's), the tables' names, the COPY of one table with the server's errors mapped
 * to the input row they are about, and the errors the caller sees.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import pg from 'pg';
import type { DB } from '../../db-types/index.js';
import { toDatabaseError } from '../errors/to-database-error.js';
import { pooledOf } from '../pool/layer-driver.js';
import type { PooledConnection } from '../pool/pooled-connection.js';
import { validate } from '../query/input-rules.js';
import { RowSource } from '../query/row-source.js';
import { type CreateManyOptions, createManyOptionsSchema, type Rows } from './create-many-input.js';

let savepoints = 0;

/**
 * Runs `work` on the primary connection of a transaction: a new one (committed when `work` resolves)
 * outside a transaction, a savepoint of the caller's inside one, so a failed load leaves the caller's
 * transaction usable. The connection is the layer's, so query events, the guards and routing apply; it
 * is held for the whole load, so nothing else of the caller's runs inside the savepoint.
 */
async function onLoadConnection<T>(kysely: Kysely<DB>, work: (connection: PooledConnection) => Promise<T>) {
  const onPrimary = (connection: Parameters<typeof pooledOf>[0]) => {
    const pooled = pooledOf(connection);
    return pooled instanceof Promise ? pooled : Promise.resolve(pooled);
  };
  if (!kysely.isTransaction) {
    return kysely
      .transaction()
      .execute((trx) => trx.getExecutor().provideConnection(async (c) => work(await onPrimary(c))));
  }
  return kysely.getExecutor().provideConnection(async (c) => {
    const connection = await onPrimary(c);
    savepoints += 1;
    const name = `shared_db_bulk_${savepoints}`;
    await connection.query(`savepoint ${name}`, [], false);
    let result: T;
    try {
      result = await work(connection);
    } catch (error) {
      await connection.query(`rollback to savepoint ${name}`, [], false);
      throw error;
    }
    await connection.query(`release savepoint ${name}`, [], false);
    return result;
  });
}

/** `table` as the query builder names it: qualified with the schema the database object works in. */
export function qualifiedTable(kysely: Kysely<DB>, table: keyof DB): string {
  const { sql } = kysely.selectFrom(table).selectAll().compile();
  return sql.slice('select * from '.length);
}

/** `COPY <table> (<columns>) FROM STDIN` for COPY's text format. */
export function copyStatement(table: string, columns: readonly string[]): string {
  return `copy ${table} (${columns.map((column) => `"${column}"`).join(', ')}) from stdin`;
}

// COPY's error context: `COPY pg_users, line 500001`, possibly after a trigger's lines.
const COPY_LINE = /COPY [^\n]*?, line (\d+)/;

/**
 * Copies `source` with `statement`; the server's error about a line becomes the layer's error about the
 * input row `rowOfLine` gives for it (1-based line of this COPY).
 */
export async function copyRows(
  connection: PooledConnection,
  statement: string,
  source: Iterable<string> | AsyncIterable<string>,
  rowOfLine: (line: number) => number,
): Promise<number> {
  try {
    return await connection.copyFrom(statement, source);
  } catch (error) {
    if (!(error instanceof pg.DatabaseError)) throw error;
    const line = COPY_LINE.exec(error.where ?? '')?.[1];
    throw toDatabaseError(error, { row: line === undefined ? undefined : rowOfLine(Number(line)) });
  }
}

/** The transaction's `now()` as text: what a column's `DEFAULT now()` stores, for every row given none. */
export async function transactionNow(connection: PooledConnection): Promise<string> {
  const { rows } = await connection.executeQuery<{ now: string }>(
    CompiledQuery.raw('select now()::text as now'),
  );
  return (rows[0] as { now: string }).now;
}

/**
 * Runs a bulk load of `rows` on its connection (see onLoadConnection). What the caller's iterable threw
 * reaches the caller unchanged; everything else as the layer's errors. The iterable is closed when the
 * load stops early.
 */
export async function runBulkLoad<Row, T>(
  kysely: Kysely<DB>,
  rows: Rows<Row>,
  options: CreateManyOptions,
  load: (
    connection: PooledConnection,
    source: RowSource<Row>,
    onProgress: (rows: number) => void,
  ) => Promise<T>,
): Promise<T> {
  const { onProgress } = validate(createManyOptionsSchema, options, 'options');
  const source = new RowSource(rows);
  // The caller's callback, like its iterable: what it throws reaches the caller unchanged.
  let callbackFailure: { error: unknown } | undefined;
  const progress = (count: number) => {
    try {
      onProgress?.(count);
    } catch (error) {
      callbackFailure = { error };
      throw error;
    }
  };
  try {
    return await onLoadConnection(kysely, (connection) => load(connection, source, progress));
  } catch (error) {
    if (source.failure?.error === error || callbackFailure?.error === error) throw error;
    throw toDatabaseError(error);
  } finally {
    await source.close();
  }
}
