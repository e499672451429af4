/**
 * Deterministic, realistic seed data for the three tables, fast enough for millions of posts.
 *
 *   seedDatabase(target, options): Promise<SeedSummary>
 *
 * target: a connected `pg.ClientBase` (used as is, left open; must not be inside a transaction), a
 *   `ConnectionSettings` (`loadConfig().direct`), or a postgres:// URL (`?schema=` honoured).
 * options: { users, postsPerUser, seed = 1, reset = false, schema, vacuum = true, onProgress, onPhase }
 *   (options.ts). `schema` defaults to the connection's, or `public` for a client.
 *
 * - Deterministic: the same seed and counts give byte-identical rows (ids, text, timestamps on a fixed
 *   clock ending 2025-01-01), and user N's rows do not depend on how many users there are.
 * - Atomic: one transaction; a failure anywhere before COMMIT leaves the tables as they were.
 * - Refuses (SeedRefusedError) a schema that is not fully migrated, or whose tables have rows unless
 *   `reset` (which TRUNCATEs them in the same transaction); bad options are a ValidationError. Either
 *   way nothing is written.
 * - The tables are locked (ACCESS EXCLUSIVE) while loading and written with COPY … FREEZE, then
 *   VACUUM ANALYZEd, so statistics and GIN indexes are ready for queries.
 *
 * For searches and benchmarks: searchWords() lists the searchable words with the share of posts each
 * matches, and wordWithFrequency(0.025) is the word in about 2.5 % of the posts.
 */
export { type SeedRefusal, SeedRefusedError } from './errors.js';
export {
  SEED_LIMITS,
  type SeedOptions,
  type SeedPhase,
  type SeedProgress,
  validateSeedOptions,
} from './options.js';
export { CATEGORIES, TAGS } from './post-metadata.js';
export { ROLE_SHAPE } from './roles.js';
export { type SearchWord, searchWords, wordWithFrequency } from './search-words.js';
export { type SeedTarget, seedDatabase } from './seed-database.js';
export { formatSummary, type SeedSummary, type TableSummary } from './summary.js';
export { HISTORY_END_MS, HISTORY_START_MS } from './timeline.js';
