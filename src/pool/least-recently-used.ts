/**
 * The least recently used entry (key and value) of a cache whose entries carry the tick of their last
 * use. A use only updates its tick: moving a key to a Map's end (delete, then set) makes the Map rehash
 * every few uses, which cost more than the rest of a cache hit. The oldest is looked for only when a new
 * entry arrives at the limit, one pass over at most `limit` entries.
 */
export function leastRecentlyUsed<K, V extends { used: number }>(
  entries: ReadonlyMap<K, V>,
): [K, V] | undefined {
  let oldest: [K, V] | undefined;
  for (const entry of entries) {
    if (oldest === undefined || entry[1].used < oldest[1].used) oldest = entry;
  }
  return oldest;
}
