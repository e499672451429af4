import type { CompiledQuery } from 'kysely';
import { expect } from 'vitest';

/** Asserts the SQL text and the parameters `query` compiles to. */
export function expectCompiled(
  query: { compile(): CompiledQuery },
  text: string,
  parameters: readonly unknown[],
): void {
  const compiled = query.compile();
  expect(compiled.sql).toBe(text);
  expect(compiled.parameters).toEqual(parameters);
}
