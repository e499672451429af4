/**
 * Exact statistics over recorded latencies: a sort and the nearest-rank percentile. A benchmark keeps
 * at most a few hundred thousand numbers per variant, so sorting them all costs milliseconds and no
 * approximation (histogram, sketch) or dependency is needed.
 */
import type { LatencySummary } from './types.js';

/**
 * The nearest-rank percentile of values sorted ascending: the smallest value such that at least p % of
 * the values are less than or equal to it (rank ⌈p/100 × n⌉). Always one of the recorded values.
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) throw new RangeError('percentile of no values');
  if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be within 0..100, got ${p}`);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1] as number;
}

export function summarizeLatencies(values: readonly number[]): LatencySummary {
  if (values.length === 0) throw new RangeError('no latencies to summarize');
  // A Float64Array sorts numerically (a plain array's default sort compares strings).
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    mean: sum / sorted.length,
    min: sorted[0] as number,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] as number,
  };
}

export function opsPerSecond(ops: number, wallMs: number): number {
  return wallMs > 0 ? (ops * 1000) / wallMs : 0;
}
