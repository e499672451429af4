/**
 * A migration run as spans: `migrate up` (or `down`) around the run, a `migration <name>` span per
 * migration under it (node-pg-migrate announces each before running it; its span ends when the next is
 * announced or the run ends), and a span per statement of the run's connection under whichever is
 * current. node-pg-migrate sends its statements on the client it is given, so the client's `query` is
 * wrapped for the run.
 */
import { context, type Span, trace } from '@opentelemetry/api';
import type pg from 'pg';
import type { ConnectionSettings } from '../config/settings.js';
import { recordFailure } from '../telemetry/error-attributes.js';
import type { StatementTarget } from '../telemetry/statement-record.js';
import type { Telemetry } from '../telemetry/telemetry.js';

type Query = (...args: unknown[]) => unknown;

export class MigrationTrace {
  readonly #telemetry: Telemetry;
  readonly #target: StatementTarget;
  readonly #run: Span | undefined;
  #migration: Span | undefined;

  constructor(telemetry: Telemetry, connection: ConnectionSettings, direction: 'up' | 'down') {
    this.#telemetry = telemetry;
    this.#target = telemetry.target('primary', connection, false);
    this.#run = telemetry.startSpan(`migrate ${direction}`, { 'shared_db.migration.direction': direction });
  }

  /** node-pg-migrate is about to run the migration `name`. */
  announce(name: string): void {
    this.#migration?.end();
    this.#migration = undefined;
    if (this.#run === undefined) return;
    const parent = trace.setSpan(context.active(), this.#run);
    this.#migration = this.#telemetry.startSpan(
      `migration ${name}`,
      { 'shared_db.migration.name': name },
      parent,
    );
  }

  /** Every statement sent on `client` from now on is a span under the current migration (or the run). */
  traceClient(client: pg.Client): void {
    if (this.#run === undefined) return;
    const original = client.query.bind(client) as Query;
    const traced: Query = (...args) => {
      const first = args[0] as string | { text?: unknown } | undefined;
      const text = typeof first === 'string' ? first : first?.text;
      // The callback form and submittables (cursors) are not node-pg-migrate's: sent as they are.
      if (typeof text !== 'string' || typeof args[args.length - 1] === 'function') return original(...args);
      const parent = trace.setSpan(context.active(), this.#migration ?? (this.#run as Span));
      return context.with(parent, async () => {
        const record = this.#telemetry.startStatement(this.#target, text, [], false, 0);
        try {
          const result = (await original(...args)) as pg.QueryResult | undefined;
          record?.end(Array.isArray(result?.rows) ? result.rows.length : undefined);
          return result;
        } catch (error) {
          record?.end(undefined, error);
          throw error;
        }
      });
    };
    (client as unknown as { query: Query }).query = traced;
  }

  /** The run ended: with `error`, the current migration and the run fail with it. */
  finish(error?: unknown): void {
    if (error !== undefined) {
      if (this.#migration) recordFailure(this.#migration, error);
      if (this.#run) recordFailure(this.#run, error);
    }
    this.#migration?.end();
    this.#migration = undefined;
    this.#run?.end();
  }
}
