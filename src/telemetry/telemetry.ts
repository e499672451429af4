/**
 * OpenTelemetry for the layer, through `@opentelemetry/api` alone (the service brings the SDK): a span
 * per call of the layer's API, a child span per statement, transaction and savepoint spans, and the
 * connection and statement metrics. When nobody listens, the API's no-op tracer answers every span
 * request with a span that records nothing, and the layer does no further work for it; metrics are
 * skipped altogether when no meter provider is registered at the time the database is created.
 * `telemetry: false` makes no call into the API at all.
 */
import {
  type Attributes,
  type BatchObservableResult,
  type Context,
  type Counter,
  context,
  createNoopMeter,
  type Histogram,
  type Meter,
  type MeterProvider,
  metrics,
  type ObservableUpDownCounter,
  type Span,
  SpanKind,
  type SpanOptions,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api';
import type { ConnectionSettings } from '../config/settings.js';
import { errorAttributes, errorClass, recordFailure } from './error-attributes.js';
import { StatementRecord, type StatementTarget } from './statement-record.js';
import { tracedIterator } from './traced-iterator.js';

/** `createDatabase`'s `telemetry` option. */
export interface TelemetryOptions {
  /** Default: the global one (`trace.setGlobalTracerProvider`, which the Node SDK calls). */
  tracerProvider?: TracerProvider;
  /** Default: the global one, as registered when the database is created. */
  meterProvider?: MeterProvider;
}

/** `false`: no spans and no metrics, and no call into the OpenTelemetry API. */
export type TelemetrySetting = boolean | TelemetryOptions;

export const INSTRUMENTATION_SCOPE = 'shared-db';

/** Seconds: OpenTelemetry's database metrics are in seconds, with these bucket bounds. */
const DURATION_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10];

const NoopMeter = createNoopMeter().constructor;

/** The metrics' instruments, created once per database. */
export interface Instruments {
  readonly meter: Meter;
  readonly operationDuration: Histogram;
  readonly connectionWait: Histogram;
  readonly errors: Counter;
  readonly connectionCount: ObservableUpDownCounter;
  readonly connectionPending: ObservableUpDownCounter;
  readonly connectionMax: ObservableUpDownCounter;
}

function createInstruments(meter: Meter): Instruments {
  return {
    meter,
    operationDuration: meter.createHistogram('db.client.operation.duration', {
      description: 'Duration of each statement sent to the server.',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    connectionWait: meter.createHistogram('db.client.connection.wait_time', {
      description: 'Time it took to obtain a connection from the pool.',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    errors: meter.createCounter('shared_db.errors', {
      description: 'Calls of the layer that failed, by the class of their error.',
      unit: '{error}',
    }),
    connectionCount: meter.createObservableUpDownCounter('db.client.connection.count', {
      description: 'Connections open in the pool, by state (used, idle).',
      unit: '{connection}',
    }),
    connectionPending: meter.createObservableUpDownCounter('db.client.connection.pending_requests', {
      description: 'Callers waiting for a connection from the pool.',
      unit: '{request}',
    }),
    connectionMax: meter.createObservableUpDownCounter('db.client.connection.max', {
      description: 'Most connections the pool opens.',
      unit: '{connection}',
    }),
  };
}

export interface PoolCountsReading {
  total: number;
  idle: number;
  waiting: number;
}

const CALL_KIND = SpanKind.INTERNAL;

/** The API's global tracer provider (a proxy), which knows whether an SDK has been registered behind it. */
interface DelegatingTracerProvider extends TracerProvider {
  getDelegateTracer(name: string): Tracer | undefined;
}

// Told by shape rather than by class: the global provider may come from another copy of the API.
function isDelegating(provider: TracerProvider): provider is DelegatingTracerProvider {
  return typeof (provider as Partial<DelegatingTracerProvider>).getDelegateTracer === 'function';
}

/** Pool names handed out in this process: a second database object to the same server gets `#2`. */
const poolNames = new Map<string, number>();

function uniquePoolName(name: string): string {
  const count = (poolNames.get(name) ?? 0) + 1;
  poolNames.set(name, count);
  return count === 1 ? name : `${name} #${count}`;
}

export class Telemetry {
  /** Whether the layer calls the OpenTelemetry API at all. */
  readonly enabled: boolean;
  readonly #tracer: Tracer | undefined;
  readonly #instruments: Instruments | undefined;
  readonly #logParameters: boolean;
  readonly #callOptions: SpanOptions;
  /** The global provider until the service registers one (the API's proxy); undefined otherwise. */
  readonly #proxy: DelegatingTracerProvider | undefined;
  #listening = false;

  constructor(setting: TelemetrySetting, namespace: string, logParameters: boolean) {
    this.enabled = setting !== false;
    this.#logParameters = logParameters;
    this.#callOptions = {
      kind: CALL_KIND,
      attributes: { 'db.system.name': 'postgresql', 'db.namespace': namespace },
    };
    if (setting === false) return;
    const options = setting === true ? {} : setting;
    const provider = options.tracerProvider ?? trace.getTracerProvider();
    if (isDelegating(provider)) this.#proxy = provider;
    this.#tracer = provider.getTracer(INSTRUMENTATION_SCOPE);
    const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(INSTRUMENTATION_SCOPE);
    if (!(meter instanceof NoopMeter)) this.#instruments = createInstruments(meter);
  }

  /**
   * Whether a call's span or metric could be recorded now: false until the service registers an SDK
   * (a tracer provider behind the API's proxy, or a meter provider), true from then on. Lets the layer
   * skip work it repeats per transaction, where the no-op tracer's answer alone would come too late.
   */
  listening(): boolean {
    if (this.#listening || this.#tracer === undefined) return this.#listening;
    this.#listening =
      this.#instruments !== undefined ||
      this.#proxy === undefined ||
      this.#proxy.getDelegateTracer(INSTRUMENTATION_SCOPE) !== undefined;
    return this.#listening;
  }

  /**
   * What every statement to one server carries (server-pool.ts makes one per server). A pool's target
   * also names the pool for the metrics; a connection of its own (a migration run's) names none.
   */
  target(server: string, settings: ConnectionSettings, pool = true): StatementTarget {
    const attributes: Attributes = {
      'db.system.name': 'postgresql',
      'db.namespace': `${settings.database}.${settings.schema}`,
      'server.address': settings.host,
      'server.port': settings.port,
      'shared_db.server': server,
    };
    return {
      attributes,
      // Unique within the process, as the conventions ask: each database object's pool is its own.
      poolAttributes:
        pool && this.#instruments
          ? {
              'db.client.connection.pool.name': uniquePoolName(
                `${server} ${settings.host}:${settings.port}/${settings.database}`,
              ),
            }
          : {},
      metricAttributes: new Map(),
    };
  }

  /**
   * Starts what one statement records: its span (a child of the active one) and its duration metric.
   * Undefined when nobody listens, so a statement then costs the request for a span and nothing more.
   */
  startStatement(
    target: StatementTarget,
    text: string,
    params: readonly unknown[],
    named: boolean,
    waitMs: number,
  ): StatementRecord | undefined {
    if (this.#tracer === undefined) return undefined;
    let span: Span | undefined = this.#tracer.startSpan('statement', {
      kind: SpanKind.CLIENT,
      attributes: target.attributes,
    });
    if (!span.isRecording()) span = undefined;
    if (span === undefined && this.#instruments === undefined) return undefined;
    return new StatementRecord({
      target,
      text,
      params: this.#logParameters ? params : undefined,
      named,
      waitMs,
      span,
      duration: this.#instruments?.operationDuration,
    });
  }

  /** Records the wait for a connection from the pool of `target`. */
  connectionWait(target: StatementTarget, ms: number): void {
    this.#instruments?.connectionWait.record(ms / 1000, target.poolAttributes);
  }

  /** Reports the pool's connections while the meter collects; returns what stops it. */
  observePool(target: StatementTarget, max: number, counts: () => PoolCountsReading): () => void {
    const instruments = this.#instruments;
    if (!instruments) return () => {};
    const pool = target.poolAttributes;
    const used = { ...pool, 'db.client.connection.state': 'used' };
    const idle = { ...pool, 'db.client.connection.state': 'idle' };
    const observe = (result: BatchObservableResult) => {
      const now = counts();
      result.observe(instruments.connectionCount, now.total - now.idle, used);
      result.observe(instruments.connectionCount, now.idle, idle);
      result.observe(instruments.connectionPending, now.waiting, pool);
      result.observe(instruments.connectionMax, max, pool);
    };
    const observables = [
      instruments.connectionCount,
      instruments.connectionPending,
      instruments.connectionMax,
    ];
    instruments.meter.addBatchObservableCallback(observe, observables);
    return () => instruments.meter.removeBatchObservableCallback(observe, observables);
  }

  /**
   * Runs `work` as the call `name` (`users.findById`, `transaction`): a span around it, the active one
   * while it runs, so its statements are its children; a failure recorded on it and counted by class.
   */
  call<T>(name: string, work: () => Promise<T>, attributes?: Attributes): Promise<T> {
    if (this.#tracer === undefined) return work();
    const span = this.#tracer.startSpan(name, this.#callOptions);
    if (!span.isRecording()) {
      if (this.#instruments === undefined) return work();
      return this.#counted(name, work);
    }
    if (attributes) span.setAttributes(attributes);
    return context.with(trace.setSpan(context.active(), span), async () => {
      try {
        const result = await work();
        span.end();
        return result;
      } catch (error) {
        recordFailure(span, error);
        span.end();
        this.#countError(name, error);
        throw error;
      }
    });
  }

  /** `call` for an API that returns an async iterator: the span lasts until the loop ends. */
  stream<T>(name: string, open: () => AsyncIterableIterator<T>): AsyncIterableIterator<T> {
    if (this.#tracer === undefined) return open();
    const span = this.#tracer.startSpan(name, this.#callOptions);
    const recording = span.isRecording();
    if (!recording && this.#instruments === undefined) return open();
    const active = recording ? trace.setSpan(context.active(), span) : context.active();
    const finish = (error: unknown, rows: number) => {
      if (error !== undefined) this.#countError(name, error);
      if (!recording) return;
      if (error !== undefined) recordFailure(span, error);
      span.setAttribute('db.response.returned_rows', rows);
      span.end();
    };
    let inner: AsyncIterableIterator<T>;
    try {
      inner = context.with(active, open);
    } catch (error) {
      finish(error, 0);
      throw error;
    }
    return tracedIterator(inner, active, finish);
  }

  async #counted<T>(name: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      this.#countError(name, error);
      throw error;
    }
  }

  #countError(name: string, error: unknown): void {
    if (this.#instruments === undefined) return;
    this.#instruments.errors.add(1, { ...errorAttributes(errorClass(error)), 'shared_db.operation': name });
  }

  /**
   * Starts the span of a call whose end the caller decides (a migration), a child of `parent` (default:
   * the active context); undefined when it would record nothing.
   */
  startSpan(name: string, attributes?: Attributes, parent: Context = context.active()): Span | undefined {
    if (this.#tracer === undefined) return undefined;
    const span = this.#tracer.startSpan(name, this.#callOptions, parent);
    if (!span.isRecording()) return undefined;
    if (attributes) span.setAttributes(attributes);
    return span;
  }
}

/** The layer with its telemetry off: no spans, no metrics, no call into the API. */
export const NO_TELEMETRY = new Telemetry(false, '', false);
