/**
 * The fields and option groups the repositories' input schemas share. Objects are strict, so a
 * misspelt field is an error rather than silently ignored. Lengths follow the columns (profile_image
 * is varchar(500)) or sane bounds.
 */
import { z } from 'zod';
import { storableText } from '../query/input-rules.js';

export const notBlank = (max: number) =>
  storableText(max).refine((value) => value.trim().length > 0, 'must not be blank');

export const idSchema = storableText(128).min(1, 'must not be empty');

export const date = z
  .date('must be a Date')
  .refine((value) => !Number.isNaN(value.getTime()), 'must be a valid Date');

// A key given as undefined changes nothing: it counts as absent, like a missing key.
export const somethingToChange = (patch: object) => Object.values(patch).some((value) => value !== undefined);

/** `orderBy` of a list or of included posts: by creation time, then id. */
export const createdAtOrder = z.strictObject({ createdAt: z.enum(['asc', 'desc']) });

export const pageOptions = {
  first: z.number().optional(),
  after: z.string().optional(),
  orderBy: createdAtOrder.optional(),
};

const softDeleteFilter = {
  withDeleted: z.boolean().optional(),
  onlyDeleted: z.boolean().optional(),
};
// The flags are parsed booleans by the time this runs; `unknown` lets it take any read's options.
const bothDeletedFlags = (filter: { withDeleted?: unknown; onlyDeleted?: unknown }) =>
  !(filter.withDeleted && filter.onlyDeleted);

/**
 * The options of a read: `shape` plus the soft-delete filter (withDeleted, onlyDeleted), which
 * exclude each other; giving both is an error on `onlyDeleted`.
 */
export function readOptions<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  return z.strictObject({ ...shape, ...softDeleteFilter }).refine(bothDeletedFlags, {
    message: 'withDeleted and onlyDeleted exclude each other',
    path: ['onlyDeleted'],
  });
}
