/**
 * Transactions: an isolation level, timeouts set with SET LOCAL, nested calls as savepoints, opt-in retry
 * of serialization failures and deadlocks with jittered back-off, and a guard against using the outer
 * database inside the callback (with a small pool that deadlocks: the callback waits for a connection its
 * own transaction holds).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type IsolationLevel, type Kysely, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { DB } from '../../db-types/index.js';
import { INT4_MAX } from '../config/postgres-limits.js';
import {
  DeadlockError,
  SerializationError,
  StalePreparedStatementError,
  TransactionScopeError,
  ValidationError,
} from '../errors/classes.js';
import { toDatabaseError } from '../errors/to-database-error.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import type { Telemetry } from '../telemetry/telemetry.js';

export interface RetryOptions {
  /** Attempts in all, the first included; default 5. */
  attempts?: number;
  /** Upper bound of the first back-off; it doubles per attempt. Default 20 ms. */
  baseDelayMs?: number;
  /** Longest back-off. Default 1000 ms. */
  maxDelayMs?: number;
}

export interface TransactionOptions {
  isolationLevel?: IsolationLevel;
  /**
   * Runs the whole callback again when the transaction fails with a serialization failure (40001), a
   * deadlock (40P01) or a prepared statement gone stale after a migration (StalePreparedStatementError).
   * The callback must be safe to run again: its database work is rolled back, anything
   * else it did (HTTP calls, in-memory changes) is not. Only for the outermost transaction.
   */
  retry?: boolean | RetryOptions;
  /**
   * Longest run of each statement in the transaction, in ms (`SET LOCAL statement_timeout`; 0 = no limit).
   * A statement that runs longer fails with `StatementTimeoutError` (a QueryTimeoutError, 57014) and the
   * transaction rolls back. Only for the outermost transaction.
   */
  statementTimeoutMs?: number;
  /**
   * Longest time the transaction may sit idle between statements, in ms
   * (`SET LOCAL idle_in_transaction_session_timeout`; 0 = no limit). When the callback idles longer, the
   * server ends the session: the transaction fails with `IdleInTransactionTimeoutError` (a ConnectionError,
   * 25P03) and nothing of it is kept. Only for the outermost transaction.
   */
  idleInTransactionTimeoutMs?: number;
}

/** Throws a ValidationError naming `field` unless `value` is undefined or an integer 0-INT4_MAX. */
export function checkTimeout(value: unknown, field: string): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > INT4_MAX) {
    throw new ValidationError([{ field, message: `must be an integer from 0 to ${INT4_MAX} (ms)` }]);
  }
}

/**
 * `SET LOCAL` for each timeout given: it lasts until the transaction ends, and passes PgBouncer in
 * transaction mode (a session SET would leak to the next client, a start-up parameter is refused).
 * The values are checked integers, so they can be written into the statement.
 */
async function setLocalTimeouts(trx: Transaction<DB>, options: TransactionOptions): Promise<void> {
  const settings = [
    ['statement_timeout', options.statementTimeoutMs],
    ['idle_in_transaction_session_timeout', options.idleInTransactionTimeoutMs],
  ] as const;
  for (const [name, value] of settings) {
    if (value !== undefined) await sql.raw(`set local ${name} = ${value}`).execute(trx);
  }
}

interface TransactionContext {
  owner: symbol;
  active: boolean;
}

const transactionContext = new AsyncLocalStorage<TransactionContext>();

/** Throws when `owner`'s outer database is used inside one of its own transaction callbacks. */
export function assertOutsideTransaction(owner: symbol): void {
  const context = transactionContext.getStore();
  if (context?.owner === owner && context.active) {
    throw new TransactionScopeError(
      'the outer database was used inside its own transaction callback: use the `tx` the callback receives ' +
        '(work on the outer database would run outside the transaction, and can wait forever for a connection)',
    );
  }
}

/**
 * The callback's own errors pass through untouched, whatever they carry (a Node error's `code` too); only
 * a server error that escaped it from `tx.kysely` becomes the layer's. Errors of BEGIN, COMMIT, ROLLBACK
 * and the savepoint statements are the driver's, and always mapped (toDatabaseError).
 */
function callbackError(error: unknown): unknown {
  return error instanceof pg.DatabaseError ? toDatabaseError(error) : error;
}

const retryDefaults = { attempts: 5, baseDelayMs: 20, maxDelayMs: 1000 };

function retryPlan(retry: TransactionOptions['retry']): Required<RetryOptions> {
  if (!retry) return { ...retryDefaults, attempts: 1 };
  const plan = { ...retryDefaults, ...(retry === true ? {} : retry) };
  if (!Number.isInteger(plan.attempts) || plan.attempts < 1 || plan.attempts > 100) {
    throw new ValidationError([{ field: 'retry.attempts', message: 'must be an integer from 1 to 100' }]);
  }
  return plan;
}

/** "Full jitter": a random wait up to an exponentially growing bound, so retries do not collide again. */
function backOff(attempt: number, plan: Required<RetryOptions>): Promise<void> {
  const bound = Math.min(plan.maxDelayMs, plan.baseDelayMs * 2 ** (attempt - 1));
  return new Promise((resolve) => setTimeout(resolve, Math.random() * bound));
}

/**
 * Runs `fn` in a new top-level transaction on `kysely`. Each attempt is one `transaction` span, with its
 * number (`shared_db.transaction.attempt`): a retried transaction shows the failed attempts beside it.
 */
export async function runTransaction<T, S>(
  kysely: Kysely<DB>,
  telemetry: Telemetry,
  owner: symbol,
  scopeOf: (trx: Transaction<DB>) => S,
  fn: (scope: S) => Promise<T>,
  options: TransactionOptions,
): Promise<T> {
  const plan = retryPlan(options.retry);
  checkTimeout(options.statementTimeoutMs, 'statementTimeoutMs');
  checkTimeout(options.idleInTransactionTimeoutMs, 'idleInTransactionTimeoutMs');
  for (let attempt = 1; ; attempt += 1) {
    // What the callback threw, told apart from what BEGIN, COMMIT or ROLLBACK threw.
    let thrown: { error: unknown } | undefined;
    try {
      let builder = kysely.transaction();
      if (options.isolationLevel) builder = builder.setIsolationLevel(options.isolationLevel);
      const attributes = {
        'shared_db.transaction.attempt': attempt,
        ...(options.isolationLevel && { 'shared_db.transaction.isolation_level': options.isolationLevel }),
      };
      return await telemetry.call(
        'transaction',
        () =>
          builder.execute(async (trx) => {
            await setLocalTimeouts(trx, options);
            const context: TransactionContext = { owner, active: true };
            return (
              transactionContext
                // async: a callback that throws before returning its promise rejects like any other.
                .run(context, async () => fn(scopeOf(trx)))
                .catch((error: unknown) => {
                  thrown = { error };
                  throw error;
                })
                .finally(() => {
                  context.active = false;
                })
            );
          }),
        attributes,
      );
    } catch (error) {
      const mapped = thrown && thrown.error === error ? callbackError(error) : toDatabaseError(error);
      const retryable =
        mapped instanceof SerializationError ||
        mapped instanceof DeadlockError ||
        mapped instanceof StalePreparedStatementError;
      if (!retryable || attempt >= plan.attempts) throw mapped;
      await backOff(attempt, plan);
    }
  }
}

let savepointCounter = 0;

/**
 * Runs `fn` inside a savepoint of the transaction `trx`: its work is undone when it throws, and the
 * outer transaction carries on. Nested calls on one transaction take turns (`queue`), since a savepoint
 * covers everything the connection does meanwhile.
 */
export function nestedTransaction<T, S>(
  trx: Transaction<DB>,
  telemetry: Telemetry,
  queue: { tail: Promise<unknown> },
  scopeOf: (trx: Transaction<DB>) => S,
  fn: (scope: S) => Promise<T>,
  options: TransactionOptions,
): Promise<T> {
  if (
    options.isolationLevel ||
    options.retry ||
    options.statementTimeoutMs !== undefined ||
    options.idleInTransactionTimeoutMs !== undefined
  ) {
    // A rejection, not a throw: callers of a Promise-returning function expect to `.catch` it.
    return Promise.reject(
      new TransactionScopeError(
        'isolationLevel, retry, statementTimeoutMs and idleInTransactionTimeoutMs apply to the outermost transaction only',
      ),
    );
  }
  const run = () => telemetry.call('savepoint', savepoint);
  const savepoint = async () => {
    savepointCounter += 1;
    const name = sql.id(`shared_db_savepoint_${savepointCounter}`);
    await withDatabaseErrors(() => sql`savepoint ${name}`.execute(trx));
    let result: T;
    try {
      result = await fn(scopeOf(trx));
    } catch (error) {
      await withDatabaseErrors(() => sql`rollback to savepoint ${name}`.execute(trx));
      throw callbackError(error);
    }
    await withDatabaseErrors(() => sql`release savepoint ${name}`.execute(trx));
    return result;
  };
  const result = queue.tail.then(run, run);
  queue.tail = result.catch(() => {});
  return result;
}

/**
 * Runs `work` on the transaction `trx` with `statement_timeout` at `ms` for its duration only: inside a
 * savepoint (taking turns with nested transactions), so a failure rolls the setting back with the
 * savepoint and leaves the transaction usable; on success the previous value is set again.
 */
export function withStatementTimeout<T, S>(
  trx: Transaction<DB>,
  telemetry: Telemetry,
  queue: { tail: Promise<unknown> },
  scopeOf: (trx: Transaction<DB>) => S,
  ms: number,
  work: () => Promise<T>,
): Promise<T> {
  return nestedTransaction(
    trx,
    telemetry,
    queue,
    scopeOf,
    async () => {
      const { rows } = await sql<{
        previous: string;
      }>`select pg_catalog.current_setting('statement_timeout') as previous`.execute(trx);
      await sql.raw(`set local statement_timeout = ${ms}`).execute(trx);
      const result = await work();
      await sql`select pg_catalog.set_config('statement_timeout', ${rows[0]?.previous ?? '0'}, true)`.execute(
        trx,
      );
      return result;
    },
    {},
  );
}
