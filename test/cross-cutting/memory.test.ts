/**
 * Large data in bounded memory, each in a process whose heap is smaller than the rows
 * (bench/large-data/heap-child.ts under --max-old-space-size): a stream holds about one batch, not the
 * result; a bulk load holds about two chunks, not the input. The same at 2,000,000 rows streamed and
 * 1,000,000 loaded under 128 MB is in the benchmark report (npm run bench).
 */
import { describe, expect, it } from 'vitest';
import { runHeapChild } from '../../bench/large-data/run-heap-child.js';
import { useTestDatabase } from '../support/test-database.js';

const testDb = useTestDatabase();

describe('a stream', () => {
  const ROWS = 300_000;
  const HEAP_MB = 64;

  it(`streams ${ROWS.toLocaleString('en-US')} post-shaped rows through a ${HEAP_MB} MB heap, keeping under 10 MB alive`, async () => {
    const report = await runHeapChild('stream', testDb.url, ROWS, HEAP_MB);
    expect(report.rows).toBe(ROWS);
    // About one batch of 1,000 rows, and the driver's buffers.
    expect(report.liveGrowthMb).toBeLessThan(10);
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
  // heap-child.ts's wide posts carry 2,000 characters each, in their metadata (light work for the server):
  // 40,000 of them held at once would not fit in the heap the load runs with.
  it('loads 40,000 posts of 2 KB from a generator through a 64 MB heap, keeping under 32 MB alive', async () => {
    const report = await runHeapChild('load-wide', testDb.url, 40_000, 64);
    expect(report.rows).toBe(40_000);
    // Two chunks (8 MB of text each at most) with their rows and batches, and the driver's buffers.
    expect(report.liveGrowthMb).toBeLessThan(32);
    expect(report.retainedMb).toBeLessThan(5);
  });
});
