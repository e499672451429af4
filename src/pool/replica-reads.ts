/**
 * Which statements a replica may answer: a query builder SELECT that neither locks rows (FOR UPDATE,
 * FOR SHARE and their kin) nor modifies data in a WITH clause, and raw SQL its caller marked as a read
 * (`executeRaw`'s `replica: true`). Everything else goes to the primary. A SELECT that calls a function
 * which writes cannot be told from here; the standby refuses it (25006) and the router runs it on the
 * primary (replica-router.ts).
 */
import type { CompiledQuery, OperationNode, SelectQueryNode } from 'kysely';

const LOCKING = new Set(['ForUpdate', 'ForNoKeyUpdate', 'ForShare', 'ForKeyShare']);

/** Raw statements a caller sent to a replica explicitly. */
const rawReads = new WeakSet<CompiledQuery>();

/** Marks a raw statement as one a replica may answer. */
export function markReplicaRead(compiled: CompiledQuery): CompiledQuery {
  rawReads.add(compiled);
  return compiled;
}

/** Verdicts per query node: the repositories' templates reuse one node for every call. */
const verdicts = new WeakMap<OperationNode, boolean>();

export function isReplicaRead(compiled: CompiledQuery): boolean {
  const node = compiled.query;
  if (node.kind === 'RawNode') return rawReads.has(compiled);
  if (node.kind !== 'SelectQueryNode') return false;
  let verdict = verdicts.get(node);
  if (verdict === undefined) {
    verdict = isPlainSelect(node as SelectQueryNode);
    verdicts.set(node, verdict);
  }
  return verdict;
}

function isPlainSelect(node: SelectQueryNode): boolean {
  const locks = (node.endModifiers ?? []).some(
    (modifier) => modifier.rawModifier !== undefined || LOCKING.has(modifier.modifier ?? ''),
  );
  if (locks) return false;
  // PostgreSQL allows a data-modifying WITH only at the top level: these are the only ones to check.
  return (node.with?.expressions ?? []).every((cte) => cte.expression.kind === 'SelectQueryNode');
}
