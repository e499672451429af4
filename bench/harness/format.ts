/** How the reports and the chart write numbers and targets, so the table and the chart agree. */
import type { Target, TargetResult } from './types.js';

/** Ops/s and row counts: whole numbers with thousands separators, three significant digits below 100. */
export function formatCount(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
}

export function formatRatio(value: number): string {
  return `${value.toFixed(2)}×`;
}

/** A range of ratios: `0.85×–1.02×`. */
export function formatRange(min: number, max: number): string {
  return `${formatRatio(min)}–${formatRatio(max)}`;
}

/** A relative difference as a percentage: `12 %`, `3.4 %`. */
export function formatPercent(value: number): string {
  const percent = value * 100;
  return `${percent >= 10 ? percent.toFixed(0) : percent.toFixed(1)} %`;
}

/** Milliseconds with about three significant digits. */
export function formatMs(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value >= 1 ? value.toFixed(2) : value.toFixed(3);
}

export function formatMicros(value: number): string {
  if (value >= 100) return value.toFixed(0);
  return value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

/** What a target asks for: `layer ≥ 0.90× raw pg named`, or `layer CPU/op ≤ 1.05× raw pg named`. */
export function formatTarget(t: Target): string {
  return t.kind === 'cpu'
    ? `${t.subject} CPU/op ≤ ${formatRatio(t.maxRatio)} ${t.baseline}`
    : `${t.subject} ≥ ${formatRatio(t.minRatio)} ${t.baseline}`;
}

/** A target's measured ratio; with three decimals where two would read as its bound (1.051× for ≤ 1.05×). */
export function formatTargetRatio(t: TargetResult): string {
  const bound = t.kind === 'cpu' ? t.maxRatio : t.minRatio;
  const text = formatRatio(t.ratio);
  return text === formatRatio(bound) && t.ratio !== bound ? `${t.ratio.toFixed(3)}×` : text;
}
