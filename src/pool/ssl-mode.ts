/**
 * libpq's `sslmode` for node-postgres.
 *
 * node-postgres takes one `ssl` value per client: TLS options, or false for none. That covers
 * disable, require, verify-ca and verify-full. `allow` and `prefer` are two attempts in a row, which
 * node-postgres cannot do, so this module lists the attempts (`sslAttempts`), says when a failed one
 * may be followed by the next (`shouldFallBack`), and provides the pool that makes them (`SslModePool`).
 * connect.ts opens every client and pool with them.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { SslSettings } from '../config/settings.js';
import { ConfigError } from '../errors/classes.js';
import { errorCode } from '../errors/error-code.js';
import { SqlState } from '../errors/sql-state.js';

/** node-postgres's `ssl` for one connection attempt: TLS options, or false for no TLS. */
export type SslAttempt = false | ConnectionOptions;

/** pg's message when the server answers the SSLRequest with 'N' (it has ssl = off). */
const SERVER_WITHOUT_TLS = 'The server does not support SSL connections';

/**
 * The TLS options a connection in this mode uses when it encrypts, or false when it never does
 * (`disable`, or a Unix-domain socket: libpq ignores sslmode there). For `allow` and `prefer` these
 * are the options of their TLS attempt; see `sslAttempts`. Reads the certificate files.
 */
export function sslOptions(settings: SslSettings, host: string): SslAttempt {
  if (settings.mode === 'disable' || host.startsWith('/')) return false;
  const ca = settings.rootCertPath === undefined ? undefined : readPem(settings.rootCertPath, 'sslrootcert');
  switch (settings.mode) {
    case 'verify-full':
      // Chain and host name: Node checks the name, or an IP address against the IP SANs. Without
      // sslrootcert Node's CA list is used, where libpq would read ~/.postgresql/root.crt.
      return {
        ...(ca === undefined ? {} : { ca }),
        rejectUnauthorized: true,
        ...clientCertificate(settings),
      };
    case 'verify-ca':
      if (ca === undefined) {
        throw new ConfigError(
          'sslrootcert',
          'sslmode=verify-ca needs sslrootcert (the CA that signed the server certificate)',
        );
      }
      return verifyChain(ca, settings);
    default:
      // allow, prefer, require: encrypt without checking the certificate. Given a CA, libpq checks the
      // chain (as verify-ca) in all three modes.
      return ca === undefined
        ? { rejectUnauthorized: false, ...clientCertificate(settings) }
        : verifyChain(ca, settings);
  }
}

/**
 * The `ssl` values to try, in order, as libpq does: `prefer` is TLS then plain, `allow` is plain
 * then TLS, every other mode is one attempt.
 */
export function sslAttempts(settings: SslSettings, host: string): SslAttempt[] {
  const tls = sslOptions(settings, host);
  if (tls === false) return [false];
  if (settings.mode === 'prefer') return [tls, false];
  if (settings.mode === 'allow') return [false, tls];
  return [tls];
}

/**
 * Whether a connection attempt that failed with `error` may be followed by the next attempt:
 * - after a TLS attempt (prefer): the server has TLS turned off, or pg_hba.conf refuses the user
 *   over TLS (a `hostnossl`-only user);
 * - after a plain attempt (allow): pg_hba.conf refuses the connection without TLS.
 * Anything else (unreachable server, wrong password, a certificate that fails verification) is final.
 */
export function shouldFallBack(error: unknown, attempt: SslAttempt | boolean | undefined): boolean {
  const refused = errorCode(error) === SqlState.invalidAuthorizationSpecification;
  if (!attempt) return refused;
  return refused || errorMessage(error) === SERVER_WITHOUT_TLS;
}

/**
 * Connects with each of `attempts` in turn and returns the first connection made. A failed attempt is
 * followed by the next only when `shouldFallBack` says so; otherwise, and after the last, its error is
 * thrown as it is.
 */
export async function firstThatConnects<T>(
  attempts: readonly SslAttempt[],
  connect: (ssl: SslAttempt) => Promise<T>,
): Promise<T> {
  for (const [index, ssl] of attempts.entries()) {
    try {
      return await connect(ssl);
    } catch (error) {
      if (index === attempts.length - 1 || !shouldFallBack(error, ssl)) throw error;
    }
  }
  throw new Error('firstThatConnects: no ssl attempt to make');
}

type ConnectCallback = (
  error: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: boolean | Error) => void,
) => void;

/**
 * A `pg.Pool` whose connections follow two `attempts` (from `sslAttempts`: allow, prefer; connect.ts
 * gives a plain `pg.Pool` to the other modes, which have one). The pool creates every
 * client with one shared `options.ssl`, so the attempt that works is found once, by the first
 * connection, and used for the following ones: the answer depends on the server, user and database,
 * the same for all of them. Should a new connection later fail for a reason `shouldFallBack`
 * accepts (the server's configuration changed), the attempts are made again.
 */
export class SslModePool extends pg.Pool {
  readonly #attempts: readonly SslAttempt[];
  /** Whether `options.ssl` is known to work; the first connection finds out. */
  #known = false;
  /** Set while one caller makes the attempts; the other callers wait for its outcome. */
  #choosing: Promise<void> | undefined;

  constructor(config: pg.PoolConfig, attempts: readonly SslAttempt[]) {
    if (attempts.length === 0) throw new Error('SslModePool needs at least one ssl attempt');
    super({ ...config, ssl: attempts[0] });
    this.#attempts = attempts;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    const connected = this.#connect();
    if (callback === undefined) return connected;
    // pool.query() uses the callback form.
    connected.then(
      (client) => callback(undefined, client, client.release),
      (error: Error) => callback(error, undefined, () => {}),
    );
    return undefined;
  }

  async #connect(): Promise<pg.PoolClient> {
    while (this.#choosing) await this.#choosing;
    if (this.#known) {
      try {
        return await super.connect();
      } catch (error) {
        if (!shouldFallBack(error, this.options.ssl)) throw error;
        this.#known = false;
        return this.#connect();
      }
    }
    const chosen = this.#choose();
    const done = () => {
      this.#choosing = undefined;
    };
    this.#choosing = chosen.then(done, done);
    return chosen;
  }

  /** Makes the attempts in order; the first that connects becomes the pool's `ssl`. */
  async #choose(): Promise<pg.PoolClient> {
    const client = await firstThatConnects(this.#attempts, (ssl) => {
      // Read by the pool when it creates the client.
      this.options.ssl = ssl;
      return super.connect();
    });
    this.#known = true;
    return client;
  }
}

/** The chain must lead to `ca`; the host name is not checked (verify-ca). */
function verifyChain(ca: string, settings: SslSettings): ConnectionOptions {
  return {
    ca,
    rejectUnauthorized: true,
    checkServerIdentity: () => undefined,
    ...clientCertificate(settings),
  };
}

function clientCertificate(settings: SslSettings): { cert?: string; key?: string } {
  const files: { cert?: string; key?: string } = {};
  if (settings.certPath !== undefined) files.cert = readPem(settings.certPath, 'sslcert');
  if (settings.keyPath !== undefined) files.key = readPem(settings.keyPath, 'sslkey');
  return files;
}

function readPem(path: string, name: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(name, `cannot read ${path} (${String(errorCode(error))})`, {
      cause: error,
    });
  }
}

function errorMessage(error: unknown): unknown {
  return typeof error === 'object' && error !== null && 'message' in error ? error.message : undefined;
}
