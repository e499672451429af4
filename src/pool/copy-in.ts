/**
 * `COPY … FROM STDIN` on one `pg` client (pg-copy-streams). The text is pulled from its source only as
 * fast as the socket takes it (a stream pipeline), so a source that makes its lines lazily never has
 * more than a socket's worth waiting. A source that throws makes pg-copy-streams send CopyFail: the
 * server ends the COPY with an error of its own (57014), and the source's error is what the caller gets.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyStream } from 'pg-copy-streams';
import { nextReadyForQuery } from './ready-for-query.js';

/** The COPY's data: strings in COPY's text format (copy-text.ts), in pieces of any size. */
export type CopySource = Iterable<string> | AsyncIterable<string>;

/**
 * Runs `statement` (a `COPY … FROM STDIN`) with `source` as its data; resolves to the rows the server
 * copied. It settles only once the server is ready for the next statement, so the session's transaction
 * status is known by then, after a failure too.
 */
export async function copyIn(client: pg.ClientBase, statement: string, source: CopySource): Promise<number> {
  const ready = nextReadyForQuery(client);
  const copy = client.query(copyStream(statement));
  try {
    await pipeline(Readable.from(source), copy);
  } catch (error) {
    await ready;
    throw error;
  }
  await ready;
  return copy.rowCount;
}
