import { readFileSync } from 'node:fs';

/**
 * The main thread's CPU time in µs (Linux's schedstat, ns); NaN where there is none. process.cpuUsage
 * also counts V8's and libuv's other threads (compilers, the collector's helpers, a loader's thread).
 */
export function mainThreadMicros(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
  } catch {
    return Number.NaN;
  }
}
