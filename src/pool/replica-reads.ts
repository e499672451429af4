/**
 * Which statements a replica may answer: a query builder SELECT that neither locks rows (FOR UPDATE,
 * FOR SHARE and their kin) nor modifies data in a WITH clause, and raw SQL its caller marked as a read
 * (`executeRaw`'s `replica: true`). Everything else goes to the primary. A SELECT that calls a function
 * which writes cannot be told from here; the standby refuses it (25006) and the router runs it on the
 * primary (replica-router.ts).
 */
import type { CompiledQuery, SelectQueryNode } from 'kysely';

const LOCKING = new Set(['ForUpdate', 'ForNoKeyUpdate', 'ForShare', 'ForKeyShare']);

/** Raw statements a caller sent to a replica explicitly. */
const rawReads = new WeakSet<CompiledQuery>();

/** Marks a raw statement as one a replica may answer. */
export function markReplicaRead(compiled: CompiledQuery): CompiledQuery {
  rawReads.add(compiled);
  return compiled;
}

/**
 * Decided afresh for every statement: a few property reads, cheaper than remembering the verdict per
 * query node (`db.kysely` builds a new node for every query).
 */
export function isReplicaRead(compiled: CompiledQuery): boolean {
  const node = compiled.query;
  if (node.kind === 'SelectQueryNode') return isPlainSelect(node as SelectQueryNode);
  return node.kind === 'RawNode' && rawReads.has(compiled);
}

function isPlainSelect(node: SelectQueryNode): boolean {
  if (node.endModifiers !== undefined) {
    for (const modifier of node.endModifiers) {
      if (modifier.rawModifier !== undefined || LOCKING.has(modifier.modifier ?? '')) return false;
    }
  }
  // PostgreSQL allows a data-modifying WITH only at the top level: these are the only ones to check.
  if (node.with !== undefined) {
    for (const cte of node.with.expressions) if (cte.expression.kind !== 'SelectQueryNode') return false;
  }
  return true;
}
