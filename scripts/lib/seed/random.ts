/**
 * Seeded randomness for the seed data: pure-rand's xoroshiro128+, one generator per (seed, user, stream).
 *
 * Each user's row, roles and posts come from generators of their own, so any pass can rebuild a user
 * without keeping every user in memory, and user N's data does not depend on how many users come before
 * or after it. The state is built from the three numbers with a bijective mixer, so two different
 * (seed, user, stream) triples never share a state.
 */
import { xoroshiro128plusFromState } from 'pure-rand/generator/xoroshiro128plus';
import type { RandomGenerator } from 'pure-rand/types/RandomGenerator';

/** What a generator is for: the user row, its roles, or its posts. */
export type RandomStream = 'user' | 'roles' | 'posts';

const STREAM_KEYS: Record<RandomStream, number> = { user: 1, roles: 2, posts: 3 };
const TWO_TO_THE_32 = 4_294_967_296;
/** The first outputs of a fresh xoroshiro state are still close to it: skip them. */
const WARM_UP = 4;

/** MurmurHash3's 32-bit finaliser: a bijection on 32-bit integers that spreads every bit of its input. */
function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

export class Random {
  private constructor(private readonly generator: RandomGenerator) {}

  /** The generator of one stream of one user; `seed` and `entity` are 32-bit unsigned integers. */
  static of(seed: number, entity: number, stream: RandomStream): Random {
    const state = [
      mix32(seed ^ 0x6a09e667),
      mix32(entity ^ 0xbb67ae85),
      mix32(STREAM_KEYS[stream] ^ 0x3c6ef372),
      // Never zero, so the state as a whole is never all zeros (xoroshiro's one forbidden state).
      mix32((seed + entity) ^ 0xa54ff53a) | 1,
    ];
    const generator = xoroshiro128plusFromState(state);
    for (let i = 0; i < WARM_UP; i += 1) generator.next();
    return new Random(generator);
  }

  /** A number in [0, 1) with 32 random bits. */
  float(): number {
    return (this.generator.next() >>> 0) / TWO_TO_THE_32;
  }

  /** An integer in [0, n). */
  below(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return min + this.below(max - min + 1);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.below(items.length)] as T;
  }
}
