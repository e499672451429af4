/**
 * Runs heap-child.ts (a stream, a read of everything at once, or a bulk load, through the layer) in a
 * process of its own whose heap is `heapMb`, on `url`: its report, or a rejection with its output when
 * it failed (a heap out of memory included). The benchmark's large-data step and the memory tests use it.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { HeapReport } from './heap-child.js';

const tsxLoader = import.meta.resolve('tsx');
const script = resolve(import.meta.dirname, 'heap-child.ts');

export function runHeapChild(
  mode: HeapReport['mode'],
  url: string,
  rows: number,
  heapMb: number,
): Promise<HeapReport> {
  return new Promise((done, fail) => {
    const child = spawn(
      process.execPath,
      [
        `--max-old-space-size=${heapMb}`,
        '--expose-gc',
        '--import',
        tsxLoader,
        script,
        mode,
        url,
        String(rows),
      ],
      { env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    const collect = (chunk: Buffer) => {
      output += chunk;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', fail);
    child.once('close', (code) => {
      if (code !== 0) return fail(new Error(`heap-child.ts exited with ${code}:\n${output}`));
      done(JSON.parse(output.trim().split('\n').at(-1) ?? '') as HeapReport);
    });
  });
}
