/**
 * The faults a run injects while the workload writes: backends terminated (pg_terminate_backend, as an
 * administrator or the OOM killer would), the server killed with SIGKILL and started again (crash
 * recovery), the server restarted cleanly (fast shutdown, start), and PgBouncer restarted. Each is
 * recorded with how long it took and how long the layer took to recover: from the fault to the first
 * acknowledged write of a call begun after it.
 */
import type { Random } from '../seed/random.js';
import { ADMIN_APPLICATION, withAdminConnection } from './admin-connection.js';
import type { KillableServer } from './killable-server.js';

export type FaultKind = 'terminate-backends' | 'server-crash' | 'server-restart' | 'pgbouncer-restart';

export const FAULT_DESCRIPTIONS: Record<FaultKind, string> = {
  'terminate-backends': 'pg_terminate_backend on a random half of the sessions',
  'server-crash': 'SIGKILL to the server (postmaster and every backend), then start: crash recovery',
  'server-restart': 'clean restart: fast shutdown, then start',
  'pgbouncer-restart': 'PgBouncer stopped (immediate shutdown) and started again on its port',
};

export interface FaultTargets {
  /** Superuser URL of the run's database, straight to the server. */
  adminUrl: string;
  database: string;
  /** A server this process owns: crashes and restarts. Without it, only backends are terminated. */
  server?: KillableServer;
  /** PgBouncer in front of the server, when the run goes through one. */
  pgbouncer?: { restart(): Promise<void> };
}

export interface FaultRecord {
  kind: FaultKind;
  /** performance.now() when it took effect (the signal sent, the sessions terminated). */
  startedAt: number;
  /** When it took effect, from the start of the run. */
  atSeconds: number;
  /** From then until the server (or PgBouncer) was up again. */
  outageMs: number;
  /** What it did, e.g. "terminated 4 of 8 sessions". */
  detail: string;
  /** From the fault to the first acknowledged write of a call begun after it; undefined until then. */
  recoverMs: number | undefined;
}

/** The faults `targets` allow, in the order a run injects them. */
export function faultsFor(targets: FaultTargets): FaultKind[] {
  const kinds: FaultKind[] = ['terminate-backends'];
  if (targets.server) kinds.push('server-crash', 'terminate-backends', 'server-restart');
  if (targets.pgbouncer) kinds.push('pgbouncer-restart');
  return kinds;
}

async function terminateSessions(targets: FaultTargets, rng: Random): Promise<string> {
  return withAdminConnection(targets.adminUrl, async (client) => {
    const { rows } = await client.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity
        WHERE datname = $1 AND application_name <> $2 AND backend_type = 'client backend'`,
      [targets.database, ADMIN_APPLICATION],
    );
    const chosen = rows.filter(() => rng.chance(0.5));
    if (chosen.length === 0 && rows[0]) chosen.push(rows[0]);
    const terminated = await client.query<{ ok: boolean }>(
      'SELECT pg_terminate_backend(pid) AS ok FROM unnest($1::int[]) AS pid',
      [chosen.map((row) => row.pid)],
    );
    const count = terminated.rows.filter((row) => row.ok).length;
    return `terminated ${count} of ${rows.length} sessions`;
  });
}

const since = (start: number) => `${Math.round(performance.now() - start)} ms`;

/**
 * Injects one fault; resolves when it is over (the server or PgBouncer is up again). `struck` is called
 * the moment it takes effect: the signal sent, the sessions terminated.
 */
export async function injectFault(
  kind: FaultKind,
  targets: FaultTargets,
  rng: Random,
  struck: () => void,
): Promise<string> {
  const { server, pgbouncer } = targets;
  const started = performance.now();
  switch (kind) {
    case 'terminate-backends': {
      const detail = await terminateSessions(targets, rng);
      struck();
      return detail;
    }
    case 'server-crash': {
      if (!server) throw new Error('a server crash needs a server this process owns');
      await server.kill(struck);
      const killed = since(started);
      const restarted = performance.now();
      await server.start();
      return `SIGKILL (every process gone in ${killed}), crash recovery and start in ${since(restarted)}`;
    }
    case 'server-restart': {
      if (!server) throw new Error('a server restart needs a server this process owns');
      await server.shutDown(struck);
      const down = since(started);
      const restarted = performance.now();
      await server.start();
      return `fast shutdown in ${down}, start in ${since(restarted)}`;
    }
    case 'pgbouncer-restart':
      if (!pgbouncer) throw new Error('a PgBouncer restart needs a PgBouncer');
      struck();
      await pgbouncer.restart();
      return `PgBouncer stopped and started again in ${since(started)}`;
  }
}
