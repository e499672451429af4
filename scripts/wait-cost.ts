/**
 * What a wait for the server costs the client: the same `pg` statement, one at a time, answered at once
 * (`SELECT 1`) and after the server sleeps (`SELECT pg_sleep(…)`), with the client's CPU per statement
 * (user and system, and the main thread alone). The client's code is the same in every row; whatever
 * grows with the wait is what sleeping and waking costs this machine, and at concurrency 1 every call of
 * the benchmark pays it (bench/README.md, "Client CPU at concurrency 1").
 *
 *   taskset -c 0 node --import tsx scripts/wait-cost.ts [--url postgres://…/postgres] [--calls 2000] [--rounds 5]
 */
import { parseArgs } from 'node:util';
import { median } from '../bench/harness/measure.js';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { createPgPool } from '../src/pool/connect.js';
import { mainThreadMicros } from './lib/thread-cpu.js';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    calls: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '5' },
  },
});
const CALLS = Number(args.calls);
const ROUNDS = Number(args.rounds);

/** The server's answer: at once, or after it sleeps this many seconds. */
const STATEMENTS = [
  { label: 'answered at once', text: 'SELECT 1 AS n' },
  { label: 'after a 0.5 ms wait', text: 'SELECT 1 AS n FROM pg_sleep(0.0005)' },
  { label: 'after a 3 ms wait', text: 'SELECT 1 AS n FROM pg_sleep(0.003)' },
];

const pool = createPgPool(parseConnectionUrl(args.url, '--url'), { max: 1 });
try {
  const samples = STATEMENTS.map(() => ({
    user: [] as number[],
    system: [] as number[],
    main: [] as number[],
  }));
  for (let round = -1; round < ROUNDS; round++) {
    for (const [index, { text }] of STATEMENTS.entries()) {
      const cpu = process.cpuUsage();
      const main = mainThreadMicros();
      for (let i = 0; i < CALLS; i++) await pool.query({ name: `wait_cost_${index}`, text });
      const used = process.cpuUsage(cpu);
      // Round -1 warms up: the code compiled and each statement prepared.
      if (round < 0) continue;
      samples[index]?.user.push(used.user / CALLS);
      samples[index]?.system.push(used.system / CALLS);
      samples[index]?.main.push((mainThreadMicros() - main) / CALLS);
    }
  }
  console.log(
    `${CALLS} statements a round, ${ROUNDS} rounds, one at a time; client CPU µs per statement (median)`,
  );
  for (const [index, { label }] of STATEMENTS.entries()) {
    const s = samples[index];
    if (!s) continue;
    const [user, system, main] = [median(s.user), median(s.system), median(s.main)];
    console.log(
      `${label.padEnd(22)} user ${user.toFixed(1).padStart(6)}  system ${system.toFixed(1).padStart(6)}  ` +
        `main thread ${main.toFixed(1).padStart(6)}`,
    );
  }
} finally {
  await pool.end();
}
