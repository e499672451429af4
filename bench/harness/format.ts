/** How the reports and the chart write numbers, so the table and the chart agree. */

/** Ops/s and row counts: whole numbers with thousands separators, three significant digits below 100. */
export function formatCount(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : value.toPrecision(3);
}

export function formatRatio(value: number): string {
  return `${value.toFixed(2)}×`;
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
