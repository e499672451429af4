/**
 * A test's own server backends, found by the application_name its connections carry: to wait until one
 * is in a given state, and to terminate them as a crash or an administrator would.
 */
import { expect } from 'vitest';
import { queryOnce } from './query-once.js';

/** `url` with `application_name` set, so the backends of the connections made with it can be found. */
export function withApplicationName(url: string, name: string): string {
  const named = new URL(url);
  named.searchParams.set('application_name', name);
  return named.toString();
}

/**
 * Waits until exactly one backend of `name` is in `state`, running a statement LIKE `query` when given;
 * `adminUrl` connects to the same server.
 */
export async function waitForBackend(
  adminUrl: string,
  name: string,
  state: 'active' | 'idle' | 'idle in transaction',
  query = '%',
): Promise<void> {
  await expect
    .poll(
      async () =>
        (
          await queryOnce(
            adminUrl,
            'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND state = $2 AND query LIKE $3',
            [name, state, query],
          )
        ).length,
      { timeout: 20_000, interval: 20 },
    )
    .toBe(1);
}

/** Waits until no backend of `name` is left (the server ended its sessions); `adminUrl` as above. */
export async function waitUntilGone(adminUrl: string, name: string): Promise<void> {
  await expect
    .poll(
      async () =>
        (await queryOnce(adminUrl, 'SELECT pid FROM pg_stat_activity WHERE application_name = $1', [name]))
          .length,
      { timeout: 20_000, interval: 20 },
    )
    .toBe(0);
}

/**
 * Sends every backend of `name` a cancel request (pg_cancel_backend) or terminates it
 * (pg_terminate_backend): the answer for each, true when it was signalled.
 */
export async function signalBackends(
  adminUrl: string,
  name: string,
  signal: 'pg_cancel_backend' | 'pg_terminate_backend',
): Promise<boolean[]> {
  const rows = await queryOnce<{ ok: boolean }>(
    adminUrl,
    `SELECT ${signal}(pid) AS ok FROM pg_stat_activity WHERE application_name = $1`,
    [name],
  );
  return rows.map((row) => row.ok);
}

/** Terminates every backend of `name`, as a crash or an administrator would: true for each signalled. */
export const terminateBackends = (adminUrl: string, name: string): Promise<boolean[]> =>
  signalBackends(adminUrl, name, 'pg_terminate_backend');
