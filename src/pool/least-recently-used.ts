/**
 * The least recently used entry of a cache whose entries carry the tick of their last use. A use only
 * updates its tick: moving a key to a Map's end (delete, then set) makes the Map rehash every few uses,
 * which cost more than the rest of a cache hit. The oldest is looked for only when a new entry arrives
 * at the limit, one pass over at most `limit` entries.
 */
export function leastRecentlyUsed<K>(entries: ReadonlyMap<K, { used: number }>): K | undefined {
  let oldest: K | undefined;
  let oldestUse = Number.POSITIVE_INFINITY;
  for (const [key, { used }] of entries) {
    if (used < oldestUse) {
      oldest = key;
      oldestUse = used;
    }
  }
  return oldest;
}
