/**
 * The benchmark harness (bench/harness/) on fake operations with known delays: its arithmetic, its
 * interleaving and its reports. No database here: the harness only awaits promises, and the real
 * comparisons against PostgreSQL are what `npm run bench` measures.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { renderChart, xml } from '../../bench/harness/chart.js';
import {
  BenchDefinitionError,
  BenchOperationError,
  measureCase,
  median,
  runSuite,
  summarizeRepeats,
} from '../../bench/harness/measure.js';
import { formatConsole, formatMarkdown, summarizeTargets, writeResults } from '../../bench/harness/report.js';
import { percentile, summarizeLatencies } from '../../bench/harness/statistics.js';
import type { BenchCase, BenchMeta, CaseResult, SuiteResult, Variant } from '../../bench/harness/types.js';
import { parseCoreList } from '../../bench/pinning.js';
import { sleep } from '../support/sleep.js';

const dir = mkdtempSync(join(tmpdir(), 'shared-db-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

const quick = { warmupMs: 5, sliceMs: 5, rounds: 2, concurrency: 2 };

/**
 * Runs `work` on a fake clock: performance.now(), process.hrtime and the timers move only from one timer
 * to the next, once every callback due has run. So `sleep(10)` lasts exactly 10 ms by the harness's clock
 * however busy the machine is, and what the harness makes of known delays can be checked exactly.
 */
async function onFakeClock<T>(work: () => Promise<T>): Promise<T> {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'performance', 'hrtime'],
  });
  try {
    let done = false;
    const running = work().finally(() => {
      done = true;
    });
    while (!done) await vi.advanceTimersToNextTimerAsync();
    return await running;
  } finally {
    vi.useRealTimers();
  }
}

describe('measureCase', () => {
  it('measures a 10 ms operation at twice the ops/s of a 20 ms one, at concurrency 1 and 4', async () => {
    const c: BenchCase = {
      name: 'fast vs slow',
      variants: [
        { name: 'fast', run: () => sleep(10) },
        { name: 'slow', run: () => sleep(20) },
      ],
      targets: [
        { baseline: 'slow', subject: 'fast', minRatio: 1.5 },
        { baseline: 'fast', subject: 'slow', minRatio: 0.9 },
      ],
    };
    const seen: CaseResult[] = [];
    const suite = await onFakeClock(() =>
      runSuite([c], { concurrencies: [1, 4], warmupMs: 20, sliceMs: 150, rounds: 3 }, (r) => seen.push(r)),
    );

    expect(suite.cases.map((r) => r.concurrency)).toEqual([1, 4]);
    expect(seen).toEqual(suite.cases);
    for (const r of suite.cases) {
      const [fast, slow] = r.variants;
      if (!fast || !slow) throw new Error('two variants expected');
      // Each worker runs until the slice's 150 ms are up: 15 fast operations end at 150 ms; the 8th slow
      // one starts at 140 ms, and the slice lasts until it ends, at 160 ms.
      expect(r.slices.map((s) => [s.variant, s.ops / r.concurrency, s.wallMs])).toEqual([
        ['fast', 15, 150],
        ['slow', 8, 160],
        ['slow', 8, 160],
        ['fast', 15, 150],
        ['fast', 15, 150],
        ['slow', 8, 160],
      ]);
      expect(fast.opsPerSecond).toBeCloseTo(100 * r.concurrency, 9);
      expect(slow.opsPerSecond).toBeCloseTo(50 * r.concurrency, 9);
      expect(fast.latencyMs).toMatchObject({ count: 45 * r.concurrency, min: 10, p50: 10, p99: 10, max: 10 });
      expect(slow.latencyMs).toMatchObject({ count: 24 * r.concurrency, min: 20, p50: 20, p99: 20, max: 20 });
      for (const v of r.variants) {
        const own = r.slices.filter((s) => s.variant === v.name);
        // A closed loop of `concurrency` workers with no gap between operations: ops/s = concurrency ÷ mean latency.
        expect(v.opsPerSecond).toBeCloseTo((r.concurrency * 1000) / v.latencyMs.mean, 9);
        expect(v.ops).toBe(v.latencyMs.count);
        expect(v.ops).toBe(own.reduce((n, s) => n + s.ops, 0));
        expect(v.wallMs).toBe(own.reduce((n, s) => n + s.wallMs, 0));
        expect(v.roundOpsPerSecond).toEqual({ min: v.opsPerSecond, max: v.opsPerSecond });
        expect(v.cpuMicrosPerOp).toBeCloseTo(own.reduce((n, s) => n + s.cpuMicros, 0) / v.ops, 9);
        expect(v.cpuMicrosPerOp).toBeGreaterThanOrEqual(0);
      }
      expect(fast.ratioToBaseline).toBeCloseTo(2, 9);
      expect(slow.ratioToBaseline).toBe(1);
      const [fastTarget, slowTarget] = r.targets;
      expect(fastTarget).toMatchObject({ subject: 'fast', pass: true });
      expect(fastTarget?.ratio).toBeCloseTo(2, 9);
      expect(fastTarget?.p50Ratio).toBeCloseTo(0.5, 9);
      // Round by round, fast is twice slow too.
      expect(fastTarget?.roundRatios.median).toBeCloseTo(2, 9);
      expect(fastTarget?.roundRatios.min).toBeCloseTo(2, 9);
      expect(fastTarget?.roundRatios.max).toBeCloseTo(2, 9);
      expect(slowTarget).toMatchObject({ subject: 'slow', pass: false });
      expect(slowTarget?.ratio).toBeCloseTo(0.5, 9);
    }
    // The concurrency-4 run does four times the work per second of the concurrency-1 run.
    const fastAt = (n: number) =>
      suite.cases.find((r) => r.concurrency === n)?.variants[0]?.opsPerSecond ?? 0;
    expect(fastAt(4) / fastAt(1)).toBeCloseTo(4, 9);

    const failed = summarizeTargets(suite);
    expect(failed.map((t) => [t.case, t.concurrency, t.subject, t.baseline])).toEqual([
      ['fast vs slow', 1, 'slow', 'fast'],
      ['fast vs slow', 4, 'slow', 'fast'],
    ]);
  });

  it('rotates the variant that starts each round, and counts i per worker from 0 through the whole case', async () => {
    const calls: { variant: string; worker: number; i: number }[] = [];
    const variant = (name: string): Variant => ({
      name,
      run: async (worker, i) => {
        calls.push({ variant: name, worker, i });
        await tick();
      },
    });
    const result = await measureCase(
      {
        name: 'order',
        variants: ['a', 'b', 'c'].map(variant),
        targets: [{ baseline: 'a', subject: 'b', minRatio: 1 }],
      },
      { ...quick, rounds: 4 },
    );

    const slicesRun = calls.map((call) => call.variant).filter((name, k, all) => name !== all[k - 1]);
    // The warm-up, then rounds 0..3 starting with a, b, c, a.
    expect(slicesRun.join('')).toBe('abc' + 'abc' + 'bca' + 'cab' + 'abc');
    expect(result.slices.map((s) => `${s.round}${s.variant}`)).toEqual([
      '0a',
      '0b',
      '0c',
      '1b',
      '1c',
      '1a',
      '2c',
      '2a',
      '2b',
      '3a',
      '3b',
      '3c',
    ]);
    for (const name of ['a', 'b', 'c']) {
      for (const worker of [0, 1]) {
        const is = calls
          .filter((call) => call.variant === name && call.worker === worker)
          .map((call) => call.i);
        expect(is.length).toBeGreaterThan(4);
        expect(is).toEqual(is.map((_, k) => k));
      }
    }
    expect(new Set(calls.map((call) => call.worker))).toEqual(new Set([0, 1]));
  });

  it('gives a subject measured against two baselines both ratios, each also round by round', async () => {
    // The shape of every bench case: the layer against the same SQL named and unnamed.
    const result = await onFakeClock(() =>
      measureCase(
        {
          name: 'two baselines',
          variants: [
            { name: 'layer', run: () => sleep(10) },
            { name: 'raw pg named', run: () => sleep(10) },
            { name: 'raw pg', run: () => sleep(20) },
          ],
          targets: [
            { baseline: 'raw pg named', subject: 'layer', minRatio: 0.5 },
            { baseline: 'raw pg', subject: 'layer', minRatio: 1.5 },
          ],
        },
        { concurrency: 1, warmupMs: 0, sliceMs: 100, rounds: 3 },
      ),
    );

    expect(result.baseline).toBe('raw pg named');
    expect(result.slices).toHaveLength(9);
    for (const round of [0, 1, 2])
      expect(new Set(result.slices.filter((s) => s.round === round).map((s) => s.variant)).size).toBe(3);
    const ops = (name: string) => result.variants.find((v) => v.name === name)?.opsPerSecond ?? 0;
    expect([ops('layer'), ops('raw pg named'), ops('raw pg')]).toEqual([100, 100, 50]);
    expect(result.variants.map((v) => v.ratioToBaseline)).toEqual([1, 1, 0.5]);
    const [named, unnamed] = result.targets;
    expect(named).toMatchObject({ ratio: 1, p50Ratio: 1, roundRatios: { median: 1, min: 1, max: 1 } });
    expect(unnamed).toMatchObject({ ratio: 2, p50Ratio: 0.5, roundRatios: { median: 2, min: 2, max: 2 } });
    expect(result.targets.map((t) => t.pass)).toEqual([true, true]);
  });

  it('judges a target with a concurrency at that concurrency alone', async () => {
    const at = (concurrency: number) =>
      onFakeClock(() =>
        measureCase(
          {
            name: 'one concurrency',
            variants: [
              { name: 'baseline', run: () => sleep(20) },
              { name: 'subject', run: () => sleep(10) },
            ],
            targets: [{ baseline: 'baseline', subject: 'subject', minRatio: 5, concurrency: 1 }],
          },
          { concurrency, warmupMs: 0, sliceMs: 100, rounds: 1 },
        ),
      );
    const [one, two] = [await at(1), await at(2)];
    expect(one.targets).toMatchObject([{ ratio: 2, pass: false }]);
    expect(one.baseline).toBe('baseline');
    expect(two.targets).toEqual([]);
    expect(two.baseline).toBe('baseline');
  });

  it('judges a CPU target by client CPU per operation, over all rounds and round by round', async () => {
    /** Burns `micros` of this process's CPU, as the routing of a read would. */
    const burn = (micros: number) => {
      const start = process.cpuUsage();
      for (;;) {
        const used = process.cpuUsage(start);
        if (used.user + used.system >= micros) return;
      }
    };
    const result = await measureCase(
      {
        name: 'cpu',
        variants: [
          { name: 'light', run: () => tick() },
          {
            name: 'heavy',
            run: async () => {
              burn(2000);
              await tick();
            },
          },
        ],
        targets: [
          { baseline: 'light', subject: 'heavy', minRatio: 1e-9 },
          { kind: 'cpu', baseline: 'light', subject: 'heavy', maxRatio: 1.05 },
          { kind: 'cpu', baseline: 'heavy', subject: 'light', maxRatio: 1.05 },
        ],
      },
      { ...quick, rounds: 3 },
    );

    const [light, heavy] = result.variants;
    if (!light || !heavy) throw new Error('two variants expected');
    expect(heavy.cpuMicrosPerOp).toBeGreaterThanOrEqual(2000);
    const [throughput, heavyCpu, lightCpu] = result.targets;
    // A target without a kind is judged, and written, as before: by ops/s.
    expect(throughput).not.toHaveProperty('kind');
    expect(throughput?.ratio).toBeCloseTo(heavy.opsPerSecond / light.opsPerSecond, 9);
    expect(heavyCpu).toMatchObject({ kind: 'cpu', maxRatio: 1.05, pass: false });
    expect(heavyCpu?.ratio).toBeCloseTo(heavy.cpuMicrosPerOp / light.cpuMicrosPerOp, 9);
    expect(heavyCpu?.ratio).toBeGreaterThan(5);
    expect(lightCpu).toMatchObject({ pass: true });
    expect(lightCpu?.ratio).toBeCloseTo(light.cpuMicrosPerOp / heavy.cpuMicrosPerOp, 9);
    const perRound = [0, 1, 2]
      .map((round) => {
        const perOp = (variant: string) => {
          const slice = result.slices.find((s) => s.round === round && s.variant === variant);
          return (slice?.cpuMicros ?? 0) / (slice?.ops ?? 1);
        };
        return perOp('heavy') / perOp('light');
      })
      .sort((a, b) => a - b);
    expect(heavyCpu?.roundRatios.min).toBeCloseTo(perRound[0] ?? 0, 9);
    expect(heavyCpu?.roundRatios.median).toBeCloseTo(perRound[1] ?? 0, 9);
    expect(heavyCpu?.roundRatios.max).toBeCloseTo(perRound[2] ?? 0, 9);
    expect(summarizeTargets({ options: { ...quick, concurrencies: [2] }, cases: [result] })).toEqual([
      expect.objectContaining({ case: 'cpu', concurrency: 2, kind: 'cpu', subject: 'heavy' }),
    ]);
  });

  it("multiplies the suite's rounds by a case's roundsFactor, and collects garbage between slices unless the case opts out", async () => {
    const collect = vi.fn();
    const saved = globalThis.gc;
    globalThis.gc = collect as unknown as typeof globalThis.gc;
    try {
      const c = (name: string, more: Partial<BenchCase>): BenchCase => ({
        name,
        variants: [
          { name: 'a', run: () => tick() },
          { name: 'b', run: () => tick() },
        ],
        targets: [{ baseline: 'a', subject: 'b', minRatio: 1e-9 }],
        ...more,
      });
      const suite = await runSuite(
        [c('plain', {}), c('steady', { roundsFactor: 3, gcBetweenSlices: false })],
        {
          concurrencies: [1],
          warmupMs: 1,
          sliceMs: 2,
          rounds: 2,
        },
      );
      const [plain, steady] = suite.cases;
      expect(plain).toMatchObject({ options: { rounds: 2 }, gcBetweenSlices: true });
      expect(new Set(plain?.slices.map((s) => s.round))).toEqual(new Set([0, 1]));
      // Once before each warm-up and each slice of the plain case, never for the other.
      expect(collect).toHaveBeenCalledTimes(2 + 2 * 2);
      expect(steady).toMatchObject({ options: { rounds: 6 }, gcBetweenSlices: false });
      expect(steady?.slices).toHaveLength(12);
      const md = formatMarkdown(suite, { ...meta, options: suite.options });
      expect(md).toContain('2 rounds (6 for steady) × 2 ms slice');
      expect(md).toContain('gc between slices: yes, except for steady');
    } finally {
      globalThis.gc = saved;
    }
    await expect(
      measureCase(
        {
          name: 'bad factor',
          variants: [
            { name: 'a', run: () => tick() },
            { name: 'b', run: () => tick() },
          ],
          targets: [{ baseline: 'a', subject: 'b', minRatio: 1 }],
          roundsFactor: 0.5,
        },
        quick,
      ),
    ).rejects.toThrow(/roundsFactor/);
  });

  it('waits for the operations in flight when a slice ends, counts them, and times the slice until they end', async () => {
    let slowCalls = 0;
    const result = await onFakeClock(() =>
      measureCase(
        {
          name: 'in flight',
          variants: [
            { name: 'quick', run: () => sleep(1) },
            {
              name: 'slow',
              run: async () => {
                slowCalls++;
                await sleep(40);
              },
            },
          ],
          targets: [{ baseline: 'quick', subject: 'slow', minRatio: 0.01 }],
        },
        { concurrency: 4, warmupMs: 0, sliceMs: 5, rounds: 2 },
      ),
    );

    // Each of the 4 workers starts one 40 ms operation before the 5 ms slice is up, and the slice
    // lasts until all four have ended.
    const slow = result.slices.filter((s) => s.variant === 'slow');
    expect(slow.map((s) => [s.ops, s.wallMs])).toEqual([
      [4, 40],
      [4, 40],
    ]);
    expect(slowCalls).toBe(8);
    const v = result.variants.find((x) => x.name === 'slow');
    expect(v).toMatchObject({ ops: 8, wallMs: 80, opsPerSecond: 100 });
    expect(v?.latencyMs).toMatchObject({ count: 8, min: 40, max: 40 });
    const quickSlices = result.slices.filter((s) => s.variant === 'quick');
    expect(quickSlices.map((s) => [s.ops, s.wallMs])).toEqual([
      [20, 5],
      [20, 5],
    ]);
  });

  it('fails the case with the variant and the error when an operation rejects, after its siblings end', async () => {
    let inFlight = 0;
    let calls = 0;
    const boom = new Error('boom: relation "x" does not exist');
    const teardown = vi.fn(async () => {});
    const c: BenchCase = {
      name: 'failing case',
      variants: [
        { name: 'raw pg', run: () => tick() },
        {
          name: 'layer <flaky>',
          run: async (_worker, i) => {
            calls++;
            inFlight++;
            try {
              await sleep(1);
              // Every worker runs at least one operation a slice: each reaches its second (i = 1) by the
              // first round, whatever the machine's speed.
              if (i === 1) throw boom;
            } finally {
              inFlight--;
            }
          },
        },
      ],
      targets: [{ baseline: 'raw pg', subject: 'layer <flaky>', minRatio: 0.8 }],
      teardown,
    };

    const error = await measureCase(c, { ...quick, concurrency: 3 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BenchOperationError);
    const failure = error as BenchOperationError;
    expect(failure.message).toContain("'layer <flaky>'");
    expect(failure.message).toContain("'failing case'");
    expect(failure.message).toContain('boom: relation "x" does not exist');
    expect(failure).toMatchObject({ variant: 'layer <flaky>', caseName: 'failing case', concurrency: 3 });
    expect(failure.cause).toBe(boom);
    expect(inFlight).toBe(0);
    expect(teardown).toHaveBeenCalledTimes(1);
    const callsAtFailure = calls;
    await sleep(20);
    expect(calls).toBe(callsAtFailure);
  });

  it('fails on an operation that throws instead of rejecting', async () => {
    const c: BenchCase = {
      name: 'throwing',
      variants: [
        { name: 'ok', run: () => tick() },
        {
          name: 'sync',
          run: () => {
            throw new TypeError('not a promise');
          },
        },
      ],
      targets: [{ baseline: 'ok', subject: 'sync', minRatio: 1 }],
    };
    await expect(measureCase(c, quick)).rejects.toThrow(/variant 'sync' failed: TypeError: not a promise/);
  });

  it('refuses a case or options it cannot measure before running anything', async () => {
    const run = vi.fn(() => tick());
    const v = (name: string): Variant => ({ name, run });
    const target = { baseline: 'a', subject: 'b', minRatio: 1 };
    const refused = async (c: BenchCase, o = quick) => {
      const error = await measureCase(c, o).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(BenchDefinitionError);
      return (error as Error).message;
    };
    expect(await refused({ name: 'one', variants: [v('a')], targets: [target] })).toMatch(
      /at least 2 variants/,
    );
    expect(await refused({ name: 'dup', variants: [v('a'), v('a')], targets: [target] })).toMatch(
      /two variants/,
    );
    expect(await refused({ name: 'unknown', variants: [v('a'), v('c')], targets: [target] })).toMatch(/'b'/);
    expect(await refused({ name: 'none', variants: [v('a'), v('b')], targets: [] })).toMatch(
      /at least one target/,
    );
    expect(
      await refused({ name: 'ratio', variants: [v('a'), v('b')], targets: [{ ...target, minRatio: 0 }] }),
    ).toMatch(/minRatio/);
    expect(
      await refused({
        name: 'cpu ratio',
        variants: [v('a'), v('b')],
        targets: [{ kind: 'cpu', baseline: 'a', subject: 'b', maxRatio: 0 }],
      }),
    ).toMatch(/maxRatio/);
    expect(
      await refused(
        { name: 'opts', variants: [v('a'), v('b')], targets: [target] },
        { ...quick, concurrency: 0 },
      ),
    ).toMatch(/concurrency/);
    expect(run).not.toHaveBeenCalled();
  });
});

describe('statistics', () => {
  it('takes nearest-rank percentiles', () => {
    const hundred = Array.from({ length: 100 }, (_, k) => k + 1);
    expect(percentile(hundred, 50)).toBe(50);
    expect(percentile(hundred, 99)).toBe(99);
    expect(percentile(hundred, 100)).toBe(100);
    expect(percentile(hundred, 0)).toBe(1);
    // The textbook example: 15, 20, 35, 40, 50.
    const five = [15, 20, 35, 40, 50];
    expect([5, 30, 40, 50, 100].map((p) => percentile(five, p))).toEqual([15, 20, 20, 35, 50]);
    expect(percentile([7], 99)).toBe(7);
    expect(() => percentile([], 50)).toThrow(RangeError);
    expect(() => percentile(five, 101)).toThrow(RangeError);
  });

  it('summarizes unsorted latencies numerically, not as strings', () => {
    expect(summarizeLatencies([10, 9, 2, 100, 1])).toEqual({
      count: 5,
      mean: 24.4,
      min: 1,
      p50: 9,
      p99: 100,
      max: 100,
    });
    const thousand = Array.from({ length: 1000 }, (_, k) => 1000 - k);
    expect(summarizeLatencies(thousand)).toMatchObject({
      p50: 500,
      p99: 990,
      min: 1,
      max: 1000,
      mean: 500.5,
    });
  });
});

describe('a repeated suite', () => {
  it('measures every case at every concurrency once per run, counting i on across the runs', async () => {
    const calls = new Map<string, number[]>();
    const variant = (name: string, ms: number): Variant => ({
      name,
      run: async (worker, i) => {
        const key = `${name}/${worker}`;
        calls.set(key, [...(calls.get(key) ?? []), i]);
        await sleep(ms);
      },
    });
    const c: BenchCase = {
      name: 'repeated',
      variants: [variant('fast', 10), variant('slow', 20)],
      targets: [{ baseline: 'slow', subject: 'fast', minRatio: 1.5 }],
    };
    // What runs before each run after the first (putting the data back): after the run before, never before the first.
    const restoredAfter: number[] = [];
    const suite = await onFakeClock(() =>
      runSuite(
        [c],
        { concurrencies: [2], warmupMs: 10, sliceMs: 40, rounds: 2, repeat: 3 },
        undefined,
        async () => {
          restoredAfter.push(calls.get('fast/0')?.length ?? 0);
        },
      ),
    );

    expect(suite.cases.map((r) => [r.run, r.concurrency])).toEqual([
      [1, 2],
      [2, 2],
      [3, 2],
    ]);
    const perRun = (calls.get('fast/0')?.length ?? 0) / 3;
    expect(restoredAfter).toEqual([perRun, 2 * perRun]);
    // A case's rows stay unique over the runs: no worker of a variant sees the same i twice.
    for (const [key, seen] of calls) expect(new Set(seen).size, key).toBe(seen.length);
    expect(calls.size).toBe(4);
    expect(suite.repeats?.map((t) => [t.case, t.concurrency, t.runs.map((r) => r.run)])).toEqual([
      ['repeated', 2, [1, 2, 3]],
    ]);
    for (const t of suite.repeats ?? []) {
      expect(t.ratio).toBeCloseTo(2, 9);
      expect(t.spread.relative).toBeCloseTo(0, 9);
      expect(t.pass).toBe(true);
    }
    expect(summarizeTargets(suite)).toEqual([]);
  });

  it('judges each target on the median of the runs, and gives each run and their spread', () => {
    const runOf = (run: number, layer: number): CaseResult => ({
      ...fakeCase(
        'user by id',
        1,
        [
          ['layer', layer],
          ['raw pg named', 1000],
        ],
        [{ baseline: 'raw pg named', subject: 'layer', minRatio: 0.9 }],
      ),
      run,
    });
    const cases = [runOf(1, 950), runOf(2, 800), runOf(3, 880)];
    const [repeated] = summarizeRepeats(cases);
    expect(repeated).toMatchObject({
      case: 'user by id',
      concurrency: 1,
      subject: 'layer',
      baseline: 'raw pg named',
      minRatio: 0.9,
      pass: false,
      spread: { min: 0.8, max: 0.95 },
    });
    expect(repeated?.ratio).toBeCloseTo(0.88, 9);
    expect(repeated?.spread.relative).toBeCloseTo(0.95 / 0.8 - 1, 9);
    expect(repeated?.runs.map((r) => [r.run, r.ratio])).toEqual([
      [1, 0.95],
      [2, 0.8],
      [3, 0.88],
    ]);

    const repeatedSuite: SuiteResult = {
      options: { ...suite.options, repeat: 3 },
      cases,
      repeats: summarizeRepeats(cases),
    };
    expect(summarizeTargets(repeatedSuite).map((t) => t.ratio)).toEqual([repeated?.ratio]);
    const md = formatMarkdown(repeatedSuite, {
      ...meta,
      options: repeatedSuite.options,
      pinning: ['client on core 0', 'server on core 1'],
    });
    expect(md).toContain('## Targets over 3 runs');
    expect(md).toContain('| user by id | 1 | layer ≥ 0.90× raw pg named | 0.88× ✗ | 0.95× · 0.80× · 0.88× |');
    expect(md).toContain('0.80×–0.95× (19 %)');
    expect(md).toContain('## Targets, run by run');
    expect(md).toContain('| user by id · run 2 | 1 |');
    expect(md).toContain('repeated 3 times');
    expect(md).toContain('**Pinning:** client on core 0; server on core 1');
    expect(md).toContain('Targets: 1 of 1 missed ✗, on the median of 3 runs');
    expect(formatConsole(repeatedSuite)).toContain('0.95× · 0.80× · 0.88×');
    expect(checkWellFormed(renderChart(repeatedSuite, meta))).toBe('svg');
  });

  it('takes the median of an even number of runs halfway between the middle two', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(() => median([])).toThrow(RangeError);
  });
});

describe('pinning', () => {
  it('reads the core lists taskset prints', () => {
    expect(parseCoreList('0,1')).toEqual([0, 1]);
    expect(parseCoreList('0-3,6\n')).toEqual([0, 1, 2, 3, 6]);
    expect(() => parseCoreList('zero')).toThrow(RangeError);
  });
});

/** A measured-looking case with the given ops/s and p50 per variant; the first target's baseline leads. */
function fakeCase(
  name: string,
  concurrency: number,
  variants: [string, number][],
  targets: { baseline: string; subject: string; minRatio: number }[],
): CaseResult {
  const ops = new Map(variants);
  const of = (variant: string) => ops.get(variant) ?? Number.NaN;
  const baseline = targets[0]?.baseline ?? '';
  return {
    case: name,
    concurrency,
    options: { concurrency, warmupMs: 1000, sliceMs: 1000, rounds: 5 },
    baseline,
    variants: variants.map(([variant, opsPerSecond]) => ({
      name: variant,
      ops: opsPerSecond * 5,
      wallMs: 5000,
      opsPerSecond,
      roundOpsPerSecond: { min: opsPerSecond * 0.95, max: opsPerSecond * 1.04 },
      latencyMs: {
        count: opsPerSecond * 5,
        mean: 1100 / opsPerSecond,
        min: 0.1,
        p50: 1000 / opsPerSecond,
        p99: 3,
        max: 9,
      },
      cpuMicrosPerOp: 123.4,
      ratioToBaseline: opsPerSecond / of(baseline),
    })),
    targets: targets.map((t) => ({
      ...t,
      ratio: of(t.subject) / of(t.baseline),
      p50Ratio: of(t.baseline) / of(t.subject),
      roundRatios: { median: of(t.subject) / of(t.baseline), min: 0.5, max: 3 },
      pass: of(t.subject) / of(t.baseline) >= t.minRatio,
    })),
    slices: [],
    gcBetweenSlices: false,
  };
}

const EVIL = 'search <b>"tom & jerry"</b> | pipes';
const suite: SuiteResult = {
  options: { concurrencies: [1, 10], warmupMs: 1000, sliceMs: 1000, rounds: 5 },
  cases: [1, 10].flatMap((concurrency) => [
    fakeCase(
      'getById with relations',
      concurrency,
      [
        ['layer', 3600],
        ['raw pg named', 4000],
        ['raw pg', 2000],
      ],
      [
        { baseline: 'raw pg named', subject: 'layer', minRatio: 0.8 },
        { baseline: 'raw pg', subject: 'layer', minRatio: 1.5 },
      ],
    ),
    fakeCase(
      EVIL,
      concurrency,
      [
        ['raw pg', 900],
        ['layer <x>', 600],
        ['spec SQL by hand', 1000],
      ],
      [
        { baseline: 'raw pg', subject: 'layer <x>', minRatio: 0.8 },
        { baseline: 'spec SQL by hand', subject: 'layer <x>', minRatio: 0.5 },
      ],
    ),
  ]),
};
const meta: BenchMeta = {
  label: 'test-run',
  date: '2025-11-27T12:00:00.000Z',
  nodeVersion: 'v20.20.2',
  postgresVersion: '18.1',
  dataset: { users: 1000, posts: 10000 },
  machine: { cores: 2, cpuModel: 'Test CPU <fast>', platform: 'linux x64' },
  options: suite.options,
  notes: ['embedded PostgreSQL on the same machine'],
};

describe('reports', () => {
  it('lists the missed targets', () => {
    expect(summarizeTargets(suite).map((t) => [t.case, t.concurrency, t.baseline])).toEqual([
      [EVIL, 1, 'raw pg'],
      [EVIL, 10, 'raw pg'],
    ]);
  });

  it('prints aligned console tables: every variant with its ratio, then every target with its verdict', () => {
    const text = formatConsole(suite);
    const lines = text.trimEnd().split('\n');
    const headers = lines.filter((l) => l.startsWith('case '));
    expect(headers).toHaveLength(2);
    const [variantHeader = '', targetHeader = ''] = headers;
    const variantTable = lines.slice(lines.indexOf(variantHeader), lines.indexOf(targetHeader));
    const targetTable = lines.slice(lines.indexOf(targetHeader));
    const isRow = (l: string) => !/^(case |-+$|Targets|CPU|$)/.test(l);
    const variantRows = variantTable.filter(isRow);
    const targetRows = targetTable.filter(isRow);
    expect(variantRows).toHaveLength(12);
    expect(targetRows).toHaveLength(8);
    // Right-aligned numbers end under their title's end; every row is as wide as the widest.
    const opsEnd = variantHeader.indexOf('ops/s') + 'ops/s'.length;
    const versusEnd = variantHeader.indexOf('vs baseline') + 'vs baseline'.length;
    for (const row of variantRows) {
      expect(row.slice(opsEnd - 5, opsEnd)).toMatch(/\d$/);
      expect(row[opsEnd]).toBe(' ');
      expect(row.length).toBe(versusEnd);
      expect(row).toMatch(/(\d\.\d\d×|baseline)$/);
    }
    // The case and concurrency stand on a group's first row only.
    expect(variantRows.filter((row) => row.startsWith('getById with relations'))).toHaveLength(2);
    expect(variantRows.filter((row) => row.startsWith(' '))).toHaveLength(8);
    const ratioEnd = targetHeader.indexOf('ratio') + 'ratio'.length;
    for (const row of targetRows) {
      expect(row.slice(ratioEnd - 7, ratioEnd)).toMatch(/^\d\.\d\d× [✓✗]$/);
      expect(row).toBe(row.trimEnd());
    }
    expect(variantRows[0]).toMatch(/^getById with relations\s+1\s+layer\s+3,600 .* 0\.90×$/);
    expect(variantRows[1]).toMatch(/raw pg named .* baseline$/);
    expect(variantRows[2]).toMatch(/raw pg .* 0\.50×$/);
    expect(targetRows[0]).toMatch(
      /^getById with relations\s+1\s+layer ≥ 0\.80× raw pg named\s+0\.90× ✓\s+0\.90×\s+0\.50×–3\.00× \(500 %\)/,
    );
    expect(targetRows[1]).toMatch(/^\s+layer ≥ 1\.50× raw pg\s+1\.80× ✓/);
    expect(text).toContain('layer <x> ≥ 0.80× raw pg  ');
    expect(text).toContain('0.67× ✗');
    expect(text).toContain('Targets: 2 of 8 missed ✗');
    expect(text).toContain('pg driver');
  });

  it('writes markdown tables, one row per target and one per variant, under a header with the meta', () => {
    const md = formatMarkdown(suite, meta);
    const rows = md.split('\n').filter((l) => /^\| (?!case |---)/.test(l));
    const cells = (row: string) => row.split(/(?<!\\)\|/).length - 2;
    expect(rows.filter((row) => cells(row) === 7)).toHaveLength(8);
    expect(rows.filter((row) => cells(row) === 9)).toHaveLength(12);
    expect(md.indexOf('## Targets')).toBeLessThan(md.indexOf('## Variants'));
    expect(md).toContain(
      '| getById with relations | 10 | layer ≥ 1.50× raw pg | 1.80× ✓ | 1.80× | 0.50×–3.00× (500 %) | 0.56× |',
    );
    expect(md).toContain(
      '| getById with relations | 1 | raw pg named | 4,000 | 3,800–4,160 | 0.250 | 3.00 | 123 | baseline |',
    );
    expect(md).toContain('search &lt;b&gt;"tom &amp; jerry"&lt;/b&gt; \\| pipes');
    expect(md).not.toContain('<b>');
    for (const text of [
      'v20.20.2',
      '18.1',
      'users 1,000 · posts 10,000',
      '2 cores',
      'concurrency 1, 10',
      '5 rounds',
    ])
      expect(md).toContain(text);
    expect(md).toContain('![throughput relative to baseline](test-run.svg)');
  });

  it('draws well-formed SVG with escaped names, one bar per variant, and a mark per target', () => {
    const svg = renderChart(suite, meta);
    expect(() => checkWellFormed(svg)).not.toThrow();
    expect(svg).toContain(xml(EVIL));
    expect(svg).toContain('search &lt;b&gt;&quot;tom &amp; jerry&quot;&lt;/b&gt;');
    expect(svg).not.toContain('<b>');
    expect(svg).toContain('layer &lt;x&gt;');
    expect(svg.match(/<rect [^>]*height="14"/g)).toHaveLength(12);
    expect(svg.match(/<line [^>]*stroke-width="3"><title>/g)).toHaveLength(8); // one mark per target
    expect(svg).toContain(
      'bars ÷ raw pg · layer &lt;x&gt; ≥ 0.80× raw pg <tspan fill="#cf222e" font-weight="bold">✗</tspan>',
    );
    expect(svg).toContain(
      'layer &lt;x&gt; ≥ 0.50× spec SQL by hand <tspan fill="#1a7f37" font-weight="bold">✓</tspan>',
    );
    expect(checkWellFormed(renderChart({ options: suite.options, cases: [] }, meta))).toBe('svg');
    expect(xml('a\u0000b\u001f<')).toBe('ab&lt;');
  });

  it('writes the markdown, the raw numbers and the chart', () => {
    const out = join(dir, 'results');
    const paths = writeResults(out, suite, meta);
    expect(paths).toEqual(['md', 'json', 'svg'].map((ext) => join(out, `test-run.${ext}`)));
    for (const path of paths) expect(existsSync(path)).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'test-run.json'), 'utf8'))).toEqual({ meta, results: suite });
    expect(() => writeResults(out, suite, { ...meta, label: '../elsewhere' })).toThrow(/plain file name/);
  });
});

describe('reports with a CPU target', () => {
  /** A replica-like case: the subject's client CPU per operation against the baseline's 100 µs. */
  const cpuCase = (concurrency: number, subjectMicros: number): CaseResult => {
    const base = fakeCase(
      'read <routed>',
      concurrency,
      [
        ['primary only', 3000],
        ['routing', 2900],
      ],
      [{ baseline: 'primary only', subject: 'routing', minRatio: 1 }],
    );
    const ratio = subjectMicros / 100;
    return {
      ...base,
      variants: base.variants.map((v) => ({
        ...v,
        cpuMicrosPerOp: v.name === 'routing' ? subjectMicros : 100,
      })),
      targets: [
        {
          kind: 'cpu',
          baseline: 'primary only',
          subject: 'routing',
          maxRatio: 1.05,
          ratio,
          p50Ratio: 1.02,
          roundRatios: { median: ratio, min: ratio - 0.01, max: ratio + 0.01 },
          pass: ratio <= 1.05,
        },
      ],
    };
  };
  const cpuSuite: SuiteResult = { options: suite.options, cases: [cpuCase(1, 102), cpuCase(10, 110)] };

  it('says what the target asks for and what it measured, in the console, the markdown and the chart', () => {
    expect(summarizeTargets(cpuSuite).map((t) => [t.concurrency, t.kind, t.ratio])).toEqual([
      [10, 'cpu', 1.1],
    ]);

    const text = formatConsole(cpuSuite);
    expect(text).toMatch(/read <routed>\s+1\s+routing CPU\/op ≤ 1\.05× primary only\s+1\.02× ✓/);
    expect(text).toMatch(/read <routed>\s+10\s+routing CPU\/op ≤ 1\.05× primary only\s+1\.10× ✗/);
    expect(text).toContain(
      'Targets: 1 of 2 missed ✗ (read <routed> at concurrency 10: routing CPU/op 1.10× of primary only, ' +
        'needs at most 1.05×)',
    );

    const md = formatMarkdown(cpuSuite, meta);
    expect(md).toContain(
      '| read &lt;routed&gt; | 10 | routing CPU/op ≤ 1.05× primary only | 1.10× ✗ | 1.10× | 1.09×–1.11× (1.8 %) | 1.02× |',
    );
    expect(md).toContain('for a CPU target');
    expect(formatMarkdown(suite, meta)).not.toContain('for a CPU target');

    const svg = renderChart(cpuSuite, meta);
    expect(checkWellFormed(svg)).toBe('svg');
    // Not a throughput: no tick on the ops/s axis, the verdict in the heading and the ratio on the bar.
    expect(svg.match(/<line [^>]*stroke-width="3"><title>/g)).toBeNull();
    expect(svg).toContain(
      'bars ÷ primary only · routing CPU/op ≤ 1.05× primary only <tspan fill="#cf222e" font-weight="bold">✗</tspan>',
    );
    expect(svg).toContain('0.97× · 2,900 ops/s · CPU/op 1.10×');
  });

  it('writes a third decimal where two would read as the bound', () => {
    const near: SuiteResult = { options: suite.options, cases: [cpuCase(1, 105.1), cpuCase(10, 104.9)] };
    const text = formatConsole(near);
    expect(text).toMatch(/1\.051× ✗/);
    expect(text).toMatch(/1\.049× ✓/);
    expect(text).toContain('routing CPU/op 1.051× of primary only, needs at most 1.05×');
    expect(formatConsole(cpuSuite)).not.toMatch(/\d\.\d{3}×/);
  });
});

/**
 * A small XML well-formedness check, enough for the SVG the harness writes: every character is part of
 * a tag, a comment-free text run or the XML declaration; entities are the predefined ones; tags nest;
 * one root. Returns the root's name.
 */
function checkWellFormed(doc: string): string {
  const token =
    /<\?xml[^?]*\?>|<(\/?)([A-Za-z][\w:.-]*)((?:\s+[\w:.-]+="[^"<&]*(?:&(?:amp|lt|gt|quot|apos);[^"<&]*)*")*)\s*(\/?)>|([^<]+)/gy;
  const stack: string[] = [];
  let root: string | undefined;
  let match: RegExpExecArray | null = token.exec(doc);
  let end = 0;
  while (match !== null) {
    end = token.lastIndex;
    const [, closing, name, , selfClosing, textRun] = match;
    if (textRun !== undefined) {
      if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[\da-f]+);)/i.test(textRun))
        throw new Error(`bad entity in ${textRun}`);
      if (stack.length === 0 && textRun.trim() !== '') throw new Error(`text outside the root: ${textRun}`);
    } else if (name !== undefined) {
      if (closing) {
        if (stack.pop() !== name) throw new Error(`</${name}> closes nothing open`);
      } else {
        if (stack.length === 0) {
          if (root !== undefined) throw new Error('a second root element');
          root = name;
        }
        if (!selfClosing) stack.push(name);
      }
    }
    match = token.exec(doc);
  }
  if (end !== doc.length) throw new Error(`cannot read the XML at ${end}: ${doc.slice(end, end + 40)}`);
  if (stack.length > 0) throw new Error(`unclosed <${stack.join('>, <')}>`);
  if (root === undefined) throw new Error('no root element');
  return root;
}
