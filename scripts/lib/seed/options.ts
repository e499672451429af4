/** The seed's options, validated with zod like every input of the layer: bad ones are a ValidationError. */
import { z } from 'zod';
import { validate } from '../../../src/query/input-rules.js';

export const SEED_LIMITS = {
  users: { min: 1, max: 10_000_000 },
  postsPerUser: { min: 0, max: 10_000 },
  seed: { min: 0, max: 4_294_967_295 },
} as const;

/** What the seed has drawn for loading so far: users and posts (roles are a small, unannounced extra). */
export type SeedProgress = (done: number, total: number) => void;
/** The step the seed is at, for a command line that says what it is doing. */
export type SeedPhase = 'users' | 'commit' | 'vacuum' | 'summary';

export interface SeedOptions {
  users: number;
  postsPerUser: number;
  /** Default 1. The same seed gives byte-identical rows. */
  seed?: number;
  /** Empty the three tables first, in the same transaction; without it a non-empty database is refused. */
  reset?: boolean;
  /** Where the tables are; default: the connection's `?schema=`, or `public` for a pg client. */
  schema?: string;
  /** VACUUM ANALYZE the tables after loading (default true), so the planner's statistics are right. */
  vacuum?: boolean;
  onProgress?: SeedProgress;
  onPhase?: (phase: SeedPhase) => void;
}

const whole = ({ min, max }: { min: number; max: number }) =>
  z
    .number(`must be a number`)
    .int(`must be a whole number`)
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max.toLocaleString('en-US')}`);

const callback = <T>() => z.custom<T>((value) => typeof value === 'function', 'must be a function');

export const seedOptionsSchema = z.strictObject({
  users: whole(SEED_LIMITS.users),
  postsPerUser: whole(SEED_LIMITS.postsPerUser),
  seed: whole(SEED_LIMITS.seed).default(1),
  reset: z.boolean().default(false),
  schema: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_$]*$/, 'must be an identifier (letters, digits, _ and $)')
    .max(63, 'must be at most 63 characters')
    .optional(),
  vacuum: z.boolean().default(true),
  onProgress: callback<SeedProgress>().optional(),
  onPhase: callback<(phase: SeedPhase) => void>().optional(),
});

export type ValidSeedOptions = z.output<typeof seedOptionsSchema>;

export function validateSeedOptions(options: SeedOptions): ValidSeedOptions {
  return validate(seedOptionsSchema, options);
}
