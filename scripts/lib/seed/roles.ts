/**
 * A seeded user's roles: everyone is a 'user'; some are also editors, moderators or admins. Role names
 * are free text to the application (validation only bounds their length); these are the ones its
 * tests and examples use.
 */
import { seededId } from './ids.js';
import { Random } from './random.js';
import { instantBetween } from './timeline.js';
import type { SeededUser } from './users.js';

export const ROLE_SHAPE = [
  { name: 'user', description: 'Reads and writes their own posts', share: 1 },
  { name: 'editor', description: 'Edits and publishes anyone’s posts', share: 0.1 },
  { name: 'moderator', description: 'Reviews reported posts and users', share: 0.03 },
  { name: 'admin', description: 'Manages users, roles and settings', share: 0.05 },
] as const;

export interface SeededRole {
  id: string;
  name: string;
  description: string;
  userId: string;
  createdAt: number;
}

export function seededRoles(seed: number, user: SeededUser): SeededRole[] {
  const random = Random.of(seed, user.index, 'roles');
  const roles: SeededRole[] = [];
  for (const role of ROLE_SHAPE) {
    // Drawn for every role, so one role's share never shifts the draws of the next.
    const has = random.chance(role.share);
    const id = seededId(random);
    const grantedAfter = random.float();
    if (!has) continue;
    roles.push({
      id,
      name: role.name,
      description: role.description,
      userId: user.id,
      // 'user' comes with the account; the others are granted while the user is active.
      createdAt:
        role.share === 1 ? user.createdAt : instantBetween(user.createdAt, user.activeUntil, grantedAfter),
    });
  }
  return roles;
}
