/**
 * The SQLSTATE codes this layer maps to its own error classes, by PostgreSQL's condition names
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html). Named, so code reads
 * `SqlState.uniqueViolation` instead of a bare '23505'.
 */
export const SqlState = {
  // Class 08: the connection failed or was lost.
  connectionException: '08000',
  // Class 23: integrity constraints.
  integrityConstraintViolation: '23000',
  notNullViolation: '23502',
  foreignKeyViolation: '23503',
  uniqueViolation: '23505',
  checkViolation: '23514',
  // Class 25: the server ends a session that sat idle inside a transaction for too long.
  idleInTransactionSessionTimeout: '25P03',
  // Class 40: the transaction was rolled back; retrying it may succeed.
  transactionRollback: '40000',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  // Class 53: out of resources.
  tooManyConnections: '53300',
  // Class 57: operator intervention.
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  idleSessionTimeout: '57P05',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];

/** The class of a SQLSTATE: its first two characters ('23' for every integrity violation). */
export function sqlStateClass(code: string): string {
  return code.slice(0, 2);
}
