/**
 * The results as one self-contained SVG, about 900 px wide: a horizontal grouped bar chart with one
 * group per case and concurrency and one bar per variant. A bar's length is the variant's ops/s ÷ the
 * case baseline's ops/s, so every group shares one axis: a dashed line stands at 1.0 (the baseline),
 * and a dark tick on a subject's bar marks the least its throughput target accepts. A CPU target (client
 * CPU per operation) has no place on that axis: its verdict is in the group's heading, and its ratio in
 * the subject's label. Written by hand: it is a few
 * rectangles and lines, and every text goes through xml() so names like `a<b & c` stay well-formed.
 */
import { formatCount, formatRatio, formatTarget, formatTargetRatio } from './format.js';
import type { BenchMeta, CaseResult, SuiteResult, TargetResult, ThroughputTarget } from './types.js';

const WIDTH = 900;
const MARGIN = 24;
const LABEL_RIGHT = 232; // variant names end here (right-aligned)
const PLOT_LEFT = 240;
const PLOT_RIGHT = 690; // the value labels take the rest of the width
const BAR = 14;
const BAR_GAP = 4;
const GROUP_HEADING = 36; // the case's name, then what the bars are divided by and the targets' verdicts
const GROUP_GAP = 14;
const MAX_LABEL_CHARS = 36;
// Okabe–Ito: distinguishable with the common colour-vision deficiencies.
const PALETTE = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#999999', '#000000'];
const PASS = '#1a7f37';
const FAIL = '#cf222e';
const MARK = '#24292f';
const HALO = 'stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"';

export function renderChart(results: SuiteResult, meta: BenchMeta): string {
  const names = [...new Set(results.cases.flatMap((r) => r.variants.map((v) => v.name)))];
  const colour = new Map(names.map((name, k) => [name, PALETTE[k % PALETTE.length] as string]));
  const body: string[] = [];

  // Title and meta.
  const o = meta.options;
  const dataset = Object.entries(meta.dataset)
    .map(([name, count]) => `${name} ${formatCount(count)}`)
    .join(', ');
  body.push(
    text(MARGIN, 28, `Benchmark ${meta.label}: throughput relative to the baseline`, {
      size: 16,
      weight: 'bold',
    }),
    text(
      MARGIN,
      48,
      `${meta.date} · Node.js ${meta.nodeVersion} · PostgreSQL ${meta.postgresVersion} · ${dataset || 'no data'}`,
      { fill: '#57606a' },
    ),
    text(
      MARGIN,
      64,
      `${meta.machine.cores} cores, ${meta.machine.cpuModel} · warm-up ${o.warmupMs} ms · ${o.rounds} rounds × ` +
        `${o.sliceMs} ms per variant, interleaved · concurrency ${o.concurrencies.join(', ')}`,
      { fill: '#57606a' },
    ),
  );

  // Legend: one swatch per variant, then the two kinds of marks; wraps onto more lines when needed.
  let x = MARGIN;
  let y = 86;
  const legendItem = (width: number, draw: (x: number) => string[]) => {
    if (x + width > WIDTH - MARGIN) {
      x = MARGIN;
      y += 18;
    }
    body.push(...draw(x));
    x += width + 16;
  };
  for (const name of names) {
    const label = truncate(name);
    legendItem(18 + textWidth(label), (at) => [
      `<rect x="${at}" y="${y - 10}" width="12" height="12" rx="2" fill="${colour.get(name)}"/>`,
      text(at + 18, y, label),
    ]);
  }
  legendItem(18 + textWidth('1.0 = baseline'), (at) => [
    `<line x1="${at + 6}" y1="${y - 12}" x2="${at + 6}" y2="${y + 3}" stroke="${MARK}" stroke-dasharray="4 3"/>`,
    text(at + 18, y, '1.0 = baseline'),
  ]);
  legendItem(18 + textWidth('target minimum'), (at) => [
    `<line x1="${at + 6}" y1="${y - 12}" x2="${at + 6}" y2="${y + 3}" stroke="${MARK}" stroke-width="3"/>`,
    text(at + 18, y, 'target minimum'),
  ]);

  // The shared axis: long enough for every bar and every target mark.
  const marks = results.cases.flatMap((r) => [
    ...r.variants.map((v) => v.ratioToBaseline),
    ...r.targets.filter(isThroughput).map((t) => targetPosition(r, t.baseline, t.minRatio)),
  ]);
  const { max, step } = niceAxis(Math.max(1, ...marks.filter(Number.isFinite)));
  const scale = (ratio: number) =>
    PLOT_LEFT + (Math.max(0, Math.min(ratio, max)) / max) * (PLOT_RIGHT - PLOT_LEFT);

  const plotTop = y + 30;
  let top = plotTop;
  const groups: string[] = [];
  for (const r of results.cases) {
    // The heading names the case; the line under it what the bars are divided by and each target's verdict.
    const verdicts = r.targets.flatMap((t) => [
      ` · ${formatTarget(t)} `,
      t.pass ? { mark: '✓', fill: PASS } : { mark: '✗', fill: FAIL },
    ]);
    groups.push(
      text(MARGIN, top + 14, `${truncate(r.case, 60)} · concurrency ${r.concurrency}`, {
        size: 12,
        weight: 'bold',
      }),
      `<text x="${MARGIN}" y="${top + 28}" fill="#57606a" ${HALO}>${[`bars ÷ ${r.baseline}`, ...verdicts]
        .map((part) =>
          typeof part === 'string'
            ? xml(part)
            : `<tspan fill="${part.fill}" font-weight="bold">${xml(part.mark)}</tspan>`,
        )
        .join('')}</text>`,
    );
    let barTop = top + GROUP_HEADING;
    for (const v of r.variants) {
      const end = scale(v.ratioToBaseline);
      const own = r.targets.filter((t) => t.subject === v.name);
      const marks = own
        .filter(isThroughput)
        .map((t) => ({ t, at: scale(targetPosition(r, t.baseline, t.minRatio)) }));
      const cpu = own
        .filter((t) => t.kind === 'cpu')
        .map((t) => ` · CPU/op ${formatTargetRatio(t)}`)
        .join('');
      // The value label starts right of the bar and of any target mark on it.
      const labelAt = Math.max(end, ...marks.map((m) => m.at + 1)) + 6;
      const verdict =
        own.length === 0
          ? ''
          : own.every((t) => t.pass)
            ? ` <tspan fill="${PASS}" font-weight="bold">✓</tspan>`
            : ` <tspan fill="${FAIL}" font-weight="bold">✗</tspan>`;
      groups.push(
        `<g><title>${xml(`${v.name}: ${formatCount(v.opsPerSecond)} ops/s, ${formatRatio(v.ratioToBaseline)} of ${r.baseline}`)}</title>`,
        text(LABEL_RIGHT, barTop + BAR - 3, truncate(v.name), { anchor: 'end' }),
        `<rect x="${PLOT_LEFT}" y="${barTop}" width="${(end - PLOT_LEFT).toFixed(1)}" height="${BAR}" fill="${colour.get(v.name)}"/>`,
        // A white halo keeps the label readable where it crosses the baseline's line or a grid line.
        `<text x="${labelAt.toFixed(1)}" y="${barTop + BAR - 3}" ${HALO}>${xml(
          `${formatRatio(v.ratioToBaseline)} · ${formatCount(v.opsPerSecond)} ops/s${cpu}`,
        )}${verdict}</text>`,
        ...marks.map(
          ({ t, at }) =>
            `<line x1="${at.toFixed(1)}" y1="${barTop - 3}" x2="${at.toFixed(1)}" y2="${barTop + BAR + 3}" ` +
            `stroke="${MARK}" stroke-width="3"><title>${xml(formatTarget(t))}</title></line>`,
        ),
        '</g>',
      );
      barTop += BAR + BAR_GAP;
    }
    top = barTop - BAR_GAP + GROUP_GAP;
  }
  if (results.cases.length === 0) groups.push(text(MARGIN, top + 14, 'No results.'));
  const plotBottom = Math.max(top, plotTop + 30);

  // Grid, axis and the baseline's line go behind the bars and their labels.
  const grid: string[] = [];
  for (let tick = 0; tick <= max + 1e-9; tick += step) {
    const at = scale(tick).toFixed(1);
    grid.push(
      `<line x1="${at}" y1="${plotTop - 6}" x2="${at}" y2="${plotBottom}" stroke="#d0d7de" stroke-width="1"/>`,
      text(Number(at), plotBottom + 16, formatRatio(tick), { anchor: 'middle', fill: '#57606a' }),
    );
  }
  const one = scale(1).toFixed(1);
  const baselineLine = `<line x1="${one}" y1="${plotTop - 12}" x2="${one}" y2="${plotBottom}" stroke="${MARK}" stroke-dasharray="4 3"/>`;
  const axisTitle = text(
    (PLOT_LEFT + PLOT_RIGHT) / 2,
    plotBottom + 34,
    "ops/s ÷ the case baseline's ops/s (longer is faster)",
    { anchor: 'middle', fill: '#57606a' },
  );

  const height = Math.ceil(plotBottom + 50);
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="11" fill="#24292f" role="img">`,
    `<title>${xml(`Benchmark ${meta.label}: throughput relative to the baseline`)}</title>`,
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...body,
    ...grid,
    baselineLine,
    ...groups,
    axisTitle,
    '</svg>',
    '',
  ].join('\n');
}

function isThroughput(t: TargetResult): t is TargetResult & ThroughputTarget {
  return t.kind !== 'cpu';
}

/** Where a target's minimum lies on the case baseline's axis (its own baseline may be another variant). */
function targetPosition(r: CaseResult, baseline: string, minRatio: number): number {
  const base = r.variants.find((v) => v.name === baseline);
  return minRatio * (base?.ratioToBaseline ?? 1);
}

/** An axis end at a round number past `value`, with 4 to 8 ticks. */
function niceAxis(value: number): { max: number; step: number } {
  const padded = value * 1.05;
  const step =
    [0.25, 0.5, 1, 2, 2.5, 5, 10, 20, 50, 100].find((s) => padded / s <= 8) ??
    10 ** Math.ceil(Math.log10(padded / 8));
  return { max: Math.ceil(padded / step) * step, step };
}

interface TextStyle {
  size?: number;
  weight?: 'bold';
  fill?: string;
  anchor?: 'start' | 'middle' | 'end';
}

function text(x: number, y: number, content: string, style: TextStyle = {}): string {
  const attributes = [
    `x="${x}"`,
    `y="${y}"`,
    style.size ? `font-size="${style.size}"` : '',
    style.weight ? `font-weight="${style.weight}"` : '',
    style.fill ? `fill="${style.fill}"` : '',
    style.anchor && style.anchor !== 'start' ? `text-anchor="${style.anchor}"` : '',
  ].filter(Boolean);
  return `<text ${attributes.join(' ')}>${xml(content)}</text>`;
}

/** Escapes XML's special characters and drops the characters XML 1.0 cannot hold at all. */
export function xml(value: string): string {
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0;
    const control = code < 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d;
    const loneSurrogate = code >= 0xd800 && code <= 0xdfff;
    if (control || loneSurrogate || code === 0xfffe || code === 0xffff) continue;
    out +=
      char === '&'
        ? '&amp;'
        : char === '<'
          ? '&lt;'
          : char === '>'
            ? '&gt;'
            : char === '"'
              ? '&quot;'
              : char === "'"
                ? '&apos;'
                : char;
  }
  return out;
}

function truncate(name: string, max = MAX_LABEL_CHARS): string {
  return name.length > max ? `${name.slice(0, max - 1)}…` : name;
}

/** A rough width of 11 px DejaVu Sans text, enough to lay the legend out. */
function textWidth(value: string): number {
  return Math.ceil(value.length * 6.6);
}
