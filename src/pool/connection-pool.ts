/**
 * The application's connections: the pool to the primary (the pooled connection) and, when
 * POSTGRES_REPLICA_URLS names read replicas, one pool per replica with the router that sends reads to
 * them (replica-router.ts). It gives the Kysely dialect, `run` for the repositories' compiled statements,
 * and the same two for `db.primary`, which never reads from a replica. The database object (database.ts)
 * composes it. With no replica configured, the dialect and `run` are the primary pool's own, as they were
 * before replicas existed.
 */
import { CompiledQuery, type Dialect } from 'kysely';
import type { DatabaseConfig } from '../config/settings.js';
import { LayerDialect } from './layer-driver.js';
import { type PrimaryPosition, WriteScopes } from './read-your-writes.js';
import { type ReplicaHealth, ReplicaMonitor } from './replica-monitor.js';
import { isReplicaRead } from './replica-reads.js';
import { ReplicaRouter } from './replica-router.js';
import { RoutedConnections } from './routed-connection.js';
import { createServerPool, type PoolCounts, type ServerPool, type ServerPoolOptions } from './server-pool.js';
import { parseLsn } from './wal-position.js';

export type { ReplicaHealth } from './replica-monitor.js';
export type { PoolCounts } from './server-pool.js';

export type ConnectionPoolOptions = ServerPoolOptions & {
  /** How often the replica monitor reads the servers' WAL positions, in ms. Default 200. */
  replicaProbeIntervalMs?: number;
};

type Run = <R>(query: CompiledQuery<R>) => Promise<{ rows: R[] }>;

export interface ConnectionPool {
  /** Kysely's dialect: its connections are checked out through the guard (and routed, with replicas). */
  readonly dialect: Dialect;
  /** Runs one compiled statement (named where `mayPrepare` allows), outside transactions. */
  run: Run;
  /** The same two, never reading from a replica. */
  readonly primaryDialect: Dialect;
  runOnPrimary: Run;
  /** The primary pool's counts. */
  counts(): PoolCounts;
  /** What the replica monitor knows of each replica, after probing them now; empty without replicas. */
  replicaHealth(): Promise<ReplicaHealth[]>;
  readonly hasReplicas: boolean;
  /** The read-your-writes scopes (used only with replicas). */
  readonly scopes: WriteScopes;
  /**
   * The primary's WAL position covering every write the calling scope made: read now from the primary,
   * unless a reading taken after the scope's last write is known.
   */
  positionForScope(): Promise<bigint>;
  /** Waits for the checked-out connections, then closes every connection. Safe to call more than once. */
  close(): Promise<void>;
  readonly closed: boolean;
}

const DEFAULT_PROBE_INTERVAL_MS = 200;

const currentWalPosition = CompiledQuery.raw('SELECT pg_current_wal_lsn()::text AS lsn');

export function createConnectionPool(config: DatabaseConfig, options: ConnectionPoolOptions): ConnectionPool {
  const primary = createServerPool('primary', config.pooled, config, options);
  const scopes = new WriteScopes();
  const servers: ServerPool[] = [primary];
  let monitor: ReplicaMonitor | undefined;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      await monitor?.stop();
      await Promise.all(servers.map((server) => server.close()));
    })();
    return closing;
  };
  // A getter is not copied by a spread: each pool below is built with `withCommon`.
  const withCommon = (specific: Omit<ConnectionPool, 'counts' | 'scopes' | 'close' | 'closed'>) =>
    Object.defineProperties(
      { ...specific, counts: () => primary.counts(), scopes, close },
      { closed: { get: () => closing !== undefined, enumerable: true } },
    ) as ConnectionPool;

  const replicaSettings = config.replicas.servers;
  if (replicaSettings.length === 0) {
    const dialect = new LayerDialect(primary.acquire, close);
    return withCommon({
      dialect,
      run: primary.run,
      primaryDialect: dialect,
      runOnPrimary: primary.run,
      replicaHealth: async () => [],
      hasReplicas: false,
      async positionForScope() {
        const { rows } = await primary.run(currentWalPosition);
        return parseLsn((rows[0] as { lsn?: string } | undefined)?.lsn) ?? 0n;
      },
    });
  }

  const replicas = replicaSettings.map((settings, index) =>
    createServerPool(`replica-${index + 1}`, settings, config, options),
  );
  servers.push(...replicas);
  monitor = new ReplicaMonitor({
    primary: config.pooled,
    replicas: replicas.map(({ server, settings }) => ({ server, settings })),
    maxLagMs: config.replicas.maxLagMs,
    intervalMs: options.replicaProbeIntervalMs ?? DEFAULT_PROBE_INTERVAL_MS,
    timeoutMs: config.pool.connectionTimeoutMillis,
    logger: options.logger,
  });
  const watching = monitor;
  const router = new ReplicaRouter(primary, replicas, watching, scopes, options.logger);
  const routed = new RoutedConnections(router, false);
  const onPrimary = new RoutedConnections(router, true);
  const run: Run = (query) =>
    isReplicaRead(query)
      ? router.read((server) => server.run(query))
      : router.write(() => primary.run(query));
  const runOnPrimary: Run = (query) =>
    isReplicaRead(query) ? primary.run(query) : router.write(() => primary.run(query));
  return withCommon({
    dialect: new LayerDialect(async () => routed.acquire(), close),
    run,
    primaryDialect: new LayerDialect(async () => onPrimary.acquire(), close),
    runOnPrimary,
    replicaHealth: () => watching.health(),
    hasReplicas: true,
    async positionForScope() {
      const scope = scopes.current();
      const known = scope.required(watching.latest);
      if (known !== undefined) return known;
      const position: PrimaryPosition = await watching.primaryPosition();
      return scope.required(position) ?? position.lsn;
    },
  });
}
