/**
 * src/pool/connect.ts: the one place where connections are opened. What sslmode does on each path is
 * proven against TLS servers in test/cross-cutting/ssl.test.ts; this file covers the rest.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { freePort } from '../../scripts/lib/embedded-server.js';
import { parseConnectionUrl } from '../../src/config/connection-url.js';
import { ConnectionError } from '../../src/errors/classes.js';
import { connectClient, createPgPool } from '../../src/pool/connect.js';
import { SslModePool } from '../../src/pool/ssl-mode.js';

const ROOT = process.cwd();
const adminUrl = inject('adminUrl');

function typeScriptFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
}

describe('connections', () => {
  it('are created in src/pool/ alone: src, scripts and bench never make a pg Client or Pool', () => {
    const creates =
      /new\s+pg\.(?:Client|Pool)\b|extends\s+pg\.(?:Client|Pool)\b|import\s*\{[^}]*\b(?:Client|Pool)\b[^}]*\}\s*from\s*'pg'/;
    const offenders = ['src', 'scripts', 'bench']
      .flatMap((dir) => typeScriptFiles(join(ROOT, dir)))
      .map((file) => relative(ROOT, file))
      .filter((file) => !file.startsWith(join('src', 'pool')))
      .filter((file) => creates.test(readFileSync(join(ROOT, file), 'utf8')));
    expect(offenders).toEqual([]);
    // The check itself finds what it looks for.
    expect(creates.test(readFileSync(join(ROOT, 'src/pool/connect.ts'), 'utf8'))).toBe(true);
  });
});

describe('connectClient', () => {
  it('opens a connected client that listens for the server closing it', async () => {
    const lost: Error[] = [];
    const client = await connectClient(parseConnectionUrl(adminUrl, 'TEST_URL'), {
      onError: (error) => lost.push(error),
    });
    try {
      const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
      expect(rows).toEqual([{ one: 1 }]);
      expect(client.listenerCount('error')).toBe(1);
      client.emit('error', new Error('closed by the server'));
      expect(lost.map((error) => error.message)).toEqual(['closed by the server']);
    } finally {
      await client.end();
    }
  });

  it('fails with a ConnectionError whose cause is the driver’s error when nothing listens', async () => {
    const port = await freePort();
    const settings = parseConnectionUrl(`postgresql://nobody@127.0.0.1:${port}/none`, 'TEST_URL');
    const error = await connectClient(settings).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ cause: { code: 'ECONNREFUSED' } });
  });
});

describe('createPgPool', () => {
  const settings = (sslmode: string) =>
    parseConnectionUrl(`postgresql://app@db.example.com/appdb?sslmode=${sslmode}`, 'TEST_URL');

  it('gives the modes with one attempt a plain pg.Pool, and allow and prefer an SslModePool', async () => {
    for (const mode of ['disable', 'require', 'verify-full']) {
      const pool = createPgPool(settings(mode), { max: 3 });
      expect(pool).toBeInstanceOf(pg.Pool);
      expect(pool).not.toBeInstanceOf(SslModePool);
      expect(pool.options.max).toBe(3);
      await pool.end();
    }
    for (const mode of ['allow', 'prefer']) {
      const pool = createPgPool(settings(mode));
      expect(pool).toBeInstanceOf(SslModePool);
      await pool.end();
    }
  });

  it('connects as the settings say, with the types it is given', async () => {
    const types = { getTypeParser: () => (text: string) => `read ${text}` };
    const pool = createPgPool(parseConnectionUrl(adminUrl, 'TEST_URL'), { max: 1, types });
    try {
      const { rows } = await pool.query<{ answer: string }>('SELECT 42 AS answer');
      expect(rows).toEqual([{ answer: 'read 42' }]);
    } finally {
      await pool.end();
    }
  });
});
