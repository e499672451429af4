/** Unit tests for src/config/connection-url.ts: the URL grammar, and how a connection is printed. */
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeConnection, parseConnectionUrl } from '../../src/config/connection-url.js';
import {
  BASE_URL,
  configError,
  expectConfigError,
  settings,
  useConfigFiles,
} from '../support/config-fixtures.js';

const { dir, CA, CERT, KEY } = useConfigFiles();

describe('parseConnectionUrl', () => {
  it('reads every part of a URL', () => {
    expect(parseConnectionUrl(BASE_URL, 'X')).toEqual(settings({ port: 6543 }));
  });

  it.each([
    ['postgres://app@h/db', { host: 'h', port: 5432, password: undefined }],
    ['POSTGRESQL://app:@h/db', { host: 'h', password: undefined }],
    ['postgresql://app@[::1]:5433/db', { host: '::1', port: 5433 }],
    ['postgresql://app@%2Fvar%2Frun%2Fpostgresql/db', { host: '/var/run/postgresql' }],
    ['postgresql://app@/db?host=/tmp', { host: '/tmp', port: 5432 }],
    ['postgresql://app@:5433/db?host=/tmp', { host: '/tmp', port: 5433 }],
    ['postgresql://app@ignored/db?host=/var/run/postgresql', { host: '/var/run/postgresql' }],
    ['postgresql://app@h/db?host=other.example.com', { host: 'other.example.com' }],
    ['postgresql://%C3%BCser:p%20w@h/my%20db', { user: 'üser', password: 'p w', database: 'my db' }],
    ['  postgresql://app@h/db  ', { host: 'h', database: 'db' }],
  ])('parses %s', (url, expected) => {
    expect(parseConnectionUrl(url, 'X')).toMatchObject(expected);
  });

  it.each([
    ['pgbouncer=true', { pgbouncer: true }],
    ['pgbouncer=false', { pgbouncer: false }],
    ['connect_timeout=15', { connectTimeoutSeconds: 15 }],
    ['sslmode=disable', { ssl: { mode: 'disable' } }],
    ['sslmode=allow', { ssl: { mode: 'allow' } }],
    ['sslmode=prefer', { ssl: { mode: 'prefer' } }],
    ['sslmode=require', { ssl: { mode: 'require' } }],
    [`sslmode=verify-ca&sslrootcert=${CA}`, { ssl: { mode: 'verify-ca', rootCertPath: CA } }],
    ['sslmode=verify-full', { ssl: { mode: 'verify-full' } }],
    [
      `sslmode=require&sslcert=${CERT}&sslkey=${KEY}&sslrootcert=${CA}`,
      { ssl: { mode: 'require', certPath: CERT, keyPath: KEY, rootCertPath: CA } },
    ],
    ['schema=app_2', { schema: 'app_2' }],
    ['application_name=my%20app%2Bworker', { applicationName: 'my app+worker' }],
    ['host=/var/run/postgresql', { host: '/var/run/postgresql' }],
    ['connection_limit=5', {}],
    ['pool_timeout=20', {}],
    ['uselibpqcompat=true', {}],
  ])('accepts ?%s', (query, expected) => {
    expect(parseConnectionUrl(`${BASE_URL}?${query}`, 'X')).toMatchObject(expected);
  });

  it('defaults to schema public, no pgbouncer, no timeout, sslmode disable, no application name', () => {
    expect(parseConnectionUrl(BASE_URL, 'X')).toMatchObject({
      schema: 'public',
      pgbouncer: false,
      connectTimeoutSeconds: undefined,
      ssl: { mode: 'disable' },
      applicationName: undefined,
    });
  });

  it('resolves relative certificate paths against the working directory', () => {
    const relativeCa = relative(process.cwd(), CA);
    expect(
      parseConnectionUrl(`${BASE_URL}?sslmode=verify-full&sslrootcert=${relativeCa}`, 'X').ssl.rootCertPath,
    ).toBe(CA);
  });

  it.each([
    ['pgbouncer=yes', 'URL parameter "pgbouncer" must be true or false, got "yes"'],
    ['connect_timeout=0', 'URL parameter "connect_timeout" must be an integer from 1 to 2147483'],
    ['connect_timeout=abc', 'URL parameter "connect_timeout" must be an integer'],
    [
      'sslmode=no-verify',
      'URL parameter "sslmode" must be one of disable, allow, prefer, require, verify-ca',
    ],
    ['sslmode=verify-full&sslrootcert=missing.pem', 'URL parameter "sslrootcert": cannot read'],
    [`sslmode=verify-full&sslrootcert=${join(dir, 'a-directory')}`, '(not a file)'],
    [
      `sslmode=require&sslcert=${join(dir, 'nope.pem')}&sslkey=${KEY}`,
      'URL parameter "sslcert": cannot read',
    ],
    [
      `sslmode=require&sslcert=${CERT}&sslkey=${join(dir, 'nope.key')}`,
      'URL parameter "sslkey": cannot read',
    ],
    [`sslmode=require&sslkey=${KEY}`, 'has sslkey without sslcert'],
    [`sslmode=require&sslcert=${CERT}`, 'has sslcert without sslkey'],
    [`sslrootcert=${CA}`, 'has sslrootcert but no sslmode'],
    ['sslmode=verify-ca', 'sslmode=verify-ca needs sslrootcert'],
    ['schema=my-schema', 'URL parameter "schema" must be an identifier'],
    ['schema=1abc', 'URL parameter "schema" must be an identifier'],
    [`schema=${'s'.repeat(64)}`, 'at most 63 bytes'],
    ['schema=', 'URL parameter "schema" is empty'],
    ['application_name=', 'URL parameter "application_name" is empty'],
    ['host=', 'URL parameter "host" is empty'],
    ['host=a,b', 'lists several hosts'],
    ['connection_limit=0', 'URL parameter "connection_limit" must be an integer from 1 to 1000'],
    ['connection_limit=many', 'URL parameter "connection_limit" must be an integer'],
    ['pool_timeout=0', 'URL parameter "pool_timeout" must be an integer from 1'],
    ['uselibpqcompat=false', 'URL parameter "uselibpqcompat" can only be true'],
    ['sslmode=require&sslmode=disable', 'URL parameter "sslmode" is given more than once'],
    ['schema=%E0%A4%A', 'URL parameter "schema" is not correctly percent-encoded'],
    ['sslmode=require?sslcert=client.pem', 'has a second "?": separate URL parameters with "&"'],
  ])('rejects ?%s', (query, text) => {
    expectConfigError(
      () => parseConnectionUrl(`${BASE_URL}?${query}`, 'POSTGRES_PRISMA_URL'),
      'POSTGRES_PRISMA_URL',
      text,
    );
  });

  it('lists the known parameters for an unknown one', () => {
    const error = configError(() =>
      parseConnectionUrl(`${BASE_URL}?schema=app&foo=1`, 'POSTGRES_PRISMA_URL'),
    );
    expect(error.message).toBe(
      'POSTGRES_PRISMA_URL: unknown URL parameter "foo" (known: pgbouncer, connect_timeout, sslmode, sslcert, ' +
        'sslkey, sslrootcert, schema, application_name, host, connection_limit, pool_timeout, uselibpqcompat)',
    );
  });

  it.each([
    ['mysql://app@h/db', 'must be a URL like postgresql://user:password@host:5432/database'],
    ['localhost:5432/db', 'must be a URL like'],
    ['postgresql:app@h/db', 'must be a URL like'],
    ['postgresql://h/db', 'has no user name'],
    ['postgresql://app@h', 'has no database name'],
    ['postgresql://app@h/', 'has no database name'],
    ['postgresql://app@/db', 'has no host'],
    ['postgresql://app@h:0/db', 'the port must be an integer from 1 to 65535, got "0"'],
    ['postgresql://app@h:99999/db', 'is not a valid URL'],
    ['postgresql://app@h st/db', 'is not a valid URL'],
    ['postgresql://app@h1,h2/db', 'lists several hosts'],
    ['postgresql://app:p%zz@h/db', 'the password is not correctly percent-encoded'],
    ['postgresql://app:pa/ss@h/db', 'has "@" after the host'],
    ['postgresql://app:pa?ss@h/db', 'has "@" after the host'],
    ['postgresql://app:pa#ss@h/db', 'has "@" after the host'],
    ['postgresql://app@h/db#fragment', 'must not contain "#"'],
  ])('rejects %s', (url, text) => {
    expectConfigError(
      () => parseConnectionUrl(url, 'POSTGRES_URL_NON_POOLING'),
      'POSTGRES_URL_NON_POOLING',
      text,
    );
  });
});

describe('parseConnectionUrl: percent-encoding, sockets, IPv6', () => {
  it('decodes a user name, password and database name with @:/?#', () => {
    expect(
      parseConnectionUrl(
        'postgresql://us%40er:p%40ss%3Aw%2Frd%3F%23%25%26%3D%20%2B%C3%BC@db.example.com:5432/my%2Fdb',
        'X',
      ),
    ).toEqual(settings({ user: 'us@er', password: 'p@ss:w/rd?#%&= +ü', database: 'my/db' }));
  });

  it('reads a socket directory, an IPv6 address and a URL without a password', () => {
    expect(
      parseConnectionUrl('postgresql://app:pw@localhost:5433/appdb?host=/var/run/postgresql', 'X'),
    ).toEqual(settings({ host: '/var/run/postgresql', port: 5433 }));
    expect(parseConnectionUrl('postgresql://app:pw@[::1]:5432/appdb', 'X')).toEqual(
      settings({ host: '::1' }),
    );
    expect(parseConnectionUrl('postgresql://app@db.example.com:5432/appdb', 'X')).toEqual(
      settings({ password: undefined }),
    );
  });
});

describe('describeConnection', () => {
  it('replaces the password with ***', () => {
    const text = describeConnection(parseConnectionUrl('postgresql://app:S3cret%40x@h:5432/db', 'X'));
    expect(text).toBe('postgresql://app:***@h:5432/db');
    expect(text).not.toContain('S3cret');
  });

  it('leaves out the password part when there is none', () => {
    expect(describeConnection(settings({ password: undefined }))).toBe(
      'postgresql://app@db.example.com:5432/appdb',
    );
  });

  it('shows every non-default setting', () => {
    const parsed = parseConnectionUrl(
      `postgresql://app:pw@h:6432/db?pgbouncer=true&schema=app&sslmode=verify-full&sslrootcert=${CA}` +
        '&connect_timeout=5&application_name=web',
      'X',
    );
    expect(describeConnection(parsed)).toBe(
      `postgresql://app:***@h:6432/db?schema=app&pgbouncer=true&sslmode=verify-full&sslrootcert=${CA}` +
        '&connect_timeout=5&application_name=web',
    );
  });

  it('shows a socket directory as ?host=', () => {
    expect(describeConnection(settings({ host: '/var/run/postgresql', password: undefined }))).toBe(
      'postgresql://app@localhost:5432/appdb?host=/var/run/postgresql',
    );
  });
});
