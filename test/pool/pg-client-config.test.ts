/** Unit tests for src/pool/pg-client-config.ts: `ConnectionSettings` as node-postgres's client configuration. */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { toPgClientConfig } from '../../src/pool/pg-client-config.js';
import { BASE_URL, expectConfigError, settings, useConfigFiles } from '../support/config-fixtures.js';

const { dir, CA, CERT, KEY } = useConfigFiles();

describe('toPgClientConfig', () => {
  it('passes the connection fields, never a connectionString', () => {
    const config = toPgClientConfig(
      parseConnectionUrl(`${BASE_URL}?connect_timeout=7&application_name=web&pgbouncer=true&schema=app`, 'X'),
    );
    expect(config).toEqual({
      host: 'db.example.com',
      port: 6543,
      user: 'app',
      password: 'pw',
      database: 'appdb',
      ssl: false,
      application_name: 'web',
      connectionTimeoutMillis: 7000,
    });
    expect(config).not.toHaveProperty('connectionString');
  });

  it('leaves out what is not set', () => {
    const config = toPgClientConfig(settings({ password: undefined }));
    expect(Object.keys(config).sort()).toEqual(['database', 'host', 'port', 'ssl', 'user']);
  });

  const noIdentityCheck = expect.any(Function);
  it.each([
    ['disable', {}, false],
    ['allow', { rootCertPath: CA }, false],
    ['prefer', { rootCertPath: CA, certPath: CERT, keyPath: KEY }, false],
    ['require', {}, { rejectUnauthorized: false }],
    [
      'require',
      { certPath: CERT, keyPath: KEY },
      { rejectUnauthorized: false, cert: 'CLIENT CERTIFICATE', key: 'CLIENT KEY' },
    ],
    [
      'require',
      { rootCertPath: CA },
      { ca: 'CA CERTIFICATE', rejectUnauthorized: true, checkServerIdentity: noIdentityCheck },
    ],
    [
      'verify-ca',
      { rootCertPath: CA, certPath: CERT, keyPath: KEY },
      {
        ca: 'CA CERTIFICATE',
        rejectUnauthorized: true,
        checkServerIdentity: noIdentityCheck,
        cert: 'CLIENT CERTIFICATE',
        key: 'CLIENT KEY',
      },
    ],
    ['verify-full', {}, { rejectUnauthorized: true }],
    ['verify-full', { rootCertPath: CA }, { ca: 'CA CERTIFICATE', rejectUnauthorized: true }],
  ] as const)('maps sslmode=%s (case %#)', (mode, files, ssl) => {
    const config = toPgClientConfig(settings({ ssl: { mode, ...files } }));
    expect(config.ssl).toEqual(ssl);
    if (typeof config.ssl === 'object' && config.ssl.checkServerIdentity) {
      expect(config.ssl.checkServerIdentity('db.example.com', {} as never)).toBeUndefined();
    }
  });

  it('rejects verify-ca without a CA and names an unreadable certificate', () => {
    expectConfigError(
      () => toPgClientConfig(settings({ ssl: { mode: 'verify-ca' } })),
      'sslrootcert',
      'sslmode=verify-ca needs sslrootcert',
    );
    expectConfigError(
      () => toPgClientConfig(settings({ ssl: { mode: 'verify-full', rootCertPath: join(dir, 'gone.pem') } })),
      'sslrootcert',
      'cannot read',
    );
  });
});
