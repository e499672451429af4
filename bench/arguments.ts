/** What `npm run bench` and `npm run bench:scale` both read from the command line, and how. */
import { type ParseArgsConfig, parseArgs } from 'node:util';

/** The options both commands take, with their defaults. */
export const sharedOptions = {
  'posts-per-user': { type: 'string', default: '20' },
  seed: { type: 'string', default: '1' },
  concurrency: { type: 'string', default: '1,10' },
  rounds: { type: 'string', default: '5' },
  'slice-ms': { type: 'string', default: '1000' },
  'warmup-ms': { type: 'string', default: '3000' },
  only: { type: 'string' },
  'no-pin': { type: 'boolean', default: false },
  url: { type: 'string' },
} as const;

/** Exits with the usage: the arguments cannot be run. */
export function refuse(message: string, usage: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

/** Parses `process.argv` against `options`; an unknown or malformed argument exits with the usage. */
export function parseOrRefuse<T extends ParseArgsConfig>(config: T, usage: string) {
  try {
    return parseArgs(config);
  } catch (error) {
    return refuse((error as Error).message, usage);
  }
}

/** `text` as a positive whole number, for the option `--name`. */
export function positive(name: string, text: string, usage: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    refuse(`--${name}: "${text}" is not a positive whole number`, usage);
  return value;
}

/** The shared options as parsed. */
interface SharedValues {
  'posts-per-user': string;
  seed: string;
  concurrency: string;
  rounds: string;
  'slice-ms': string;
  'warmup-ms': string;
  only?: string;
  'no-pin': boolean;
  url?: string;
}

/** What the shared options say: the data's seed, the measurement's shape, pinning and the server. */
export function sharedSettings(values: SharedValues, usage: string) {
  return {
    postsPerUser: positive('posts-per-user', values['posts-per-user'], usage),
    seed: positive('seed', values.seed, usage),
    concurrencies: values.concurrency.split(',').map((part) => positive('concurrency', part.trim(), usage)),
    rounds: positive('rounds', values.rounds, usage),
    sliceMs: positive('slice-ms', values['slice-ms'], usage),
    warmupMs: positive('warmup-ms', values['warmup-ms'], usage),
    only: values.only,
    pin: !values['no-pin'],
    url: values.url,
  };
}
