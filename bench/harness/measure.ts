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
 */
import { opsPerSecond, percentile, summarizeLatencies } from './statistics.js';
import type {
  BenchCase,
  CaseResult,
  MeasureOptions,
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

export async function measureCase(c: BenchCase, o: MeasureOptions): Promise<CaseResult> {
  checkCase(c);
  checkOptions(o);
  // `i` keeps counting per worker through the warm-up and all rounds, so a case can use it for unique rows.
  const counters = new Map(c.variants.map((v) => [v.name, new Array<number>(o.concurrency).fill(0)]));
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

/** Every case at every concurrency, in that order; `onResult` hears of each as it is done. */
export async function runSuite(
  cases: readonly BenchCase[],
  options: SuiteOptions,
  onResult?: (result: CaseResult) => void,
): Promise<SuiteResult> {
  if (options.concurrencies.length === 0) throw new BenchDefinitionError('no concurrency to measure at');
  const results: CaseResult[] = [];
  for (const c of cases) {
    for (const concurrency of options.concurrencies) {
      const { warmupMs, sliceMs } = options;
      const rounds = options.rounds * (c.roundsFactor ?? 1);
      const result = await measureCase(c, { concurrency, warmupMs, sliceMs, rounds });
      results.push(result);
      onResult?.(result);
    }
  }
  return { options, cases: results };
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
      const perRound = roundRatios(slices, t, (s) => (s.ops > 0 ? s.cpuMicros / s.ops : 0));
      return { ...t, ratio, p50Ratio, roundRatios: perRound, pass: ratio <= t.maxRatio };
    }
    const ratio = get(t.subject).opsPerSecond / get(t.baseline).opsPerSecond;
    const perRound = roundRatios(slices, t, (s) => s.opsPerSecond);
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

/**
 * The subject's `metric` (ops/s, or CPU µs/op) ÷ the baseline's within each round (their slices ran back
 * to back), so a slow minute of the machine weighs on both sides of one ratio: the median and the range
 * show how far the whole-run ratio can be trusted.
 */
function roundRatios(
  slices: readonly SliceResult[],
  t: Target,
  metric: (slice: SliceResult) => number,
): TargetResult['roundRatios'] {
  const ratios: number[] = [];
  for (const round of new Set(slices.map((s) => s.round))) {
    const subject = slices.find((s) => s.round === round && s.variant === t.subject);
    const baseline = slices.find((s) => s.round === round && s.variant === t.baseline);
    if (subject && baseline && metric(baseline) > 0) ratios.push(metric(subject) / metric(baseline));
  }
  ratios.sort((a, b) => a - b);
  return { median: percentile(ratios, 50), min: ratios[0] ?? 0, max: ratios.at(-1) ?? 0 };
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
