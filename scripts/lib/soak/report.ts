/**
 * A run's figures as a readable report: the summary first (what the checks found), then faults and
 * their recovery, errors by class, the operations, and the samples taken as the run went.
 */
import { FAULT_DESCRIPTIONS } from './faults.js';
import type { SoakResult } from './soak-run.js';

const number = (value: number) => value.toLocaleString('en-US');
const ms = (value: number) => `${value.toLocaleString('en-US', { maximumFractionDigits: 1 })} ms`;
const mb = (value: number) => `${value.toFixed(1)} MB`;
const signed = (value: number) => `${value >= 0 ? '+' : ''}${value.toFixed(1)} MB`;

/** Columns padded to their widest cell: the first (and those in `left`) to the left, others to the right. */
function table(header: string[], rows: string[][], left: number[] = [0]): string[] {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        left.includes(column) ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)];
}

/** Whether the run passed its checks; the reasons when it did not. */
export function failures(result: SoakResult, faultsInjected: boolean): string[] {
  const found: string[] = [];
  const { verification } = result;
  if (verification.lost > 0) found.push(`${verification.lost} entities lost an acknowledged write`);
  if (verification.halfWritten > 0) found.push(`${verification.halfWritten} entities are half written`);
  if (verification.stray > 0) found.push(`${verification.stray} users are stored that no write left there`);
  if (result.untypedErrors > 0) found.push(`${result.untypedErrors} calls failed with an untyped error`);
  if (result.unexpectedErrors > 0) {
    found.push(
      faultsInjected
        ? `${result.unexpectedErrors} calls failed with something other than a ConnectionError`
        : `${result.unexpectedErrors} calls failed with no fault injected`,
    );
  }
  if (!result.faultsRecovered) found.push('a fault was never followed by an acknowledged write');
  if (!result.poolServesAfterRun) found.push('the pool did not serve a call after the run');
  if (result.unhandledRejections.length > 0) {
    found.push(`${result.unhandledRejections.length} unhandled rejections`);
  }
  if (result.connectionsLeftOpen > 0) {
    found.push(`${result.connectionsLeftOpen} connections still open after disconnect()`);
  }
  return found;
}

export function formatReport(result: SoakResult, faultsInjected: boolean): string {
  const { verification, memory } = result;
  const lines: string[] = [];
  const route = result.throughPgBouncer ? 'through PgBouncer (transaction mode)' : 'straight to PostgreSQL';
  lines.push(
    `${result.durationSeconds} s, ${result.workers} workers, pool of ${result.poolMax}, ${route}, ` +
      `${faultsInjected ? `${result.faults.length} faults` : 'no fault injected'}`,
    '',
    ...table(
      ['figure', 'value'],
      [
        ['calls', `${number(result.calls)} (${number(result.callsPerSecond)}/s)`],
        ['writes acknowledged', number(result.writesAcknowledged)],
        ['reads', number(result.readsSucceeded)],
        ['calls failed', number(result.callsFailed)],
        [
          'latency p50 / p99 / max',
          `${ms(result.latency.p50Ms)} / ${ms(result.latency.p99Ms)} / ${ms(result.latency.maxMs)}`,
        ],
        ['entities checked', number(verification.entities)],
        ['lost', number(verification.lost)],
        ['half-written', number(verification.halfWritten)],
        ['stray rows', number(verification.stray)],
        [
          'unknown outcomes: before / after',
          `${number(verification.unknownOutcomes.before)} / ${number(verification.unknownOutcomes.after)}`,
        ],
        [
          'failed nested creates: absent / whole',
          `${number(verification.failedCreates.absent)} / ${number(verification.failedCreates.stored)}`,
        ],
        ['untyped errors', number(result.untypedErrors)],
        ['unhandled rejections', number(result.unhandledRejections.length)],
        [
          'time to recover p50 / max',
          result.recovery ? `${ms(result.recovery.p50Ms)} / ${ms(result.recovery.maxMs)}` : '-',
        ],
        [
          '  counted from the server (PgBouncer) up again',
          result.recovery
            ? `${ms(result.recovery.afterOutageP50Ms)} / ${ms(result.recovery.afterOutageMaxMs)}`
            : '-',
        ],
        ['pool serves after the run', result.poolServesAfterRun ? 'yes' : 'NO'],
        [
          result.throughPgBouncer ? 'PgBouncer clients left open' : 'server sessions left open',
          number(result.connectionsLeftOpen),
        ],
        ['most server sessions (samples)', number(result.mostServerSessions)],
        [
          `heap${result.forcedGc ? ' after gc' : ''} start / end (most)`,
          `${mb(memory.start.heapUsedMb)} / ${mb(memory.end.heapUsedMb)} (${mb(memory.most.heapUsedMb)})`,
        ],
        [
          'rss start / end (most)',
          `${mb(memory.start.rssMb)} / ${mb(memory.end.rssMb)} (${mb(memory.most.rssMb)})`,
        ],
        ...(memory.firstSample
          ? [
              [
                'heap / rss, end - first sample',
                `${signed(memory.end.heapUsedMb - memory.firstSample.heapUsedMb)} / ${signed(memory.end.rssMb - memory.firstSample.rssMb)}`,
              ],
            ]
          : []),
      ],
      [0, 1],
    ),
  );
  if (result.faults.length > 0) {
    lines.push(
      '',
      'faults',
      ...table(
        ['fault', 'at', 'outage', 'recovered after', 'what happened'],
        result.faults.map((fault) => [
          fault.kind,
          `${fault.atSeconds} s`,
          ms(fault.outageMs),
          fault.recoverMs === undefined ? 'never' : ms(fault.recoverMs),
          fault.detail,
        ]),
        [0, 4],
      ),
      '',
      ...[...new Set(result.faults.map((fault) => fault.kind))].map(
        (kind) => `${kind}: ${FAULT_DESCRIPTIONS[kind]}`,
      ),
    );
  }
  if (result.errors.length > 0) {
    lines.push(
      '',
      'errors by class',
      ...table(
        ['class', 'count', 'typed', 'expected', 'first'],
        result.errors.map((error) => [
          error.errorClass,
          number(error.count),
          error.typed ? 'yes' : 'NO',
          error.expected ? 'yes' : 'NO',
          error.example.slice(0, 120),
        ]),
        [0, 4],
      ),
    );
  }
  lines.push(
    '',
    'operations',
    ...table(
      ['operation', 'calls', 'failed', 'p50', 'p99', 'max'],
      result.operations.map((operation) => [
        operation.name,
        number(operation.calls),
        number(operation.failed),
        ms(operation.p50Ms),
        ms(operation.p99Ms),
        ms(operation.maxMs),
      ]),
    ),
  );
  if (result.samples.length > 0) {
    lines.push(
      '',
      'samples',
      ...table(
        ['at', 'calls/s', 'failed', 'p99', 'heap', 'rss', 'sessions'],
        result.samples.map((sample) => [
          `${sample.atSeconds} s`,
          number(sample.callsPerSecond),
          number(sample.failed),
          ms(sample.p99Ms),
          mb(sample.heapUsedMb),
          mb(sample.rssMb),
          sample.serverSessions === undefined ? '-' : number(sample.serverSessions),
        ]),
      ),
    );
  }
  if (verification.examples.length > 0) lines.push('', 'ledger mismatches', ...verification.examples);
  if (result.unhandledRejections.length > 0)
    lines.push('', 'unhandled rejections', ...result.unhandledRejections);
  return lines.join('\n');
}
