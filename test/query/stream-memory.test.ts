/**
 * A stream's memory is one batch, not the result: in a process whose heap is smaller than the rows
 * (bench/large-data/heap-child.ts under --max-old-space-size), streaming them all grows the heap by a
 * few MB. The same at 2,000,000 rows under 128 MB, and reading them at once not fitting, is in the
 * benchmark report (npm run bench).
 */
import { expect, it } from 'vitest';
import { runHeapChild } from '../support/heap-child.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();

const ROWS = 300_000;
const HEAP_MB = 64;

it(`streams ${ROWS.toLocaleString('en-US')} post-shaped rows through a ${HEAP_MB} MB heap, growing it by under 25 MB`, async () => {
  const report = await runHeapChild('stream', testDb.url, ROWS, HEAP_MB);
  expect(report.rows).toBe(ROWS);
  expect(report.peakGrowthMb).toBeLessThan(25);
  expect(report.retainedMb).toBeLessThan(5);
});

it('where the same rows read at once do not fit in that heap', async () => {
  const failure = await runHeapChild('all', testDb.url, ROWS, HEAP_MB).then(
    () => expect.fail('reading every row at once fitted: the streaming test above proves nothing'),
    (error: Error) => error,
  );
  expect(failure.message).toMatch(/heap out of memory/);
});
