/**
 * The layer's repositories over one `pg` client the seed holds (its own, or the caller's): the seed's
 * transaction, its checks and its load all run on that one session, so its locks cover the load and a
 * session that dies takes everything with it. The client is the layer's connection for that time
 * (query instrumentation and transaction-state checks included), never released to a pool.
 */
import { Kysely } from 'kysely';
import type pg from 'pg';
import type { DB } from '../../../db-types/index.js';
import type { Logger } from '../../../src/logging/logger.js';
import { LayerDialect } from '../../../src/pool/layer-driver.js';
import { PooledConnection } from '../../../src/pool/pooled-connection.js';
import { NO_TELEMETRY } from '../../../src/telemetry/telemetry.js';

const quiet: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };

/** The caller's client stays the caller's: nothing to give back. */
class HeldConnection extends PooledConnection {
  override release(): void {}
}

/** A query builder whose every statement runs on `client`, with tables in `schema`. */
export function kyselyOverClient(client: pg.ClientBase, schema: string): Kysely<DB> {
  const connection = new HeldConnection(client as pg.PoolClient, {
    report: () => {},
    logger: quiet,
    statements: undefined,
    checkParameters: () => {},
    server: 'primary',
    telemetry: NO_TELEMETRY,
    target: NO_TELEMETRY.target('primary', { host: '', port: 0, database: '', schema } as never, false),
  });
  connection.checkedOut(0);
  const dialect = new LayerDialect(
    async () => connection,
    async () => {},
  );
  return new Kysely<DB>({ dialect }).withSchema(schema);
}
