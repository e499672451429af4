/**
 * `posts.createMany`: posts loaded with COPY, a chunk at a time. Each chunk is drawn (validated and
 * encoded) while the one before is copied, then its distinct authors are checked with one query (live,
 * as `create` requires), then it is copied.
 */
import { createId } from '@paralleldrive/cuid2';
import type { Kysely } from 'kysely';
import type { DB } from '../../db-types/index.js';
import { NotFoundError } from '../errors/classes.js';
import { COPY_NULL, copyNullable, copyText, copyTimestamp } from '../pool/copy-text.js';
import type { PooledConnection } from '../pool/pooled-connection.js';
import { chunkIsFull, LineBatches, pace, sendInChunks } from '../query/copy-chunk.js';
import { validateRow } from '../query/input-rules.js';
import { NO_MORE_ROWS, type RowSource } from '../query/row-source.js';
import { copyRows, copyStatement, qualifiedTable, runBulkLoad, transactionNow } from './bulk-load.js';
import {
  type CreateManyOptions,
  type CreateManyPostInput,
  createManyPostSchema,
  type Rows,
} from './create-many-input.js';
import { POST_COLUMNS } from './stored-columns.js';

interface PostFields {
  id?: string | undefined;
  title: string;
  content?: string | null | undefined;
  published?: boolean | undefined;
  metadata?: object | undefined;
  createdAt?: Date | undefined;
  updatedAt?: Date | undefined;
  deletedAt?: Date | null | undefined;
}

/** A post's line, in POST_COLUMNS' order; `now` is the transaction's now() for timestamps not given. */
export function postLine(post: PostFields, authorId: string, now: string): string {
  const created = post.createdAt ? copyTimestamp(post.createdAt) : now;
  const updated = post.updatedAt ? copyTimestamp(post.updatedAt) : created;
  const deleted = post.deletedAt ? copyTimestamp(post.deletedAt) : COPY_NULL;
  const metadata = post.metadata ? copyText(JSON.stringify(post.metadata)) : '{}';
  return `${copyText(post.id ?? createId())}\t${copyText(post.title)}\t${copyNullable(post.content)}\t${post.published ? 't' : 'f'}\t${copyText(authorId)}\t${metadata}\t${created}\t${updated}\t${deleted}\n`;
}

/** One chunk of posts, drawn whole before it is sent (its authors are checked first). */
interface PostsChunk {
  firstRow: number;
  lines: LineBatches;
  /** Each row's author, in order. */
  authors: string[];
}

async function drawChunk(
  source: RowSource<CreateManyPostInput>,
  now: string,
  overlapping: boolean,
): Promise<PostsChunk | undefined> {
  if (!(await source.hasMore())) return undefined;
  const chunk: PostsChunk = { firstRow: source.index, lines: new LineBatches(), authors: [] };
  while (!chunkIsFull(chunk.authors.length, chunk.lines.chars)) {
    const index = source.index;
    let input = source.next();
    if (input instanceof Promise) input = await input;
    if (input === NO_MORE_ROWS) break;
    const post = validateRow(createManyPostSchema, input, index);
    chunk.lines.add(postLine(post, post.authorId, now));
    chunk.authors.push(post.authorId);
    const turn = pace(chunk.authors.length, overlapping);
    if (turn) await turn;
  }
  return chunk;
}

/** Refuses the chunk when a row's author is missing or soft-deleted, naming the first such row. */
async function checkAuthors(connection: PooledConnection, users: string, chunk: PostsChunk): Promise<void> {
  const distinct = [...new Set(chunk.authors)];
  const { rows } = await connection.query(
    `select id from ${users} where id = any($1::text[]) and deleted_at is null`,
    [distinct],
    false,
  );
  if (rows.length === distinct.length) return;
  const live = new Set(rows.map((row: { id: string }) => row.id));
  const at = chunk.authors.findIndex((author) => !live.has(author));
  const row = chunk.firstRow + at;
  throw new NotFoundError('User', `id "${chunk.authors[at]}" (the author of row ${row})`, { row });
}

export function createManyPosts(
  kysely: Kysely<DB>,
  rows: Rows<CreateManyPostInput>,
  options: CreateManyOptions = {},
): Promise<{ count: number }> {
  const users = qualifiedTable(kysely, 'pg_users');
  const statement = copyStatement(qualifiedTable(kysely, 'pg_posts'), POST_COLUMNS);
  return runBulkLoad(kysely, rows, options, async (connection, source, onProgress) => {
    const now = await transactionNow(connection);
    let count = 0;
    await sendInChunks(
      (overlapping) => drawChunk(source, now, overlapping),
      async (chunk) => {
        await checkAuthors(connection, users, chunk);
        const rowOfLine = (line: number) => chunk.firstRow + line - 1;
        count += await copyRows(connection, statement, chunk.lines.take(true), rowOfLine);
        onProgress(chunk.firstRow + chunk.authors.length);
      },
    );
    return { count };
  });
}
