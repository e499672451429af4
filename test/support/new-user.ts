import type { Database } from '../../src/database/database.js';
import type { User } from '../../src/repositories/models.js';
import { uniqueEmail } from './unique-email.js';

/** A live user with a unique email, as a plain User (the create call's empty posts and roles left out). */
export async function newUser(db: Pick<Database, 'users'>, name: string | null = null): Promise<User> {
  const { posts: _posts, roles: _roles, ...user } = await db.users.create({ email: uniqueEmail(), name });
  return user;
}
