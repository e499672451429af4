/** Why `migrate()` stopped without running (or finishing) a migration: a lock it did not get in time. */
import { DatabaseError } from './database-error.js';
import { SqlState } from './sql-state.js';

/** A session holding a lock the migration waited for: its pid, lock mode and transaction's age. */
export interface LockHolder {
  /** The locked table, qualified and quoted as SQL: `public.pg_users`. */
  table: string;
  pid: number;
  mode: string;
  /** Seconds since the holder's transaction began; undefined when the server does not say. */
  transactionSeconds: number | undefined;
}

/**
 * A migration (or the runner's own bookkeeping) waited longer than `lock_timeout` for a lock
 * (SQLSTATE 55P03). The migration is not recorded as applied; one in a transaction was rolled back
 * whole. Run it again when the holders' transactions have ended.
 */
export class MigrationLockTimeoutError extends DatabaseError {
  /** The migration that waited, when known: `1795773600003_add-users-profile-image`. */
  readonly migration: string | undefined;
  readonly holders: readonly LockHolder[];
  readonly lockTimeoutMs: number;

  constructor(
    message: string,
    details: { migration: string | undefined; holders: LockHolder[]; lockTimeoutMs: number; cause: unknown },
  ) {
    super(message, { cause: details.cause, code: SqlState.lockNotAvailable });
    this.migration = details.migration;
    this.holders = details.holders;
    this.lockTimeoutMs = details.lockTimeoutMs;
  }
}

/** Another migration run held the database's migration lock for longer than `advisoryLockWaitMs`. */
export class MigrationInProgressError extends DatabaseError {
  /** The pid of the session holding the lock, when it could be read. */
  readonly holderPid: number | undefined;

  constructor(message: string, details: { holderPid: number | undefined }) {
    super(message);
    this.holderPid = details.holderPid;
  }
}
