/**
 * A statement that changed the transaction state the layer keeps: one run outside `db.transaction` that
 * left its connection inside a transaction, or one inside `db.transaction` that ended it. Both are
 * caught from the transaction status the server reports after every statement (ReadyForQuery).
 */
import type { DatabaseErrorOptions } from './database-error.js';
import { TransactionScopeError } from './layer-errors.js';

/**
 * A statement run outside `db.transaction` left its connection inside a transaction: a raw BEGIN, or a
 * statement that failed after one. The layer rolled it back and closed the connection, so nothing of
 * that transaction was kept and no later call gets the connection. `state` is what the server
 * reported: `open` (a transaction in progress) or `failed` (aborted; every later statement would fail
 * with 25P02). When a statement of the call failed first, its error is the `cause`.
 */
export class TransactionLeftOpenError extends TransactionScopeError {
  readonly state: 'open' | 'failed';

  constructor(state: 'open' | 'failed', options: DatabaseErrorOptions = {}) {
    const failed =
      options.cause instanceof Error ? ` (a statement failed first: ${options.cause.message})` : '';
    super(
      `the statement left its connection in ${state === 'open' ? 'an open' : 'a failed'} transaction${failed}; ` +
        'it was rolled back and the connection closed, so nothing of that transaction was kept. ' +
        'Run statements that belong together with db.transaction(async (tx) => …), or send BEGIN and ' +
        'COMMIT in one executeRaw text',
      options,
    );
    this.state = state;
  }
}

/**
 * A statement inside `db.transaction` ended its transaction (a COMMIT or ROLLBACK in raw SQL). What
 * ran before it was committed or rolled back as that statement said; every later statement of the
 * callback is refused, since it would run outside any transaction, and `db.transaction` rejects.
 */
export class TransactionEndedError extends TransactionScopeError {
  constructor(options: DatabaseErrorOptions = {}) {
    super(
      'a statement ended the transaction db.transaction opened (a COMMIT or ROLLBACK in raw SQL), and ' +
        'the rest of the callback cannot run in it: return from the callback to commit, throw to roll back',
      options,
    );
  }
}
