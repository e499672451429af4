/** Why a seed refused to start; nothing was written. */
import { DatabaseError } from '../../../src/errors/classes.js';

export type SeedRefusal = 'not-migrated' | 'not-empty';

export class SeedRefusedError extends DatabaseError {
  readonly reason: SeedRefusal;

  constructor(reason: SeedRefusal, message: string) {
    super(message);
    this.reason = reason;
  }
}
