/**
 * What a run counts: each operation's calls, durations and failures; failures by error class, each
 * judged typed (a DatabaseError) and expected (a ConnectionError while faults are injected) or not;
 * reads that returned something other than the ledger expects; and every acknowledged write, which
 * tells a fault's recovery (the first acknowledged write begun after the fault).
 */
import { ConnectionError, DatabaseError } from '../../../src/errors/classes.js';
import { LatencyHistogram } from './latency-histogram.js';

export interface OperationStats {
  succeeded: number;
  failed: number;
  latency: LatencyHistogram;
}

export interface ErrorClassStats {
  count: number;
  /** A DatabaseError of the layer's hierarchy; anything else is a bug of the layer. */
  typed: boolean;
  /** A ConnectionError (the family a fault causes) in a run with faults. */
  expected: boolean;
  example: string;
}

/** The class a failure is counted under: the layer's class name, or `untyped <name>` for anything else. */
export function errorClassOf(error: unknown): string {
  if (error instanceof DatabaseError) return error.name;
  const name = error instanceof Error ? error.name : typeof error;
  return `untyped ${name}`;
}

const READ_MISMATCH = 'ReadMismatch';

export class RunStats {
  readonly operations = new Map<string, OperationStats>();
  readonly errors = new Map<string, ErrorClassStats>();
  writesAcknowledged = 0;
  readsSucceeded = 0;
  /** Calls finished (either way) since the last `takeInterval()`, and their durations. */
  readonly #interval = { calls: 0, failed: 0, latency: new LatencyHistogram() };
  readonly #acknowledgedListeners = new Set<(startedAt: number, at: number) => void>();

  constructor(private readonly faultsInjected: boolean) {}

  #operation(name: string): OperationStats {
    let stats = this.operations.get(name);
    if (!stats) {
      stats = { succeeded: 0, failed: 0, latency: new LatencyHistogram() };
      this.operations.set(name, stats);
    }
    return stats;
  }

  succeeded(name: string, kind: 'write' | 'read', startedAt: number, at: number): void {
    const ms = at - startedAt;
    const stats = this.#operation(name);
    stats.succeeded += 1;
    stats.latency.record(ms);
    this.#interval.calls += 1;
    this.#interval.latency.record(ms);
    if (kind === 'read') {
      this.readsSucceeded += 1;
      return;
    }
    this.writesAcknowledged += 1;
    for (const listener of this.#acknowledgedListeners) listener(startedAt, at);
  }

  failed(name: string, error: unknown, startedAt: number, at: number): void {
    const stats = this.#operation(name);
    stats.failed += 1;
    stats.latency.record(at - startedAt);
    this.#interval.calls += 1;
    this.#interval.failed += 1;
    this.#interval.latency.record(at - startedAt);
    this.#count(errorClassOf(error), {
      typed: error instanceof DatabaseError,
      expected: this.faultsInjected && error instanceof ConnectionError,
      example: `${name}: ${error instanceof Error ? error.message : String(error)}`,
    });
  }

  /** A read that succeeded but returned something other than what the ledger holds. */
  mismatch(name: string, detail: string): void {
    this.#count(READ_MISMATCH, { typed: true, expected: false, example: `${name}: ${detail}` });
  }

  #count(errorClass: string, first: Omit<ErrorClassStats, 'count'>): void {
    const stats = this.errors.get(errorClass);
    if (stats) stats.count += 1;
    else this.errors.set(errorClass, { count: 1, ...first });
  }

  onAcknowledged(listener: (startedAt: number, at: number) => void): () => void {
    this.#acknowledgedListeners.add(listener);
    return () => this.#acknowledgedListeners.delete(listener);
  }

  get callsFailed(): number {
    let total = 0;
    for (const stats of this.operations.values()) total += stats.failed;
    return total;
  }

  /** Failures that are not a fault's expected ConnectionError: untyped, other classes, read mismatches. */
  get unexpectedErrors(): number {
    let total = 0;
    for (const stats of this.errors.values()) if (!stats.expected) total += stats.count;
    return total;
  }

  get untypedErrors(): number {
    let total = 0;
    for (const stats of this.errors.values()) if (!stats.typed) total += stats.count;
    return total;
  }

  /** Every call's durations together. */
  latency(): LatencyHistogram {
    const all = new LatencyHistogram();
    for (const stats of this.operations.values()) all.add(stats.latency);
    return all;
  }

  /** The calls since the previous interval, which starts anew. */
  takeInterval(): { calls: number; failed: number; p99Ms: number } {
    const taken = {
      calls: this.#interval.calls,
      failed: this.#interval.failed,
      p99Ms: this.#interval.latency.percentile(0.99),
    };
    this.#interval.calls = 0;
    this.#interval.failed = 0;
    this.#interval.latency.clear();
    return taken;
  }
}
