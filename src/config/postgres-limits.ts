/** Fixed limits of PostgreSQL that inputs and settings are checked against before they reach it. */

/**
 * The `integer` (int4) range. The server's timeouts (statement_timeout, lock_timeout, …) are int4
 * milliseconds, and Node's timers overflow past the same bound (the callback then runs at once), so
 * every millisecond setting and option stops at INT4_MAX; a value sent as an `::int` parameter must
 * fit the whole range.
 */
export const INT4_MIN = -2_147_483_648;
export const INT4_MAX = 2_147_483_647;

/** The identifier limit (NAMEDATALEN - 1): the server truncates a longer name, which then names something else. */
export const MAX_IDENTIFIER_BYTES = 63;
