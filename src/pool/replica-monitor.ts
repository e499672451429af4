/**
 * Watches the read replicas: at a fixed interval it reads the primary's WAL position
 * (`pg_current_wal_lsn()`), then each replica's replayed position (`pg_last_wal_replay_lsn()`), over one
 * connection of its own per server (application_name `shared-db replica monitor`), so the probes never
 * wait behind the application's queries for a pooled connection.
 *
 * A replica's lag is measured on the client's clock alone: the primary's positions are kept with the
 * time each was read, and a replica that has not replayed a position the primary had reached at time t
 * is at least (now - t) behind. A replica that fails a probe, or a read (replica-router.ts), is taken out
 * and probed again after a backoff that doubles up to a limit.
 */
import type pg from 'pg';
import type { ConnectionSettings } from '../config/settings.js';
import type { Logger } from '../logging/logger.js';
import { connectClient } from './connect.js';
import type { PrimaryPosition } from './read-your-writes.js';
import { parseLsn } from './wal-position.js';

export const MONITOR_APPLICATION_NAME = 'shared-db replica monitor';
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Primary positions kept, at least: enough to measure a lag well past the bound. */
const MIN_HISTORY_MS = 10_000;

export interface ReplicaHealth {
  /** `replica-<n>`, the n-th of POSTGRES_REPLICA_URLS, as in query events. */
  server: string;
  host: string;
  port: number;
  /** Whether its latest probe succeeded; false until one has. */
  reachable: boolean;
  /** How far behind the primary it was at its latest probe, in ms; undefined when unknown. */
  lagMs?: number;
  /** Whether reads go to it now: reachable, a standby, and within POSTGRES_REPLICA_MAX_LAG_MS. */
  inUse: boolean;
  /** Why it is not in use, when it is not (never contains a password). */
  reason?: string;
}

interface Watched {
  readonly server: string;
  readonly settings: ConnectionSettings;
  client: Promise<pg.Client> | undefined;
  reachable: boolean;
  replayLsn: bigint | undefined;
  lagMs: number | undefined;
  reason: string | undefined;
  backoffMs: number;
  /** No probe before this time (performance.now()); set by a failure. */
  nextProbeAt: number;
}

export interface ReplicaMonitorOptions {
  primary: ConnectionSettings;
  replicas: readonly { server: string; settings: ConnectionSettings }[];
  /** 0 = no bound. */
  maxLagMs: number;
  intervalMs: number;
  /** How long a probe may take, connecting included. */
  timeoutMs: number;
  logger: Logger;
}

export class ReplicaMonitor {
  readonly #options: ReplicaMonitorOptions;
  readonly #watched: Watched[];
  #primaryClient: Promise<pg.Client> | undefined;
  readonly #history: PrimaryPosition[] = [];
  readonly #historyMs: number;
  #timer: NodeJS.Timeout | undefined;
  #probing: Promise<void> | undefined;
  #started = false;
  #stopped = false;

  constructor(options: ReplicaMonitorOptions) {
    this.#options = options;
    this.#historyMs = Math.max(MIN_HISTORY_MS, 2 * options.maxLagMs);
    this.#watched = options.replicas.map(({ server, settings }) => ({
      server,
      settings,
      client: undefined,
      reachable: false,
      replayLsn: undefined,
      lagMs: undefined,
      reason: 'not probed yet',
      backoffMs: 0,
      nextProbeAt: 0,
    }));
  }

  /** Starts probing (once; the first probe at once). The timer never keeps the process alive. */
  start(): void {
    if (this.#started || this.#stopped) return;
    this.#started = true;
    void this.probe();
  }

  /** The primary's latest known position. */
  get latest(): PrimaryPosition | undefined {
    return this.#history.at(-1);
  }

  /**
   * Whether reads that must see `required` may go to the replica at index `replica` (in the order of
   * POSTGRES_REPLICA_URLS) now: reachable, a standby within the lag
   * bound, that has replayed at least `required`.
   */
  usable(replica: number, required: bigint): boolean {
    const watched = this.#watched[replica];
    return watched !== undefined && this.#inUse(watched) && (watched.replayLsn ?? -1n) >= required;
  }

  /**
   * A read failed on the replica at index `replica` as if it were down: out of use until a probe succeeds again. The other
   * reads that were in flight on it fail too; only the first counts.
   */
  markDown(replica: number, error: unknown): void {
    const watched = this.#watched[replica];
    if (watched?.reachable) this.#failed(watched, error);
  }

  /** Probes the primary and every replica due now, after any probe in progress; never throws. */
  async probe(): Promise<void> {
    while (this.#probing) await this.#probing;
    if (this.#stopped) return;
    this.#probing = this.#probeAll().finally(() => {
      this.#probing = undefined;
    });
    await this.#probing;
  }

  /** Probes now (a replica in backoff too), then reports every replica. */
  async health(): Promise<ReplicaHealth[]> {
    for (const watched of this.#watched) watched.nextProbeAt = 0;
    await this.probe();
    return this.#watched.map((watched) => {
      const inUse = this.#inUse(watched);
      return {
        server: watched.server,
        host: watched.settings.host,
        port: watched.settings.port,
        reachable: watched.reachable,
        ...(watched.lagMs === undefined ? {} : { lagMs: Math.round(watched.lagMs) }),
        inUse,
        ...(inUse ? {} : { reason: this.#whyNotInUse(watched) }),
      };
    });
  }

  /** The primary's position now (read at once, and kept): for a token that must cover a write. */
  primaryPosition(): Promise<PrimaryPosition> {
    return this.#readPrimary();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    while (this.#probing) await this.#probing.catch(() => {});
    const clients = [this.#primaryClient, ...this.#watched.map((watched) => watched.client)];
    this.#primaryClient = undefined;
    for (const watched of this.#watched) watched.client = undefined;
    await Promise.all(clients.map((client) => client?.then((c) => c.end()).catch(() => {})));
  }

  #inUse(watched: Watched): boolean {
    if (!watched.reachable || watched.replayLsn === undefined || watched.lagMs === undefined) return false;
    return this.#options.maxLagMs === 0 || watched.lagMs <= this.#options.maxLagMs;
  }

  #whyNotInUse(watched: Watched): string {
    if (watched.reason !== undefined) return watched.reason;
    if (watched.lagMs === undefined) return 'lag unknown: the primary has not been read yet';
    return `${Math.round(watched.lagMs)} ms behind, more than POSTGRES_REPLICA_MAX_LAG_MS (${this.#options.maxLagMs})`;
  }

  async #probeAll(): Promise<void> {
    try {
      await this.#readPrimary().catch((error) => {
        this.#options.logger.debug('replica monitor: the primary did not answer', {
          error: messageOf(error),
        });
      });
      const now = performance.now();
      await Promise.all(
        this.#watched
          .filter((watched) => watched.nextProbeAt <= now)
          .map((watched) => this.#probeReplica(watched)),
      );
    } finally {
      if (!this.#stopped) {
        clearTimeout(this.#timer);
        this.#timer = setTimeout(() => void this.probe(), this.#options.intervalMs);
        this.#timer.unref();
      }
    }
  }

  async #readPrimary(): Promise<PrimaryPosition> {
    const startedAt = performance.now();
    try {
      if (!this.#primaryClient) {
        const connecting: Promise<pg.Client> = this.#connect(this.#options.primary, () => {
          if (this.#primaryClient === connecting) this.#primaryClient = undefined;
        });
        this.#primaryClient = connecting;
      }
      const client = await this.#primaryClient;
      const { rows } = await this.#deadline(
        client.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
        client,
      );
      const lsn = parseLsn(rows[0]?.lsn);
      if (lsn === undefined) throw new Error('the primary reported no WAL position');
      const position = { startedAt, lsn };
      this.#remember(position);
      return position;
    } catch (error) {
      const lost = this.#primaryClient;
      this.#primaryClient = undefined;
      lost?.then((client) => client.end()).catch(() => {});
      throw error;
    }
  }

  #remember(position: PrimaryPosition): void {
    const latest = this.#history.at(-1);
    // Kept in order of reading: a token's reading may finish after a later-started probe's.
    if (latest && latest.startedAt > position.startedAt) return;
    this.#history.push(position);
    while (
      this.#history.length > 2 &&
      (this.#history[0]?.startedAt ?? 0) < position.startedAt - this.#historyMs
    ) {
      this.#history.shift();
    }
  }

  async #probeReplica(watched: Watched): Promise<void> {
    try {
      if (!watched.client) {
        const connecting: Promise<pg.Client> = this.#connect(watched.settings, () => {
          if (watched.client === connecting) watched.client = undefined;
        });
        watched.client = connecting;
      }
      const client = await watched.client;
      const { rows } = await this.#deadline(
        client.query<{ lsn: string | null }>('SELECT pg_last_wal_replay_lsn()::text AS lsn'),
        client,
      );
      const probedAt = performance.now();
      const replayLsn = parseLsn(rows[0]?.lsn);
      watched.reachable = true;
      watched.backoffMs = 0;
      watched.nextProbeAt = 0;
      watched.replayLsn = replayLsn;
      if (replayLsn === undefined) {
        watched.lagMs = undefined;
        watched.reason = 'not a standby: it replays no WAL (pg_is_in_recovery() is false)';
        return;
      }
      watched.lagMs = this.#lagOf(replayLsn, probedAt);
      watched.reason = undefined;
    } catch (error) {
      this.#failed(watched, error);
    }
  }

  /**
   * At least how far behind a replica that has replayed `replayLsn` is: the age of the oldest primary
   * position it has not replayed; 0 when it has replayed the latest known.
   */
  #lagOf(replayLsn: bigint, at: number): number | undefined {
    const history = this.#history;
    const latest = history.at(-1);
    if (latest === undefined) return undefined;
    if (replayLsn >= latest.lsn) return 0;
    let low = 0;
    let high = history.length - 1;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((history[middle]?.lsn ?? 0n) > replayLsn) high = middle;
      else low = middle + 1;
    }
    return Math.max(0, at - (history[low]?.startedAt ?? at));
  }

  #failed(watched: Watched, error: unknown): void {
    const wasUp = watched.reachable;
    watched.reachable = false;
    watched.reason = `unreachable: ${messageOf(error)}`;
    watched.backoffMs =
      watched.backoffMs === 0 ? FIRST_BACKOFF_MS : Math.min(2 * watched.backoffMs, MAX_BACKOFF_MS);
    watched.nextProbeAt = performance.now() + watched.backoffMs;
    const lost = watched.client;
    watched.client = undefined;
    lost?.then((client) => client.end()).catch(() => {});
    const fields = { server: watched.server, reason: watched.reason, retryInMs: watched.backoffMs };
    if (wasUp) this.#options.logger.warn('a read replica is out of use until it answers again', fields);
    else this.#options.logger.debug('a read replica still does not answer', fields);
  }

  async #connect(settings: ConnectionSettings, onLost: () => void): Promise<pg.Client> {
    let late = false;
    const connecting = connectClient(
      { ...settings, applicationName: MONITOR_APPLICATION_NAME },
      { onError: onLost },
    );
    // A connection made after the deadline is closed, not leaked.
    connecting.then(
      (client) => {
        if (late) client.end().catch(() => {});
      },
      () => {},
    );
    let client: pg.Client;
    try {
      client = await this.#deadline(connecting);
    } catch (error) {
      late = true;
      throw error;
    }
    // The monitor's sockets never keep the process alive: a service that ends without disconnect()
    // ends as it did before replicas were configured.
    (client as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.();
    return client;
  }

  /** `work`, or a failure after the probe timeout (the client, if given, is then closed). */
  #deadline<T>(work: Promise<T>, client?: pg.Client): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        client?.end().catch(() => {});
        reject(new Error(`no answer within ${this.#options.timeoutMs} ms`));
      }, this.#options.timeoutMs);
      timer.unref();
    });
    work.catch(() => {});
    return Promise.race([work, expired]).finally(() => clearTimeout(timer));
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
