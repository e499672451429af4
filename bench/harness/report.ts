/**
 * Turns measured results into what people read: two aligned console tables (every variant's numbers,
 * then every target's verdict), the same tables as GitHub markdown under a header that says how and
 * where it was measured, and files under bench/results/ (markdown, the raw numbers as JSON, and the
 * chart as SVG).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { renderChart } from './chart.js';
import {
  formatCount,
  formatMicros,
  formatMs,
  formatPercent,
  formatRange,
  formatRatio,
  formatTarget,
  formatTargetRatio,
} from './format.js';
import type {
  BenchMeta,
  CaseResult,
  FailedTarget,
  RepeatedTarget,
  SuiteResult,
  TargetResult,
  VariantResult,
} from './types.js';

/**
 * Every target that was not met, with its case and concurrency; empty when all were. A repeated suite's
 * targets are judged on the median of the runs' ratios.
 */
export function summarizeTargets(results: SuiteResult): FailedTarget[] {
  if (results.repeats !== undefined) return results.repeats.filter((t) => !t.pass);
  return results.cases.flatMap((r) =>
    r.targets.filter((t) => !t.pass).map((t) => ({ ...t, case: r.case, concurrency: r.concurrency })),
  );
}

/** How many targets the verdict line counts: each once, however many runs measured it. */
function targetCount(results: SuiteResult): number {
  return results.repeats?.length ?? results.cases.reduce((n, r) => n + r.targets.length, 0);
}

/** A missed target in one line: what was measured and what it needs. */
export function formatMiss(t: FailedTarget): string {
  return t.kind === 'cpu'
    ? `${t.case} at concurrency ${t.concurrency}: ${t.subject} CPU/op ${formatTargetRatio(t)} of ${t.baseline}, ` +
        `needs at most ${formatRatio(t.maxRatio)}`
    : `${t.case} at concurrency ${t.concurrency}: ${t.subject} ${formatTargetRatio(t)} of ${t.baseline}, ` +
        `needs ${formatRatio(t.minRatio)}`;
}

/** The machine part of BenchMeta, read from this process. */
export function describeMachine(): BenchMeta['machine'] {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
  };
}

interface Column {
  title: string;
  align: 'left' | 'right';
}

/** One row per variant: its own numbers and its ratio to the case baseline. */
const VARIANT_COLUMNS: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'conc.', align: 'right' },
  { title: 'variant', align: 'left' },
  { title: 'ops/s', align: 'right' },
  { title: 'rounds ops/s', align: 'right' },
  { title: 'p50 ms', align: 'right' },
  { title: 'p99 ms', align: 'right' },
  { title: 'CPU µs/op', align: 'right' },
  { title: 'vs baseline', align: 'right' },
];

/**
 * One row per target: the ratio it asks for, what was measured over all rounds, and, as prominently, the
 * same ratio round by round, whose range says how far the first can be trusted.
 */
const TARGET_COLUMNS: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'conc.', align: 'right' },
  { title: 'target', align: 'left' },
  { title: 'ratio', align: 'right' },
  { title: 'per round: median', align: 'right' },
  { title: 'range over rounds', align: 'left' },
  { title: 'p50 ratio', align: 'right' },
];

/** One row per target of a repeated suite: the median of the runs, each run, and how far they lie apart. */
const REPEAT_COLUMNS: readonly Column[] = [
  { title: 'case', align: 'left' },
  { title: 'conc.', align: 'right' },
  { title: 'target', align: 'left' },
  { title: 'median of runs', align: 'right' },
  { title: 'each run', align: 'left' },
  { title: 'between runs', align: 'left' },
  { title: 'rounds of all runs: median (range)', align: 'left' },
];

export function formatConsole(results: SuiteResult): string {
  const targets = alignedTable(
    TARGET_COLUMNS,
    results.cases.map((r) => r.targets.map((t) => targetCells(r, t))),
  );
  const variants = alignedTable(
    VARIANT_COLUMNS,
    results.cases.map((r) => r.variants.map((v) => variantCells(r, v))),
  );
  const repeats =
    results.repeats === undefined
      ? []
      : [
          '',
          ...alignedTable(
            REPEAT_COLUMNS,
            repeatGroups(results.repeats).map((g) => g.map(repeatCells)),
          ),
        ];
  return `${[...variants, CPU_NOTE, '', ...targets, ...repeats, targetsLine(results)].join('\n')}\n`;
}

/** The repeated targets grouped by case and concurrency, as the tables show them. */
function repeatGroups(repeats: readonly RepeatedTarget[]): RepeatedTarget[][] {
  const groups = new Map<string, RepeatedTarget[]>();
  for (const t of repeats) {
    const key = JSON.stringify([t.case, t.concurrency]);
    groups.set(key, [...(groups.get(key) ?? []), t]);
  }
  return [...groups.values()];
}

function repeatCells(t: RepeatedTarget): string[] {
  return [
    t.case,
    String(t.concurrency),
    formatTarget(t),
    `${formatTargetRatio(t)} ${t.pass ? '✓' : '✗'}`,
    t.runs.map((r) => formatRatio(r.ratio)).join(' · '),
    `${formatRange(t.spread.min, t.spread.max)} (${formatPercent(t.spread.relative)})`,
    `${formatRatio(t.roundRatios.median)} (${formatRange(t.roundRatios.min, t.roundRatios.max)})`,
  ];
}

/**
 * Rows padded to their columns' widths, a rule between groups; the case and concurrency stand on a
 * group's first row only, so groups read as blocks.
 */
function alignedTable(columns: readonly Column[], groups: string[][][]): string[] {
  const blanked = groups.map((rows) =>
    rows.map((cells, k) => (k === 0 ? cells : ['', '', ...cells.slice(2)])),
  );
  const widths = columns.map((c, i) =>
    Math.max(c.title.length, ...blanked.flat().map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        columns[i]?.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  const lines = [line(columns.map((c) => c.title))];
  for (const group of blanked) lines.push(rule, ...group.map(line));
  lines.push(rule);
  return lines;
}

export function formatMarkdown(results: SuiteResult, meta: BenchMeta): string {
  const o = meta.options;
  /** The cases whose `test` differs from the suite's, by name, once each. */
  const except = (test: (r: CaseResult) => boolean) => [
    ...new Set(results.cases.filter(test).map((r) => r.case)),
  ];
  const noGc = except((r) => !r.gcBetweenSlices);
  const gc = !results.cases.some((r) => r.gcBetweenSlices)
    ? typeof globalThis.gc === 'function'
      ? 'no'
      : 'no (run node with --expose-gc)'
    : noGc.length > 0
      ? `yes, except for ${noGc.join(', ')}`
      : 'yes';
  const otherRounds = [...new Set(results.cases.map((r) => r.options.rounds))]
    .filter((rounds) => rounds !== o.rounds)
    .map((rounds) => `${rounds} for ${except((r) => r.options.rounds === rounds).join(', ')}`);
  const rounds = `${o.rounds} rounds${otherRounds.length > 0 ? ` (${otherRounds.join('; ')})` : ''}`;
  const dataset = Object.entries(meta.dataset)
    .map(([name, count]) => `${name} ${formatCount(count)}`)
    .join(' · ');
  return [
    `# Benchmark ${cell(meta.label)}`,
    '',
    `- **Date:** ${cell(meta.date)}`,
    `- **Node.js:** ${cell(meta.nodeVersion)} · **PostgreSQL:** ${cell(meta.postgresVersion)}`,
    `- **Data:** ${cell(dataset || 'none')}`,
    `- **Machine:** ${meta.machine.cores} cores, ${cell(meta.machine.cpuModel)}, ${cell(meta.machine.platform)}`,
    `- **Options:** warm-up ${o.warmupMs} ms per variant; ${rounds} × ${o.sliceMs} ms slice per ` +
      `variant, interleaved, starting variant rotating each round; concurrency ${o.concurrencies.join(', ')} ` +
      `(closed loop); gc between slices: ${gc}` +
      ((o.repeat ?? 1) > 1 ? `; the whole measurement repeated ${o.repeat} times, seeded once` : ''),
    ...(meta.pinning === undefined ? [] : [`- **Pinning:** ${cell(meta.pinning.join('; '))}`]),
    ...(meta.notes ?? []).map((note) => `- ${cell(note)}`),
    '',
    `**${cell(targetsLine(results))}**`,
    '',
    `![throughput relative to baseline](${encodeURIComponent(meta.label)}.svg)`,
    '',
    ...repeatSection(results),
    results.repeats === undefined ? '## Targets' : '## Targets, run by run',
    '',
    "ratio = the subject's ops/s ÷ the target baseline's ops/s over all rounds, ✓ when at least the target's " +
      'minimum; ' +
      (hasCpuTargets(results)
        ? "for a CPU target (CPU/op ≤), the subject's client CPU per operation ÷ the baseline's, ✓ when at " +
          "most the target's maximum; "
        : '') +
      'per round = the same ratio within each round (their slices ran in the same round): its median, and ' +
      'its range over rounds (slowest–fastest, and how far apart: fastest ÷ slowest − 1); ' +
      "p50 ratio = the subject's median latency ÷ the baseline's (above 1: slower).",
    '',
    ...markdownTable(
      TARGET_COLUMNS,
      results.cases.flatMap((r) => r.targets.map((t) => targetCells(r, t))),
    ),
    '',
    '## Variants',
    '',
    'ops/s = operations ÷ wall time over all rounds (operations in flight at a slice end are waited for and ' +
      'counted); rounds ops/s = slowest–fastest round; p50/p99 = nearest-rank latency of one operation; ' +
      "vs baseline = ops/s ÷ the case baseline's ops/s (the case's first target's baseline). " +
      CPU_NOTE,
    '',
    ...markdownTable(
      VARIANT_COLUMNS,
      results.cases.flatMap((r) => r.variants.map((v) => variantCells(r, v))),
    ),
    '',
  ].join('\n');
}

/** With repeats: each target over the runs, ahead of the run-by-run tables. */
function repeatSection(results: SuiteResult): string[] {
  if (results.repeats === undefined) return [];
  return [
    `## Targets over ${results.options.repeat ?? 1} runs`,
    '',
    "median of runs = the median of the runs' ratios (each over all its rounds), which the target is judged " +
      "on; each run = every run's ratio, in order; between runs = the lowest–highest run, and how far apart " +
      '(highest ÷ lowest − 1); rounds of all runs = the ratio within each round of every run: median (range).',
    '',
    ...markdownTable(REPEAT_COLUMNS, results.repeats.map(repeatCells)),
    '',
  ];
}

function markdownTable(columns: readonly Column[], rows: string[][]): string[] {
  const row = (cells: readonly string[]) => `| ${cells.map(cell).join(' | ')} |`;
  return [
    row(columns.map((c) => c.title)),
    `|${columns.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...rows.map(row),
  ];
}

/** Writes `<dir>/<label>.md`, `.json` (meta and every number) and `.svg`; returns the three paths. */
export function writeResults(dir: string, results: SuiteResult, meta: BenchMeta): string[] {
  if (!/^[\w][\w.-]*$/.test(meta.label))
    throw new RangeError(
      `bench label must be a plain file name (letters, digits, . _ -), got '${meta.label}'`,
    );
  mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    [`${meta.label}.md`, formatMarkdown(results, meta)],
    [`${meta.label}.json`, `${JSON.stringify({ meta, results }, null, 2)}\n`],
    [`${meta.label}.svg`, renderChart(chartable(results), meta)],
  ];
  return files.map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  });
}

/** The chart draws one group per measured cell: a repeated suite's groups name their run. */
function chartable(results: SuiteResult): SuiteResult {
  if (results.repeats === undefined) return results;
  return { ...results, cases: results.cases.map((r) => ({ ...r, case: caseLabel(r) })) };
}

/** Text safe in a markdown table cell and as inline text: no HTML, no column breaks, one line. */
function cell(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\|/g, '\\|')
    .replace(/\s+/g, ' ');
}

const CPU_NOTE =
  'CPU µs/op = user + system CPU of the client process per operation: it includes the pg driver ' +
  "parsing results (and the harness's bookkeeping, equal for all variants), not the server's CPU.";

/** The case's name, and which run measured it when the suite was repeated. */
function caseLabel(r: CaseResult): string {
  return r.run === undefined ? r.case : `${r.case} · run ${r.run}`;
}

function variantCells(r: CaseResult, v: VariantResult): string[] {
  return [
    caseLabel(r),
    String(r.concurrency),
    v.name,
    formatCount(v.opsPerSecond),
    `${formatCount(v.roundOpsPerSecond.min)}–${formatCount(v.roundOpsPerSecond.max)}`,
    formatMs(v.latencyMs.p50),
    formatMs(v.latencyMs.p99),
    formatMicros(v.cpuMicrosPerOp),
    v.name === r.baseline ? 'baseline' : formatRatio(v.ratioToBaseline),
  ];
}

function hasCpuTargets(results: SuiteResult): boolean {
  return results.cases.some((r) => r.targets.some((t) => t.kind === 'cpu'));
}

function targetCells(r: CaseResult, t: TargetResult): string[] {
  return [
    caseLabel(r),
    String(r.concurrency),
    formatTarget(t),
    `${formatTargetRatio(t)} ${t.pass ? '✓' : '✗'}`,
    formatRatio(t.roundRatios.median),
    `${formatRange(t.roundRatios.min, t.roundRatios.max)} (${formatPercent(spreadOf(t.roundRatios))})`,
    formatRatio(t.p50Ratio),
  ];
}

/** Fastest ÷ slowest − 1: how far apart the ends of a range lie. */
function spreadOf(range: { min: number; max: number }): number {
  return range.min > 0 ? range.max / range.min - 1 : 0;
}

function targetsLine(results: SuiteResult): string {
  const all = targetCount(results);
  const failed = summarizeTargets(results);
  const over = results.repeats === undefined ? '' : `, on the median of ${results.options.repeat} runs`;
  if (failed.length === 0) return `Targets: all ${all} met ✓${over}`;
  return `Targets: ${failed.length} of ${all} missed ✗${over} (${failed.map(formatMiss).join('; ')})`;
}
