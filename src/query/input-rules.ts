/**
 * The rules every caller's value meets before it becomes a statement parameter, and how breaking one
 * is reported: a zod schema's failures become one `ValidationError` naming each bad field, and text
 * PostgreSQL cannot store exactly is refused here rather than stored changed or failed by the server.
 */
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../errors/classes.js';

/*
 * Text PostgreSQL stores exactly holds no NUL character and is well-formed UTF-16. text and jsonb cannot
 * hold NUL at all. A lone surrogate (an unpaired UTF-16 code unit, U+D800–U+DFFF) has no UTF-8 form: the
 * driver's encoder sends U+FFFD in its place, so text would be stored changed without a word, and a JSON
 * document carries it as a `\ud800` escape, which jsonb refuses (22P02).
 */

const NUL = 'the NUL character (\\u0000)';
const LONE_SURROGATE = 'a lone surrogate (an unpaired UTF-16 code unit, U+D800–U+DFFF)';

/** True when PostgreSQL stores `text` exactly as given, as text, varchar or a jsonb string or key. */
export const isStorableText = (text: string): boolean => !text.includes('\u0000') && text.isWellFormed();

/** The index of the first code unit of a surrogate range that is not half of a pair; -1 when none. */
function firstLoneSurrogate(text: string): number {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    const next = text.charCodeAt(index + 1);
    if (unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) index++;
    else return index;
  }
  return -1;
}

/** What keeps `text` from being stored exactly, and where the first such code unit is. */
function firstUnstorable(text: string): { what: string; index: number } | undefined {
  const nul = text.indexOf('\u0000');
  const surrogate = text.isWellFormed() ? -1 : firstLoneSurrogate(text);
  if (surrogate === -1) return nul === -1 ? undefined : { what: NUL, index: nul };
  if (nul !== -1 && nul < surrogate) return { what: NUL, index: nul };
  return { what: LONE_SURROGATE, index: surrogate };
}

// Says which character and where, never the text itself.
const refusal = (found: { what: string; index: number }, where: readonly string[]) =>
  `must not contain ${found.what}, which PostgreSQL cannot store (${[...where, `at index ${found.index}`].join(', ')})`;

/**
 * Why PostgreSQL cannot store `text` exactly, as an issue's message; undefined when it can. `where`
 * goes before the index in the message.
 */
export function whyTextIsUnstorable(text: string, where: readonly string[] = []): string | undefined {
  const found = firstUnstorable(text);
  return found && refusal(found, where);
}

/** The first string or key of a JSON value PostgreSQL cannot store, what is wrong with it and where. */
function firstUnstorableInJson(
  value: unknown,
  ancestors: Set<object>,
): { what: string; index: number; in: string } | undefined {
  if (typeof value === 'string') {
    const found = firstUnstorable(value);
    return found && { ...found, in: 'in a string' };
  }
  if (value === null || typeof value !== 'object' || ancestors.has(value)) return undefined;
  const isArray = Array.isArray(value);
  const prototype = Object.getPrototypeOf(value);
  if (!isArray && prototype !== Object.prototype && prototype !== null) return undefined;
  ancestors.add(value);
  try {
    for (const [key, item] of Object.entries(value)) {
      const inKey = isArray ? undefined : firstUnstorable(key);
      if (inKey) return { ...inKey, in: 'in a key' };
      const inItem = firstUnstorableInJson(item, ancestors);
      if (inItem) return inItem;
    }
    return undefined;
  } finally {
    ancestors.delete(value);
  }
}

/**
 * Why PostgreSQL cannot store a string or key of `value` exactly, as an issue's message; undefined when
 * it can. Walks strings, arrays and plain objects (keys too) at every depth; other values hold no text
 * of their own here, and a value met again inside itself is not walked twice. `where` goes first in
 * the message's place.
 */
export function whyJsonIsUnstorable(value: unknown, where: readonly string[] = []): string | undefined {
  const found = firstUnstorableInJson(value, new Set());
  return found && refusal(found, [...where, found.in]);
}

/** True when PostgreSQL stores every string and key of the JSON value exactly. */
export const isStorableJson = (value: unknown): boolean =>
  firstUnstorableInJson(value, new Set()) === undefined;

/** `schema`, a string, refusing text PostgreSQL cannot store exactly. */
export const storableString = <S extends z.ZodType<string>>(schema: S) =>
  schema.refine(isStorableText, { error: (issue) => whyTextIsUnstorable(issue.input as string) });

/** Text up to `max` characters that PostgreSQL stores exactly. */
export const storableText = (max: number) =>
  storableString(z.string().max(max, `must be at most ${max} characters`));

/** `schema`, a JSON value, refusing any string or key in it that PostgreSQL cannot store exactly. */
export const storableJson = <S extends z.ZodType>(schema: S) =>
  schema.refine(isStorableJson, { error: (issue) => whyJsonIsUnstorable(issue.input) });

/**
 * Refuses raw SQL whose text or parameters PostgreSQL would not receive exactly: the text, a string
 * parameter, or a string in an array or a plain object (which `pg` sends as an array literal or JSON).
 * Throws a `ValidationError` naming `text` or `params.<index>`.
 */
export function validateRawStatement(text: unknown, params: readonly unknown[] | undefined): void {
  const issues: ValidationIssue[] = [];
  const inText = typeof text === 'string' ? whyTextIsUnstorable(text) : undefined;
  if (inText) issues.push({ field: 'text', message: inText });
  if (Array.isArray(params)) {
    params.forEach((param, index) => {
      const where = [`$${index + 1}`];
      const inParam =
        typeof param === 'string' ? whyTextIsUnstorable(param, where) : whyJsonIsUnstorable(param, where);
      if (inParam) issues.push({ field: `params.${index}`, message: inParam });
    });
  }
  if (issues.length > 0) throw new ValidationError(issues);
}

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

/**
 * Parses row `index` of a bulk load's input with `schema`: the `ValidationError` names each field
 * under `rows.<index>` and carries the row (`row`).
 */
export function validateRow<S extends z.ZodType>(schema: S, input: unknown, index: number): z.output<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw new ValidationError(issuesOf(result.error, `rows.${index}`), { row: index });
  return result.data;
}
