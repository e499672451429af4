import { createId } from '@paralleldrive/cuid2';

/**
 * An email no other test uses. A `tag` goes first, so a test can find its own users again (for example
 * with `emailContains: tag`) and tell them from every other test's.
 */
export const uniqueEmail = (tag?: string): string =>
  tag === undefined ? `${createId()}@example.com` : `${tag}.${createId()}@example.com`;
