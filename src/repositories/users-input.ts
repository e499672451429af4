/** What the users repository accepts: new users (with their posts and roles), patches, and the options of its reads. */
import { z } from 'zod';
import { storableString, storableText } from '../query/input-rules.js';
import { streamOptionsShape } from '../query/stream.js';
import {
  createdAtOrder,
  date,
  idSchema,
  notBlank,
  pageOptions,
  readOptions,
  somethingToChange,
} from './input-fields.js';
import { newPostSchema } from './posts-input.js';
import { newRoleSchema } from './roles-input.js';

// Storable too: which addresses zod takes is zod's choice, what PostgreSQL stores exactly is not.
const email = storableString(z.email('must be an email address').max(320, 'must be at most 320 characters'));
/** An email to look up: any stored email must be findable, so the bound is the email's, not an id's. */
export const emailLookupSchema = storableText(320).min(1, 'must not be empty');
const userName = notBlank(200).nullable();
const profileImage = storableText(500).nullable();

export const uniqueRoleNames = (roles: { name: string }[], context: z.RefinementCtx) => {
  const seen = new Set<string>();
  roles.forEach((role, index) => {
    if (seen.has(role.name)) {
      context.addIssue({ code: 'custom', path: [index, 'name'], message: `"${role.name}" appears twice` });
    }
    seen.add(role.name);
  });
};

export const createUserSchema = z.strictObject({
  id: idSchema.optional(),
  email,
  name: userName.optional(),
  profileImage: profileImage.optional(),
  posts: z.array(newPostSchema).max(1000, 'at most 1000 posts at once').optional(),
  roles: z.array(newRoleSchema).max(100, 'at most 100 roles at once').superRefine(uniqueRoleNames).optional(),
});

export const updateUserSchema = z
  .strictObject({ email: email.optional(), name: userName.optional(), profileImage: profileImage.optional() })
  .refine(somethingToChange, 'nothing to update');

export const postsIncludeSchema = z.union([
  z.boolean(),
  z.strictObject({
    published: z.boolean().optional(),
    orderBy: createdAtOrder.optional(),
    limit: z.number().int('must be an integer').min(1).max(1000).optional(),
    withDeleted: z.boolean().optional(),
  }),
]);

export const userIncludeSchema = z.strictObject({
  posts: postsIncludeSchema.optional(),
  roles: z.boolean().optional(),
});

export const userWhereSchema = z.strictObject({
  emailContains: storableText(320).optional(),
  nameContains: storableText(200).optional(),
  createdAfter: date.optional(),
  createdBefore: date.optional(),
  hasRole: storableText(100).optional(),
});

export const findUserOptionsSchema = readOptions({ include: userIncludeSchema.optional() });

export const findUsersOptionsSchema = readOptions({
  where: userWhereSchema.optional(),
  include: userIncludeSchema.optional(),
  ...pageOptions,
});

export const streamUsersOptionsSchema = readOptions({
  where: userWhereSchema.optional(),
  include: userIncludeSchema.optional(),
  orderBy: createdAtOrder.optional(),
  ...streamOptionsShape,
});

export const countUsersOptionsSchema = readOptions({ where: userWhereSchema.optional() });

export type CreateUserInput = z.input<typeof createUserSchema>;
export type UpdateUserInput = z.input<typeof updateUserSchema>;
export type PostsInclude = z.input<typeof postsIncludeSchema>;
export type UserInclude = z.input<typeof userIncludeSchema>;
export type UserWhere = z.input<typeof userWhereSchema>;
