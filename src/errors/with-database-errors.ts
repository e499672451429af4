/**
 * Runs one piece of database work and turns whatever the driver throws into the layer's error
 * hierarchy. The conversion happens here, right after the `await`, so V8's async stack trace still
 * holds the caller's frames, and `toDatabaseError` trims the library's own frames above them.
 */
import type { DatabaseError } from './classes.js';
import { toDatabaseError } from './to-database-error.js';

export async function withDatabaseErrors<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw toDatabaseError(error) satisfies DatabaseError;
  }
}
