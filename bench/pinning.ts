/**
 * Holds the bench's client (this Node.js process, every thread) and the PostgreSQL server (its postmaster
 * and every process of it) to different cores while they are measured, so neither takes the other's
 * core and the ratios move less from round to round and run to run. Uses util-linux's `taskset`; with
 * fewer than two cores, without taskset, with --no-pin, or with a server that is not on this machine it
 * pins nothing and says why.
 *
 * The server's processes are found from a connection to it: the backend's pid (pg_backend_pid()), whose
 * parent is the postmaster. A backend forked later inherits the postmaster's affinity, so pinning the
 * postmaster and the children it has now covers every process the server will have.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { parseConnectionUrl } from '../src/config/connection-url.js';
import { connectClient } from '../src/pool/connect.js';

/** A server to pin, by a URL to connect to it and the name the report gives it. */
export interface PinnedServer {
  name: string;
  url: string;
}

interface Held {
  pid: number;
  /** The cores it was allowed before, to give them back. */
  was: string;
  /** A postmaster: the children it forked since are given the cores back too. */
  postmaster: boolean;
}

/** Runs taskset; its output, or the reason it failed. */
function taskset(args: string[]): { ok: true; output: string } | { ok: false; reason: string } {
  const run = spawnSync('taskset', args, { encoding: 'utf8' });
  if (run.error)
    return {
      ok: false,
      reason:
        (run.error as NodeJS.ErrnoException).code === 'ENOENT'
          ? 'taskset (util-linux) is not installed'
          : run.error.message,
    };
  if (run.status !== 0) return { ok: false, reason: (run.stderr || run.stdout).trim() };
  return { ok: true, output: run.stdout };
}

/** The cores `taskset -cp` lists: `0,2-3` is [0, 2, 3]. */
export function parseCoreList(list: string): number[] {
  const cores: number[] = [];
  for (const part of list.trim().split(',')) {
    const [from, to = from] = part.split('-').map((n) => Number(n.trim()));
    if (!(Number.isInteger(from) && Number.isInteger(to))) throw new RangeError(`not a core list: ${list}`);
    for (let core = from as number; core <= (to as number); core++) cores.push(core);
  }
  return cores;
}

/** The affinity list of `pid` as taskset prints it, or the reason it could not be read. */
function affinityOf(pid: number): { ok: true; list: string } | { ok: false; reason: string } {
  const read = taskset(['-cp', String(pid)]);
  if (!read.ok) return read;
  const list = read.output.split(':').at(-1)?.trim() ?? '';
  return list === '' ? { ok: false, reason: `taskset printed ${read.output.trim()}` } : { ok: true, list };
}

function procField(pid: number, file: 'status', field: string): string | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/${file}`, 'utf8');
    return text.match(new RegExp(`^${field}:\\s*(.*)$`, 'm'))?.[1]?.trim();
  } catch {
    return undefined;
  }
}

function procText(pid: number, file: 'cmdline' | 'comm'): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

function childrenOf(parent: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if (procField(Number(entry), 'status', 'PPid') === String(parent)) children.push(Number(entry));
  }
  return children;
}

const LOCAL_HOSTS = new Set(['', 'localhost', '127.0.0.1', '[::1]', '::1']);

/** The server's postmaster on this machine, or why it cannot be found. */
async function findPostmaster(
  url: string,
): Promise<{ ok: true; pid: number } | { ok: false; reason: string }> {
  const host = new URL(url).hostname;
  if (!LOCAL_HOSTS.has(host)) return { ok: false, reason: `it runs on ${host}, not this machine` };
  const client = await connectClient(parseConnectionUrl(url, '--url'));
  try {
    const { rows } = await client.query<{ pid: number; port: number | null }>(
      'SELECT pg_backend_pid() AS pid, inet_client_port() AS port',
    );
    const backend = rows[0] as { pid: number; port: number | null };
    // Read while the connection is open: its backend ends with it.
    // A server in a container reports pids of its own namespace: the backend must be ours, by its title.
    const ours =
      backend.port === null
        ? procText(backend.pid, 'comm') === 'postgres'
        : procText(backend.pid, 'cmdline').includes(`(${backend.port})`);
    if (!ours)
      return { ok: false, reason: `its backend (pid ${backend.pid}) is not a process this machine shows` };
    const postmaster = Number(procField(backend.pid, 'status', 'PPid'));
    if (!(postmaster > 1) || procText(postmaster, 'comm') !== 'postgres')
      return {
        ok: false,
        reason: `the parent of its backend (pid ${backend.pid}) is not a postgres postmaster`,
      };
    return { ok: true, pid: postmaster };
  } finally {
    await client.end();
  }
}

export class Pinning {
  /** What was pinned where, or why not, for the report; in the order it happened. */
  readonly lines: string[] = [];
  private held: Held[] = [];

  private constructor(
    private readonly cores: { client: number[]; server: number[] } | undefined,
    reason: string | undefined,
  ) {
    if (reason !== undefined) this.lines.push(`not pinned: ${reason}`);
  }

  /** Which cores the client and the server will get, or why nothing will be pinned. */
  static prepare(enabled: boolean): Pinning {
    if (!enabled) return new Pinning(undefined, '--no-pin');
    if (process.platform !== 'linux')
      return new Pinning(undefined, `taskset runs on Linux only, not ${process.platform}`);
    if (availableParallelism() < 2) return new Pinning(undefined, 'fewer than two cores');
    const own = affinityOf(process.pid);
    if (!own.ok) return new Pinning(undefined, own.reason);
    const allowed = parseCoreList(own.list);
    if (allowed.length < 2) return new Pinning(undefined, `this process may use core ${own.list} only`);
    return new Pinning({ client: allowed.slice(0, 1), server: allowed.slice(1) }, undefined);
  }

  /**
   * Holds `servers` (each its postmaster and the processes it has) to the server's cores and this process
   * to the client's, until release(). A server that cannot be pinned is named with the reason; when none
   * can, the client is left as it is, since alone on one core it would only lose the other.
   */
  async pin(servers: readonly PinnedServer[]): Promise<void> {
    if (this.cores === undefined) return;
    const serverList = this.cores.server.join(',');
    let pinnedAny = false;
    for (const server of servers) {
      const found = await findPostmaster(server.url).catch(
        (error: Error) => ({ ok: false, reason: error.message }) as const,
      );
      if (!found.ok) {
        this.lines.push(`${server.name} not pinned: ${found.reason}`);
        continue;
      }
      const pinned = this.hold(found.pid, serverList, true);
      if (!pinned.ok) {
        this.lines.push(`${server.name} not pinned: taskset failed: ${pinned.reason}`);
        continue;
      }
      // Children may end between the listing and taskset: those are simply gone.
      const children = childrenOf(found.pid).filter((pid) => this.hold(pid, serverList).ok);
      pinnedAny = true;
      this.lines.push(
        `${server.name}: postmaster (pid ${found.pid}) and its ${children.length} processes on core ` +
          `${serverList} (backends forked later inherit it)`,
      );
    }
    if (!pinnedAny) {
      this.lines.push('client not pinned either: no server was');
      return;
    }
    const client = this.hold(process.pid, this.cores.client.join(','));
    this.lines.push(
      client.ok
        ? `client: this Node.js process (pid ${process.pid}, every thread) on core ${this.cores.client.join(',')}`
        : `client not pinned: taskset failed: ${client.reason}`,
    );
  }

  /** Gives every pinned process back the cores it had; a server's later children get them too. */
  release(): void {
    for (const { pid, was, postmaster } of this.held.reverse()) {
      taskset(['-a', '-cp', was, String(pid)]);
      if (postmaster) for (const child of childrenOf(pid)) taskset(['-a', '-cp', was, String(child)]);
    }
    this.held = [];
  }

  private hold(pid: number, cores: string, postmaster = false): { ok: true } | { ok: false; reason: string } {
    const was = affinityOf(pid);
    if (!was.ok) return was;
    const set = taskset(['-a', '-cp', cores, String(pid)]);
    if (!set.ok) return set;
    if (!this.held.some((h) => h.pid === pid)) this.held.push({ pid, was: was.list, postmaster });
    return { ok: true };
  }
}
