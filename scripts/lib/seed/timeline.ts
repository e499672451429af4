/**
 * The seeded history's clock: every timestamp is an offset from a fixed instant, never `now()`, so the
 * same seed gives the same timestamps on any day. Users sign up over the two years before it.
 */
const DAY_MS = 86_400_000;

/** The end of the seeded history: nothing is created, changed or deleted after it. */
export const HISTORY_END_MS = Date.UTC(2025, 0, 1);
export const HISTORY_START_MS = HISTORY_END_MS - 730 * DAY_MS;
/** The latest sign-up: a day before the end, so every user has time for posts. */
export const LAST_SIGN_UP_MS = HISTORY_END_MS - DAY_MS;

/** A whole millisecond in [from, to), at `fraction` (in [0, 1)) of the way. */
export function instantBetween(from: number, to: number, fraction: number): number {
  return from + Math.floor((to - from) * fraction);
}

/** Timestamps go to COPY as ISO 8601 in UTC, which timestamptz reads exactly. */
export const timestamp = (ms: number): string => new Date(ms).toISOString();
