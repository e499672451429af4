/**
 * The only place where a `pg.Client` or a `pg.Pool` is created. Both make libpq's attempts for the
 * `sslmode` (ssl-mode.ts), so one connection (migrations, the seed, the tools) and the application's
 * pool connect alike: disable and require, verify-ca, verify-full are one attempt; prefer tries TLS,
 * then plain; allow tries plain, then TLS.
 */
import pg from 'pg';
import type { ConnectionSettings } from '../config/settings.js';
import { ConnectionError } from '../errors/classes.js';
import { toDatabaseError } from '../errors/to-database-error.js';
import { toPgClientConfig } from './pg-client-config.js';
import { firstThatConnects, SslModePool, sslAttempts } from './ssl-mode.js';

export interface ConnectClientOptions {
  /**
   * Told when the server closes the connection (a shutdown, pg_terminate_backend). The statement then
   * running fails anyway; without a listener, pg's 'error' event would end the process. Default: ignored.
   */
  onError?: (error: Error) => void;
}

/** What a pool of `createPgPool` takes beyond the connection. */
export type PgPoolOptions = Pick<
  pg.PoolConfig,
  'max' | 'connectionTimeoutMillis' | 'idleTimeoutMillis' | 'types'
>;

/**
 * Opens one client connection to `settings`, trying sslmode's attempts in turn as the pool does. A
 * connection that cannot be made fails with a `ConnectionError` (with the server's SQLSTATE when it sent
 * one; the driver's error is its `cause`).
 */
export async function connectClient(
  settings: ConnectionSettings,
  options: ConnectClientOptions = {},
): Promise<pg.Client> {
  const config = toPgClientConfig(settings);
  const attempts = sslAttempts(settings.ssl, settings.host);
  const onError = options.onError ?? (() => {});
  try {
    return await firstThatConnects(attempts, async (ssl) => {
      // A client connects only once: each attempt is a new one.
      const client = new pg.Client({ ...config, ssl });
      client.on('error', onError);
      await client.connect();
      return client;
    });
  } catch (error) {
    throw connectionFailure(error);
  }
}

/**
 * A `pg.Pool` to `settings` whose connections make sslmode's attempts: an `SslModePool` for allow and
 * prefer, a plain `pg.Pool` for the modes with one attempt. Its `connect` fails with pg's own errors.
 */
export function createPgPool(settings: ConnectionSettings, options: PgPoolOptions = {}): pg.Pool {
  const config: pg.PoolConfig = { ...toPgClientConfig(settings), ...options };
  const attempts = sslAttempts(settings.ssl, settings.host);
  return attempts.length === 1
    ? new pg.Pool({ ...config, ssl: attempts[0] })
    : new SslModePool(config, attempts);
}

/**
 * Whatever stopped a connection (refused, timed out, no such database, wrong password, a certificate
 * that fails verification) as a `ConnectionError`, with the server's SQLSTATE when it sent one.
 */
export function connectionFailure(error: unknown): ConnectionError {
  const mapped = toDatabaseError(error);
  return mapped instanceof ConnectionError
    ? mapped
    : new ConnectionError(mapped.message, { cause: error, code: mapped.code });
}

/** How long a cancel request may take to be delivered before the layer stops waiting for it. */
const CANCEL_DELIVERY_MS = 5_000;

/**
 * Asks the server to cancel the statement `client` is running (the protocol's CancelRequest, on a
 * connection of its own, as libpq's PQcancel): a stream stopped mid-batch must not leave its backend
 * working. Resolves once the server has closed that connection, that is, once it has signalled the
 * backend: a request still on its way could otherwise cancel the next statement sent on `client`. Best
 * effort: it never rejects.
 */
export function sendCancelRequest(client: pg.ClientBase): Promise<void> {
  const { host, port, processID, secretKey } = client as unknown as {
    host: string;
    port: number;
    processID: number | null;
    secretKey: number | null;
  };
  if (processID === null || secretKey === null) return Promise.resolve();
  // pg's Connection can send a CancelRequest; its type declarations leave these two methods out.
  const connection = new pg.Connection() as pg.Connection & {
    connect(port: number | string, host?: string): void;
    cancel(processID: number, secretKey: number): void;
  };
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      connection.stream.destroy();
      resolve();
    };
    const timer = setTimeout(done, CANCEL_DELIVERY_MS);
    connection.on('error', done);
    connection.on('end', done);
    connection.on('connect', () => connection.cancel(processID, secretKey));
    if (host.startsWith('/')) connection.connect(`${host}/.s.PGSQL.${port}`);
    else connection.connect(port, host);
  });
}
