/**
 * npm run bench:scale: how each operation's latency grows with the data. Seeds two databases on one
 * server (--small and --large posts, default 100,000 and 1,000,000), then measures the operation cases on
 * each in this one process, client and server held to different cores as `npm run bench` holds them, and
 * writes bench/results/<label>.md and .json (default label `scale`): the p50 latency of every variant at
 * both sizes, and every target's ratio at both. Both sizes are measured within minutes of each other by
 * the same process, so the growth is the data's and not the machine's mood of another hour.
 *
 * Flat (×1.0) is what an index-backed operation should show; the spec's own search query grows with the
 * number of posts a word matches, since it ranks every one of them.
 *
 *   npm run bench:scale -- [--small 100000] [--large 1000000] [--posts-per-user 20] [--seed 1]
 *                          [--concurrency 1,10] [--rounds 5] [--slice-ms 1000] [--warmup-ms 3000]
 *                          [--only TEXT] [--no-pin] [--url URL] [--label scale]
 *   npm run bench:scale -- SMALL.json LARGE.json   (compares two saved `npm run bench` results instead)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startThrowAwayServer } from '../scripts/lib/embedded-server.js';
import { parseOrRefuse, positive, refuse, sharedOptions, sharedSettings } from './arguments.js';
import { caseNames } from './cases.js';
import { searchWord } from './fixtures.js';
import {
  formatPercent,
  formatRange,
  formatRatio,
  formatTarget,
  formatTargetRatio,
} from './harness/format.js';
import { describeMachine } from './harness/report.js';
import type { BenchMeta, SuiteOptions, SuiteResult } from './harness/types.js';
import {
  createBenchDatabase,
  dropBenchDatabase,
  measureOperations,
  migrateAndSeed,
  type Step,
} from './operations-step.js';
import { Pinning } from './pinning.js';
import { measureSearchRanking } from './search-ranking-cases.js';

const RESULTS_DIR = join(import.meta.dirname, 'results');

interface Saved {
  meta: BenchMeta;
  results: SuiteResult;
}

const load = (path: string): Saved => JSON.parse(readFileSync(path, 'utf8')) as Saved;

/** Case names carry the search word and its share, which may differ between runs: compare by prefix. */
const caseKey = (name: string) => name.replace(/ \(.*$/, '');

const postsOf = (saved: Saved) => (saved.meta.dataset.posts ?? 0).toLocaleString('en-US');

/** The p50 latency of every variant of every case at both sizes, and its growth. */
export function scaleTable(small: Saved, large: Saved): string {
  const lines = [
    `| operation | concurrency | variant | p50 ms at ${postsOf(small)} posts | p50 ms at ${postsOf(large)} posts | growth |`,
    '| --- | ---: | --- | ---: | ---: | ---: |',
  ];
  for (const before of small.results.cases) {
    const after = large.results.cases.find(
      (c) => caseKey(c.case) === caseKey(before.case) && c.concurrency === before.concurrency,
    );
    if (!after) continue;
    for (const variant of before.variants) {
      const grown = after.variants.find((v) => v.name === variant.name);
      if (!grown) continue;
      const a = variant.latencyMs.p50;
      const b = grown.latencyMs.p50;
      lines.push(
        `| ${caseKey(before.case)} | ${before.concurrency} | ${variant.name} | ${a.toFixed(2)} | ${b.toFixed(2)} | ×${(b / a).toFixed(2)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Every target's ratio at both sizes: over all rounds, and the per-round median and range. */
export function targetTable(small: Saved, large: Saved): string {
  const lines = [
    `| operation | concurrency | target | at ${postsOf(small)} posts | per round | at ${postsOf(large)} posts | per round |`,
    '| --- | ---: | --- | ---: | --- | ---: | --- |',
  ];
  const perRound = (t: SuiteResult['cases'][number]['targets'][number]) =>
    `${formatRatio(t.roundRatios.median)} (${formatRange(t.roundRatios.min, t.roundRatios.max)}, ` +
    `${formatPercent(t.roundRatios.min > 0 ? t.roundRatios.max / t.roundRatios.min - 1 : 0)})`;
  for (const before of small.results.cases) {
    const after = large.results.cases.find(
      (c) => caseKey(c.case) === caseKey(before.case) && c.concurrency === before.concurrency,
    );
    before.targets.forEach((t, k) => {
      const grown = after?.targets[k];
      lines.push(
        `| ${caseKey(before.case)} | ${before.concurrency} | ${formatTarget(t)} | ` +
          `${formatTargetRatio(t)} ${t.pass ? '✓' : '✗'} | ${perRound(t)} | ` +
          (grown ? `${formatTargetRatio(grown)} ${grown.pass ? '✓' : '✗'} | ${perRound(grown)} |` : '| |'),
      );
    });
  }
  return `${lines.join('\n')}\n`;
}

const usage = `usage: npm run bench:scale -- [--small N] [--large N] [--posts-per-user M] [--seed S]
  [--concurrency 1,10] [--rounds R] [--slice-ms MS] [--warmup-ms MS] [--only TEXT] [--no-pin]
  [--url postgres://…] [--label NAME]
or: npm run bench:scale -- SMALL.json LARGE.json [--label NAME]`;

const argumentOptions = {
  ...sharedOptions,
  small: { type: 'string', default: '100000' },
  large: { type: 'string', default: '1000000' },
  label: { type: 'string', default: 'scale' },
} as const;

function readArguments() {
  const { values, positionals } = parseOrRefuse(
    { options: argumentOptions, strict: true, allowPositionals: true },
    usage,
  );
  if (positionals.length !== 0 && positionals.length !== 2) {
    refuse('give two saved results to compare, or none to measure', usage);
  }
  if (!/^[\w][\w.-]*$/.test(values.label)) {
    refuse(`--label must be a plain file name, got '${values.label}'`, usage);
  }
  const shared = sharedSettings(values, usage);
  const small = positive('small', values.small, usage);
  const large = positive('large', values.large, usage);
  if (small >= large) refuse(`--small (${small}) must be fewer posts than --large (${large})`, usage);
  return {
    saved: positionals as [string, string] | [],
    sizes: [small, large].map((posts) => ({
      posts,
      users: Math.max(1, Math.round(posts / shared.postsPerUser)),
    })),
    postsPerUser: shared.postsPerUser,
    seed: shared.seed,
    suite: {
      rounds: shared.rounds,
      sliceMs: shared.sliceMs,
      warmupMs: shared.warmupMs,
      concurrencies: shared.concurrencies,
    } satisfies SuiteOptions,
    only: shared.only,
    pin: shared.pin,
    url: shared.url,
    label: values.label,
  };
}

type Options = ReturnType<typeof readArguments>;

function write(label: string, markdown: string, json?: unknown): string[] {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const md = join(RESULTS_DIR, `${label}.md`);
  writeFileSync(md, markdown);
  if (json === undefined) return [md];
  const file = join(RESULTS_DIR, `${label}.json`);
  writeFileSync(file, `${JSON.stringify(json, null, 2)}\n`);
  return [md, file];
}

/** Seeds both sizes, then measures each; the databases are dropped afterwards. */
async function measureBoth(adminUrl: string, options: Options, pinning: Pinning) {
  const selected = (name: string) => options.only === undefined || name.includes(options.only);
  const seeded: { url: string; database: string; seedSeconds: number; size: Options['sizes'][number] }[] = [];
  try {
    for (const size of options.sizes) {
      const database = `shared_db_bench_scale_${size.posts}`;
      const entry = { url: await createBenchDatabase(adminUrl, database), database, size, seedSeconds: 0 };
      // Listed before seeding, so a failed seeding's database is dropped too.
      seeded.push(entry);
      entry.seedSeconds = await migrateAndSeed(entry.url, size.users, options.postsPerUser, options.seed);
    }
    await pinning.pin([{ name: options.url ? 'the --url server' : 'the embedded server', url: adminUrl }]);
    const steps: (Step & { seedSeconds: number })[] = [];
    for (const { url, size, seedSeconds } of seeded) {
      console.log(`measuring at ${size.posts.toLocaleString('en-US')} posts`);
      const step = await measureOperations(
        url,
        {
          users: size.users,
          postsPerUser: options.postsPerUser,
          concurrencies: options.suite.concurrencies,
          url: options.url,
        },
        options.suite,
        selected,
        seedSeconds,
      );
      // Search through RUM too, where the server has the rum extension (else one note says why not).
      const ranking = await measureSearchRanking(
        url,
        { users: size.users, postsPerUser: options.postsPerUser, concurrencies: options.suite.concurrencies },
        options.suite,
        selected,
      );
      steps.push({
        ...step,
        cases: [...step.cases, ...ranking.cases],
        notes: [...step.notes, ...ranking.notes],
        seedSeconds,
      });
    }
    return steps;
  } finally {
    pinning.release();
    for (const { database } of seeded) await dropBenchDatabase(adminUrl, database);
  }
}

async function measure(options: Options): Promise<void> {
  if (
    options.only !== undefined &&
    !Object.values(caseNames(searchWord())).some((name) => name.includes(options.only as string))
  ) {
    refuse(`--only ${JSON.stringify(options.only)}: no operation case's name contains it`, usage);
  }
  const pinning = Pinning.prepare(options.pin);
  const started = performance.now();
  let steps: Awaited<ReturnType<typeof measureBoth>>;
  if (options.url) {
    steps = await measureBoth(options.url, options, pinning);
  } else {
    // Durable, as production is, and as `npm run bench` measures.
    const server = await startThrowAwayServer({ durable: true });
    try {
      steps = await measureBoth(server.url('postgres'), options, pinning);
    } finally {
      await server.stop();
    }
  }
  const minutes = (performance.now() - started) / 60_000;
  const [small, large] = steps.map(
    (step): Saved => ({
      meta: {
        label: options.label,
        date: new Date().toISOString(),
        nodeVersion: process.version,
        postgresVersion: step.postgresVersion,
        dataset: step.dataset,
        machine: describeMachine(),
        options: options.suite,
        notes: step.notes,
        pinning: [...new Set(pinning.lines)],
      },
      results: { options: options.suite, cases: step.cases },
    }),
  ) as [Saved, Saved];
  const o = options.suite;
  const sizeLine = (saved: Saved) =>
    `- **At ${postsOf(saved)} posts:** ${saved.meta.notes?.map((note) => note.replace(/\|/g, '\\|').replace(/\.$/, '')).join('; ')}`;
  const markdown = [
    '# Latency as the data grows',
    '',
    `- **Date:** ${large.meta.date} · the whole run took ${minutes.toFixed(1)} minutes (both seedings included)`,
    `- **Node.js:** ${process.version} · **PostgreSQL:** ${large.meta.postgresVersion}`,
    `- **Machine:** ${large.meta.machine.cores} cores, ${large.meta.machine.cpuModel}, ${large.meta.machine.platform}`,
    `- **Options:** warm-up ${o.warmupMs} ms per variant; ${o.rounds} rounds × ${o.sliceMs} ms slice per variant, ` +
      `interleaved; concurrency ${o.concurrencies.join(', ')}; both sizes seeded first, then measured one after ` +
      'the other by the same process (`npm run bench:scale`)',
    `- **Pinning:** ${(large.meta.pinning ?? []).join('; ')}`,
    sizeLine(small),
    sizeLine(large),
    '',
    '## p50 latency',
    '',
    scaleTable(small, large),
    '## Targets at each size',
    '',
    "ratio = the layer's ops/s ÷ the baseline's over all rounds; per round = the same ratio within each round: " +
      'median (slowest–fastest, fastest ÷ slowest − 1).',
    '',
    targetTable(small, large),
  ].join('\n');
  const written = write(options.label, markdown, { minutes, small, large });
  console.log(`\n${markdown}`);
  console.log(`wrote ${written.join(', ')}`);
}

const isMain = process.argv[1]?.endsWith('scale.ts');
if (isMain) {
  const options = readArguments();
  if (options.saved.length === 2) {
    const [small, large] = options.saved.map(load) as [Saved, Saved];
    const table = scaleTable(small, large);
    write(options.label, `# Latency as the data grows\n\n${table}`);
    console.log(table);
  } else {
    await measure(options);
  }
}
