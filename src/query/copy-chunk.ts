/**
 * How a bulk load cuts its rows into chunks: each chunk is checked, copied and forgotten before the next
 * is drawn, so memory holds one chunk whatever the input's size. A chunk ends at a number of rows or at
 * a number of encoded characters (a user's posts and roles count toward it), whichever comes first. Its
 * lines travel in batches of some kilobytes: fewer, larger socket writes.
 */

export const CHUNK_ROWS = 10_000;
export const CHUNK_CHARS = 8 * 1024 * 1024;
const BATCH_CHARS = 64 * 1024;

/** Lines gathered into batches of about BATCH_CHARS characters. */
export class LineBatches {
  readonly batches: string[] = [];
  #batch = '';
  /** Lines added. */
  lines = 0;
  /** Characters added. */
  chars = 0;

  add(line: string): void {
    this.#batch += line;
    this.lines += 1;
    this.chars += line.length;
    if (this.#batch.length >= BATCH_CHARS) this.#flush();
  }

  /** Takes the batches filled so far (all of them when `all`), leaving the rest to come. */
  take(all: boolean): string[] {
    if (all) this.#flush();
    return this.batches.splice(0);
  }

  #flush(): void {
    if (this.#batch === '') return;
    this.batches.push(this.#batch);
    this.#batch = '';
  }
}

/** Whether a chunk of `rows` rows and `chars` characters is full. */
export const chunkIsFull = (rows: number, chars: number): boolean =>
  rows >= CHUNK_ROWS || chars >= CHUNK_CHARS;
