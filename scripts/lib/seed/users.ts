/**
 * One seeded user: a pure function of (seed, index), rebuilt by every pass that needs it (the users'
 * rows, then their roles and posts), so no pass holds all users in memory.
 */
import { seededId } from './ids.js';
import { EMAIL_DOMAINS, FIRST_NAMES, LAST_NAMES } from './names.js';
import { Random } from './random.js';
import { HISTORY_END_MS, HISTORY_START_MS, instantBetween, LAST_SIGN_UP_MS } from './timeline.js';

export const USER_SHAPE = {
  /** Soft-deleted users; their posts carry the user's deleted_at, as users.softDelete leaves them. */
  deleted: 0.01,
  withoutName: 0.03,
  withProfileImage: 0.3,
  /** Changed (updated_at moved) after signing up. */
  edited: 0.25,
} as const;

/** How the local part of an email is made from the name. */
const EMAIL_STYLES = [
  (first: string, last: string) => `${first}.${last}`,
  (first: string, last: string) => `${first}${last}`,
  (first: string, last: string) => `${first.charAt(0)}${last}`,
  (first: string, last: string) => `${first}_${last}`,
];

export interface SeededUser {
  index: number;
  id: string;
  firstName: string;
  lastName: string;
  name: string | null;
  /** The email before it is made unique (see EmailBook). */
  emailBase: string;
  profileImage: string | null;
  createdAt: number;
  updatedAt: number;
  deletedAt: number | null;
  /** The end of the user's activity: its deletion, or the end of the history. */
  activeUntil: number;
}

export function seededUser(seed: number, index: number): SeededUser {
  const random = Random.of(seed, index, 'user');
  const id = seededId(random);
  const firstName = random.pick(FIRST_NAMES);
  const lastName = random.pick(LAST_NAMES);
  const withName = !random.chance(USER_SHAPE.withoutName);
  const local = random.pick(EMAIL_STYLES)(firstName.toLowerCase(), lastName.toLowerCase());
  const domain = random.pick(EMAIL_DOMAINS);
  // The square root makes sign-ups grow over time: more recent users than old ones.
  const createdAt = instantBetween(HISTORY_START_MS, LAST_SIGN_UP_MS, Math.sqrt(random.float()));
  const deleted = random.chance(USER_SHAPE.deleted);
  // Deleted in the second half of the time it had, so it had time to post first.
  const deletedAt = deleted ? instantBetween(createdAt, HISTORY_END_MS, 0.5 + random.float() / 2) : null;
  const activeUntil = deletedAt ?? HISTORY_END_MS;
  const editedAt = random.chance(USER_SHAPE.edited)
    ? instantBetween(createdAt, activeUntil, random.float())
    : null;
  const profileImage = random.chance(USER_SHAPE.withProfileImage)
    ? `https://images.example.com/avatars/${id}.jpg`
    : null;
  return {
    index,
    id,
    firstName,
    lastName,
    name: withName ? `${firstName} ${lastName}` : null,
    emailBase: `${local}@${domain}`,
    profileImage,
    createdAt,
    // A soft delete is the user's last change: its UPDATE moves updated_at too.
    updatedAt: deletedAt ?? editedAt ?? createdAt,
    deletedAt,
    activeUntil,
  };
}

/**
 * Makes emails unique the way people do: the first "emma.smith@example.com" keeps it, the next gets
 * "emma.smith2@example.com". Local parts are made of letters only, so a numbered one never equals an
 * unnumbered one. Memory grows with the distinct names, not with the users.
 */
export class EmailBook {
  private readonly taken = new Map<string, number>();

  emailOf(user: SeededUser): string {
    const count = (this.taken.get(user.emailBase) ?? 0) + 1;
    this.taken.set(user.emailBase, count);
    if (count === 1) return user.emailBase;
    const at = user.emailBase.indexOf('@');
    return `${user.emailBase.slice(0, at)}${count}${user.emailBase.slice(at)}`;
  }
}
