/**
 * Input validation for every write, with zod: bad input becomes a `ValidationError` naming the field,
 * before anything reaches the database. Objects are strict, so a misspelt field is an error rather than
 * silently ignored. Lengths follow the columns (profile_image is varchar(500)) or sane bounds.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../errors/classes.js';
import type { PostMetadata } from './post-metadata.js';

/** PostgreSQL text and jsonb cannot hold the NUL character: refuse it here, naming the field. */
const withoutNul = (value: string) => !value.includes('\u0000');
const NUL_MESSAGE = 'must not contain the NUL character (\\u0000)';

/** Text up to `max` characters that PostgreSQL can store. */
const text = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).refine(withoutNul, NUL_MESSAGE);

const notBlank = (max: number) => text(max).refine((value) => value.trim().length > 0, 'must not be blank');

export const idSchema = text(128).min(1, 'must not be empty');
const email = z.email('must be an email address').max(320, 'must be at most 320 characters');
/** An email to look up: any stored email must be findable, so the bound is the email's, not an id's. */
export const emailLookupSchema = text(320).min(1, 'must not be empty');
const userName = notBlank(200).nullable();
const profileImage = text(500).nullable();
const content = text(1_000_000).nullable();
/** True when no string in the JSON value, key or value, holds NUL (jsonb refuses `\u0000`). */
const jsonWithoutNul = (value: unknown): boolean => {
  if (typeof value === 'string') return withoutNul(value);
  if (Array.isArray(value)) return value.every(jsonWithoutNul);
  if (value && typeof value === 'object') {
    return Object.entries(value).every(([key, item]) => withoutNul(key) && jsonWithoutNul(item));
  }
  return true;
};
const metadata = z
  .record(z.string(), z.json())
  .refine(jsonWithoutNul, NUL_MESSAGE) as z.ZodType<PostMetadata>;

export const newPostSchema = z.strictObject({
  title: notBlank(300),
  content: content.optional(),
  published: z.boolean().optional(),
  metadata: metadata.optional(),
});

export const newRoleSchema = z.strictObject({
  name: notBlank(100),
  description: text(500).nullable().optional(),
});

const uniqueRoleNames = (roles: { name: string }[], context: z.RefinementCtx) => {
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

// A key given as undefined changes nothing: it counts as absent, like a missing key.
const somethingToChange = (patch: object) => Object.values(patch).some((value) => value !== undefined);

export const updateUserSchema = z
  .strictObject({ email: email.optional(), name: userName.optional(), profileImage: profileImage.optional() })
  .refine(somethingToChange, 'nothing to update');

export const createPostSchema = newPostSchema.extend({ id: idSchema.optional(), authorId: idSchema });

export const updatePostSchema = z
  .strictObject({
    title: notBlank(300).optional(),
    content: content.optional(),
    published: z.boolean().optional(),
    metadata: metadata.optional(),
  })
  .refine(somethingToChange, 'nothing to update');

export type NewPostInput = z.input<typeof newPostSchema>;
export type NewRoleInput = z.input<typeof newRoleSchema>;
export type CreateUserInput = z.input<typeof createUserSchema>;
export type UpdateUserInput = z.input<typeof updateUserSchema>;
export type CreatePostInput = z.input<typeof createPostSchema>;
export type UpdatePostInput = z.input<typeof updatePostSchema>;

function issuesOf(error: z.ZodError, root: string): ValidationIssue[] {
  return error.issues.flatMap((issue) => {
    const path = [root, ...issue.path.map(String)].filter(Boolean);
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ field: [...path, key].join('.'), message: 'is not a known field' }));
    }
    return [{ field: path.join('.') || 'input', message: issue.message }];
  });
}

/**
 * Parses `input` with `schema`; throws a `ValidationError` naming each bad field. `root` prefixes the
 * field names when the input is one argument among others (e.g. `id`).
 */
export function validate<S extends z.ZodType>(schema: S, input: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(issuesOf(result.error, root));
  return result.data;
}

const date = z
  .date('must be a Date')
  .refine((value) => !Number.isNaN(value.getTime()), 'must be a valid Date');
const softDeleteFilter = {
  withDeleted: z.boolean().optional(),
  onlyDeleted: z.boolean().optional(),
};
const bothDeletedFlags = (filter: { withDeleted?: boolean; onlyDeleted?: boolean }) =>
  !(filter.withDeleted && filter.onlyDeleted);
const pageOptions = {
  first: z.number().optional(),
  after: z.string().optional(),
  orderBy: z.strictObject({ createdAt: z.enum(['asc', 'desc']) }).optional(),
};

export const postsIncludeSchema = z.union([
  z.boolean(),
  z.strictObject({
    published: z.boolean().optional(),
    orderBy: z.strictObject({ createdAt: z.enum(['asc', 'desc']) }).optional(),
    limit: z.number().int('must be an integer').min(1).max(1000).optional(),
    withDeleted: z.boolean().optional(),
  }),
]);

export const userIncludeSchema = z.strictObject({
  posts: postsIncludeSchema.optional(),
  roles: z.boolean().optional(),
});
export const postIncludeSchema = z.strictObject({ author: z.boolean().optional() });

export const userWhereSchema = z.strictObject({
  emailContains: text(320).optional(),
  nameContains: text(200).optional(),
  createdAfter: date.optional(),
  createdBefore: date.optional(),
  hasRole: text(100).optional(),
});

export const postWhereSchema = z.strictObject({
  authorId: idSchema.optional(),
  published: z.boolean().optional(),
  createdAfter: date.optional(),
  createdBefore: date.optional(),
});

const deletedFlagsMessage = {
  message: 'withDeleted and onlyDeleted exclude each other',
  path: ['onlyDeleted'],
};

export const findUserOptionsSchema = z
  .strictObject({ include: userIncludeSchema.optional(), ...softDeleteFilter })
  .refine(bothDeletedFlags, deletedFlagsMessage);

export const findUsersOptionsSchema = z
  .strictObject({
    where: userWhereSchema.optional(),
    include: userIncludeSchema.optional(),
    ...pageOptions,
    ...softDeleteFilter,
  })
  .refine(bothDeletedFlags, deletedFlagsMessage);

export const countUsersOptionsSchema = z
  .strictObject({ where: userWhereSchema.optional(), ...softDeleteFilter })
  .refine(bothDeletedFlags, deletedFlagsMessage);

export const findPostOptionsSchema = z
  .strictObject({ include: postIncludeSchema.optional(), ...softDeleteFilter })
  .refine(bothDeletedFlags, deletedFlagsMessage);

export const findPostsOptionsSchema = z
  .strictObject({
    where: postWhereSchema.optional(),
    include: postIncludeSchema.optional(),
    ...pageOptions,
    ...softDeleteFilter,
  })
  .refine(bothDeletedFlags, deletedFlagsMessage);

export const countByAuthorOptionsSchema = z
  .strictObject({
    authorIds: z.array(idSchema).max(10_000).optional(),
    published: z.boolean().optional(),
    ...softDeleteFilter,
  })
  .refine(bothDeletedFlags, deletedFlagsMessage);

export type PostsInclude = z.input<typeof postsIncludeSchema>;
export type UserInclude = z.input<typeof userIncludeSchema>;
export type PostInclude = z.input<typeof postIncludeSchema>;
export type UserWhere = z.input<typeof userWhereSchema>;
export type PostWhere = z.input<typeof postWhereSchema>;

const jsonPath = z
  .array(z.union([text(10_000), z.number().int('must be an integer')]))
  .min(1, 'must not be empty')
  .max(1000, 'must be at most 1000 elements');
const jsonValue = z.json().refine(jsonWithoutNul, NUL_MESSAGE);
const tagList = z.array(text(100_000)).min(1, 'must not be empty').max(100, 'at most 100 tags');

/** What findByMetadata looks for; every criterion is a containment (@>), which the GIN index serves. */
export const metadataFilterSchema = z
  .strictObject({
    category: text(100_000).optional(),
    tags: z.strictObject({ any: tagList.optional(), all: tagList.optional() }).optional(),
    contains: metadata.optional(),
  })
  .refine(
    (filter) => filter.category !== undefined || filter.tags?.any || filter.tags?.all || filter.contains,
    'give category, tags.any, tags.all or contains',
  );

export const findPostsByMetadataOptionsSchema = z
  .strictObject({ include: postIncludeSchema.optional(), ...pageOptions, ...softDeleteFilter })
  .refine(bothDeletedFlags, deletedFlagsMessage);

/** One change to a post's metadata. */
export const metadataChangeSchema = z.union([
  z.strictObject({ merge: metadata }),
  z.strictObject({
    set: z.strictObject({ path: jsonPath, value: jsonValue, createMissing: z.boolean().optional() }),
  }),
  z.strictObject({ remove: text(10_000) }),
  z.strictObject({ removePath: jsonPath }),
]);

export const searchOptionsSchema = z.strictObject({
  language: text(63).optional(),
  mode: z.enum(['websearch', 'plain', 'phrase', 'prefix']).optional(),
  first: z.number().int('must be an integer').min(1).max(1000).optional(),
  after: z.string().optional(),
  authorId: idSchema.optional(),
  includeUnpublished: z.boolean().optional(),
});

export type MetadataFilter = z.input<typeof metadataFilterSchema>;
export type MetadataChange = z.input<typeof metadataChangeSchema>;
export type SearchOptions = z.input<typeof searchOptionsSchema>;

/** What a person typed into a search box: anything at all, as long as PostgreSQL can hold it. */
export const searchTextSchema = text(100_000);
