/**
 * The statements a piece of work sends to the server, taken from the query events of the database it
 * runs on: one event per statement, failed ones included, whatever the log level. Tests count them
 * (the one-statement promises) or read their SQL and parameters.
 */
import type { Database, QueryEvent } from '../../src/database/database.js';

type Observed = Pick<Database, 'on' | 'off'>;

/** What `work` resolved to, and the statements it sent through `db`, in order. `work` must resolve. */
export async function withStatementsSent<T>(
  db: Observed,
  work: () => Promise<T>,
): Promise<{ result: T; statements: QueryEvent[] }> {
  const statements: QueryEvent[] = [];
  const listener = (event: QueryEvent) => statements.push(event);
  db.on('query', listener);
  try {
    const result = await work();
    return { result, statements };
  } finally {
    db.off('query', listener);
  }
}

export interface StatementsSentOptions {
  /**
   * Whether a rejection of `work` is part of what it does (a NotFoundError path sends its statement
   * too): its statements are returned all the same. Any other rejection fails the test. By default
   * `work` must resolve.
   */
  expectedRejection?: (error: unknown) => boolean;
}

/** The statements `work` sent through `db`, in order. */
export async function statementsSent(
  db: Observed,
  work: () => Promise<unknown>,
  options: StatementsSentOptions = {},
): Promise<QueryEvent[]> {
  const tolerated = () =>
    work().catch((error: unknown) => {
      if (!options.expectedRejection?.(error)) throw error;
    });
  return (await withStatementsSent(db, tolerated)).statements;
}
