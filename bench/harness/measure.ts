/**
 * Runs a case's variants against each other, interleaved, in one process.
 *
 * Each variant first warms up for warmupMs. Then come `rounds` rounds; in each, every variant runs one
 * slice of sliceMs, and the variant that starts rotates from round to round, so none always runs first
 * (or right after the same neighbour) while the machine drifts. In a slice, `concurrency` workers each
 * await their own operation in a loop (a closed loop). When the slice's time is up the workers issue
 * nothing new, but the operations in flight are waited for and counted, and the slice's wall time runs
 * until the last of them finished: cutting them off would favour slow operations.
 *
 * Between slices the harness yields to the event loop (callbacks left by one variant, such as a pg
 * connection going back to the pool, run before the next one starts) and, under `node --expose-gc`,
 * collects garbage, so one variant's garbage is not charged to the next one's time and CPU (unless the
 * case opts out: BenchCase.gcBetweenSlices).
 *
 * CPU is process.cpuUsage() (user + system) over each slice: the whole client process, so it includes
 * the pg driver's parsing and the harness's bookkeeping, which is the same for every variant. The
 * database server's CPU is not in it.
 *
 * A target compares a subject with a baseline by throughput (ops/s ÷ ops/s, at least minRatio), or, as
 * a CPU target, by client CPU per operation (µs/op ÷ µs/op, at most maxRatio).
 *
 * A suite may be repeated (SuiteOptions.repeat): every case at every concurrency, then all of it again.
 * Each target is then judged on the median of the runs' ratios, and the runs' spread shows how far one
 * run's ratio can be trusted.
 */
import { opsPerSecond, percentile, summarizeLatencies } from './statistics.js';
import type {
  BenchCase,
  CaseResult,
  MeasureOptions,
  RepeatedTarget,
  RoundRatios,
  SliceResult,
  SuiteOptions,
  SuiteResult,
  Target,
  TargetResult,
  Variant,
  VariantResult,
} from './types.js';

/** A case or its options that cannot be measured as given; thrown before anything runs. */
export class BenchDefinitionError extends Error {
  override name = 'BenchDefinitionError';
}

/** An operation rejected: the case stops at once, and this names where. */
export class BenchOperationError extends Error {
  override name = 'BenchOperationError';
  constructor(
    readonly caseName: string,
    readonly variant: string,
    readonly concurrency: number,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(`bench case '${caseName}' at concurrency ${concurrency}: variant '${variant}' failed: ${reason}`, {
      cause,
    });
  }
}

/**
 * Per variant, per worker, the next `i`. Handing the same map to another measureCase of the same case and
 * concurrency goes on counting where the last one stopped, so a repeated case never reuses an `i`.
 */
export type CallCounters = Map<string, number[]>;

export async function measureCase(
  c: BenchCase,
  o: MeasureOptions,
  counters: CallCounters = new Map(),
): Promise<CaseResult> {
  checkCase(c);
  checkOptions(o);
  // `i` keeps counting per worker through the warm-up and all rounds, so a case can use it for unique rows.
  for (const v of c.variants)
    if (!counters.has(v.name)) counters.set(v.name, new Array<number>(o.concurrency).fill(0));
  const latencies = new Map(c.variants.map((v) => [v.name, [] as number[]]));
  const slices: SliceResult[] = [];
  const gc = c.gcBetweenSlices === false ? undefined : globalThis.gc;
  const runOne = async (variant: Variant, durationMs: number, round: number | undefined) => {
    await settle(gc);
    try {
      return await runSlice(variant, o.concurrency, durationMs, counters.get(variant.name) ?? [], round);
    } catch (error) {
      throw new BenchOperationError(c.name, variant.name, o.concurrency, error);
    }
  };

  await c.setup?.();
  try {
    if (o.warmupMs > 0) for (const variant of c.variants) await runOne(variant, o.warmupMs, undefined);
    for (let round = 0; round < o.rounds; round++) {
      for (let k = 0; k < c.variants.length; k++) {
        const variant = c.variants[(round + k) % c.variants.length] as Variant;
        const { slice, latencyMs } = await runOne(variant, o.sliceMs, round);
        slices.push(slice);
        const all = latencies.get(variant.name) ?? [];
        for (const value of latencyMs) all.push(value);
      }
    }
  } catch (error) {
    try {
      await c.teardown?.();
    } catch (teardownError) {
      throw new AggregateError([error, teardownError], `${messageOf(error)}; its teardown failed too`);
    }
    throw error;
  }
  await c.teardown?.();
  return summarizeCase(c, o, slices, latencies, gc !== undefined);
}

/** The `onResult` of every step: a line as each case and concurrency is done. */
export const logMeasured = (result: CaseResult): void =>
  console.log(`measured ${result.case} at concurrency ${result.concurrency}`);

/**
 * Every case at every concurrency, in that order, `options.repeat` times over (each result then names its
 * run); `onResult` hears of each as it is done. `beforeRepeat` runs before every run after the first: it
 * puts back the data the writes of the run before changed, so that every run measures the same data.
 */
export async function runSuite(
  cases: readonly BenchCase[],
  options: SuiteOptions,
  onResult?: (result: CaseResult) => void,
  beforeRepeat?: () => Promise<void>,
): Promise<SuiteResult> {
  if (options.concurrencies.length === 0) throw new BenchDefinitionError('no concurrency to measure at');
  const repeat = options.repeat ?? 1;
  if (!(Number.isInteger(repeat) && repeat > 0))
    throw new BenchDefinitionError(`repeat must be a positive integer, got ${repeat}`);
  const counters = new Map<BenchCase, Map<number, CallCounters>>();
  const countersOf = (c: BenchCase, concurrency: number): CallCounters => {
    const byConcurrency = counters.get(c) ?? new Map<number, CallCounters>();
    counters.set(c, byConcurrency);
    const own = byConcurrency.get(concurrency) ?? new Map();
    byConcurrency.set(concurrency, own);
    return own;
  };
  const results: CaseResult[] = [];
  for (let run = 1; run <= repeat; run++) {
    if (run > 1) await beforeRepeat?.();
    for (const c of cases) {
      for (const concurrency of options.concurrencies) {
        const { warmupMs, sliceMs } = options;
        const rounds = options.rounds * (c.roundsFactor ?? 1);
        const measured = await measureCase(
          c,
          { concurrency, warmupMs, sliceMs, rounds },
          countersOf(c, concurrency),
        );
        const result = repeat > 1 ? { ...measured, run } : measured;
        results.push(result);
        onResult?.(result);
      }
    }
  }
  return repeat > 1
    ? { options, cases: results, repeats: summarizeRepeats(results) }
    : { options, cases: results };
}

/**
 * Each target of each case and concurrency over the runs that measured it (the results that name a run):
 * the median of the runs' ratios, which the target is judged on, each run's ratio, and their spread.
 */
export function summarizeRepeats(results: readonly CaseResult[]): RepeatedTarget[] {
  const cells = new Map<string, CaseResult[]>();
  for (const r of results) {
    if (r.run === undefined) continue;
    const key = JSON.stringify([r.case, r.concurrency]);
    cells.set(key, [...(cells.get(key) ?? []), r]);
  }
  const repeated: RepeatedTarget[] = [];
  for (const runs of cells.values()) {
    const first = runs[0] as CaseResult;
    first.targets.forEach((t, k) => {
      const measured = runs.map((r) => ({
        run: r.run as number,
        target: r.targets[k] as TargetResult,
        slices: r.slices,
      }));
      const ratios = measured.map((m) => m.target.ratio);
      const ratio = median(ratios);
      const min = Math.min(...ratios);
      const max = Math.max(...ratios);
      const allRounds = measured.flatMap((m) =>
        roundRatioList(m.slices, t, t.kind === 'cpu' ? cpuPerOp : (s) => s.opsPerSecond),
      );
      repeated.push({
        ...targetOf(t),
        case: first.case,
        concurrency: first.concurrency,
        ratio,
        p50Ratio: median(measured.map((m) => m.target.p50Ratio)),
        roundRatios: rangeOf(allRounds),
        pass: t.kind === 'cpu' ? ratio <= t.maxRatio : ratio >= t.minRatio,
        runs: measured.map((m) => ({ run: m.run, ratio: m.target.ratio, roundRatios: m.target.roundRatios })),
        spread: { min, max, relative: min > 0 ? max / min - 1 : 0 },
      });
    });
  }
  return repeated;
}

/** The target alone, without what a run measured of it. */
function targetOf(t: TargetResult): Target {
  return t.kind === 'cpu'
    ? { kind: 'cpu', baseline: t.baseline, subject: t.subject, maxRatio: t.maxRatio }
    : { ...(t.kind ? { kind: t.kind } : {}), baseline: t.baseline, subject: t.subject, minRatio: t.minRatio };
}

/** The middle value, or the mean of the two middle ones. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] as number)
    : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

async function settle(gc: (() => void) | undefined): Promise<void> {
  await new Promise(setImmediate);
  gc?.();
}

async function runSlice(
  variant: Variant,
  concurrency: number,
  durationMs: number,
  counters: number[],
  round: number | undefined,
): Promise<{ slice: SliceResult; latencyMs: number[] }> {
  const latencyMs: number[] = [];
  let failure: { error: unknown } | undefined;
  const cpuAtStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(durationMs * 1e6));

  const worker = async (w: number) => {
    // do…while: every worker completes at least one operation per slice, so no slice is empty.
    do {
      const i = counters[w] ?? 0;
      counters[w] = i + 1;
      const opStart = process.hrtime.bigint();
      try {
        await variant.run(w, i);
      } catch (error) {
        failure ??= { error };
        return;
      }
      latencyMs.push(Number(process.hrtime.bigint() - opStart) / 1e6);
    } while (failure === undefined && process.hrtime.bigint() < deadline);
  };
  // Workers never reject (they catch), so this waits for every operation in flight, also after a failure.
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  const cpu = process.cpuUsage(cpuAtStart);
  if (failure !== undefined) throw failure.error;

  const ops = latencyMs.length;
  return {
    slice: {
      round: round ?? -1,
      variant: variant.name,
      ops,
      wallMs,
      cpuMicros: cpu.user + cpu.system,
      opsPerSecond: opsPerSecond(ops, wallMs),
    },
    latencyMs,
  };
}

function summarizeCase(
  c: BenchCase,
  o: MeasureOptions,
  slices: SliceResult[],
  latencies: Map<string, number[]>,
  gcBetweenSlices: boolean,
): CaseResult {
  const baseline = (c.targets[0] as Target).baseline; // checkCase made sure there is one
  const byName = new Map<string, Omit<VariantResult, 'ratioToBaseline'>>();
  for (const { name } of c.variants) {
    const own = slices.filter((s) => s.variant === name);
    const ops = sum(own.map((s) => s.ops));
    const wallMs = sum(own.map((s) => s.wallMs));
    const perRound = own.map((s) => s.opsPerSecond);
    byName.set(name, {
      name,
      ops,
      wallMs,
      opsPerSecond: opsPerSecond(ops, wallMs),
      roundOpsPerSecond: { min: Math.min(...perRound), max: Math.max(...perRound) },
      latencyMs: summarizeLatencies(latencies.get(name) ?? []),
      cpuMicrosPerOp: sum(own.map((s) => s.cpuMicros)) / ops,
    });
  }
  const get = (name: string) => byName.get(name) as Omit<VariantResult, 'ratioToBaseline'>;
  const baselineOps = get(baseline).opsPerSecond;
  const variants = c.variants.map(({ name }) => ({
    ...get(name),
    ratioToBaseline: get(name).opsPerSecond / baselineOps,
  }));
  const applying = c.targets.filter((t) => t.concurrency === undefined || t.concurrency === o.concurrency);
  const targets = applying.map((t): TargetResult => {
    const p50Ratio = get(t.subject).latencyMs.p50 / get(t.baseline).latencyMs.p50;
    if (t.kind === 'cpu') {
      const ratio = get(t.subject).cpuMicrosPerOp / get(t.baseline).cpuMicrosPerOp;
      const perRound = rangeOf(roundRatioList(slices, t, cpuPerOp));
      return { ...t, ratio, p50Ratio, roundRatios: perRound, pass: ratio <= t.maxRatio };
    }
    const ratio = get(t.subject).opsPerSecond / get(t.baseline).opsPerSecond;
    const perRound = rangeOf(roundRatioList(slices, t, (s) => s.opsPerSecond));
    return { ...t, ratio, p50Ratio, roundRatios: perRound, pass: ratio >= t.minRatio };
  });
  return {
    case: c.name,
    concurrency: o.concurrency,
    options: { ...o },
    baseline,
    variants,
    targets,
    slices,
    gcBetweenSlices,
  };
}

const cpuPerOp = (s: SliceResult) => (s.ops > 0 ? s.cpuMicros / s.ops : 0);

/**
 * The subject's `metric` (ops/s, or CPU µs/op) ÷ the baseline's within each round (their slices ran back
 * to back), so a slow minute of the machine weighs on both sides of one ratio: the median and the range
 * show how far the whole-run ratio can be trusted.
 */
function roundRatioList(
  slices: readonly SliceResult[],
  t: Target,
  metric: (slice: SliceResult) => number,
): number[] {
  const ratios: number[] = [];
  for (const round of new Set(slices.map((s) => s.round))) {
    const subject = slices.find((s) => s.round === round && s.variant === t.subject);
    const baseline = slices.find((s) => s.round === round && s.variant === t.baseline);
    if (subject && baseline && metric(baseline) > 0) ratios.push(metric(subject) / metric(baseline));
  }
  return ratios;
}

function rangeOf(ratios: readonly number[]): RoundRatios {
  const sorted = [...ratios].sort((a, b) => a - b);
  if (sorted.length === 0) return { median: 0, min: 0, max: 0 };
  return { median: percentile(sorted, 50), min: sorted[0] as number, max: sorted.at(-1) as number };
}

function checkCase(c: BenchCase): void {
  const fail = (why: string) => {
    throw new BenchDefinitionError(`bench case '${c.name}': ${why}`);
  };
  if (c.variants.length < 2) fail('needs at least 2 variants to compare');
  const names = new Set<string>();
  for (const { name } of c.variants) {
    if (names.has(name)) fail(`two variants are named '${name}'`);
    names.add(name);
  }
  if (c.targets.length === 0) fail('needs at least one target (its baseline is the case baseline)');
  if (c.roundsFactor !== undefined && !(Number.isInteger(c.roundsFactor) && c.roundsFactor > 0))
    fail(`roundsFactor must be a positive integer, got ${c.roundsFactor}`);
  for (const t of c.targets) {
    for (const name of [t.baseline, t.subject])
      if (!names.has(name)) fail(`target names no variant '${name}'`);
    if (t.baseline === t.subject) fail(`target compares '${t.subject}' with itself`);
    if (t.kind === 'cpu') {
      if (!(Number.isFinite(t.maxRatio) && t.maxRatio > 0)) fail(`maxRatio must be > 0, got ${t.maxRatio}`);
    } else if (!(Number.isFinite(t.minRatio) && t.minRatio > 0)) {
      fail(`minRatio must be > 0, got ${t.minRatio}`);
    }
  }
}

function checkOptions(o: MeasureOptions): void {
  const positiveInteger = (key: 'concurrency' | 'rounds') => Number.isInteger(o[key]) && o[key] > 0;
  const bad = [
    !positiveInteger('concurrency') && `concurrency must be a positive integer, got ${o.concurrency}`,
    !positiveInteger('rounds') && `rounds must be a positive integer, got ${o.rounds}`,
    !(Number.isFinite(o.sliceMs) && o.sliceMs > 0) && `sliceMs must be > 0, got ${o.sliceMs}`,
    !(Number.isFinite(o.warmupMs) && o.warmupMs >= 0) && `warmupMs must be ≥ 0, got ${o.warmupMs}`,
  ].filter(Boolean);
  if (bad.length > 0) throw new BenchDefinitionError(`bench options: ${bad.join('; ')}`);
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
