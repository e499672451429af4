/**
 * npm run bench:scale -- SMALL.json LARGE.json: how each operation's latency grows with the data, from
 * two `npm run bench` results (default: posts-100000 and posts-1000000 in bench/results/). Prints a
 * markdown table and writes it to bench/results/scale.md.
 *
 * Flat (×1.0) is what an index-backed operation should show; the spec's own search query grows with the
 * number of posts a word matches, since it ranks every one of them.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchMeta, SuiteResult } from './harness/types.js';

const RESULTS_DIR = join(import.meta.dirname, 'results');

interface Saved {
  meta: BenchMeta;
  results: SuiteResult;
}

const load = (path: string): Saved => JSON.parse(readFileSync(path, 'utf8')) as Saved;

/** Case names carry the search word and its share, which may differ between runs: compare by prefix. */
const caseKey = (name: string) => name.replace(/ \(.*$/, '');

export function scaleTable(small: Saved, large: Saved): string {
  const posts = (saved: Saved) => (saved.meta.dataset.posts ?? 0).toLocaleString('en-US');
  const lines = [
    `| operation | concurrency | variant | p50 ms at ${posts(small)} posts | p50 ms at ${posts(large)} posts | growth |`,
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

const isMain = process.argv[1]?.endsWith('scale.ts');
if (isMain) {
  const [smallPath, largePath] = [
    process.argv[2] ?? join(RESULTS_DIR, 'posts-100000.json'),
    process.argv[3] ?? join(RESULTS_DIR, 'posts-1000000.json'),
  ];
  const table = scaleTable(load(smallPath), load(largePath));
  writeFileSync(join(RESULTS_DIR, 'scale.md'), `# Latency as the data grows\n\n${table}`);
  console.log(table);
}
