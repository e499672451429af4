/**
 * What the stored search vector costs, measured on the benchmark's data: its bytes in the table, its GIN
 * index, and the time to insert posts with and without it (the trigger that fills it and the index that
 * takes it). Each insert runs in a transaction that is rolled back, so the data stays as seeded.
 */
import type pg from 'pg';
import { percentile } from './harness/statistics.js';

export interface SearchDesignCost {
  postsTableBytes: number;
  vectorBytes: number;
  vectorIndexBytes: number;
  expressionIndexBytes: number;
  insertedRows: number;
  /** Median ms to insert `insertedRows` posts as the schema is, and without the vector's trigger and index. */
  insertMs: { withVector: number; withoutVector: number };
}

const ROWS = 10_000;
const REPEATS = 3;

const median = (values: number[]) => percentile(Float64Array.from(values).sort(), 50);

async function timedInsert(client: pg.ClientBase, withoutVector: boolean): Promise<number> {
  await client.query('BEGIN');
  try {
    if (withoutVector) {
      await client.query('DROP INDEX pg_posts_search_vector_idx');
      await client.query('ALTER TABLE pg_posts DISABLE TRIGGER pg_posts_update_search_vector');
    }
    const started = performance.now();
    await client.query(
      `INSERT INTO pg_posts (id, title, content, published, "authorId", metadata)
       SELECT 'cost-' || id, title, content, published, "authorId", metadata FROM pg_posts LIMIT $1`,
      [ROWS],
    );
    return performance.now() - started;
  } finally {
    await client.query('ROLLBACK');
  }
}

export async function measureSearchDesignCost(pool: pg.Pool): Promise<SearchDesignCost> {
  const client = await pool.connect();
  try {
    const { rows } = await client.query<Omit<SearchDesignCost, 'insertedRows' | 'insertMs'>>(
      `SELECT pg_relation_size('pg_posts')::float8 AS "postsTableBytes",
              (SELECT sum(pg_column_size(search_vector)) FROM pg_posts)::float8 AS "vectorBytes",
              pg_relation_size('pg_posts_search_vector_idx')::float8 AS "vectorIndexBytes",
              pg_relation_size('pg_posts_search_idx')::float8 AS "expressionIndexBytes"`,
    );
    const withVector: number[] = [];
    const withoutVector: number[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat += 1) {
      withVector.push(await timedInsert(client, false));
      withoutVector.push(await timedInsert(client, true));
    }
    return {
      ...(rows[0] as Omit<SearchDesignCost, 'insertedRows' | 'insertMs'>),
      insertedRows: ROWS,
      insertMs: { withVector: median(withVector), withoutVector: median(withoutVector) },
    };
  } finally {
    client.release();
  }
}

export function describeSearchDesignCost(cost: SearchDesignCost): string[] {
  const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  const extra = cost.insertMs.withVector / cost.insertMs.withoutVector;
  return [
    `Stored search vector: ${mb(cost.vectorBytes)} of vectors in a ${mb(cost.postsTableBytes)} table, ` +
      `GIN index ${mb(cost.vectorIndexBytes)} (the spec's expression index: ${mb(cost.expressionIndexBytes)}).`,
    `Inserting ${cost.insertedRows.toLocaleString('en-US')} posts: ${cost.insertMs.withVector.toFixed(0)} ms ` +
      `with the vector, ${cost.insertMs.withoutVector.toFixed(0)} ms without (×${extra.toFixed(2)}).`,
  ];
}
