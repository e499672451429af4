/**
 * Compiled statements, kept per query shape. Building and compiling a Kysely query (with the schema
 * plugin's rewrite) costs more client CPU than `pg` spends sending it and reading a small result, so the
 * repositories' hot reads and writes compile once per shape and reuse the SQL text with new values.
 *
 * A template is compiled with placeholders where the caller's values go; `fill` puts the values in their
 * parameter slots. A placeholder is a string no caller value is ever compared with: constants of the
 * query are the layer's own, and every caller value replaces a placeholder. The SQL text never changes
 * with the values, so nothing a caller passes reaches the SQL text.
 */
import type { Compilable, CompiledQuery } from 'kysely';
import { leastRecentlyUsed } from '../pool/least-recently-used.js';
import { unnamed } from '../pool/prepared-statements.js';

const MARK = '\uE000shared-db:';

/**
 * A placeholder for the value named `name`, typed as the value it stands for; a dotted name is a path
 * into the values `fill` gets (`posts.0.title`).
 */
export function placeholder<T = string>(name: string): T {
  return `${MARK}${name}\uE000` as T;
}

/** The keys of `values` whose value is defined: which conditions a filter sets, for a template's shape. */
export function definedKeys<T extends object>(values: T): (keyof T & string)[] {
  return (Object.keys(values) as (keyof T & string)[]).filter((key) => values[key] !== undefined);
}

/**
 * `values` with each defined value replaced by the placeholder `path.key`: the shape of a row or a
 * filter for a template, whose `fill` then reads `values` at the same path.
 */
export function placeholdersFor<T extends object>(path: string, values: T): T {
  return Object.fromEntries(definedKeys(values).map((key) => [key, placeholder(`${path}.${key}`)])) as T;
}

const nameOf = (value: unknown) =>
  typeof value === 'string' && value.startsWith(MARK) ? value.slice(MARK.length, -1) : undefined;

export class QueryTemplate {
  readonly #compiled: CompiledQuery;
  /**
   * For each parameter: the path of the caller's value (a placeholder named `posts.0.title` is
   * `values.posts[0].title`), or undefined for the query's own constant. Paths, rather than flat names
   * built per call, spare every call making and hashing new strings.
   */
  readonly #slots: (readonly string[] | undefined)[];

  constructor(compiled: CompiledQuery) {
    this.#compiled = compiled;
    this.#slots = compiled.parameters.map((parameter) => nameOf(parameter)?.split('.'));
  }

  /** The compiled statement with `values` in the placeholders' slots. */
  fill<R>(values: Readonly<Record<string, unknown>>): CompiledQuery<R> {
    const constants = this.#compiled.parameters;
    const parameters = this.#slots.map((path, index) => (path ? valueAt(values, path) : constants[index]));
    return { ...this.#compiled, parameters } as CompiledQuery<R>;
  }
}

function valueAt(values: unknown, path: readonly string[]): unknown {
  let value = values;
  for (let index = 0; index < path.length; index++) {
    const key = path[index] as string;
    const holder =
      typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined;
    value = holder?.[key];
    // A value the caller left undefined is rare: only then is it told apart from a missing key.
    if (value === undefined && !(holder && key in holder)) {
      throw new Error(`query template: no value for placeholder "${path.join('.')}"`);
    }
  }
  return value;
}

/** Templates by shape key, the least recently used dropped past `limit`. */
export class QueryCache {
  /** Each template with the tick of its last use (see least-recently-used.ts). */
  readonly #templates = new Map<string, { template: QueryTemplate; used: number }>();
  #tick = 0;

  constructor(readonly limit = 500) {}

  /**
   * The template for `key`, compiled by `build` (with placeholders) the first time. `prepare: false`
   * sends it unnamed even where prepared statements are on (see `unnamed`).
   */
  template(key: string, build: () => Compilable, options: { prepare?: boolean } = {}): QueryTemplate {
    const entry = this.#templates.get(key);
    if (entry) {
      entry.used = ++this.#tick;
      return entry.template;
    }
    const compiled = build().compile();
    const template = new QueryTemplate(options.prepare === false ? unnamed(compiled) : compiled);
    if (this.#templates.size >= this.limit) this.#dropLeastRecentlyUsed();
    this.#templates.set(key, { template, used: ++this.#tick });
    return template;
  }

  #dropLeastRecentlyUsed(): void {
    const oldest = leastRecentlyUsed(this.#templates);
    if (oldest !== undefined) this.#templates.delete(oldest[0]);
  }

  get size(): number {
    return this.#templates.size;
  }
}

/**
 * Runs a compiled statement: through Kysely inside a transaction (its connection), and straight on a
 * pooled connection otherwise, which spares every call Kysely's executor.
 */
export type RunCompiled = <R>(query: CompiledQuery<R>) => Promise<{ rows: R[] }>;
