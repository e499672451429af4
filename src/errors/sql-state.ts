/**
 * The SQLSTATE codes this layer reads, by PostgreSQL's condition names
 * (https://www.postgresql.org/docs/current/errcodes-appendix.html): those it maps to its own error
 * classes, and those its tools and connections branch on. Named, so code reads
 * `SqlState.uniqueViolation` instead of a bare '23505'.
 */
export const SqlState = {
  // Class 08: the connection failed or was lost.
  connectionException: '08000',
  // Class 0A: a named prepared statement whose result type a migration changed ("cached plan must not
  // change result type").
  featureNotSupported: '0A000',
  // Class 23: integrity constraints.
  integrityConstraintViolation: '23000',
  notNullViolation: '23502',
  foreignKeyViolation: '23503',
  uniqueViolation: '23505',
  checkViolation: '23514',
  // Class 25: the server ends a session that sat idle inside a transaction for too long.
  idleInTransactionSessionTimeout: '25P03',
  // A write (nextval, a function that writes, SELECT … FOR UPDATE) sent to a read-only standby.
  readOnlySqlTransaction: '25006',
  // Class 26: a named prepared statement the session no longer has.
  invalidSqlStatementName: '26000',
  // Class 28: pg_hba.conf refused the connection; a wrong password (or a missing role).
  invalidAuthorizationSpecification: '28000',
  invalidPassword: '28P01',
  // Class 3D: no such database.
  invalidCatalogName: '3D000',
  // Class 2B: an object others depend on (DROP … RESTRICT).
  dependentObjectsStillExist: '2BP01',
  // Class 40: the transaction was rolled back; retrying it may succeed.
  transactionRollback: '40000',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
  // Class 42: the schema is behind (a missing table or column), or the role lacks a privilege.
  insufficientPrivilege: '42501',
  undefinedColumn: '42703',
  undefinedTable: '42P01',
  // Class 53: out of resources.
  tooManyConnections: '53300',
  // Class 55: a lock not granted within lock_timeout.
  lockNotAvailable: '55P03',
  // Class 57: operator intervention.
  queryCanceled: '57014',
  adminShutdown: '57P01',
  crashShutdown: '57P02',
  cannotConnectNow: '57P03',
  idleSessionTimeout: '57P05',
  // Class 58: a file the server needs is missing (an extension's library not installed).
  undefinedFile: '58P01',
} as const;

export type SqlStateCode = (typeof SqlState)[keyof typeof SqlState];

/** The class of a SQLSTATE: its first two characters ('23' for every integrity violation). */
export function sqlStateClass(code: string): string {
  return code.slice(0, 2);
}
