/**
 * The rules a caller's value meets before it becomes a parameter (src/query/input-rules.ts): a zod
 * failure becomes one ValidationError naming each field, and text PostgreSQL cannot store exactly (NUL,
 * which it refuses; a lone surrogate, which pg sends changed) is caught first, with one message everywhere.
 */
import { uniformInt } from 'pure-rand/distribution/uniformInt';
import { xoroshiro128plus } from 'pure-rand/generator/xoroshiro128plus';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ValidationError } from '../../src/errors/classes.js';
import {
  isStorableJson,
  isStorableText,
  storableText,
  validate,
  validateRawStatement,
  whyJsonIsUnstorable,
  whyTextIsUnstorable,
} from '../../src/query/input-rules.js';
import { queryOnce } from '../support/query-once.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();

const NUL = '\u0000';

function validationError(run: () => unknown): ValidationError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    return error as ValidationError;
  }
  throw new Error('expected a ValidationError');
}

describe('validate', () => {
  const schema = z.strictObject({ name: z.string('must be a string'), tags: z.array(z.string()).optional() });

  it('returns the parsed value when the input is valid', () => {
    expect(validate(schema, { name: 'a', tags: ['x'] })).toEqual({ name: 'a', tags: ['x'] });
  });

  it('names every bad field, with nested paths joined by dots', () => {
    const error = validationError(() => validate(schema, { name: 1, tags: ['x', 2] }));
    expect(error.issues.map((issue) => issue.field)).toEqual(['name', 'tags.1']);
    expect(error.field).toBe('name');
    expect(error.issues[0]?.message).toBe('must be a string');
  });

  it('prefixes the fields with root, and names each unknown key as a field of its own', () => {
    const error = validationError(() => validate(schema, { name: 'a', colour: 'red', size: 1 }, 'options'));
    expect(error.issues).toEqual([
      { field: 'options.colour', message: 'is not a known field' },
      { field: 'options.size', message: 'is not a known field' },
    ]);
  });

  it('names the root, or "input" when there is none, for a value that is wrong as a whole', () => {
    expect(validationError(() => validate(z.string('must be a string'), 1, 'id')).issues).toEqual([
      { field: 'id', message: 'must be a string' },
    ]);
    expect(validationError(() => validate(z.string('must be a string'), 1)).issues).toEqual([
      { field: 'input', message: 'must be a string' },
    ]);
  });
});

const HIGH = '\uD83D';
const LOW = '\uDE00';
const UNSTORABLE = [
  ['NUL', `ab${NUL}c`, 'the NUL character (\\u0000)', 2],
  ['a lone high surrogate', `ab${HIGH}c`, 'a lone surrogate', 2],
  ['a lone high surrogate at the end', `abc${HIGH}`, 'a lone surrogate', 3],
  ['a lone low surrogate', `ab${LOW}c`, 'a lone surrogate', 2],
  ['a reversed pair', `ab${LOW}${HIGH}c`, 'a lone surrogate', 2],
] as const;

describe('the storable rule: no NUL, no lone surrogate', () => {
  it('is what PostgreSQL does: NUL fails at the server, a lone surrogate is stored changed', async () => {
    // Straight through pg, as the layer would send them without the rule.
    const [changed] = await queryOnce<{ t: string }>(testDb.url, 'SELECT $1::text AS t', [`a${HIGH}b`]);
    expect(changed?.t).toBe('a\uFFFDb');
    await expect(queryOnce(testDb.url, 'SELECT $1::text AS t', [`a${NUL}b`])).rejects.toThrow();
    await expect(
      queryOnce(testDb.url, 'SELECT $1::jsonb AS j', [JSON.stringify({ k: `a${HIGH}b` })]),
    ).rejects.toMatchObject({ code: '22P02' });
    await expect(
      queryOnce(testDb.url, 'SELECT $1::jsonb AS j', [JSON.stringify({ k: `a${NUL}b` })]),
    ).rejects.toThrow();
    // A pair, and the six characters \u0000, are ordinary text.
    expect(await queryOnce(testDb.url, 'SELECT $1::text AS t', ['😀 \\u0000'])).toEqual([
      { t: '😀 \\u0000' },
    ]);
  });

  it('holds for any UTF-16: what the rule accepts the server returns unchanged, and only that', async () => {
    // Random strings over the code units that matter (surrogates of both halves, the pairs they make,
    // ASCII, the rest of the BMP), NUL left out: PostgreSQL fails on it rather than changing it.
    const rng = xoroshiro128plus(13);
    const unit = () => {
      const kind = uniformInt(rng, 0, 3);
      if (kind === 0) return uniformInt(rng, 0xd800, 0xdbff);
      if (kind === 1) return uniformInt(rng, 0xdc00, 0xdfff);
      if (kind === 2) return uniformInt(rng, 1, 0x7f);
      return uniformInt(rng, 0x80, 0xffff);
    };
    const texts = Array.from({ length: 2000 }, () =>
      String.fromCharCode(...Array.from({ length: uniformInt(rng, 0, 6) }, unit)),
    );
    const rows = await queryOnce<{ t: string }>(
      testDb.url,
      'SELECT t FROM unnest($1::text[]) WITH ORDINALITY AS u(t, n) ORDER BY n',
      [texts],
    );
    const returned = rows.map((row) => row.t);
    expect(returned).toHaveLength(texts.length);
    const storable = texts.map(isStorableText);
    expect(storable.filter(Boolean).length).toBeGreaterThan(100);
    expect(storable.filter((ok) => !ok).length).toBeGreaterThan(100);
    texts.forEach((text, index) => {
      expect({ text, unchanged: returned[index] === text }).toEqual({ text, unchanged: storable[index] });
    });
  });

  it.each(UNSTORABLE)(
    'refuses %s, saying which character and where, never the text',
    (_, text, what, index) => {
      expect(isStorableText(text)).toBe(false);
      const message = whyTextIsUnstorable(text);
      expect(message).toBe(
        `must not contain ${whatIn(what)}, which PostgreSQL cannot store (at index ${index})`,
      );
      expect(message).not.toContain(text);
      expect(validationError(() => validate(storableText(10), text, 'title')).issues).toEqual([
        { field: 'title', message },
      ]);
    },
  );

  it('accepts pairs, the empty string and text without NUL', () => {
    for (const text of ['', 'plain', '😀', `a${HIGH}${LOW}b`, '👩‍💻 日本語', '\\u0000', '\uFFFD']) {
      expect(isStorableText(text)).toBe(true);
      expect(whyTextIsUnstorable(text)).toBeUndefined();
      expect(validate(storableText(20), text)).toBe(text);
    }
  });

  it('names the first problem when a text has both', () => {
    expect(whyTextIsUnstorable(`a${LOW}${NUL}`)).toMatch(/lone surrogate .*at index 1\)$/);
    expect(whyTextIsUnstorable(`a${NUL}${LOW}`)).toMatch(/NUL .*at index 1\)$/);
  });

  it('storableText refuses text over its length with its own message', () => {
    expect(validate(storableText(5), 'abcde')).toBe('abcde');
    expect(validationError(() => validate(storableText(5), 'abcdef', 'title')).issues).toEqual([
      { field: 'title', message: 'must be at most 5 characters' },
    ]);
  });

  it('walks JSON keys and values at every depth, saying whether a key or a string', () => {
    expect(isStorableJson({ a: [1, 'b', { c: null, d: true }], '😀': ['😀'] })).toBe(true);
    expect(whyJsonIsUnstorable({ a: [1, { c: `x${NUL}` }] })).toBe(
      'must not contain the NUL character (\\u0000), which PostgreSQL cannot store (in a string, at index 1)',
    );
    expect(whyJsonIsUnstorable({ a: [{ [`k${HIGH}`]: 1 }] })).toBe(
      `must not contain ${whatIn('a lone surrogate')}, which PostgreSQL cannot store (in a key, at index 1)`,
    );
    expect(isStorableJson([[[LOW]]])).toBe(false);
    expect(isStorableJson(`${NUL}`)).toBe(false);
    expect(isStorableJson(42)).toBe(true);
    // Not JSON's to judge here: a Date, a Buffer, a circular value hold no text of their own.
    const circular: Record<string, unknown> = { a: 'fine' };
    circular.self = circular;
    expect(isStorableJson([new Date(), Buffer.from([0, 0xd8]), circular])).toBe(true);
    circular.b = HIGH;
    expect(isStorableJson(circular)).toBe(false);
  });

  it('refuses raw SQL text or parameters, naming text or params.<index> and the $ parameter', () => {
    expect(() => validateRawStatement('SELECT $1, $2', ['a', 1])).not.toThrow();
    const error = validationError(() =>
      validateRawStatement(`SELECT '${HIGH}'`, ['fine', `x${LOW}`, [['a', NUL]], { [HIGH]: 1 }, new Date()]),
    );
    expect(error.issues).toEqual([
      { field: 'text', message: expect.stringMatching(/lone surrogate.*\(at index 8\)$/) },
      { field: 'params.1', message: expect.stringMatching(/lone surrogate.*\(\$2, at index 1\)$/) },
      { field: 'params.2', message: expect.stringMatching(/NUL.*\(\$3, in a string, at index 0\)$/) },
      { field: 'params.3', message: expect.stringMatching(/lone surrogate.*\(\$4, in a key, at index 0\)$/) },
    ]);
  });
});

/** The whole description of what a message names, for the shorthand the table uses. */
function whatIn(what: string): string {
  return what === 'a lone surrogate'
    ? 'a lone surrogate (an unpaired UTF-16 code unit, U+D800–U+DFFF)'
    : what;
}
