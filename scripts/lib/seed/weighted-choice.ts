/**
 * Draws an index with probability proportional to its weight: inverse transform sampling, a binary
 * search over the cumulative weights (a dozen steps for a few thousand words).
 */
import type { Random } from './random.js';

export class WeightedChoice {
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(weights: readonly number[]) {
    if (weights.length === 0) throw new Error('WeightedChoice needs at least one weight');
    this.cumulative = new Float64Array(weights.length);
    let sum = 0;
    weights.forEach((weight, index) => {
      sum += weight;
      this.cumulative[index] = sum;
    });
    this.total = sum;
  }

  get size(): number {
    return this.cumulative.length;
  }

  /** The probability of drawing `index`. */
  probability(index: number): number {
    const below = index === 0 ? 0 : (this.cumulative[index - 1] as number);
    return ((this.cumulative[index] as number) - below) / this.total;
  }

  /** One index, drawn with `random`. */
  draw(random: Random): number {
    const target = random.float() * this.total;
    let low = 0;
    let high = this.cumulative.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.cumulative[middle] as number) > target) high = middle;
      else low = middle + 1;
    }
    return low;
  }
}

/** Zipf's law over `count` ranks: rank r (from 1) has weight 1 / r^exponent. */
export function zipfWeights(count: number, exponent = 1): number[] {
  return Array.from({ length: count }, (_, index) => 1 / (index + 1) ** exponent);
}
