/**
 * Run in a child process with a small heap (`node --max-old-space-size=N --expose-gc`): reads or loads
 * rows through the layer and prints, as one JSON line, how far the heap grew. `stream` reads the rows
 * through `db.streamRaw`; `all` reads the same rows at once through `db.executeRaw` (with a heap smaller
 * than the rows it cannot finish); `load` loads posts through `db.posts.createMany` from a generator;
 * `load-wide` loads posts that are heavy for the client and light for the server (no content, a 2 KB
 * note in their metadata), so a test can exceed a small heap with few rows.
 *
 *   node --max-old-space-size=128 --expose-gc --import tsx bench/large-data/heap-child.ts stream|all|load|load-wide URL ROWS
 */
import { randomBytes } from 'node:crypto';
import { createId } from '@paralleldrive/cuid2';
import { loadConfig } from '../../src/config/load-config.js';
import { createDatabase, type Database } from '../../src/database/database.js';

/** Rows shaped like posts (id, title, content of a few hundred characters, metadata, a timestamp). */
export const POST_SHAPED_ROWS = `
  SELECT 'post-' || i AS id, 'A title for post number ' || i AS title,
         repeat('Some words of content, ' || i || '. ', 12) AS content, i % 3 = 0 AS published,
         'user-' || i % 1000 AS "authorId",
         jsonb_build_object('category', 'news', 'tags', jsonb_build_array('postgres', 't' || i % 20)) AS metadata,
         timestamptz '2024-01-01' + i * interval '1 second' AS created_at
    FROM generate_series(1, $1::int) AS i`;

export interface HeapReport {
  mode: 'stream' | 'all' | 'load' | 'load-wide';
  rows: number;
  /** Heap in use after a full collection before the work began, in MB. */
  baselineMb: number;
  /**
   * The most the heap held right after a full collection while the work ran (every 20,000 rows of a
   * stream, after every chunk of a load), less the baseline: the memory the work keeps alive.
   */
  liveGrowthMb: number;
  /**
   * The most the heap held at any sample, garbage not yet collected included, less the baseline: depends
   * on how much garbage V8 lets pile up (its young generation is larger on newer Node.js versions).
   */
  peakGrowthMb: number;
  /** After the work and a full collection, less the baseline. */
  retainedMb: number;
  seconds: number;
}

const MB = 1024 * 1024;
const gc = (globalThis as { gc?: () => void }).gc;

function* posts(authorId: string, count: number) {
  for (let i = 0; i < count; i += 1) {
    yield {
      title: `A title for post number ${i}`,
      content: `Some words of content, ${i}. `.repeat(12),
      published: i % 3 === 0,
      authorId,
      metadata: { category: 'news', tags: ['postgres', `t${i % 20}`] },
    };
  }
}

/**
 * Posts whose text is one metadata value of 2,000 hex digits (a flat string of its own, not a rope
 * sharing its characters): no search words to index, the same bytes for the client.
 */
function* widePosts(authorId: string, count: number) {
  for (let i = 0; i < count; i += 1) {
    yield { title: `Post ${i}`, authorId, metadata: { note: randomBytes(1000).toString('hex') } };
  }
}

async function measure(db: Database, mode: HeapReport['mode'], rows: number): Promise<HeapReport> {
  const authorId = mode.startsWith('load')
    ? (await db.users.create({ email: `${createId()}@example.com` })).id
    : '';
  await db.executeRaw('SELECT 1');
  gc?.();
  const baseline = process.memoryUsage().heapUsed;
  let peak = baseline;
  let live = baseline;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };
  const sampleLive = () => {
    sample();
    gc?.();
    live = Math.max(live, process.memoryUsage().heapUsed);
  };
  const timer = setInterval(sample, 5);
  const started = performance.now();
  let count = 0;
  if (mode === 'stream') {
    for await (const _ of db.streamRaw(POST_SHAPED_ROWS, [rows], { batchSize: 1000 })) {
      count += 1;
      if (count % 20_000 === 0) sampleLive();
    }
  } else if (mode === 'all') {
    count = (await db.executeRaw(POST_SHAPED_ROWS, [rows])).length;
  } else {
    const generated = mode === 'load' ? posts(authorId, rows) : widePosts(authorId, rows);
    count = (await db.posts.createMany(generated, { onProgress: sampleLive })).count;
  }
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  sample();
  gc?.();
  const retained = process.memoryUsage().heapUsed;
  return {
    mode,
    rows: count,
    baselineMb: baseline / MB,
    liveGrowthMb: (live - baseline) / MB,
    peakGrowthMb: (peak - baseline) / MB,
    retainedMb: (retained - baseline) / MB,
    seconds,
  };
}

{
  const [mode, url, rows] = process.argv.slice(2);
  if (!['stream', 'all', 'load', 'load-wide'].includes(mode ?? '') || !url || !Number(rows)) {
    console.error('usage: heap-child.ts stream|all|load|load-wide URL ROWS');
    process.exit(2);
  }
  const db = createDatabase(
    loadConfig({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: url,
      POSTGRES_URL_NON_POOLING: url,
      DATABASE_LOG_LEVEL: 'error',
    }),
  );
  try {
    console.log(JSON.stringify(await measure(db, mode as HeapReport['mode'], Number(rows))));
  } finally {
    await db.disconnect();
  }
}
