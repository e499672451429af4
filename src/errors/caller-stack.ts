/**
 * Stack traces that start at the caller's line (postgres.js does the same): the frames of this
 * package's src/, of kysely and pg, and of Node's internals are dropped. V8 records the awaiting
 * callers as `at async` frames, so an error made right after an `await` still names them.
 */
import { dirname, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The package's src/ (this file is in src/errors/). */
const SOURCE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
const SOURCE_PREFIXES = [SOURCE_DIR + sep, `${pathToFileURL(SOURCE_DIR).href}/`];
const LIBRARY_FRAME = /[\\/]node_modules[\\/](?:kysely|pg|pg-pool|pg-protocol|pg-cursor)[\\/]/;
/** Library frames would use up V8's default of ten before the caller's: capture this many more. */
const ROOM_FOR_LIBRARY_FRAMES = 20;

/** Where a stack line's frame runs: `at f (/a/b.ts:1:2)` and `at /a/b.ts:1:2` → `/a/b.ts:1:2`. */
function frameLocation(line: string): string {
  const inParens = /\(([^()]*)\)$/.exec(line);
  return inParens?.[1] ?? line.replace(/^\s*at (?:async )?/, '');
}

function isLibraryFrame(location: string): boolean {
  return (
    location.startsWith('node:internal') ||
    LIBRARY_FRAME.test(location) ||
    SOURCE_PREFIXES.some((prefix) => location.startsWith(prefix))
  );
}

/** Runs `capture` (which records a stack) with room for the library's frames and the caller's. */
export function withRoomForCaller<T>(capture: () => T): T {
  const limit = Error.stackTraceLimit;
  if (typeof limit === 'number') Error.stackTraceLimit = limit + ROOM_FOR_LIBRARY_FRAMES;
  try {
    return capture();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

/** `stack` from the first frame outside the library on, cut back to the usual number of frames. */
export function stackFromCaller(stack: string | undefined): string | undefined {
  if (stack === undefined) return stack;
  const lines = stack.split('\n');
  const firstFrame = lines.findIndex((line) => /^\s+at /.test(line));
  if (firstFrame === -1) return stack;
  const frames = lines.slice(firstFrame);
  const outside = frames.filter((line) => !isLibraryFrame(frameLocation(line)));
  // Leading frames with no file (`at new Promise (<anonymous>)`) say nothing about the caller.
  const start = outside.findIndex((line) => /:\d+:\d+$/.test(frameLocation(line)));
  const kept = start === -1 ? frames : outside.slice(start);
  const limit = typeof Error.stackTraceLimit === 'number' ? Error.stackTraceLimit : kept.length;
  return [...lines.slice(0, firstFrame), ...kept.slice(0, limit)].join('\n');
}
