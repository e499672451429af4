/**
 * Streams rows into a table with COPY … FROM STDIN (pg-copy-streams). Rows are drawn only as fast as
 * the server takes them: the pipeline pulls the next batch when the socket has room, so memory stays
 * flat however many rows there are, and drawing (in Node) overlaps loading (in PostgreSQL).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';

/** Lines are sent in batches of about this many characters: fewer, larger socket writes. */
const BATCH_CHARS = 64 * 1024;

function* batches(lines: Iterable<string>): Generator<string> {
  let batch = '';
  for (const line of lines) {
    batch += line;
    if (batch.length >= BATCH_CHARS) {
      yield batch;
      batch = '';
    }
  }
  if (batch !== '') yield batch;
}

/**
 * Copies `lines` (COPY text format, see copy-text.ts) into `table` (already quoted and qualified).
 * FREEZE writes the rows already frozen and all-visible, which saves VACUUM a pass over them; the
 * server allows it only when the table was truncated in the same transaction. Returns the server's
 * count of copied rows.
 */
export async function copyLines(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  lines: Iterable<string>,
): Promise<number> {
  const columnList = columns.map((column) => client.escapeIdentifier(column)).join(', ');
  const copy = client.query(
    copyFrom(`COPY ${table} (${columnList}) FROM STDIN WITH (FORMAT text, FREEZE true)`),
  );
  await pipeline(Readable.from(batches(lines)), copy);
  return copy.rowCount;
}
