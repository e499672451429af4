/**
 * The rules a caller's value meets before it becomes a parameter (src/query/input-rules.ts): a zod
 * failure becomes one ValidationError naming each field, and the NUL character, which PostgreSQL's text
 * and jsonb refuse, is caught first with the same message everywhere.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';
import { ValidationError } from '../../src/errors/classes.js';
import { hasNul, jsonWithoutNul, NUL_MESSAGE, storableText, validate } from '../../src/query/input-rules.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();
let db: Database;

beforeAll(() => {
  db = createDatabase(loadConfig(testDb.env()));
});
afterAll(() => db.disconnect());

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

describe('the NUL rule', () => {
  it('is what PostgreSQL refuses: a NUL in a text or jsonb parameter fails at the server', async () => {
    await expect(db.executeRaw('SELECT $1::text AS t', [`a${NUL}b`])).rejects.toThrow();
    await expect(
      db.executeRaw('SELECT $1::jsonb AS j', [JSON.stringify({ k: `a${NUL}b` })]),
    ).rejects.toThrow();
    // The six characters \u0000 are ordinary text.
    expect(await db.executeRaw('SELECT $1::text AS t', ['\\u0000'])).toEqual([{ t: '\\u0000' }]);
  });

  it('finds NUL anywhere in a string', () => {
    expect(hasNul(NUL)).toBe(true);
    expect(hasNul(`abc${NUL}`)).toBe(true);
    expect(hasNul('\\u0000')).toBe(false);
    expect(hasNul('')).toBe(false);
  });

  it('storableText refuses NUL and text over its length, each with its own message', () => {
    expect(validate(storableText(5), 'abcde')).toBe('abcde');
    expect(validationError(() => validate(storableText(5), `ab${NUL}`, 'title')).issues).toEqual([
      { field: 'title', message: NUL_MESSAGE },
    ]);
    expect(validationError(() => validate(storableText(5), 'abcdef', 'title')).issues).toEqual([
      { field: 'title', message: 'must be at most 5 characters' },
    ]);
    expect(NUL_MESSAGE).toBe('must not contain the NUL character (\\u0000)');
  });

  it('jsonWithoutNul walks keys and values at every depth', () => {
    expect(jsonWithoutNul({ a: [1, 'b', { c: null, d: true }] })).toBe(true);
    expect(jsonWithoutNul({ a: [1, { c: `x${NUL}` }] })).toBe(false);
    expect(jsonWithoutNul({ a: [{ [`k${NUL}`]: 1 }] })).toBe(false);
    expect(jsonWithoutNul([[[`${NUL}`]]])).toBe(false);
    expect(jsonWithoutNul(`${NUL}`)).toBe(false);
    expect(jsonWithoutNul(42)).toBe(true);
  });
});
