/** `npm run db:codegen -- --verify`: the committed db-types/ must match what the migrations build. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from '../support/test-database.js';

const run = promisify(execFile);
const testDb = useTestDatabase();

const verify = () =>
  run(join(process.cwd(), 'node_modules/.bin/tsx'), [join(process.cwd(), 'scripts/codegen.ts'), '--verify'], {
    env: { PATH: process.env.PATH, ...testDb.env() },
  });

describe('the generated types', () => {
  it('match the migrated database, and the check fails once the schema drifts', async () => {
    const clean = await verify();
    expect(clean.stdout).toContain('reading the schema of');
    expect(clean.stdout + clean.stderr).toContain('up-to-date');

    const client = new pg.Client({ connectionString: testDb.url });
    await client.connect();
    await client.query('ALTER TABLE public.pg_posts ADD COLUMN summary text');
    await client.end();

    const drifted = await verify().catch((error: { code: number; stderr: string }) => error);
    expect(drifted).toMatchObject({ code: 1 });
    expect((drifted as { stderr: string }).stderr).toContain(
      'db-types/index.ts is out of date with migrations/: run `npm run db:codegen` and commit the result',
    );
  });
});
