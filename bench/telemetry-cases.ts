/**
 * The telemetry cases: what the layer's OpenTelemetry instrumentation (src/telemetry/) costs the client.
 * Three operations (a user by id with posts and roles, a nested create, a transaction of two reads), each
 * on three database objects of the layer with the same pool size, interleaved:
 *
 * - `layer, telemetry off` (`telemetry: false`): no call into the OpenTelemetry API at all, as if the
 *   tracing were compiled out (the baseline);
 * - `layer, no SDK` (the default): the global providers, none of them registered, as a service that does
 *   not set up OpenTelemetry runs the layer: each call and statement asks the API's no-op tracer for a
 *   span, gets one that records nothing, and does nothing more; no metrics;
 * - `layer, SDK recording every span`: the SDK's tracer provider sampling every span (AlwaysOnSampler)
 *   into a BatchSpanProcessor whose exporter discards the batches, and the SDK's meter provider, read
 *   every second by a periodic reader whose exporter discards them too: what a service exporting
 *   everything does, minus the exporters' encoding and the network.
 *
 * The target is client CPU per operation, the no-SDK variant's against telemetry off: "free when nobody
 * listens" means no difference beyond the noise, which one machine's throughput would hide in the
 * server's share of the cores. The SDK variant has no target: what it costs per call, in client CPU
 * above the baseline and in throughput, is in the run's notes (`describeTelemetry`).
 *
 * As the Node SDK does, the step registers an AsyncLocalStorage context manager globally, before the
 * databases are created and for the whole step: it is there for all three variants, as it is in a
 * service that exports. Once a context is set (the SDK variant's spans; the layer's transactions have an
 * AsyncLocalStorage of their own), Node's async hooks are on for the whole process, every variant alike;
 * measured on its own, with telemetry off, hooks on against hooks off made no difference beyond the noise
 * (bench/README.md). The global tracer and meter providers stay unregistered (`checkTelemetry` fails the
 * run otherwise): the no-SDK variant must find nothing there.
 *
 * Before measuring, `checkTelemetry` runs each case once on each variant: the SDK's exporters must
 * receive the call's span with its statements' spans beneath it and a duration per statement, and
 * nothing at all from the other two.
 */
import {
  context,
  createContextKey,
  createNoopMeter,
  metrics,
  ProxyTracerProvider,
  SpanKind,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { createDatabase, type Database } from '../src/database/database.js';
import { INSTRUMENTATION_SCOPE } from '../src/telemetry/telemetry.js';
import type { Fixtures } from './fixtures.js';
import type { BenchCase, CaseResult, Variant } from './harness/types.js';
import { benchConfig } from './operations-step.js';

export const TELEMETRY_OFF = 'layer, telemetry off';
export const NO_SDK = 'layer, no SDK';
export const SDK = 'layer, SDK recording every span';

/**
 * The no-SDK variant's client CPU per operation may exceed telemetry off's by at most this: the noise of
 * these cases. Two identical variants (telemetry off twice, in this step's rotation and rounds) measured
 * ratios whose spread puts this bound about two and a half standard deviations above 1 (bench/README.md):
 * identical variants exceed it by chance in few runs.
 */
export const NO_SDK_MAX_CPU_RATIO = 1.08;
/**
 * Rounds per round of the suite: a bound of a few percent on CPU per operation needs many slices, and
 * three variants, six cells, must still fit CI's short bench.
 */
export const TELEMETRY_ROUNDS_FACTOR = 3;

export const TELEMETRY_CASE_NAMES = {
  userById: 'telemetry: user by id with posts and roles',
  create: 'telemetry: nested create (user + post + role)',
  transaction: 'telemetry: transaction of two reads',
} as const;

/** The statements' duration histogram (telemetry.ts): one measurement per statement. */
const STATEMENT_DURATION = 'db.client.operation.duration';
const PAGE = 10;
/** How often the periodic reader collects the metrics. */
const METRICS_INTERVAL_MS = 1000;

export class TelemetryCheckError extends Error {
  override name = 'TelemetryCheckError';
}

type ExportCallback = Parameters<SpanExporter['export']>[1];
/** ExportResultCode.SUCCESS, from @opentelemetry/core, which the bench does not depend on. */
const EXPORTED: Parameters<ExportCallback>[0] = { code: 0 };

/** Counts the spans it is given and drops them; keeps them only while the check asks it to. */
class DiscardingSpanExporter implements SpanExporter {
  exported = 0;
  kept: ReadableSpan[] | undefined;

  export(spans: ReadableSpan[], done: ExportCallback): void {
    this.exported += spans.length;
    this.kept?.push(...spans);
    done(EXPORTED);
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** Drops the metrics it is given, noting how many statement durations they count so far (cumulative). */
class DiscardingMetricExporter implements PushMetricExporter {
  statements = 0;

  export(resource: ResourceMetrics, done: ExportCallback): void {
    let statements = 0;
    for (const scope of resource.scopeMetrics)
      for (const metric of scope.metrics)
        if (metric.descriptor.name === STATEMENT_DURATION)
          for (const point of metric.dataPoints) statements += (point.value as { count?: number }).count ?? 0;
    this.statements = statements;
    done(EXPORTED);
  }

  forceFlush(): Promise<void> {
    return Promise.resolve();
  }

  shutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/** The SDK the third variant reports to, and what its exporters received. */
interface Sdk {
  tracerProvider: BasicTracerProvider;
  meterProvider: MeterProvider;
  reader: PeriodicExportingMetricReader;
  spans: DiscardingSpanExporter;
  metrics: DiscardingMetricExporter;
}

function startSdk(): Sdk {
  const spans = new DiscardingSpanExporter();
  const tracerProvider = new BasicTracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor(spans)],
  });
  const metricExporter = new DiscardingMetricExporter();
  const reader = new PeriodicExportingMetricReader({
    exporter: metricExporter,
    exportIntervalMillis: METRICS_INTERVAL_MS,
    exportTimeoutMillis: METRICS_INTERVAL_MS,
  });
  const meterProvider = new MeterProvider({ readers: [reader] });
  return { tracerProvider, meterProvider, reader, spans, metrics: metricExporter };
}

type Which = 'off' | 'noSdk' | 'sdk';

/** The three database objects, the SDK, and what closes them (and unregisters the context manager). */
export interface TelemetryBench {
  databases: Record<Which, Database>;
  sdk: Sdk;
  close(): Promise<void>;
}

/**
 * Registers the context manager, starts the SDK and opens the three database objects on the bench
 * database `url`, each with a pool of `poolSize`.
 */
export function openTelemetryBench(url: string, poolSize: number): TelemetryBench {
  const manager = new AsyncLocalStorageContextManager().enable();
  if (!context.setGlobalContextManager(manager)) {
    manager.disable();
    throw new TelemetryCheckError('a global context manager was registered before the telemetry step');
  }
  const sdk = startSdk();
  const config = benchConfig(url, poolSize);
  const databases = {
    off: createDatabase(config, { telemetry: false }),
    noSdk: createDatabase(config),
    sdk: createDatabase(config, {
      telemetry: { tracerProvider: sdk.tracerProvider, meterProvider: sdk.meterProvider },
    }),
  };
  return {
    databases,
    sdk,
    async close() {
      try {
        await Promise.all(Object.values(databases).map((db) => db.disconnect()));
        await sdk.tracerProvider.shutdown();
        await sdk.meterProvider.shutdown();
      } finally {
        // Unregistered, so the steps after this one run as they did before it.
        context.disable();
      }
    },
  };
}

/** One case's operation, and the name of the span the layer makes for it. */
interface Operation {
  name: string;
  callSpan: string;
  run(db: Database, worker: number, i: number): Promise<unknown>;
}

/** The cases' operations on the seeded data; `runId` keeps created emails apart from other runs'. */
export function telemetryOperations(fixtures: Fixtures, runId: string): Operation[] {
  const { userIds, category } = fixtures;
  const pick = (worker: number, i: number) =>
    userIds[(i * 7919 + worker * 104_729) % userIds.length] as string;
  // Emails must be new on every call, across variants and concurrencies too.
  let created = 0;
  return [
    {
      name: TELEMETRY_CASE_NAMES.userById,
      callSpan: 'users.findById',
      run: (db, w, i) => db.users.findById(pick(w, i), { include: { posts: true, roles: true } }),
    },
    {
      name: TELEMETRY_CASE_NAMES.create,
      callSpan: 'users.create',
      run: (db) =>
        db.users.create({
          email: `telemetry-${runId}-${created++}@example.com`,
          name: 'Bench',
          posts: [{ title: 'A first post', content: 'Hello from the benchmark', metadata: { category } }],
          roles: [{ name: 'author' }],
        }),
    },
    {
      name: TELEMETRY_CASE_NAMES.transaction,
      callSpan: 'transaction',
      run: (db, w, i) =>
        db.transaction(async (tx) => {
          const id = pick(w, i);
          await tx.users.findById(id);
          await tx.posts.findMany({ where: { authorId: id }, first: PAGE });
        }),
    },
  ];
}

/**
 * The cases over `bench`'s three database objects. `checks` says how many spans one call makes with the
 * SDK: after each case, the SDK's exporter must have received exactly that many per call of its variant
 * (none dropped on the way, so the variant did record every span).
 */
export function telemetryCases(
  bench: TelemetryBench,
  operations: readonly Operation[],
  checks: readonly TelemetryCheck[],
): BenchCase[] {
  const { databases, sdk } = bench;
  return operations.map((operation) => {
    const spansPerCall = checks.find((c) => c.case === operation.name)?.spans ?? 0;
    let sdkCalls = 0;
    let exportedBefore = 0;
    const variant = (name: string, which: Which): Variant => {
      const db = databases[which];
      return which === 'sdk'
        ? {
            name,
            run: async (w, i) => {
              sdkCalls++;
              await operation.run(db, w, i);
            },
          }
        : {
            name,
            run: async (w, i) => {
              await operation.run(db, w, i);
            },
          };
    };
    return {
      name: operation.name,
      // The SDK's variant runs right before the no-SDK one in each round: what it leaves behind (its
      // garbage, spans still to export) falls on the subject more often than on the baseline.
      variants: [variant(TELEMETRY_OFF, 'off'), variant(SDK, 'sdk'), variant(NO_SDK, 'noSdk')],
      targets: [{ kind: 'cpu', baseline: TELEMETRY_OFF, subject: NO_SDK, maxRatio: NO_SDK_MAX_CPU_RATIO }],
      roundsFactor: TELEMETRY_ROUNDS_FACTOR,
      // The steady state a service runs in: after a forced full collection V8 optimizes the hot
      // functions again in the next slice, which would charge each slice for it (see replica-cases.ts).
      gcBetweenSlices: false,
      async setup() {
        await sdk.tracerProvider.forceFlush();
        exportedBefore = sdk.spans.exported;
        sdkCalls = 0;
      },
      async teardown() {
        await sdk.tracerProvider.forceFlush();
        const exported = sdk.spans.exported - exportedBefore;
        if (exported !== sdkCalls * spansPerCall)
          throw new TelemetryCheckError(
            `${operation.name}: the SDK exported ${exported} spans for ${sdkCalls} calls of ` +
              `${spansPerCall} spans each (spans dropped: the ${SDK} variant did not record every span)`,
          );
      },
    };
  });
}

/** What the check found for one case: the spans and statement durations one call makes with the SDK. */
export interface TelemetryCheck {
  case: string;
  spans: number;
  statements: number;
}

/** The statement durations the metric exporter has counted once the reader has collected now. */
async function statementsCounted(sdk: Sdk): Promise<number> {
  await sdk.reader.forceFlush();
  return sdk.metrics.statements;
}

/** What the SDK's exporters hold once both have flushed. */
async function exported(sdk: Sdk): Promise<{ spans: number; statements: number }> {
  await sdk.tracerProvider.forceFlush();
  return { spans: sdk.spans.exported, statements: await statementsCounted(sdk) };
}

/** The global providers unregistered, and the context manager carrying a context across an await. */
async function checkGlobals(): Promise<void> {
  const provider = trace.getTracerProvider();
  if (!(provider instanceof ProxyTracerProvider) || provider.getDelegateTracer(INSTRUMENTATION_SCOPE))
    throw new TelemetryCheckError(
      `a global tracer provider is registered: the ${NO_SDK} variant would record spans`,
    );
  const NoopMeter = createNoopMeter().constructor;
  if (!(metrics.getMeterProvider().getMeter(INSTRUMENTATION_SCOPE) instanceof NoopMeter))
    throw new TelemetryCheckError(
      `a global meter provider is registered: the ${NO_SDK} variant would record metrics`,
    );
  if (trace.getTracer(INSTRUMENTATION_SCOPE).startSpan('check').isRecording())
    throw new TelemetryCheckError('the global tracer records spans');
  const key = createContextKey('telemetry bench check');
  const carried = await context.with(context.active().setValue(key, true), async () => {
    await new Promise(setImmediate);
    return context.active().getValue(key);
  });
  if (carried !== true)
    throw new TelemetryCheckError('the global context manager does not carry a context across an await');
}

/**
 * One call of each operation per variant: with the SDK, its call span, statement spans beneath it
 * (CLIENT) and as many statement durations; telemetry off and no SDK, nothing at all. Returns what one
 * call recorded with the SDK, for the notes.
 */
export async function checkTelemetry(
  bench: TelemetryBench,
  operations: readonly Operation[],
): Promise<TelemetryCheck[]> {
  await checkGlobals();
  const { databases, sdk } = bench;
  const checks: TelemetryCheck[] = [];
  for (const operation of operations) {
    const fail = (why: string) => {
      throw new TelemetryCheckError(`${operation.name}: ${why}`);
    };
    const before = await exported(sdk);
    await operation.run(databases.off, 0, 0);
    await operation.run(databases.noSdk, 0, 1);
    const after = await exported(sdk);
    if (after.spans !== before.spans || after.statements !== before.statements)
      fail(
        `${TELEMETRY_OFF} and ${NO_SDK} recorded ${after.spans - before.spans} spans and ` +
          `${after.statements - before.statements} statement durations (expected none)`,
      );

    const kept: ReadableSpan[] = [];
    sdk.spans.kept = kept;
    try {
      await operation.run(databases.sdk, 0, 2);
      await sdk.tracerProvider.forceFlush();
    } finally {
      sdk.spans.kept = undefined;
    }
    const statements = (await statementsCounted(sdk)) - after.statements;
    const root = kept.find((span) => span.name === operation.callSpan && !span.parentSpanContext);
    if (!root) fail(`no root span "${operation.callSpan}" among ${kept.map((s) => s.name).join(', ')}`);
    const rootContext = root?.spanContext();
    const byId = new Map(kept.map((span) => [span.spanContext().spanId, span]));
    const underRoot = (span: ReadableSpan): boolean => {
      for (let parent = span.parentSpanContext; parent; parent = byId.get(parent.spanId)?.parentSpanContext)
        if (parent.spanId === rootContext?.spanId) return true;
      return false;
    };
    const strays = kept.filter((span) => span !== root && !underRoot(span));
    if (strays.length > 0) fail(`spans outside the call's: ${strays.map((s) => s.name).join(', ')}`);
    const statementSpans = kept.filter((span) => span.kind === SpanKind.CLIENT);
    if (statementSpans.length === 0) fail(`no statement span beneath "${operation.callSpan}"`);
    if (statements !== statementSpans.length)
      fail(`${statementSpans.length} statement spans but ${statements} statement durations`);
    checks.push({ case: operation.name, spans: kept.length, statements });
  }
  return checks;
}

/** Client CPU a collection of the SDK's metrics takes, in ms (the reader does one a second). */
export async function metricCollectionMs(bench: TelemetryBench, times = 20): Promise<number> {
  const start = process.cpuUsage();
  for (let k = 0; k < times; k++) await bench.sdk.reader.forceFlush();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / times;
}

const micros = (value: number) => (Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(1));
const signed = (value: number) => `${value < 0 ? '−' : '+'}${micros(Math.abs(value))}`;
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The notes of the step: per case and concurrency, what no SDK and the SDK cost per call above
 * telemetry off (client CPU, throughput), and what each span of the SDK's costs.
 */
export function describeTelemetry(
  results: readonly CaseResult[],
  checks: readonly TelemetryCheck[],
  collectionMs: number,
): string[] {
  const short = (name: string) => name.replace(/^telemetry: /, '');
  const lines = results.map((r) => {
    const get = (name: string) => r.variants.find((v) => v.name === name);
    const off = get(TELEMETRY_OFF);
    const noSdk = get(NO_SDK);
    const sdk = get(SDK);
    const where = `${short(r.case)}, concurrency ${r.concurrency}${r.run === undefined ? '' : `, run ${r.run}`}`;
    if (!off || !noSdk || !sdk) return `${where}: a variant is missing`;
    const spans = checks.find((c) => c.case === r.case)?.spans ?? 0;
    const sdkExtra = sdk.cpuMicrosPerOp - off.cpuMicrosPerOp;
    const throughput = (v: typeof off) => `${(v.opsPerSecond / off.opsPerSecond).toFixed(2)}×`;
    return (
      `${where}: telemetry off ${micros(off.cpuMicrosPerOp)} µs of ` +
      `client CPU a call; no SDK ${signed(noSdk.cpuMicrosPerOp - off.cpuMicrosPerOp)} µs, throughput ` +
      `${throughput(noSdk)}; SDK recording every span ${signed(sdkExtra)} µs a call ` +
      `(${micros(sdkExtra / Math.max(1, spans))} µs for each of its ${spans} spans), throughput ${throughput(sdk)}`
    );
  });
  return [
    `telemetry cases: three database objects of the layer: ${TELEMETRY_OFF} (the baseline), ${NO_SDK} (no ` +
      `global provider registered) and ${SDK} (the SDK's tracer provider with AlwaysOnSampler and a ` +
      `BatchSpanProcessor, and its meter provider read every ${METRICS_INTERVAL_MS / 1000} s, both ` +
      'exporters discarding what they get); an AsyncLocalStorage context manager registered globally for ' +
      `all three; target: no SDK's client CPU per operation ≤ ${NO_SDK_MAX_CPU_RATIO}× telemetry off's; ` +
      `${TELEMETRY_ROUNDS_FACTOR} rounds per round asked for, without collecting garbage between slices`,
    'telemetry cases: checked before measuring: one call with the SDK exported its call span with its ' +
      `statements' spans beneath it and a duration per statement (${checks
        .map((c) => `${short(c.case)}: ${plural(c.spans, 'span')}, ${plural(c.statements, 'statement')}`)
        .join('; ')}), telemetry off and no SDK nothing; after each case, the SDK had exported every span ` +
      'of every call',
    ...lines.map((line) => `telemetry cases: ${line}`),
    `telemetry cases: one collection of the SDK's metrics took ${collectionMs.toFixed(2)} ms of client ` +
      'CPU; the reader collects every second, in whichever slice is running',
  ];
}
