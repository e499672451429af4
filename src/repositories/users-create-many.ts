/**
 * `users.createMany`: users with their posts and roles loaded with COPY, a chunk at a time, each chunk
 * drawn (validated, encoded) while the one before is copied. A chunk's users are copied first, then their
 * posts, then their roles, so the foreign keys hold. Only the counts needed to map a line back to its
 * input row are kept.
 */
import { createId } from '@paralleldrive/cuid2';
import type { Kysely } from 'kysely';
import type { DB } from '../../db-types/index.js';
import { COPY_NULL, copyNullable, copyText, copyTimestamp } from '../pool/copy-text.js';
import { chunkIsFull, LineBatches, pace, sendInChunks } from '../query/copy-chunk.js';
import { validateRow } from '../query/input-rules.js';
import { NO_MORE_ROWS, type RowSource } from '../query/row-source.js';
import { copyRows, copyStatement, qualifiedTable, runBulkLoad, transactionNow } from './bulk-load.js';
import {
  type CreateManyOptions,
  type CreateManyUserInput,
  type CreateManyUserRow,
  createManyUserSchema,
  type Rows,
} from './create-many-input.js';
import { postLine } from './posts-create-many.js';
import { POST_COLUMNS, ROLE_COLUMNS, USER_COLUMNS } from './stored-columns.js';

export interface CreateManyUsersResult {
  users: number;
  posts: number;
  roles: number;
}

/** The lines of one chunk's users, posts and roles. */
class UsersChunk {
  readonly firstRow: number;
  rows = 0;
  readonly users = new LineBatches();
  readonly posts = new LineBatches();
  readonly roles = new LineBatches();
  /** Post (role) lines up to and including the chunk's n-th user: a line's row by binary search. */
  readonly postsUpTo: number[] = [];
  readonly rolesUpTo: number[] = [];

  constructor(firstRow: number) {
    this.firstRow = firstRow;
  }

  get full(): boolean {
    return chunkIsFull(this.rows, this.users.chars + this.posts.chars + this.roles.chars);
  }

  add(user: CreateManyUserRow, now: string): void {
    const id = user.id ?? createId();
    const created = user.createdAt ? copyTimestamp(user.createdAt) : now;
    const updated = user.updatedAt ? copyTimestamp(user.updatedAt) : created;
    const deleted = user.deletedAt ? copyTimestamp(user.deletedAt) : COPY_NULL;
    this.users.add(
      `${copyText(id)}\t${copyText(user.email)}\t${copyNullable(user.name)}\t${copyNullable(user.profileImage)}\t${created}\t${updated}\t${deleted}\n`,
    );
    if (user.posts) for (const post of user.posts) this.posts.add(postLine(post, id, now));
    if (user.roles) {
      for (const role of user.roles) {
        const roleCreated = role.createdAt ? copyTimestamp(role.createdAt) : now;
        this.roles.add(
          `${copyText(role.id ?? createId())}\t${copyText(role.name)}\t${copyNullable(role.description)}\t${copyText(id)}\t${roleCreated}\n`,
        );
      }
    }
    this.postsUpTo.push(this.posts.lines);
    this.rolesUpTo.push(this.roles.lines);
    this.rows += 1;
  }

  /** The input row of the 1-based `line` of the posts' (roles') COPY. */
  rowOf(upTo: number[], line: number): number {
    let low = 0;
    let high = upTo.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((upTo[middle] as number) >= line) high = middle;
      else low = middle + 1;
    }
    return this.firstRow + low;
  }
}

/** The next chunk, drawn until it is full or the rows run out; undefined when none are left. */
async function drawChunk(
  source: RowSource<CreateManyUserInput>,
  now: string,
  overlapping: boolean,
): Promise<UsersChunk | undefined> {
  if (!(await source.hasMore())) return undefined;
  const chunk = new UsersChunk(source.index);
  while (!chunk.full) {
    const index = source.index;
    let input = source.next();
    if (input instanceof Promise) input = await input;
    if (input === NO_MORE_ROWS) break;
    chunk.add(validateRow(createManyUserSchema, input, index), now);
    const turn = pace(chunk.rows, overlapping);
    if (turn) await turn;
  }
  return chunk;
}

export function createManyUsers(
  kysely: Kysely<DB>,
  rows: Rows<CreateManyUserInput>,
  options: CreateManyOptions = {},
): Promise<CreateManyUsersResult> {
  const copyUsers = copyStatement(qualifiedTable(kysely, 'pg_users'), USER_COLUMNS);
  const copyPosts = copyStatement(qualifiedTable(kysely, 'pg_posts'), POST_COLUMNS);
  const copyRoles = copyStatement(qualifiedTable(kysely, 'pg_roles'), ROLE_COLUMNS);
  return runBulkLoad(kysely, rows, options, async (connection, source, onProgress) => {
    const now = await transactionNow(connection);
    const counts = { users: 0, posts: 0, roles: 0 };
    const send = async (chunk: UsersChunk) => {
      counts.users += await copyRows(
        connection,
        copyUsers,
        chunk.users.take(true),
        (line) => chunk.firstRow + line - 1,
      );
      if (chunk.posts.lines > 0) {
        counts.posts += await copyRows(connection, copyPosts, chunk.posts.take(true), (line) =>
          chunk.rowOf(chunk.postsUpTo, line),
        );
      }
      if (chunk.roles.lines > 0) {
        counts.roles += await copyRows(connection, copyRoles, chunk.roles.take(true), (line) =>
          chunk.rowOf(chunk.rolesUpTo, line),
        );
      }
      onProgress(chunk.firstRow + chunk.rows);
    };
    await sendInChunks((overlapping) => drawChunk(source, now, overlapping), send);
    return counts;
  });
}
