/**
 * sslmode as libpq documents it, proven against real servers (test/support/tls-server.ts): one with
 * TLS (certificate for localhost and 127.0.0.1, pg_hba.conf refusing plain connections except for
 * `plainonly`, certificate authentication for `certuser`), one whose certificate names only
 * `wrong.example`, and one without TLS. Every connection starts from a URL parsed by connection-url.ts.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seedDatabase } from '../../scripts/lib/seed/index.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { Environment, SslSettings } from '../../src/config/settings.js';
import { createDatabase } from '../../src/database/database.js';
import { ConnectionError } from '../../src/errors/classes.js';
import { MIGRATION_LOCK_KEY, MIGRATIONS_DIR, migrate } from '../../src/migrate/migrate.js';
import { connectClient, createPgPool } from '../../src/pool/connect.js';
import { toPgClientConfig } from '../../src/pool/pg-client-config.js';
import { sslAttempts, sslOptions } from '../../src/pool/ssl-mode.js';
import { sleep } from '../support/sleep.js';
import {
  addressUrl,
  findOpenssl,
  PLAINONLY_PASSWORD,
  type ServerAddress,
  SUPERUSER_PASSWORD,
  startTlsTestServers,
  type TlsTestServers,
} from '../support/tls-server.js';

interface Session {
  ssl: boolean;
  user: string;
}

const run = promisify(execFile);
/** Every migration's name, in the order migrate() applies them. */
const MIGRATIONS = readdirSync(MIGRATIONS_DIR)
  .filter((file) => file.endsWith('.ts'))
  .sort()
  .map((file) => file.replace(/\.ts$/, ''));
const SESSION_QUERY = 'SELECT ssl, current_user AS "user" FROM pg_stat_ssl WHERE pid = pg_backend_pid()';
const PASSWORDS: Record<string, string | undefined> = {
  postgres: SUPERUSER_PASSWORD,
  plainonly: PLAINONLY_PASSWORD,
  certuser: undefined,
};

describe('sslAttempts', () => {
  const tls = { rejectUnauthorized: false };
  it.each([
    ['disable', [false]],
    ['allow', [false, tls]],
    ['prefer', [tls, false]],
    ['require', [tls]],
  ] as const)('sslmode=%s tries %j', (mode, attempts) => {
    expect(sslAttempts({ mode }, 'db.example.com')).toEqual(attempts);
  });

  it('never uses TLS over a Unix-domain socket, as libpq ignores sslmode there', () => {
    for (const mode of ['allow', 'prefer', 'require', 'verify-full'] as const) {
      expect(sslAttempts({ mode }, '/var/run/postgresql')).toEqual([false]);
    }
  });
});

const openssl = findOpenssl();

describe.skipIf(openssl === undefined)('against PostgreSQL with and without TLS', () => {
  let servers: TlsTestServers;
  beforeAll(async () => {
    servers = await startTlsTestServers({ openssl, suiteServerUrl: inject('adminUrl') });
  });
  afterAll(() => servers?.stop());

  const files = () => servers.files;
  type Server = 'tls' | 'wrongName' | 'plain';
  /**
   * A URL to one of the servers as `user`, with the user's password (none for certuser). On the
   * server without TLS `postgres` stands for its superuser (the suite's server may name it otherwise).
   */
  function url(server: Server, user: string, params: Record<string, string>, host = '127.0.0.1'): string {
    if (server === 'plain') return addressUrl(servers.plain, params);
    const password = PASSWORDS[user];
    const port = servers[server];
    return addressUrl({ host, port, database: 'postgres', user, ...(password ? { password } : {}) }, params);
  }
  const superuser = (server: Server) => (server === 'plain' ? servers.plain.user : 'postgres');

  /** One client, connected the way the layer connects for a URL; the session's TLS use and user. */
  async function session(connectionUrl: string): Promise<Session> {
    const client = await connectClient(parseConnectionUrl(connectionUrl, 'TEST_URL'));
    try {
      const { rows } = await client.query<Session>(SESSION_QUERY);
      return rows[0] as Session;
    } finally {
      await client.end();
    }
  }

  describe('one connection', () => {
    it('disable never encrypts', async () => {
      expect(await session(url('plain', 'postgres', { sslmode: 'disable' }))).toEqual({
        ssl: false,
        user: superuser('plain'),
      });
      // The TLS server accepts plainonly without TLS only.
      expect((await session(url('tls', 'plainonly', { sslmode: 'disable' }))).ssl).toBe(false);
      await expect(session(url('tls', 'postgres', { sslmode: 'disable' }))).rejects.toThrow(
        /pg_hba\.conf rejects connection .*no encryption/,
      );
    });

    it('require encrypts without a CA, and fails clearly against a server without TLS', async () => {
      expect((await session(url('tls', 'postgres', { sslmode: 'require' }))).ssl).toBe(true);
      // Any certificate is accepted, even one for another name.
      expect((await session(url('wrongName', 'postgres', { sslmode: 'require' }))).ssl).toBe(true);
      const refused = session(url('plain', 'postgres', { sslmode: 'require' }));
      await expect(refused).rejects.toThrow('The server does not support SSL connections');
      await expect(refused).rejects.toBeInstanceOf(ConnectionError);
    });

    it('require with sslrootcert checks the chain, as libpq does (verify-ca)', async () => {
      const params = { sslmode: 'require', sslrootcert: files().ca };
      expect((await session(url('wrongName', 'postgres', params))).ssl).toBe(true);
      await expect(
        session(url('tls', 'postgres', { sslmode: 'require', sslrootcert: files().otherCa })),
      ).rejects.toThrow(/certificate/);
    });

    it('verify-ca accepts the right CA whatever the name, and refuses another CA', async () => {
      const right = { sslmode: 'verify-ca', sslrootcert: files().ca };
      expect((await session(url('tls', 'postgres', right))).ssl).toBe(true);
      expect((await session(url('wrongName', 'postgres', right))).ssl).toBe(true);
      await expect(
        session(url('tls', 'postgres', { sslmode: 'verify-ca', sslrootcert: files().otherCa })),
      ).rejects.toThrow(/certificate/);
    });

    it('verify-full checks the chain and the host name (DNS or IP SAN)', async () => {
      const right = { sslmode: 'verify-full', sslrootcert: files().ca };
      expect((await session(url('tls', 'postgres', right, 'localhost'))).ssl).toBe(true);
      expect((await session(url('tls', 'postgres', right, '127.0.0.1'))).ssl).toBe(true);
      for (const host of ['localhost', '127.0.0.1']) {
        await expect(session(url('wrongName', 'postgres', right, host))).rejects.toMatchObject({
          cause: { code: 'ERR_TLS_CERT_ALTNAME_INVALID' },
        });
      }
      await expect(
        session(url('tls', 'postgres', { sslmode: 'verify-full', sslrootcert: files().otherCa })),
      ).rejects.toThrow(/certificate/);
    });

    it('the client certificate authenticates certuser without a password; without it certuser is refused', async () => {
      const verified = { sslmode: 'verify-full', sslrootcert: files().ca };
      const withCertificate = { ...verified, sslcert: files().clientCert, sslkey: files().clientKey };
      expect(await session(url('tls', 'certuser', withCertificate))).toEqual({ ssl: true, user: 'certuser' });
      expect(
        await session(
          url('tls', 'certuser', {
            sslmode: 'require',
            sslcert: files().clientCert,
            sslkey: files().clientKey,
          }),
        ),
      ).toEqual({ ssl: true, user: 'certuser' });
      await expect(session(url('tls', 'certuser', verified))).rejects.toMatchObject({
        code: '28000',
        message: expect.stringContaining('certificate'),
      });
    });

    it('prefer encrypts when it can, falls back to plain when the server has no TLS or refuses the user over TLS', async () => {
      expect((await session(url('tls', 'postgres', { sslmode: 'prefer' }))).ssl).toBe(true);
      expect((await session(url('plain', 'postgres', { sslmode: 'prefer' }))).ssl).toBe(false);
      // pg_hba.conf: hostssl … plainonly … reject, hostnossl … plainonly … scram-sha-256.
      expect((await session(url('tls', 'plainonly', { sslmode: 'prefer' }))).ssl).toBe(false);
      const withCertificate = { sslmode: 'prefer', sslcert: files().clientCert, sslkey: files().clientKey };
      expect(await session(url('tls', 'certuser', withCertificate))).toEqual({ ssl: true, user: 'certuser' });
    });

    it('allow connects plain when it may, and escalates to TLS when the server refuses plain', async () => {
      expect((await session(url('tls', 'plainonly', { sslmode: 'allow' }))).ssl).toBe(false);
      expect((await session(url('plain', 'postgres', { sslmode: 'allow' }))).ssl).toBe(false);
      // pg_hba.conf: hostnossl all all … reject.
      expect((await session(url('tls', 'postgres', { sslmode: 'allow' }))).ssl).toBe(true);
    });

    it('does not fall back for other failures: a wrong password fails with its own error', async () => {
      const wrongPassword = (user: string, sslmode: string) =>
        addressUrl(
          { host: '127.0.0.1', port: servers.tls, database: 'postgres', user, password: 'wrong' },
          { sslmode },
        );
      // A fallback would have met pg_hba.conf's reject line (28000) instead.
      await expect(session(wrongPassword('postgres', 'prefer'))).rejects.toMatchObject({ code: '28P01' });
      await expect(session(wrongPassword('plainonly', 'allow'))).rejects.toMatchObject({ code: '28P01' });
    });
  });

  describe('the pool of the data layer', () => {
    const pools: pg.Pool[] = [];
    afterAll(() => Promise.all(pools.map((pool) => pool.end())));

    /** Builds the pool as connection-pool.ts does, without the layer's checkout guard. */
    function createPool(env: Environment): pg.Pool {
      const config = loadConfig(env);
      const pool = createPgPool(config.pooled, {
        max: config.pool.max,
        connectionTimeoutMillis: config.pool.connectionTimeoutMillis,
        idleTimeoutMillis: config.pool.idleTimeoutMillis,
      });
      // As in connection-pool.ts: pool.end() does not wait for the sockets to close, so a server stopped
      // right after it terminates idle connections, which the pool reports here.
      pool.on('error', () => {});
      pools.push(pool);
      return pool;
    }

    /** The session the data layer itself opens for `env`, through createDatabase. */
    async function layerSession(env: Environment): Promise<Session> {
      const db = createDatabase(loadConfig(env));
      try {
        return (await db.executeRaw<Session>(SESSION_QUERY))[0] as Session;
      } finally {
        await db.disconnect();
      }
    }
    const layerEnv = (connectionUrl: string): Environment => ({
      ENABLE_POSTGRES: 'true',
      POSTGRES_PRISMA_URL: connectionUrl,
    });

    it.each([
      ['disable', 'plain', 'postgres', {}, false],
      ['disable', 'tls', 'plainonly', {}, false],
      ['require', 'tls', 'postgres', {}, true],
      ['verify-ca', 'tls', 'postgres', { sslrootcert: 'ca' }, true],
      ['verify-full', 'tls', 'postgres', { sslrootcert: 'ca' }, true],
      [
        'verify-full',
        'tls',
        'certuser',
        { sslrootcert: 'ca', sslcert: 'clientCert', sslkey: 'clientKey' },
        true,
      ],
      ['prefer', 'tls', 'postgres', {}, true],
      ['prefer', 'plain', 'postgres', {}, false],
      ['prefer', 'tls', 'plainonly', {}, false],
      ['allow', 'tls', 'postgres', {}, true],
      ['allow', 'tls', 'plainonly', {}, false],
    ] as const)(
      'sslmode=%s on the %s server as %s (%j): ssl %s',
      async (mode, server, user, fileParams, ssl) => {
        const params: Record<string, string> = { sslmode: mode };
        for (const [name, file] of Object.entries(fileParams)) params[name] = files()[file];
        const expected = { ssl, user: user === 'postgres' ? superuser(server) : user };
        expect(await layerSession(layerEnv(url(server, user, params)))).toEqual(expected);
      },
    );

    it('require against the server without TLS fails clearly', async () => {
      await expect(layerSession(layerEnv(url('plain', 'postgres', { sslmode: 'require' })))).rejects.toThrow(
        'The server does not support SSL connections',
      );
    });

    it('every concurrent connection of the pool ends on the same side of the fallback', async () => {
      const pool = createPool(layerEnv(url('tls', 'postgres', { sslmode: 'allow' })));
      const sessions = await Promise.all(
        Array.from({ length: 6 }, () =>
          pool.query<Session & { pid: number }>(
            `SELECT ssl, current_user AS "user", pid FROM pg_stat_ssl, pg_sleep(0.05) WHERE pid = pg_backend_pid()`,
          ),
        ),
      );
      const rows = sessions.map(({ rows: [row] }) => row);
      expect(new Set(rows.map((row) => row?.pid)).size).toBeGreaterThan(1);
      expect(rows.every((row) => row?.ssl === true)).toBe(true);
    });

    it('makes the attempts again when the server changes: prefer goes plain once TLS is turned off', async () => {
      const pool = createPool(layerEnv(url('wrongName', 'postgres', { sslmode: 'prefer' })));
      const first = await pool.connect();
      try {
        expect((await first.query<Session>(SESSION_QUERY)).rows[0]?.ssl).toBe(true);
        await withAdmin(servers.wrongName, 'ALTER SYSTEM SET ssl = off');
        await waitForSetting(servers.wrongName, 'ssl', 'off');
        // `first` stays checked out, so the pool opens a new connection: TLS is refused, plain works.
        const second = await pool.connect();
        try {
          expect((await second.query<Session>(SESSION_QUERY)).rows[0]?.ssl).toBe(false);
        } finally {
          second.release();
        }
      } finally {
        first.release();
        await withAdmin(servers.wrongName, 'ALTER SYSTEM RESET ssl');
        await waitForSetting(servers.wrongName, 'ssl', 'on');
      }
    });
  });

  describe('migrate(), the seed and db:codegen connect as the pool does', () => {
    const created: [Server, string][] = [];
    afterAll(async () => {
      for (const [server, name] of created) {
        await asSuperuser(server, 'postgres', (client) =>
          client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
        );
      }
    });

    /** The superuser on `database` of `server`, over TLS where the server has it (pg itself, not the layer). */
    async function asSuperuser<T>(
      server: Server,
      database: string,
      work: (client: pg.Client) => Promise<T>,
    ): Promise<T> {
      const client = new pg.Client({
        ...superuserAddress(server, database),
        ssl: server === 'plain' ? false : { rejectUnauthorized: false },
      });
      await client.connect();
      try {
        return await work(client);
      } finally {
        await client.end();
      }
    }

    function superuserAddress(server: Server, database: string): ServerAddress {
      if (server === 'plain') return { ...servers.plain, database };
      return {
        host: '127.0.0.1',
        port: servers[server],
        database,
        user: 'postgres',
        password: SUPERUSER_PASSWORD,
      };
    }

    /** A new database on `server`, dropped after these tests: every migration runs on the connection under test. */
    async function emptyDatabase(server: Server): Promise<string> {
      const name = `shared_db_tls_${randomBytes(6).toString('hex')}`;
      await asSuperuser(server, 'postgres', (client) => client.query(`CREATE DATABASE ${name}`));
      created.push([server, name]);
      return name;
    }

    function databaseUrl(server: Server, database: string, params: Record<string, string>): string {
      return addressUrl(superuserAddress(server, database), params);
    }

    /**
     * Runs migrate() and reads from pg_stat_ssl whether its session uses TLS: a session of this test
     * holds the migration lock until it has seen migrate()'s session waiting for it.
     */
    async function migrateWatched(
      server: Server,
      database: string,
      params: Record<string, string>,
    ): Promise<{ ran: string[]; ssl: boolean | undefined }> {
      const applicationName = `migrate_${randomBytes(6).toString('hex')}`;
      const settings = parseConnectionUrl(
        databaseUrl(server, database, { ...params, application_name: applicationName }),
        'TEST_URL',
      );
      return asSuperuser(server, database, async (holder) => {
        const lockKey = [String(MIGRATION_LOCK_KEY)];
        await holder.query('SELECT pg_advisory_lock($1::bigint)', lockKey);
        const running = migrate(settings, { direction: 'up' });
        let settled = false;
        running.then(
          () => (settled = true),
          () => (settled = true),
        );
        let ssl: boolean | undefined;
        try {
          for (let tries = 0; tries < 400 && ssl === undefined && !settled; tries++) {
            const { rows } = await holder.query<{ ssl: boolean }>(
              `SELECT s.ssl FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.application_name = $1`,
              [applicationName],
            );
            ssl = rows[0]?.ssl;
            if (ssl === undefined) await sleep(25);
          }
        } finally {
          await holder.query('SELECT pg_advisory_unlock($1::bigint)', lockKey);
        }
        return { ran: await running, ssl };
      });
    }

    it.each([
      ['prefer', {}],
      ['require', {}],
      ['verify-ca', { sslrootcert: 'ca' }],
      ['verify-full', { sslrootcert: 'ca' }],
      ['allow', {}],
    ] as const)('migrate() with sslmode=%s (%j) runs every migration over TLS', async (mode, fileParams) => {
      const params: Record<string, string> = { sslmode: mode };
      for (const [name, file] of Object.entries(fileParams)) params[name] = files()[file];
      const database = await emptyDatabase('tls');
      expect(await migrateWatched('tls', database, params)).toEqual({ ran: MIGRATIONS, ssl: true });
    });

    it('migrate() with sslmode=prefer falls back to plain against the server without TLS', async () => {
      const database = await emptyDatabase('plain');
      expect(await migrateWatched('plain', database, { sslmode: 'prefer' })).toEqual({
        ran: MIGRATIONS,
        ssl: false,
      });
    });

    it.each(['verify-ca', 'verify-full', 'require'])(
      'migrate() with sslmode=%s and another CA is refused with a ConnectionError, and changes nothing',
      async (mode) => {
        const database = await emptyDatabase('tls');
        const url = databaseUrl('tls', database, { sslmode: mode, sslrootcert: files().otherCa });
        const error = await migrate(parseConnectionUrl(url, 'TEST_URL'), { direction: 'up' }).catch(
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(ConnectionError);
        expect((error as Error).message).toMatch(/certificate/);
        const { rows } = await asSuperuser('tls', database, (client) =>
          client.query<{ relations: number }>(
            "SELECT count(*)::int AS relations FROM pg_class WHERE relnamespace = 'public'::regnamespace",
          ),
        );
        expect(rows[0]?.relations).toBe(0);
      },
    );

    it('the seed and db:codegen reach the TLS server with sslmode=prefer (pg_hba.conf refuses plain)', async () => {
      const database = await emptyDatabase('tls');
      const url = databaseUrl('tls', database, { sslmode: 'prefer' });
      await migrate(parseConnectionUrl(url, 'TEST_URL'), { direction: 'up' });
      const summary = await seedDatabase(url, { users: 3, postsPerUser: 2, vacuum: false });
      expect(summary.tables.find((table) => table.table === 'pg_users')?.rows).toBe(3);
      const codegen = await run(
        join(process.cwd(), 'node_modules/.bin/tsx'),
        [join(process.cwd(), 'scripts/codegen.ts'), '--verify'],
        { env: { PATH: process.env.PATH, POSTGRES_URL_NON_POOLING: url } },
      );
      expect(codegen.stdout).toContain('reading the schema of');
      expect(codegen.stdout + codegen.stderr).toContain('up-to-date');
    });
  });

  /** Runs `query` and reloads the configuration, as the superuser over a plain connection. */
  async function withAdmin(port: number, query: string): Promise<void> {
    const client = new pg.Client(clientConfig(port));
    await client.connect();
    try {
      await client.query(query);
      await client.query('SELECT pg_reload_conf()');
    } finally {
      await client.end();
    }
  }

  /** Waits until new sessions see the reloaded setting (the postmaster reloads asynchronously). */
  async function waitForSetting(port: number, name: string, value: string): Promise<void> {
    for (const deadline = performance.now() + 20_000; performance.now() < deadline; ) {
      const client = new pg.Client(clientConfig(port));
      await client.connect();
      try {
        const { rows } = await client.query<{ setting: string }>('SELECT current_setting($1) AS setting', [
          name,
        ]);
        if (rows[0]?.setting === value) return;
      } finally {
        await client.end();
      }
      await sleep(50);
    }
    throw new Error(`${name} did not become ${value}`);
  }

  function clientConfig(port: number): pg.ClientConfig {
    const address = {
      host: '127.0.0.1',
      port,
      database: 'postgres',
      user: 'postgres',
      password: SUPERUSER_PASSWORD,
    };
    return toPgClientConfig(parseConnectionUrl(addressUrl(address, { sslmode: 'disable' }), 'TEST_URL'));
  }
});

describe('sslOptions', () => {
  it('gives a single client what toPgClientConfig gives it for the modes without a fallback', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shared-db-ssl-'));
    const file = (name: string) => {
      writeFileSync(join(dir, name), `${name} contents`);
      return join(dir, name);
    };
    const [rootCertPath, certPath, keyPath] = [file('ca.pem'), file('client.pem'), file('client.key')];
    const settings = parseConnectionUrl('postgresql://app:pw@db.example.com/appdb', 'X');
    // Functions (checkServerIdentity) compare by presence.
    const comparable = (ssl: unknown) =>
      JSON.parse(JSON.stringify(ssl, (_key, value) => (typeof value === 'function' ? 'function' : value)));
    const cases: SslSettings[] = [
      { mode: 'disable' },
      { mode: 'require' },
      { mode: 'require', rootCertPath, certPath, keyPath },
      { mode: 'verify-ca', rootCertPath },
      { mode: 'verify-ca', rootCertPath, certPath, keyPath },
      { mode: 'verify-full' },
      { mode: 'verify-full', rootCertPath, certPath, keyPath },
    ];
    try {
      for (const ssl of cases) {
        expect(comparable(sslOptions(ssl, settings.host))).toEqual(
          comparable(toPgClientConfig({ ...settings, ssl }).ssl),
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
