/**
 * The next ReadyForQuery the server sends on a client, or the connection's end. After an error pg
 * reports the error first and the ReadyForQuery after it; the transaction status the layer checks next
 * is the one that message carries. Call it before that message can have been read: from pg's callback
 * for the error, or before the statement is sent (the two may arrive in one packet).
 */
import type { EventEmitter } from 'node:events';
import type pg from 'pg';

export function nextReadyForQuery(client: pg.ClientBase): Promise<void> {
  const connection = (client as unknown as { connection: EventEmitter }).connection;
  return new Promise((resolve) => {
    const done = () => {
      connection.off('readyForQuery', done);
      connection.off('end', done);
      resolve();
    };
    connection.on('readyForQuery', done);
    connection.on('end', done);
  });
}
