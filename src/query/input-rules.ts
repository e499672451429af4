/**
 * The rules every caller's value meets before it becomes a statement parameter, and how breaking one
 * is reported: a zod schema's failures become one `ValidationError` naming each bad field, and text
 * PostgreSQL cannot store (the NUL character) is refused here rather than by the server at run time.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../errors/classes.js';

/** PostgreSQL text and jsonb cannot hold the NUL character. */
export const hasNul = (value: string): boolean => value.includes('\u0000');
export const NUL_MESSAGE = 'must not contain the NUL character (\\u0000)';

const withoutNul = (value: string) => !hasNul(value);

/** Text up to `max` characters that PostgreSQL can store. */
export const storableText = (max: number) =>
  z.string().max(max, `must be at most ${max} characters`).refine(withoutNul, NUL_MESSAGE);

/** True when no string in the JSON value, key or value, holds NUL (jsonb refuses `\u0000`). */
export const jsonWithoutNul = (value: unknown): boolean => {
  if (typeof value === 'string') return withoutNul(value);
  if (Array.isArray(value)) return value.every(jsonWithoutNul);
  if (value && typeof value === 'object') {
    return Object.entries(value).every(([key, item]) => withoutNul(key) && jsonWithoutNul(item));
  }
  return true;
};

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
