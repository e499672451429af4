/**
 * Large data in bounded memory, each in a process whose heap is smaller than the rows
 * (bench/large-data/heap-child.ts under --max-old-space-size): a stream holds about one batch, not the
 * result; a bulk load holds about two chunks, not the input. The same at 2,000,000 rows streamed and
 * 1,000,000 loaded under 128 MB is in the benchmark report (npm run bench).
 */
import { describe, expect, it } from 'vitest';
import { runHeapChild } from '../support/heap-child.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();

describe('a stream', () => {
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
});

describe('a bulk load', () => {
  // heap-child.ts's posts carry about 300 characters of content each: with their titles and metadata,
  // 200,000 of them held at once would not fit in the heap the load runs with.
  it('loads 200,000 posts from a generator through a 64 MB heap, growing it by under 48 MB', async () => {
    const report = await runHeapChild('load', testDb.url, 200_000, 64);
    expect(report.rows).toBe(200_000);
    // Two chunks' rows and text, their batches and the driver's buffers; never the input.
    expect(report.peakGrowthMb).toBeLessThan(48);
    expect(report.retainedMb).toBeLessThan(5);
  });
});
