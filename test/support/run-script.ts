/**
 * Runs one of scripts/*.ts the way `npm run` does (`node --import tsx`), in one process, so a signal
 * sent to it reaches the script itself.
 */
import { spawn } from 'node:child_process';
import { resolve as resolvePath } from 'node:path';
import type { Environment } from '../../src/config/settings.js';

const tsxLoader = import.meta.resolve('tsx');

export interface ScriptRun {
  code: number | null;
  output: string;
}

/** Sends Ctrl-C (SIGINT) once `interruptAfter` appears in the output. */
export function runScript(
  args: string[],
  options: { cwd: string; env: Environment; interruptAfter?: string },
): Promise<ScriptRun> {
  const [script, ...rest] = args;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', tsxLoader, resolvePath(process.cwd(), script as string), ...rest],
      {
        cwd: options.cwd,
        env: { PATH: process.env.PATH, ...options.env },
      },
    );
    let output = '';
    let interrupted = false;
    const collect = (chunk: Buffer) => {
      output += chunk;
      if (options.interruptAfter && !interrupted && output.includes(options.interruptAfter)) {
        interrupted = true;
        child.kill('SIGINT');
      }
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}
