/**
 * Row ids shaped like the application's (@paralleldrive/cuid2's default): 24 characters, lower-case
 * letters and digits, starting with a letter. Drawn from the row's seeded generator instead of cuid2's
 * entropy, so the same seed gives the same ids. Like cuid2, uniqueness rests on 119 random bits; the
 * primary keys would reject a collision, failing (and rolling back) the seed rather than hiding it.
 */
import type { Random } from './random.js';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';
const LENGTH = 24;

export function seededId(random: Random): string {
  let id = LETTERS.charAt(random.below(LETTERS.length));
  for (let i = 1; i < LENGTH; i += 1) id += ALPHANUMERIC.charAt(random.below(ALPHANUMERIC.length));
  return id;
}
