/**
 * Call durations in buckets 2 % wide, from 10 µs to beyond 100 s: percentiles within 2 % in a fixed
 * few kilobytes, so a soak of any length keeps no growing list of durations (which would itself be the
 * heap growth the soak looks for).
 */
const SMALLEST_MS = 0.01;
const GROWTH = 1.02;
const BUCKETS = Math.ceil(Math.log(10_000_000) / Math.log(GROWTH)) + 2;

export class LatencyHistogram {
  readonly #buckets = new Uint32Array(BUCKETS);
  #count = 0;
  #max = 0;

  record(ms: number): void {
    const index =
      ms <= SMALLEST_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / SMALLEST_MS) / Math.log(GROWTH)));
    this.#buckets[index] = (this.#buckets[index] ?? 0) + 1;
    this.#count += 1;
    if (ms > this.#max) this.#max = ms;
  }

  get count(): number {
    return this.#count;
  }

  get max(): number {
    return this.#max;
  }

  /** The duration `fraction` of the calls took at most (the bucket's upper bound); 0 when empty. */
  percentile(fraction: number): number {
    if (this.#count === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.#count));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index += 1) {
      seen += this.#buckets[index] ?? 0;
      if (seen >= rank) return Math.min(this.#max, SMALLEST_MS * GROWTH ** index);
    }
    return this.#max;
  }

  add(other: LatencyHistogram): void {
    for (let index = 0; index < BUCKETS; index += 1) {
      this.#buckets[index] = (this.#buckets[index] ?? 0) + (other.#buckets[index] ?? 0);
    }
    this.#count += other.#count;
    this.#max = Math.max(this.#max, other.#max);
  }

  clear(): void {
    this.#buckets.fill(0);
    this.#count = 0;
    this.#max = 0;
  }
}
