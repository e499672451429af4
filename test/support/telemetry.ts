/**
 * The OpenTelemetry SDK as a service would register it, recording into memory: spans (every one
 * sampled) with an in-memory exporter, metrics read on demand. The async-hooks context manager carries
 * the active span across `await`, as the Node SDK's does.
 */
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AggregationTemporality,
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';

let contextManager: AsyncLocalStorageContextManager | undefined;

/** The context manager the Node SDK registers; once per test file. */
export function useAsyncContext(): void {
  if (contextManager) return;
  contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
}

/** A metric reader that reads when asked (cumulative). */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.CUMULATIVE });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

export interface RecordingSdk {
  readonly tracerProvider: BasicTracerProvider;
  readonly meterProvider: MeterProvider;
  /** The spans ended so far, in the order they ended. */
  spans(): ReadableSpan[];
  reset(): void;
  /** The data points of the metric `name` now. */
  points<T = number | Histogram>(name: string): DataPoint<T>[];
  collect(): Promise<void>;
  shutdown(): Promise<void>;
}

export function recordingSdk(): RecordingSdk {
  useAsyncContext();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new OnDemandReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  let collected = new Map<string, DataPoint<unknown>[]>();
  return {
    tracerProvider,
    meterProvider,
    spans: () => exporter.getFinishedSpans(),
    reset: () => exporter.reset(),
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      collected = new Map();
      for (const scope of resourceMetrics.scopeMetrics) {
        for (const metric of scope.metrics) {
          collected.set(metric.descriptor.name, metric.dataPoints as DataPoint<unknown>[]);
        }
      }
    },
    points: <T>(name: string) => (collected.get(name) ?? []) as DataPoint<T>[],
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
    },
  };
}

/** Span ids of a trace as a tree of names: `users.create\n  INSERT pg_users …`, children in start order. */
export function spanTree(spans: readonly ReadableSpan[], root: ReadableSpan): string {
  const lines: string[] = [];
  const walk = (span: ReadableSpan, depth: number) => {
    lines.push(`${'  '.repeat(depth)}${span.name}`);
    const children = spans
      .filter((child) => child.parentSpanContext?.spanId === span.spanContext().spanId)
      .sort((a, b) => compareTime(a.startTime, b.startTime));
    for (const child of children) walk(child, depth + 1);
  };
  walk(root, 0);
  return lines.join('\n');
}

function compareTime(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

/** The one span named `name` (fails the test when there is not exactly one). */
export function onlySpan(spans: readonly ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((span) => span.name === name);
  if (found.length !== 1) {
    throw new Error(
      `expected one span "${name}", found ${found.length}: ${spans.map((s) => s.name).join(', ')}`,
    );
  }
  return found[0] as ReadableSpan;
}

/** The spans whose parent is `parent`, in start order. */
export function childrenOf(spans: readonly ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  return spans
    .filter((span) => span.parentSpanContext?.spanId === parent.spanContext().spanId)
    .sort((a, b) => compareTime(a.startTime, b.startTime));
}
