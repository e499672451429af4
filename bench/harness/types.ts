/**
 * The benchmark harness's contract: what a case hands to the runner (BenchCase, Variant, Target), how
 * it is measured (MeasureOptions, SuiteOptions), and the numbers that come back (CaseResult,
 * SuiteResult) for the reports. Plain data only, so a result can be written as JSON as it is.
 */

export interface Variant {
  /** e.g. 'layer', 'raw pg', 'raw pg (named)', 'spec SQL by hand'; unique within its case. */
  name: string;
  /**
   * One operation. `worker` is 0..concurrency-1 (so cases can give workers disjoint rows); `i` counts
   * this worker's calls for this variant, from 0, across the warm-up and every round of one
   * measureCase call (so it never repeats within a case at one concurrency). Must resolve when the
   * operation is done; a rejection fails the case.
   */
  run(worker: number, i: number): Promise<void>;
}

/** The subject's throughput against the baseline's. */
export interface ThroughputTarget {
  /** Optional: a target without a kind is a throughput target. */
  kind?: 'throughput';
  /** Variant name to compare against. */
  baseline: string;
  /** The layer's variant. */
  subject: string;
  /** Minimum subject/baseline throughput ratio (ops/s ÷ ops/s). */
  minRatio: number;
  /** Judged at this concurrency only (default: at every one the suite measures). */
  concurrency?: number;
}

/**
 * The subject's client CPU per operation against the baseline's: for work whose cost is the client's
 * own (such as routing a read), where throughput on one machine says little.
 */
export interface CpuTarget {
  kind: 'cpu';
  /** Variant name to compare against. */
  baseline: string;
  /** The layer's variant. */
  subject: string;
  /** Maximum subject/baseline ratio of client CPU per operation (µs/op ÷ µs/op). */
  maxRatio: number;
  /** Judged at this concurrency only (default: at every one the suite measures). */
  concurrency?: number;
}

export type Target = ThroughputTarget | CpuTarget;

export interface BenchCase {
  /** e.g. 'getById with relations'. */
  name: string;
  /** At least 2. */
  variants: Variant[];
  /** Usually 1. The first target's baseline is the case's baseline in the reports and the chart. */
  targets: Target[];
  /**
   * Rounds of this case per round the suite asks for (default 1): a CPU target of a few percent needs
   * more interleaved slices than a throughput target does.
   */
  roundsFactor?: number;
  /**
   * Whether the garbage is collected between slices under node --expose-gc (default true). A full
   * collection makes V8 optimize the hot functions again in the next slice: for a case comparing CPU
   * per operation of variants that make the same garbage, false measures the steady state instead.
   */
  gcBetweenSlices?: boolean;
  /** Runs once before this case is measured at one concurrency (e.g. pick ids). */
  setup?(): Promise<void>;
  /** Runs once after, also when an operation failed (e.g. cleanup). */
  teardown?(): Promise<void>;
}

export interface MeasureOptions {
  /** Closed-loop workers per variant, each awaiting its own operation. */
  concurrency: number;
  /** Per variant, once, before the rounds; its numbers are thrown away. 0 skips the warm-up. */
  warmupMs: number;
  /** How long one variant issues operations in one round. */
  sliceMs: number;
  /** Each round runs every variant for one slice, starting with a different variant each round. */
  rounds: number;
}

/** What a whole run measures: every case at every concurrency, with the same timings. */
export interface SuiteOptions extends Omit<MeasureOptions, 'concurrency'> {
  concurrencies: number[];
  /**
   * How many times the whole suite is measured, one run after the other (default 1): a ratio that holds
   * within one run can still move between runs, which only repeating shows.
   */
  repeat?: number;
}

/** Latencies of one variant's operations over all its rounds, in milliseconds (exact, not sketched). */
export interface LatencySummary {
  count: number;
  mean: number;
  min: number;
  /** Nearest-rank percentiles. */
  p50: number;
  p99: number;
  max: number;
}

/** One variant's slice in one round. */
export interface SliceResult {
  round: number;
  variant: string;
  /** Operations completed, including those still in flight when the slice's time was up. */
  ops: number;
  /** From the first operation's start until the last one finished. */
  wallMs: number;
  /** process.cpuUsage() user + system over the slice: the whole client process, pg's parsing included. */
  cpuMicros: number;
  opsPerSecond: number;
}

export interface VariantResult {
  name: string;
  ops: number;
  wallMs: number;
  /** Total ops ÷ total measured wall time. */
  opsPerSecond: number;
  /** The slowest and fastest round's ops/s, to show the noise. */
  roundOpsPerSecond: { min: number; max: number };
  latencyMs: LatencySummary;
  /** Client CPU per operation in µs (includes the pg driver's parsing and the harness's own overhead). */
  cpuMicrosPerOp: number;
  /** This variant's ops/s ÷ the case baseline's ops/s (1 for the baseline itself). */
  ratioToBaseline: number;
}

export interface TargetMeasurement {
  /**
   * Subject ops/s ÷ baseline ops/s (a throughput target), or subject CPU µs/op ÷ baseline CPU µs/op (a
   * CPU target), over all rounds.
   */
  ratio: number;
  /** Subject p50 ÷ baseline p50, for information: above 1 the subject's typical operation is slower. */
  p50Ratio: number;
  /** The same ratio round by round (subject and baseline slices of one round): median and range. */
  roundRatios: RoundRatios;
  /** ratio ≥ minRatio (throughput), ratio ≤ maxRatio (CPU). */
  pass: boolean;
}

/** A ratio taken round by round: its median, and the slowest and fastest round. */
export interface RoundRatios {
  median: number;
  min: number;
  max: number;
}

export type TargetResult = Target & TargetMeasurement;

export interface CaseResult {
  case: string;
  concurrency: number;
  options: MeasureOptions;
  /** The first target's baseline. */
  baseline: string;
  /** In the order the case listed them. */
  variants: VariantResult[];
  targets: TargetResult[];
  /** Measured slices in the order they ran (warm-up left out). */
  slices: SliceResult[];
  /** Whether global.gc ran between slices (node --expose-gc, and the case did not opt out). */
  gcBetweenSlices: boolean;
  /** Which run of a repeated suite measured it, from 1; absent when the suite ran once. */
  run?: number;
}

/** One target of one case at one concurrency over the runs of a repeated suite. */
export type RepeatedTarget = Target & {
  case: string;
  concurrency: number;
  /** The median of the runs' ratios: what the target is judged on. */
  ratio: number;
  /** The median of the runs' p50 ratios. */
  p50Ratio: number;
  /** Every round of every run, taken together. */
  roundRatios: RoundRatios;
  /** The median ratio meets the target. */
  pass: boolean;
  /** Each run's own ratio over all its rounds, and its rounds' median and range, in run order. */
  runs: { run: number; ratio: number; roundRatios: RoundRatios }[];
  /** How far the runs' ratios lie apart: the lowest, the highest, and highest ÷ lowest − 1. */
  spread: { min: number; max: number; relative: number };
};

export interface SuiteResult {
  options: SuiteOptions;
  /** Case by case, each at every concurrency in turn; with repeats, every run's in turn. */
  cases: CaseResult[];
  /** With more than one run: each target over the runs, which the verdicts are taken from. */
  repeats?: RepeatedTarget[];
}

/** What the reports say about the run besides the numbers. */
export interface BenchMeta {
  /** Base name of the written files: `<label>.md`, `<label>.json`, `<label>.svg`. */
  label: string;
  /** ISO 8601. */
  date: string;
  nodeVersion: string;
  postgresVersion: string;
  /** Row counts of the seeded data, e.g. { users: 1000, posts: 10000 }. */
  dataset: Record<string, number>;
  machine: { cores: number; cpuModel: string; platform: string };
  options: SuiteOptions;
  /** Free lines for the header (e.g. 'PostgreSQL on the same machine, embedded'). */
  notes?: string[];
  /** Which cores the client and the server were held to while measuring, or why they were not. */
  pinning?: string[];
}

/** A target that was not met, with where it was measured. */
export type FailedTarget = TargetResult & {
  case: string;
  concurrency: number;
};
