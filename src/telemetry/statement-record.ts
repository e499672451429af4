/**
 * What one statement records while it runs: its span (CLIENT, named for its summary, with the database
 * conventions' attributes and the layer's own) and its duration in `db.client.operation.duration`.
 * The SQL text is the text sent, with `$1` placeholders: values appear only as `db.query.parameter.<n>`,
 * and only when parameters are logged. Nothing is added to the SQL itself.
 */
import { type Attributes, context, type Histogram, type Span, trace } from '@opentelemetry/api';
import { errorAttributes, errorClass, recordFailure } from './error-attributes.js';
import { querySummary } from './query-summary.js';

/** One server's constant attributes, made once per pool (Telemetry.target). */
export interface StatementTarget {
  readonly attributes: Attributes;
  readonly poolAttributes: Attributes;
  /** The duration metric's attributes per SQL text, made once per text. */
  readonly metricAttributes: Map<string, Attributes>;
}

const MAX_METRIC_TEXTS = 2000;

export interface StatementStart {
  target: StatementTarget;
  text: string;
  /** The values, when parameters are logged. */
  params: readonly unknown[] | undefined;
  named: boolean;
  waitMs: number;
  span: Span | undefined;
  duration: Histogram | undefined;
}

function parameterText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object' && !Buffer.isBuffer(value)) {
    try {
      return JSON.stringify(value);
    } catch {
      return String(value);
    }
  }
  return String(value);
}

/** What the summary of `text` says, as the span and the duration metric both carry it. */
function summaryAttributes(text: string): Attributes {
  const { summary, operation, collection } = querySummary(text);
  const attributes: Attributes = {};
  if (summary) attributes['db.query.summary'] = summary;
  if (operation) attributes['db.operation.name'] = operation;
  if (collection) attributes['db.collection.name'] = collection;
  return attributes;
}

export class StatementRecord {
  readonly #start: StatementStart;
  readonly #started = performance.now();

  constructor(start: StatementStart) {
    this.#start = start;
    const { span, text, named, waitMs, params } = start;
    if (span === undefined) return;
    const { summary } = querySummary(text);
    if (summary) span.updateName(summary);
    const attributes: Attributes = {
      'db.query.text': text,
      'shared_db.statement.named': named,
      ...summaryAttributes(text),
    };
    if (waitMs > 0) attributes['shared_db.connection.wait_ms'] = waitMs;
    params?.forEach((value, index) => {
      attributes[`db.query.parameter.${index}`] = parameterText(value);
    });
    span.setAttributes(attributes);
  }

  /** Runs `send` with the statement's span active (a driver's own instrumentation nests under it). */
  run<T>(send: () => Promise<T>): Promise<T> {
    const span = this.#start.span;
    return span === undefined ? send() : context.with(trace.setSpan(context.active(), span), send);
  }

  /** The statement ended: `rows` it returned (when it returns rows), or the error it failed with. */
  end(rows: number | undefined, error?: unknown): void {
    const { span, duration, target, text } = this.#start;
    if (span !== undefined) {
      if (error !== undefined) recordFailure(span, error);
      else if (rows !== undefined) span.setAttribute('db.response.returned_rows', rows);
      span.end();
    }
    if (duration === undefined) return;
    const seconds = (performance.now() - this.#started) / 1000;
    let attributes = target.metricAttributes.get(text);
    if (attributes === undefined) {
      attributes = { ...target.attributes, ...summaryAttributes(text) };
      if (target.metricAttributes.size >= MAX_METRIC_TEXTS) target.metricAttributes.clear();
      target.metricAttributes.set(text, attributes);
    }
    if (error !== undefined) {
      attributes = { ...attributes, ...errorAttributes(errorClass(error)) };
    }
    duration.record(seconds, attributes);
  }
}
