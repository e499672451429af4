/**
 * Roles: one row per (user, role name). `assign` is idempotent: assigning a role the user already has
 * returns that role unchanged, so callers need not check first and concurrent assigns do not conflict.
 */
import { createId } from '@paralleldrive/cuid2';
import type { Kysely } from 'kysely';
import type { DB } from '../../db-types/index.js';
import { NotFoundError } from '../errors/classes.js';
import { withDatabaseErrors } from '../errors/with-database-errors.js';
import { validate } from '../query/input-rules.js';
import type { PageOptions } from '../query/pagination.js';
import { idSchema } from './input-fields.js';
import type { NoInclude, Page, Role } from './models.js';
import { type NewRoleInput, newRoleSchema } from './roles-input.js';
import { roleColumns } from './select-lists.js';
import type { FindUsersOptions, UsersRepository, UserWith } from './users.js';

export interface RolesRepository {
  /** Gives the live user this role; returns the existing one when the user has it already. */
  assign(userId: string, role: NewRoleInput): Promise<Role>;
  /** Takes the role away; false when the user did not have it. */
  revoke(userId: string, name: string): Promise<boolean>;
  /** The user's roles, by name. */
  listForUser(userId: string): Promise<Role[]>;
  /** A page of the live users that have the role (as users.findMany with where.hasRole). */
  findUsersWithRole<const I extends { posts?: boolean; roles?: boolean } = NoInclude>(
    name: string,
    options?: Omit<FindUsersOptions<I>, 'where'> & PageOptions,
  ): Promise<Page<UserWith<I>>>;
}

export function rolesRepository(kysely: Kysely<DB>, users: UsersRepository): RolesRepository {
  const roleName = (name: string) => validate(newRoleSchema.shape.name, name, 'name');
  /** The user, when it exists and is not soft-deleted: roles are given to live users only. */
  const liveUser = (userId: string) =>
    kysely.selectFrom('pg_users').select('id').where('id', '=', userId).where('deleted_at', 'is', null);

  return {
    async assign(userId, role) {
      validate(idSchema, userId, 'userId');
      const data = validate(newRoleSchema, role);
      return withDatabaseErrors(async () => {
        // Insert when the user is live and lacks the role; otherwise return the role the user has. The
        // SELECT half sees the table as it was when the statement began, which is what "already has" means.
        const inserted = await kysely
          .with('new_role', (db) =>
            db
              .insertInto('pg_roles')
              .columns(['id', 'name', 'description', 'userId'])
              .expression((eb) =>
                kysely
                  .selectNoFrom([
                    eb.val(createId()).as('id'),
                    eb.val(data.name).as('name'),
                    eb.cast<string | null>(eb.val(data.description ?? null), 'text').as('description'),
                    eb.val(userId).as('userId'),
                  ])
                  .where((inner) => inner.exists(liveUser(userId))),
              )
              .onConflict((conflict) => conflict.columns(['userId', 'name']).doNothing())
              .returningAll(),
          )
          .selectFrom('new_role as r')
          .select(roleColumns)
          .unionAll((eb) =>
            eb
              .selectFrom('pg_roles as r')
              .select(roleColumns)
              .where('r.userId', '=', userId)
              .where('r.name', '=', data.name)
              .where((inner) => inner.exists(liveUser(userId))),
          )
          .executeTakeFirst();
        if (inserted) return inserted;
        // Either the user is not live, or a concurrent assign inserted the role after this statement began.
        const existing = await kysely
          .selectFrom('pg_roles as r')
          .select(roleColumns)
          .where('r.userId', '=', userId)
          .where('r.name', '=', data.name)
          .where((eb) => eb.exists(liveUser(userId)))
          .executeTakeFirst();
        if (!existing) throw new NotFoundError('User', `id "${userId}" (not a live user)`);
        return existing;
      });
    },

    async revoke(userId, name) {
      validate(idSchema, userId, 'userId');
      roleName(name);
      return withDatabaseErrors(async () => {
        const result = await kysely
          .deleteFrom('pg_roles')
          .where('userId', '=', userId)
          .where('name', '=', name)
          .executeTakeFirst();
        return result.numDeletedRows > 0n;
      });
    },

    async listForUser(userId) {
      validate(idSchema, userId, 'userId');
      return withDatabaseErrors(() =>
        kysely
          .selectFrom('pg_roles as r')
          .select(roleColumns)
          .where('r.userId', '=', userId)
          .orderBy('r.name')
          .execute(),
      );
    },

    // async, so bad input rejects the promise like every other method instead of throwing synchronously.
    async findUsersWithRole(name, options = {}) {
      return users.findMany({ ...options, where: { hasRole: roleName(name) } });
    },
  };
}
