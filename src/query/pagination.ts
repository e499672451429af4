/**
 * Keyset pagination on (created_at, id): a page continues after the last row of the previous one, so
 * deep pages cost what the first one does and rows inserted meanwhile never shift a page. The cursor is
 * opaque to callers (base64url JSON), and carries the direction so it cannot be replayed the other way.
 */
import { type RawBuilder, type SqlBool, sql } from 'kysely';
import { z } from 'zod';
import { ValidationError } from '../errors/classes.js';
import { storableString } from './input-rules.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export type SortDirection = 'asc' | 'desc';

/** One page of a keyset-paginated list; pass `nextCursor` as `after` for the next page. */
export interface Page<T> {
  items: T[];
  /** Opaque; undefined on the last page. */
  nextCursor: string | undefined;
}

export interface PageOptions {
  /** Rows per page, 1–1000; default 50. */
  first?: number;
  /** `nextCursor` of the previous page. */
  after?: string;
  /** By creation time, then id; default `desc` (newest first). */
  orderBy?: { createdAt: SortDirection };
}

export interface Keyset {
  createdAt: Date;
  id: string;
}

export interface PagePlan {
  limit: number;
  direction: SortDirection;
  after: Keyset | undefined;
}

/** A cursor's row id: only what a row can have, so a forged cursor is refused, never sent changed. */
export const cursorIdSchema = storableString(z.string().min(1));

const cursorSchema = z.tuple([z.enum(['asc', 'desc']), z.iso.datetime(), cursorIdSchema]);

/** Packs a cursor: opaque to callers, but plain JSON underneath. */
export function packCursor(values: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** The cursor of a list ordered by (created_at, id): the direction, then the last row's keyset. */
export function encodeCursor(direction: SortDirection, last: Keyset): string {
  return packCursor([direction, last.createdAt.toISOString(), last.id]);
}

/** Unpacks a cursor made by packCursor and checks its shape; `what` names the list in the error. */
export function unpackCursor<T>(cursor: string, shape: z.ZodType<T>, what: string): T {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    decoded = undefined;
  }
  const parsed = shape.safeParse(decoded);
  if (!parsed.success)
    throw new ValidationError([{ field: 'after', message: `is not a cursor from this ${what}` }]);
  return parsed.data;
}

function decodeCursor(cursor: string, direction: SortDirection): Keyset {
  const [cursorDirection, createdAt, id] = unpackCursor(cursor, cursorSchema, 'list');
  if (cursorDirection !== direction) {
    throw new ValidationError([
      { field: 'after', message: `was made for orderBy createdAt ${cursorDirection}` },
    ]);
  }
  return { createdAt: new Date(createdAt), id };
}

/** Validates the page options; throws a `ValidationError` naming the bad one. */
export function planPage(options: PageOptions): PagePlan {
  const limit = options.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new ValidationError([{ field: 'first', message: `must be an integer from 1 to ${MAX_PAGE_SIZE}` }]);
  }
  const direction = options.orderBy?.createdAt ?? 'desc';
  if (direction !== 'asc' && direction !== 'desc') {
    throw new ValidationError([{ field: 'orderBy.createdAt', message: 'must be "asc" or "desc"' }]);
  }
  return {
    limit,
    direction,
    after: options.after === undefined ? undefined : decodeCursor(options.after, direction),
  };
}

/**
 * The keyset condition: `(created_at, id)` of the table aliased `alias` past the cursor's row in the
 * page's direction, `after` its values (or placeholders for them). A row-value comparison, so one
 * (created_at, id) index range serves it; every list orders by the same two columns.
 */
export function afterKeyset(
  alias: string,
  direction: SortDirection,
  after: { createdAt: unknown; id: unknown },
): RawBuilder<SqlBool> {
  const past = direction === 'asc' ? sql.raw('>') : sql.raw('<');
  return sql<SqlBool>`(${sql.ref(`${alias}.created_at`)}, ${sql.ref(`${alias}.id`)}) ${past} (${after.createdAt}, ${after.id})`;
}

/** Turns `limit + 1` fetched rows into a page: the extra row only says that there is a next page. */
export function toPage<T extends Keyset>(rows: T[], plan: PagePlan): Page<T> {
  const items = rows.slice(0, plan.limit);
  const last = items.at(-1);
  return {
    items,
    nextCursor: rows.length > plan.limit && last ? encodeCursor(plan.direction, last) : undefined,
  };
}
