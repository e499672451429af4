/**
 * Typed, injection-safe jsonb helpers for Kysely queries: operators and functions on a jsonb
 * expression (a column such as `p.metadata`). Every key, path, value and jsonpath travels as a bind
 * parameter with an explicit cast; only the target expression and the operator become SQL text.
 *
 * Operator results are wrapped in parentheses, so a helper's result can be the target of another
 * helper, or be cast or compared, without PostgreSQL's operator precedence regrouping it
 * (`a -> b - c` parses as `a -> (b - c)`, `a ->> b::int` as `a ->> (b::int)`).
 *
 * Inputs are checked before any SQL is built; a bad one throws a `ValidationError` synchronously.
 */
import { type Expression, type RawBuilder, sql } from 'kysely';
import { INT4_MAX, INT4_MIN } from '../config/postgres-limits.js';
import { ValidationError } from '../errors/classes.js';
import { whyJsonIsUnstorable, whyTextIsUnstorable } from '../query/input-rules.js';

/** Any value JSON can carry, as jsonb stores it. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A path into a jsonb value: object keys and array indexes (negative indexes count from the end). */
export type JsonPath = ReadonlyArray<string | number>;

function invalid(field: string, message: string): ValidationError {
  return new ValidationError([{ field, message }]);
}

function checkedString(input: unknown, field: string): string {
  if (typeof input !== 'string') throw invalid(field, 'must be a string');
  const unstorable = whyTextIsUnstorable(input);
  if (unstorable) throw invalid(field, unstorable);
  return input;
}

/** An array index for `->` / `->>`: sent as an `int` parameter, so it must fit one. */
function checkedIndex(input: number, field: string): number {
  if (!Number.isInteger(input) || input < INT4_MIN || input > INT4_MAX) {
    throw invalid(field, 'must be a string, or an integer array index');
  }
  return input;
}

/** A path as the `text[]` PostgreSQL expects: numbers become their decimal strings. */
function textPath(path: JsonPath, field = 'path'): string[] {
  if (!Array.isArray(path) || path.length === 0) throw invalid(field, 'must be a non-empty array');
  return path.map((element, index) => {
    if (typeof element === 'number') {
      if (!Number.isSafeInteger(element)) throw invalid(field, `element ${index} must be an integer`);
      return String(element);
    }
    if (typeof element !== 'string') throw invalid(field, `element ${index} must be a string or an integer`);
    return checkedString(element, field);
  });
}

function textKeys(keys: readonly string[], field = 'keys'): string[] {
  if (!Array.isArray(keys) || keys.length === 0) throw invalid(field, 'must be a non-empty array of strings');
  return keys.map((key) => checkedString(key, field));
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * Why `input` is not a JSON value, or undefined when it is (walks the whole value, once). Whether
 * PostgreSQL can store its strings and keys is checked apart (see jsonText).
 */
function notJson(input: unknown, ancestors: Set<object>): string | undefined {
  switch (typeof input) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(input) ? undefined : `${input} is not a JSON number`;
    case 'object':
      break;
    default:
      // undefined, function, symbol, bigint: JSON.stringify would drop, null or throw on them.
      return `${input === undefined ? 'undefined' : `a ${typeof input}`} is not a JSON value`;
  }
  if (input === null) return undefined;
  // A Date, Map or class instance would be serialised by its own rules (or to {}): convert it first.
  if (!Array.isArray(input) && !isPlainObject(input)) {
    return `a ${input.constructor?.name ?? 'non-plain'} object is not a JSON value; convert it first`;
  }
  if (ancestors.has(input)) return 'the value is circular';
  ancestors.add(input);
  try {
    // Array.from reads an array by index, so a hole (which JSON.stringify would turn into null) is undefined.
    const items: unknown[] = Array.isArray(input) ? Array.from(input) : Object.values(input);
    for (const item of items) {
      const problem = notJson(item, ancestors);
      if (problem) return problem;
    }
    return undefined;
  } finally {
    ancestors.delete(input);
  }
}

/**
 * A JS value as jsonb text: stringified here, so `pg` never turns a JS array into a PostgreSQL array.
 * A JSON value whose strings or keys PostgreSQL cannot store is refused too: jsonb would fail on it.
 */
function jsonText(input: unknown, field = 'value'): string {
  const problem = notJson(input, new Set());
  if (problem) throw invalid(field, `must be JSON: ${problem}`);
  const unstorable = whyJsonIsUnstorable(input);
  if (unstorable) throw invalid(field, unstorable);
  return JSON.stringify(input);
}

function checkedFlag(input: unknown, field: string, fallback: boolean): boolean {
  if (input === undefined) return fallback;
  if (typeof input !== 'boolean') throw invalid(field, 'must be a boolean');
  return input;
}

/**
 * A JS value as a jsonb parameter: `JSON.stringify(value)` cast to `jsonb`. Use it wherever a jsonb
 * value goes into a query; a JS array bound directly would reach PostgreSQL as a PostgreSQL array.
 *
 * @example
 * ```ts
 * await db.kysely.selectNoFrom(jsonb.value({ tags: ['a', 'b'] }).as('v')).execute()
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * select $1::jsonb as "v"
 * -- $1 = '{"tags":["a","b"]}'
 * ```
 *
 * @throws ValidationError (field `value`) for undefined, a function, a symbol, a bigint, a non-finite
 * number, a Date or other non-plain object, a circular value, or a string or key PostgreSQL cannot
 * store exactly (holding NUL or a lone surrogate).
 */
export function value<T extends JsonValue>(value: T): RawBuilder<T> {
  return sql<T>`${jsonText(value)}::jsonb`;
}

/**
 * The member at an object key or an array index (`->`), as jsonb; null when it is missing.
 * A string is a key, a number an array index (negative counts from the end).
 *
 * @example
 * ```ts
 * db.kysely.selectFrom('pg_posts as p').select(jsonb.get(sql.ref('p.metadata'), 'tags').as('tags'))
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * select ("p"."metadata" -> $1::text) as "tags" from "pg_posts" as "p"
 * -- jsonb.get(target, 0) → (target -> $1::int)
 * ```
 */
export function get(target: Expression<unknown>, key: string | number): RawBuilder<JsonValue | null> {
  return typeof key === 'number'
    ? sql`(${target} -> ${checkedIndex(key, 'key')}::int)`
    : sql`(${target} -> ${checkedString(key, 'key')}::text)`;
}

/**
 * The member at an object key or an array index as text (`->>`): strings unquoted, other values as
 * their JSON text, null when missing or JSON null.
 *
 * @example
 * ```ts
 * db.kysely
 *   .selectFrom('pg_posts as p')
 *   .selectAll()
 *   .where(jsonb.getText(sql.ref('p.metadata'), 'category'), '=', 'tutorial')
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * select * from "pg_posts" as "p" where ("p"."metadata" ->> $1::text) = $2
 * ```
 *
 * A GIN index on the column does not serve this comparison; `contains` does.
 */
export function getText(target: Expression<unknown>, key: string | number): RawBuilder<string | null> {
  return typeof key === 'number'
    ? sql`(${target} ->> ${checkedIndex(key, 'key')}::int)`
    : sql`(${target} ->> ${checkedString(key, 'key')}::text)`;
}

/**
 * The value at a path (`#>`), as jsonb; null when any step is missing.
 *
 * @example
 * ```ts
 * jsonb.getPath(sql.ref('p.metadata'), ['author', 'links', 0])
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" #> $1::text[])
 * -- $1 = ['author', 'links', '0']
 * ```
 */
export function getPath(target: Expression<unknown>, path: JsonPath): RawBuilder<JsonValue | null> {
  return sql`(${target} #> ${textPath(path)}::text[])`;
}

/**
 * The value at a path as text (`#>>`), like `getText`.
 *
 * @example
 * ```ts
 * jsonb.getPathText(sql.ref('p.metadata'), ['author', 'name'])
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" #>> $1::text[])
 * ```
 */
export function getPathText(target: Expression<unknown>, path: JsonPath): RawBuilder<string | null> {
  return sql`(${target} #>> ${textPath(path)}::text[])`;
}

/**
 * True when the target contains `value` (`@>`): every key and value of `value` is in it, array
 * elements in any order. Served by a GIN index on the column.
 *
 * @example
 * ```ts
 * db.kysely
 *   .selectFrom('pg_posts as p')
 *   .selectAll()
 *   .where(jsonb.contains(sql.ref('p.metadata'), { category: 'tutorial' }))
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * select * from "pg_posts" as "p" where ("p"."metadata" @> $1::jsonb)
 * -- $1 = '{"category":"tutorial"}'
 * ```
 */
export function contains(target: Expression<unknown>, value: JsonValue): RawBuilder<boolean> {
  return sql`(${target} @> ${jsonText(value)}::jsonb)`;
}

/**
 * True when the target is contained in `value` (`<@`). A GIN index does not serve it.
 *
 * @example
 * ```ts
 * jsonb.containedBy(sql.ref('p.metadata'), { category: 'a', tags: ['x', 'y'] })
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" <@ $1::jsonb)
 * ```
 */
export function containedBy(target: Expression<unknown>, value: JsonValue): RawBuilder<boolean> {
  return sql`(${target} <@ ${jsonText(value)}::jsonb)`;
}

/**
 * True when `key` is a top-level key of an object, or a string element of an array (`?`).
 * Served by a GIN index on the column.
 *
 * @example
 * ```ts
 * jsonb.hasKey(sql.ref('p.metadata'), 'featured')
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" ? $1::text)
 * ```
 */
export function hasKey(target: Expression<unknown>, key: string): RawBuilder<boolean> {
  return sql`(${target} ? ${checkedString(key, 'key')}::text)`;
}

/**
 * True when any of `keys` is a top-level key or string element (`?|`). Served by a GIN index.
 *
 * @example
 * ```ts
 * jsonb.hasAnyKey(sql.ref('p.metadata'), ['draft', 'review'])
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" ?| $1::text[])
 * -- $1 = ['draft', 'review']
 * ```
 */
export function hasAnyKey(target: Expression<unknown>, keys: readonly string[]): RawBuilder<boolean> {
  return sql`(${target} ?| ${textKeys(keys)}::text[])`;
}

/**
 * True when every one of `keys` is a top-level key or string element (`?&`). Served by a GIN index.
 *
 * @example
 * ```ts
 * jsonb.hasAllKeys(sql.ref('p.metadata'), ['category', 'tags'])
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" ?& $1::text[])
 * ```
 */
export function hasAllKeys(target: Expression<unknown>, keys: readonly string[]): RawBuilder<boolean> {
  return sql`(${target} ?& ${textKeys(keys)}::text[])`;
}

/**
 * The target with `value` merged in (`||`): for two objects, the top-level keys of `value` win;
 * nested objects are replaced, not merged. Two arrays concatenate.
 *
 * @example
 * ```ts
 * db.kysely
 *   .updateTable('pg_posts')
 *   .set((eb) => ({ metadata: jsonb.merge(eb.ref('metadata'), { reviewed: true }) }))
 *   .where('id', '=', id)
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * update "pg_posts" set "metadata" = ("metadata" || $1::jsonb) where "id" = $2
 * ```
 */
export function merge<T = JsonValue>(target: Expression<unknown>, value: JsonValue): RawBuilder<T> {
  return sql<T>`(${target} || ${jsonText(value)}::jsonb)`;
}

/**
 * The target without a top-level key (or without the matching string elements of an array) (`-`).
 *
 * @example
 * ```ts
 * jsonb.removeKey(sql.ref('metadata'), 'draft')
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("metadata" - $1::text)
 * ```
 */
export function removeKey<T = JsonValue>(target: Expression<unknown>, key: string): RawBuilder<T> {
  return sql<T>`(${target} - ${checkedString(key, 'key')}::text)`;
}

/**
 * The target without the member at a path (`#-`); unchanged when the path is missing.
 *
 * @example
 * ```ts
 * jsonb.removePath(sql.ref('metadata'), ['author', 'email'])
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("metadata" #- $1::text[])
 * ```
 */
export function removePath<T = JsonValue>(target: Expression<unknown>, path: JsonPath): RawBuilder<T> {
  return sql<T>`(${target} #- ${textPath(path)}::text[])`;
}

/**
 * The target with the value at `path` replaced (`jsonb_set`). When the last step is missing it is
 * added, unless `createMissing` is false; a missing intermediate step leaves the target unchanged.
 *
 * @example
 * ```ts
 * db.kysely
 *   .updateTable('pg_posts')
 *   .set((eb) => ({ metadata: jsonb.setPath(eb.ref('metadata'), ['author', 'name'], 'Ada') }))
 *   .where('id', '=', id)
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * update "pg_posts" set "metadata" = jsonb_set("metadata", $1::text[], $2::jsonb, $3::boolean)
 * where "id" = $4
 * -- $1 = ['author', 'name'], $2 = '"Ada"', $3 = true
 * ```
 */
export function setPath<T = JsonValue>(
  target: Expression<unknown>,
  path: JsonPath,
  value: JsonValue,
  options: { createMissing?: boolean } = {},
): RawBuilder<T> {
  const steps = textPath(path);
  const json = jsonText(value);
  const createMissing = checkedFlag(options.createMissing, 'options.createMissing', true);
  return sql<T>`jsonb_set(${target}, ${steps}::text[], ${json}::jsonb, ${createMissing}::boolean)`;
}

/**
 * The target with `value` inserted into an array before the element at `path` (after it with
 * `after: true`), or added as a new key when the path ends at a missing object key (`jsonb_insert`).
 * An existing object key is an error (22023): use `setPath` to replace it.
 *
 * @example
 * ```ts
 * jsonb.insertAt(sql.ref('metadata'), ['tags', 0], 'first')
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * jsonb_insert("metadata", $1::text[], $2::jsonb, $3::boolean)
 * -- $1 = ['tags', '0'], $2 = '"first"', $3 = false
 * ```
 */
export function insertAt<T = JsonValue>(
  target: Expression<unknown>,
  path: JsonPath,
  value: JsonValue,
  options: { after?: boolean } = {},
): RawBuilder<T> {
  const steps = textPath(path);
  const json = jsonText(value);
  const after = checkedFlag(options.after, 'options.after', false);
  return sql<T>`jsonb_insert(${target}, ${steps}::text[], ${json}::jsonb, ${after}::boolean)`;
}

/**
 * True when the SQL/JSON path finds anything (`jsonb_path_exists`). `vars` fills the path's `$name`
 * variables, so values never need quoting inside the path. A function call: a GIN index does not
 * serve it; `pathMatch` (`@?`) is the indexable form for a path without variables.
 *
 * @example
 * ```ts
 * jsonb.pathExists(sql.ref('p.metadata'), '$.tags[*] ? (@ == $tag)', { tag: userInput })
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * jsonb_path_exists("p"."metadata", $1::jsonpath, $2::jsonb)
 * -- $1 = '$.tags[*] ? (@ == $tag)', $2 = '{"tag":"…"}'
 * ```
 */
export function pathExists(
  target: Expression<unknown>,
  jsonpath: string,
  vars: Record<string, JsonValue> = {},
): RawBuilder<boolean> {
  const path = checkedString(jsonpath, 'jsonpath');
  // jsonb_path_exists refuses variables that are not an object (22023).
  if (vars === null || typeof vars !== 'object' || Array.isArray(vars)) {
    throw invalid('vars', 'must be an object');
  }
  return sql`jsonb_path_exists(${target}, ${path}::jsonpath, ${jsonText(vars, 'vars')}::jsonb)`;
}

/**
 * True when the SQL/JSON path finds anything (`@?`). Served by a GIN index for paths built from
 * accessors and `==` comparisons with constants.
 *
 * @example
 * ```ts
 * jsonb.pathMatch(sql.ref('p.metadata'), '$.tags[*] ? (@ == "sql")')
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" @? $1::jsonpath)
 * ```
 */
export function pathMatch(target: Expression<unknown>, jsonpath: string): RawBuilder<boolean> {
  return sql`(${target} @? ${checkedString(jsonpath, 'jsonpath')}::jsonpath)`;
}

/**
 * The result of a SQL/JSON path predicate (`@@`): true, false, or null when it is not a boolean.
 * Served by a GIN index for the same paths as `pathMatch`.
 *
 * @example
 * ```ts
 * jsonb.pathPredicate(sql.ref('p.metadata'), '$.category == "tutorial"')
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * ("p"."metadata" @@ $1::jsonpath)
 * ```
 */
export function pathPredicate(target: Expression<unknown>, jsonpath: string): RawBuilder<boolean> {
  return sql`(${target} @@ ${checkedString(jsonpath, 'jsonpath')}::jsonpath)`;
}

/**
 * The number of elements of a jsonb array (`jsonb_array_length`); null when the target is SQL null
 * (e.g. a missing key). An object or scalar is an error (22023): on mixed data, filter first, e.g.
 * with `pathPredicate(target, '$.tags.type() == "array"')`.
 *
 * @example
 * ```ts
 * jsonb.arrayLength(jsonb.get(sql.ref('p.metadata'), 'tags'))
 * ```
 *
 * The generated SQL (PostgreSQL):
 *
 * ```sql
 * jsonb_array_length(("p"."metadata" -> $1::text))
 * ```
 */
export function arrayLength(target: Expression<unknown>): RawBuilder<number> {
  return sql<number>`jsonb_array_length(${target})`;
}
