/**
 * What the configuration tests share: checks of a thrown ConfigError, a `ConnectionSettings` to vary,
 * and a temporary directory with certificate files (their contents are placeholders: these tests never
 * connect).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect } from 'vitest';
import type { ConnectionSettings } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors/classes.js';

export const BASE_URL = 'postgresql://app:pw@db.example.com:6543/appdb';

/** The ConfigError `fn` throws. */
export function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

export function expectConfigError(fn: () => unknown, setting: string, text: string): void {
  const error = configError(fn);
  expect(error.setting).toBe(setting);
  expect(error.message).toContain(`${setting}: `);
  expect(error.message).toContain(text);
}

/** The settings `BASE_URL` would give on port 5432, with `overrides`. */
export function settings(overrides: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    host: 'db.example.com',
    port: 5432,
    user: 'app',
    password: 'pw',
    database: 'appdb',
    schema: 'public',
    pgbouncer: false,
    connectTimeoutSeconds: undefined,
    ssl: { mode: 'disable' },
    applicationName: undefined,
    ...overrides,
  };
}

export interface ConfigFiles {
  /** The temporary directory, removed after the file's tests; it holds a subdirectory `a-directory`. */
  dir: string;
  CA: string;
  CERT: string;
  KEY: string;
}

/** Creates the directory and its files for a test file; call it at the top of the file. */
export function useConfigFiles(): ConfigFiles {
  const dir = mkdtempSync(join(tmpdir(), 'shared-db-config-'));
  const files = { dir, CA: join(dir, 'ca.pem'), CERT: join(dir, 'client.pem'), KEY: join(dir, 'client.key') };
  writeFileSync(files.CA, 'CA CERTIFICATE');
  writeFileSync(files.CERT, 'CLIENT CERTIFICATE');
  writeFileSync(files.KEY, 'CLIENT KEY');
  mkdirSync(join(dir, 'a-directory'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return files;
}
