/**
 * Streams: the rows of one statement as an async iterator, fetched batch by batch through a server-side
 * cursor (pooled-connection.ts), so memory holds one batch however many rows there are. Outside a
 * transaction a stream has a connection of its own while the loop runs; inside one it runs on the
 * transaction's connection, taken without holding Kysely's turn on it: a statement sent on the
 * transaction inside the loop then fails at once (TransactionScopeError) instead of waiting forever for
 * the loop that waits for it.
 */
import type { CompiledQuery, Kysely } from 'kysely';
import { z } from 'zod';
import type { DB } from '../../db-types/index.js';
import { toDatabaseError } from '../errors/to-database-error.js';
import { pooledOf } from '../pool/layer-driver.js';
import { MAX_BATCH_SIZE } from '../pool/pooled-connection.js';
import { withAbortSignal } from '../pool/stream-signal.js';

export interface StreamOptions {
  /** Rows fetched per round trip; the memory a stream holds is about one batch. Default 500. */
  batchSize?: number;
  /**
   * Stops the stream: the loop throws the signal's reason, a batch in flight is cancelled on the
   * server, and the connection goes back to the pool.
   */
  signal?: AbortSignal;
}

export const DEFAULT_BATCH_SIZE = 500;

/** The options every stream takes, for the schemas of the APIs that stream. */
export const streamOptionsShape = {
  batchSize: z
    .number()
    .int('must be an integer')
    .min(1, 'must be at least 1')
    .max(MAX_BATCH_SIZE, `must be at most ${MAX_BATCH_SIZE}`)
    .optional(),
  signal: z.instanceof(AbortSignal, { message: 'must be an AbortSignal' }).optional(),
};

/**
 * The rows of `query` on `kysely` (the database's, or a transaction's). Errors are the layer's; an abort
 * throws the signal's own reason.
 */
export async function* streamRows<R>(
  kysely: Kysely<DB>,
  query: CompiledQuery<R>,
  options: StreamOptions,
): AsyncIterableIterator<R> {
  const { batchSize = DEFAULT_BATCH_SIZE, signal } = options;
  const compiled = withAbortSignal(query, signal);
  try {
    if (kysely.isTransaction) {
      const connection = await kysely.getExecutor().provideConnection(async (taken) => taken);
      const pooled = await pooledOf(connection);
      for await (const batch of pooled.streamQuery<R>(compiled, batchSize))
        yield* rowsUntilAborted(batch.rows, signal);
    } else {
      for await (const batch of kysely.getExecutor().stream<R>(compiled, batchSize))
        yield* rowsUntilAborted(batch.rows, signal);
    }
  } catch (error) {
    if (signal?.aborted && error === signal.reason) throw error;
    throw toDatabaseError(error);
  }
}

/** A batch's rows; once the signal aborts, the next row is its reason instead. */
function* rowsUntilAborted<R>(rows: readonly R[], signal: AbortSignal | undefined): Generator<R> {
  for (const row of rows) {
    signal?.throwIfAborted();
    yield row;
  }
}

/** `source`'s rows, each turned by `map` as it arrives. */
export async function* mapRows<R, T>(source: AsyncIterable<R>, map: (row: R) => T): AsyncIterableIterator<T> {
  for await (const row of source) yield map(row);
}
