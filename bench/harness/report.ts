/**
 * Turns measured results into what people read: an aligned console table, the same table as GitHub
 * markdown under a header that says how and where it was measured, and files under bench/results/
 * (markdown, the raw numbers as JSON, and the chart as SVG).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { renderChart } from './chart.js';
import { formatCount, formatMicros, formatMs, formatRatio } from './format.js';
import type { BenchMeta, CaseResult, FailedTarget, SuiteResult, VariantResult } from './types.js';

/** Every target that was not met, with its case and concurrency; empty when all were. */
export function summarizeTargets(results: SuiteResult): FailedTarget[] {
  return results.cases.flatMap((r) =>
    r.targets.filter((t) => !t.pass).map((t) => ({ ...t, case: r.case, concurrency: r.concurrency })),
  );
}

/** The machine part of BenchMeta, read from this process. */
export function describeMachine(): BenchMeta['machine'] {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
  };
}

const COLUMNS = [
  { title: 'case', align: 'left' },
  { title: 'conc.', align: 'right' },
  { title: 'variant', align: 'left' },
  { title: 'ops/s', align: 'right' },
  { title: 'rounds ops/s', align: 'right' },
  { title: 'p50 ms', align: 'right' },
  { title: 'p99 ms', align: 'right' },
  { title: 'CPU µs/op', align: 'right' },
  { title: 'vs baseline', align: 'left' },
] as const;

export function formatConsole(results: SuiteResult): string {
  const groups = results.cases.map((r) =>
    r.variants.map((v, k) => {
      const cells = rowCells(r, v);
      // The case and concurrency stand on a group's first row only, so groups read as blocks.
      return k === 0 ? cells : ['', '', ...cells.slice(2)];
    }),
  );
  const header = COLUMNS.map((c) => c.title);
  const widths = header.map((title, i) =>
    Math.max(title.length, ...groups.flat().map((row) => row[i]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, i) =>
        COLUMNS[i]?.align === 'right' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b, 0) + 2 * (widths.length - 1));
  const lines = [line(header)];
  for (const group of groups) lines.push(rule, ...group.map(line));
  lines.push(rule, targetsLine(results), CPU_NOTE);
  return `${lines.join('\n')}\n`;
}

export function formatMarkdown(results: SuiteResult, meta: BenchMeta): string {
  const row = (cells: string[]) => `| ${cells.map(cell).join(' | ')} |`;
  const o = meta.options;
  const gc = results.cases.some((r) => r.gcBetweenSlices) ? 'yes' : 'no (run node with --expose-gc)';
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
    `- **Options:** warm-up ${o.warmupMs} ms per variant; ${o.rounds} rounds × ${o.sliceMs} ms slice per ` +
      `variant, interleaved, starting variant rotating each round; concurrency ${o.concurrencies.join(', ')} ` +
      `(closed loop); gc between slices: ${gc}`,
    ...(meta.notes ?? []).map((note) => `- ${cell(note)}`),
    '',
    `**${cell(targetsLine(results))}**`,
    '',
    'ops/s = operations ÷ wall time over all rounds (operations in flight at a slice end are waited for and ' +
      'counted); rounds ops/s = slowest–fastest round; p50/p99 = nearest-rank latency of one operation; ' +
      `ratio = ops/s ÷ the baseline's ops/s, ✓ when at least the target's minimum; per round = the same ratio within each round: median (slowest–fastest). ${CPU_NOTE}`,
    '',
    `![throughput relative to baseline](${encodeURIComponent(meta.label)}.svg)`,
    '',
    row(COLUMNS.map((c) => c.title)),
    `|${COLUMNS.map((c) => (c.align === 'right' ? ' ---: ' : ' --- ')).join('|')}|`,
    ...results.cases.flatMap((r) => r.variants.map((v) => row(rowCells(r, v)))),
    '',
  ].join('\n');
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
    [`${meta.label}.svg`, renderChart(results, meta)],
  ];
  return files.map(([name, text]) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  });
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

function rowCells(r: CaseResult, v: VariantResult): string[] {
  return [
    r.case,
    String(r.concurrency),
    v.name,
    formatCount(v.opsPerSecond),
    `${formatCount(v.roundOpsPerSecond.min)}–${formatCount(v.roundOpsPerSecond.max)}`,
    formatMs(v.latencyMs.p50),
    formatMs(v.latencyMs.p99),
    formatMicros(v.cpuMicrosPerOp),
    versus(r, v),
  ];
}

/** 'baseline', the targets this variant is the subject of (with ✓/✗), or its plain ratio to the baseline. */
function versus(r: CaseResult, v: VariantResult): string {
  const own = r.targets.filter((t) => t.subject === v.name);
  if (own.length > 0)
    return own
      .map(
        (t) =>
          `${formatRatio(t.ratio)} vs ${t.baseline} (min ${formatRatio(t.minRatio)}) ${t.pass ? '✓' : '✗'}` +
          `, per round ${formatRatio(t.roundRatios.median)} (${formatRatio(t.roundRatios.min)}–${formatRatio(t.roundRatios.max)})` +
          `, p50 ${formatRatio(t.p50Ratio)}`,
      )
      .join('; ');
  if (v.name === r.baseline) return 'baseline';
  return `${formatRatio(v.ratioToBaseline)} vs ${r.baseline}`;
}

function targetsLine(results: SuiteResult): string {
  const all = results.cases.reduce((n, r) => n + r.targets.length, 0);
  const failed = summarizeTargets(results);
  if (failed.length === 0) return `Targets: all ${all} met ✓`;
  const which = failed.map(
    (t) =>
      `${t.case} at concurrency ${t.concurrency}: ${t.subject} ${formatRatio(t.ratio)} of ${t.baseline}, ` +
      `needs ${formatRatio(t.minRatio)}`,
  );
  return `Targets: ${failed.length} of ${all} missed ✗ (${which.join('; ')})`;
}
