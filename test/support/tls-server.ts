/**
 * Real PostgreSQL servers for the sslmode tests, with certificates made by `openssl` at test time:
 *
 * - `tls`: TLS on, a server certificate for localhost and 127.0.0.1, and a pg_hba.conf that gives
 *   `certuser` certificate authentication, lets `plainonly` in only without TLS, and refuses every
 *   other connection without TLS.
 * - `wrongName`: TLS on, a certificate from the same CA naming only `wrong.example`.
 * - `plain`: TLS off: the suite's server when it has TLS off, else one started here.
 *
 * The servers started here share one `initdb` (the slow part), copied for the second one. As root
 * they run as the `postgres` OS user, which then owns the data directories and the keys (mode 0600).
 */
import { execFile, execFileSync } from 'node:child_process';
import { appendFile, chmod, chown, copyFile, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort, SUPERUSER } from '../../scripts/lib/embedded-server.js';
import { PostgresCluster } from '../../scripts/lib/postgres-cluster.js';
import { serverTempRoot } from '../../scripts/lib/server-reach.js';
import { serverUser } from '../../scripts/lib/server-user.js';

const run = promisify(execFile);

export const SUPERUSER_PASSWORD = 'postgres';
export const PLAINONLY_PASSWORD = 'plain-pw';

/** Where to reach a server, as whom. */
export interface ServerAddress {
  host: string;
  port: number;
  database: string;
  user: string;
  password?: string;
}

/** Absolute paths of the PEM files. */
export interface TlsFiles {
  ca: string;
  /** A second CA, which signed nothing the servers present. */
  otherCa: string;
  /** For localhost (DNS) and 127.0.0.1 (IP), signed by `ca`. */
  serverCert: string;
  serverKey: string;
  /** For wrong.example only, signed by `ca`. */
  wrongNameCert: string;
  wrongNameKey: string;
  /** CN=certuser, signed by `ca`. */
  clientCert: string;
  clientKey: string;
}

export interface TlsTestServers {
  files: TlsFiles;
  /** Ports on 127.0.0.1; the roles certuser and plainonly exist on `tls`. */
  tls: number;
  wrongName: number;
  /** The server without TLS, as its superuser. */
  plain: ServerAddress;
  stop(): Promise<void>;
}

/**
 * The `openssl` command, or undefined when it cannot be run; under CI=true that is an error, so the
 * TLS tests cannot silently stop running there.
 */
export function findOpenssl(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return 'openssl';
  } catch (error) {
    if (process.env.CI === 'true') {
      throw new Error('openssl is required for the TLS tests (CI=true) but could not be run', {
        cause: error,
      });
    }
    return undefined;
  }
}

/** A `postgresql://` URL for `address` with `params` as its query; file paths stay readable. */
export function addressUrl(address: ServerAddress, params: Record<string, string>): string {
  const password = address.password === undefined ? '' : `:${encodeURIComponent(address.password)}`;
  const query = new URLSearchParams(params).toString().replace(/%2F/g, '/');
  const base = `postgresql://${encodeURIComponent(address.user)}${password}@${address.host}:${address.port}`;
  return `${base}/${encodeURIComponent(address.database)}${query === '' ? '' : `?${query}`}`;
}

// Every extension in one file, so that the system's openssl.cnf is never consulted.
const OPENSSL_CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
[wrong_name]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
`;

/** Makes two CAs and the server, wrong-name and client certificates in `dir` (P-256 keys: fast). */
export async function makeCertificates(dir: string, openssl = 'openssl'): Promise<TlsFiles> {
  await mkdir(dir, { recursive: true });
  const config = join(dir, 'openssl.cnf');
  await writeFile(config, OPENSSL_CONFIG);
  const path = (name: string) => join(dir, name);
  const newKey = async (name: string) => {
    const key = path(`${name}.key`);
    await run(openssl, ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
    // libpq refuses a client key that others can read.
    await chmod(key, 0o600);
  };
  const makeCa = async (name: string, subject: string) => {
    await newKey(name);
    const key = path(`${name}.key`);
    const certificate = path(`${name}.crt`);
    await run(openssl, [
      ...['req', '-new', '-x509', '-config', config, '-extensions', 'ca'],
      ...['-key', key, '-subj', subject, '-days', '2', '-out', certificate],
    ]);
  };
  let serial = 0;
  const makeSigned = async (name: string, subject: string, extensions: string) => {
    await newKey(name);
    const csr = path(`${name}.csr`);
    await run(openssl, [
      ...['req', '-new', '-config', config],
      ...['-key', path(`${name}.key`), '-subj', subject, '-out', csr],
    ]);
    serial += 1;
    await run(openssl, [
      ...['x509', '-req', '-in', csr, '-CA', path('ca.crt'), '-CAkey', path('ca.key')],
      ...['-set_serial', String(serial), '-days', '2', '-extfile', config, '-extensions', extensions],
      ...['-out', path(`${name}.crt`)],
    ]);
  };

  await Promise.all([makeCa('ca', '/CN=shared-db test CA'), makeCa('other-ca', '/CN=unrelated CA')]);
  await Promise.all([
    makeSigned('server', '/CN=localhost', 'server'),
    makeSigned('wrong-name', '/CN=wrong.example', 'wrong_name'),
    makeSigned('client', '/CN=certuser', 'client'),
  ]);
  return {
    ca: path('ca.crt'),
    otherCa: path('other-ca.crt'),
    serverCert: path('server.crt'),
    serverKey: path('server.key'),
    wrongNameCert: path('wrong-name.crt'),
    wrongNameKey: path('wrong-name.key'),
    clientCert: path('client.crt'),
    clientKey: path('client.key'),
  };
}

// First match wins. plainonly is refused over TLS, so that prefer has to fall back to plain.
const TLS_SERVER_HBA = `
hostssl   all certuser  127.0.0.1/32 cert
hostssl   all plainonly 127.0.0.1/32 reject
hostssl   all all       127.0.0.1/32 scram-sha-256
hostnossl all plainonly 127.0.0.1/32 scram-sha-256
hostnossl all all       127.0.0.1/32 reject
`;

function cluster(dataDir: string, port: number): PostgresCluster {
  return new PostgresCluster({
    dataDir,
    port,
    superuser: SUPERUSER,
    password: SUPERUSER_PASSWORD,
    ephemeral: true,
    // The C locale makes initdb several times faster, 1 MB WAL segments make the copy smaller.
    initdbFlags: ['--encoding=UTF8', '--locale=C', '--no-sync', '--wal-segsize=1'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'fsync=off'],
  });
}

/** Copies a file into the data directory, owned by the server's OS user; keys get mode 0600. */
async function install(from: string, dataDir: string, name: string, mode: number): Promise<void> {
  const to = join(dataDir, name);
  await copyFile(from, to);
  await chmod(to, mode);
  const user = await serverUser();
  if (user) await chown(to, user.uid, user.gid);
}

interface ServerFiles {
  cert: string;
  key: string;
  ca: string;
  /** Replaces initdb's pg_hba.conf. */
  hba?: string;
}

/** Turns TLS on in an initialised, stopped data directory, then starts the server there. */
async function startWithTls(dataDir: string, port: number, files: ServerFiles): Promise<PostgresCluster> {
  await install(files.cert, dataDir, 'server.crt', 0o644);
  await install(files.key, dataDir, 'server.key', 0o600);
  await install(files.ca, dataDir, 'ca.crt', 0o644);
  if (files.hba !== undefined) await writeFile(join(dataDir, 'pg_hba.conf'), files.hba);
  // In postgresql.conf rather than on the command line, so that ALTER SYSTEM can still change them.
  // Relative names are relative to the data directory.
  await appendFile(
    join(dataDir, 'postgresql.conf'),
    "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'ca.crt'\n",
  );
  return start(dataDir, port);
}

async function initialise(dataDir: string): Promise<void> {
  await cluster(dataDir, 0).initialise();
}

async function start(dataDir: string, port: number): Promise<PostgresCluster> {
  const server = cluster(dataDir, port);
  try {
    await server.start();
  } catch (error) {
    await server.stop();
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`PostgreSQL did not start on 127.0.0.1:${port}: ${reason}`, { cause: error });
  }
  return server;
}

/** Whether the server at `url` (a superuser URL) answers without TLS and has TLS turned off. */
async function hasTlsOff(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, ssl: false });
  try {
    await client.connect();
    const { rows } = await client.query<{ ssl: string }>('SHOW ssl');
    return rows[0]?.ssl === 'off';
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

function addressOf(url: string): ServerAddress {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    port: Number(parsed.port || 5432),
    database: decodeURIComponent(parsed.pathname.slice(1)) || 'postgres',
    user: decodeURIComponent(parsed.username),
    password: decodeURIComponent(parsed.password),
  };
}

/**
 * Starts the servers described at the top of this file. `suiteServerUrl`, a superuser URL of the
 * suite's server, serves as the server without TLS when its TLS is off.
 */
export async function startTlsTestServers(
  options: { openssl?: string; suiteServerUrl?: string } = {},
): Promise<TlsTestServers> {
  const user = await serverUser();
  const root = await mkdtemp(join(await serverTempRoot(user), 'shared-db-tls-'));
  // The servers run as postgres, which must be able to reach the data directories inside root.
  if (user) await chmod(root, 0o755);
  const started: PostgresCluster[] = [];
  const stop = async () => {
    await Promise.all(started.map((server) => server.stop()));
    await rm(root, { recursive: true, force: true });
  };
  const keep = (server: PostgresCluster) => {
    started.push(server);
    return server;
  };
  try {
    const tlsDir = join(root, 'tls');
    const [files, suiteIsPlain] = await Promise.all([
      makeCertificates(join(root, 'certs'), options.openssl),
      options.suiteServerUrl === undefined ? false : hasTlsOff(options.suiteServerUrl),
      initialise(tlsDir),
    ]);
    const [tls, wrongName, plainPort] = await Promise.all([freePort(), freePort(), freePort()]);

    // cp -a keeps the owner (postgres when root) and the 0700 mode PostgreSQL insists on.
    const copies = suiteIsPlain ? ['wrong-name'] : ['wrong-name', 'plain'];
    await Promise.all(copies.map((name) => run('cp', ['-a', tlsDir, join(root, name)])));
    const starting = await Promise.allSettled([
      startWithTls(tlsDir, tls, {
        cert: files.serverCert,
        key: files.serverKey,
        ca: files.ca,
        hba: TLS_SERVER_HBA,
      }).then(keep),
      startWithTls(join(root, 'wrong-name'), wrongName, {
        cert: files.wrongNameCert,
        key: files.wrongNameKey,
        ca: files.ca,
      }).then(keep),
      suiteIsPlain ? undefined : start(join(root, 'plain'), plainPort).then(keep),
    ]);
    const failed = starting.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;

    // The TLS server refuses the superuser without TLS: create its roles over TLS.
    const admin = new pg.Client({
      host: '127.0.0.1',
      port: tls,
      database: 'postgres',
      user: SUPERUSER,
      password: SUPERUSER_PASSWORD,
      ssl: { rejectUnauthorized: false },
    });
    await admin.connect();
    try {
      await admin.query('CREATE ROLE certuser LOGIN');
      await admin.query(`CREATE ROLE plainonly LOGIN PASSWORD '${PLAINONLY_PASSWORD}'`);
    } finally {
      await admin.end();
    }
    const plain: ServerAddress =
      suiteIsPlain && options.suiteServerUrl !== undefined
        ? addressOf(options.suiteServerUrl)
        : {
            host: '127.0.0.1',
            port: plainPort,
            database: 'postgres',
            user: SUPERUSER,
            password: SUPERUSER_PASSWORD,
          };
    return { files, tls, wrongName, plain, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
