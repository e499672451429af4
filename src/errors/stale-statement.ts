/**
 * Tells a named prepared statement the server refused as stale from every other error. The pool
 * prepares such a statement again (pool/prepared-statements.ts), and the mapping turns the error into
 * a `StalePreparedStatementError`.
 */
import { SqlState } from './sql-state.js';

/** Why a statement went stale: its result type changed, or the session no longer has it. */
export type StaleReason = 'result-type-changed' | 'missing';

/**
 * Whether the server refused a named statement because it went stale: "cached plan must not change
 * result type" (0A000, after a migration changed a column's type or a `*`'s columns), or "prepared
 * statement does not exist" (26000, after DISCARD ALL or DEALLOCATE ALL on the connection). 0A000 is
 * every unsupported feature, so the server's routine (or, failing that, its message) must say which.
 */
export function staleStatement(error: unknown): StaleReason | undefined {
  if (!(error instanceof Error)) return undefined;
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  if (
    code === SqlState.featureNotSupported &&
    (routine === 'RevalidateCachedQuery' || /cached plan must not change/.test(error.message))
  )
    return 'result-type-changed';
  if (code === SqlState.invalidSqlStatementName) return 'missing';
  return undefined;
}
