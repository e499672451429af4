/**
 * SIGKILL to a running PostgreSQL, as a crash would: its postmaster and every process it started, with
 * nothing shut down and nothing flushed. Starting the server again on its data directory is then crash
 * recovery (or, for a standby, a restart of its recovery).
 *
 * Meant for a postmaster that runs as a child of this process (PostgresCluster), so that it is reaped
 * here: a daemonized postmaster that dies stays a zombie where nothing reaps orphans (a container's init
 * often does not), and a zombie's pid in postmaster.pid makes the next start refuse the data directory.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** How long the processes of a killed server may take to end. */
const KILL_TIMEOUT_MS = 60_000;

/** /proc/<pid>/stat's state letter and parent pid; undefined once the process is gone. */
function processStatus(pid: number): { state: string; parent: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the fields follow the last ')'.
    const [state = '', parent = '0'] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state, parent: Number(parent) };
  } catch {
    return undefined;
  }
}

/** A zombie has released its memory and sockets: for a restart it is gone, reaped or not. */
const isGone = (pid: number) => {
  const status = processStatus(pid);
  return status === undefined || status.state === 'Z' || status.state === 'X';
};

function childrenOf(parent: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => processStatus(pid)?.parent === parent);
}

async function until(condition: () => boolean, what: string, timeoutMs = KILL_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Kills the server running on `dataDir` (the postmaster named in its postmaster.pid) and every process
 * it started. Resolves when they are all gone: a backend left behind would hold the shared memory and
 * block the next start. `onSignalled` is called the moment the signal is sent.
 */
export async function killServer(dataDir: string, onSignalled?: () => void): Promise<void> {
  const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  // Stopped first, so it forks no new backend between the listing of its children and the kill.
  process.kill(pid, 'SIGSTOP');
  await until(() => processStatus(pid)?.state === 'T', 'the postmaster to stop');
  const children = childrenOf(pid);
  process.kill(pid, 'SIGKILL');
  onSignalled?.();
  for (const each of children) {
    try {
      process.kill(each, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  // The postmaster, this process's child, is reaped here; its orphans may stay zombies, which hold nothing.
  await until(
    () => processStatus(pid) === undefined && children.every(isGone),
    'the killed server processes to end',
  );
}
