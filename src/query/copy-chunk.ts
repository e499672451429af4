/**
 * How a bulk load cuts its rows into chunks: each chunk is drawn (validated, encoded), checked, copied
 * and forgotten, the next one drawn while it is copied, so memory holds two chunks whatever the input's
 * size. A chunk ends at a number of rows or at
 * a number of encoded characters (a user's posts and roles count toward it), whichever comes first. Its
 * lines travel in batches of some kilobytes: fewer, larger socket writes.
 */

export const CHUNK_ROWS = 10_000;
export const CHUNK_CHARS = 8 * 1024 * 1024;
const BATCH_CHARS = 64 * 1024;

/** Lines gathered into batches of about BATCH_CHARS characters. */
export class LineBatches {
  readonly batches: string[] = [];
  /** The lines of the batch being filled, joined once it is full: one string, not a rope of them. */
  #lines: string[] = [];
  #chars = 0;
  /** Lines added. */
  lines = 0;
  /** Characters added. */
  chars = 0;

  add(line: string): void {
    this.#lines.push(line);
    this.#chars += line.length;
    this.lines += 1;
    this.chars += line.length;
    if (this.#chars >= BATCH_CHARS) this.#flush();
  }

  /** Takes the batches filled so far (all of them when `all`), leaving the rest to come. */
  take(all: boolean): string[] {
    if (all) this.#flush();
    return this.batches.splice(0);
  }

  #flush(): void {
    if (this.#lines.length === 0) return;
    this.batches.push(this.#lines.join(''));
    this.#lines = [];
    this.#chars = 0;
  }
}

/** Whether a chunk of `rows` rows and `chars` characters is full. */
export const chunkIsFull = (rows: number, chars: number): boolean =>
  rows >= CHUNK_ROWS || chars >= CHUNK_CHARS;

/** Lets the socket's events run between slices of drawing that overlaps a COPY. */
const SLICE_ROWS = 256;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Call for every row drawn: every SLICE_ROWS rows it gives the event loop a turn, when `overlapping`. */
export function pace(rowsDrawn: number, overlapping: boolean): Promise<void> | undefined {
  return overlapping && rowsDrawn % SLICE_ROWS === 0 ? nextTurn() : undefined;
}

/**
 * Draws chunks with `draw` and sends each with `send`, drawing the next one while the last one is sent:
 * the rows' validation and encoding (here) overlap the server's work on the previous chunk (there), and
 * memory holds two chunks at most. `draw` is told whether it overlaps a send (then it should `pace`) and
 * gives undefined when the rows have run out. A failure of either waits for the other to settle, so the
 * connection is idle and the rows are no longer drawn when the caller hears of it.
 */
export async function sendInChunks<C>(
  draw: (overlapping: boolean) => Promise<C | undefined>,
  send: (chunk: C) => Promise<void>,
): Promise<void> {
  let chunk = await draw(false);
  while (chunk !== undefined) {
    const [sent, drawn] = await Promise.allSettled([send(chunk), draw(true)]);
    if (sent.status === 'rejected') throw sent.reason;
    if (drawn.status === 'rejected') throw drawn.reason;
    chunk = drawn.value;
  }
}
