/**
 * A seeded post's `metadata` (jsonb): a category, tags and a reading time, e.g.
 * `{"category":"tutorial","tags":["programming","postgresql"],"readingMinutes":4}`. Categories and tags
 * follow Zipf's law, so a filter on the first ones matches many posts and on the last ones few.
 */
import type { Random } from './random.js';
import { WeightedChoice, zipfWeights } from './weighted-choice.js';

export const CATEGORIES = [
  'tutorial',
  'news',
  'opinion',
  'guide',
  'review',
  'announcement',
  'case-study',
  'interview',
] as const;

export const TAGS = [
  'programming',
  'javascript',
  'typescript',
  'databases',
  'postgresql',
  'web',
  'performance',
  'testing',
  'security',
  'devops',
  'cloud',
  'node',
  'react',
  'python',
  'api',
  'architecture',
  'career',
  'productivity',
  'open-source',
  'data',
  'design',
  'linux',
  'docker',
  'kubernetes',
  'ai',
  'tooling',
  'rust',
  'go',
  'mobile',
  'accessibility',
] as const;

export const METADATA_SHAPE = {
  /** Posts whose metadata is `{}` (the column's default). */
  empty: 0.03,
  /** How many tags a post has, with these weights for 1, 2, 3 and 4 tags. */
  tagCountWeights: [30, 35, 25, 10],
  readingMinutes: { min: 1, max: 20 },
} as const;

const categoryChoice = new WeightedChoice(zipfWeights(CATEGORIES.length));
const tagChoice = new WeightedChoice(zipfWeights(TAGS.length));
const tagCountChoice = new WeightedChoice(METADATA_SHAPE.tagCountWeights);

/** The metadata as JSON text. */
export function postMetadata(random: Random): string {
  if (random.chance(METADATA_SHAPE.empty)) return '{}';
  const category = CATEGORIES[categoryChoice.draw(random)];
  const tagCount = tagCountChoice.draw(random) + 1;
  const tags: string[] = [];
  while (tags.length < tagCount) {
    const tag = TAGS[tagChoice.draw(random)] as string;
    if (!tags.includes(tag)) tags.push(tag);
  }
  // Short reads are common, long ones rare: the product of two uniform draws leans to the low end.
  const { min, max } = METADATA_SHAPE.readingMinutes;
  const readingMinutes = min + Math.floor(random.float() * random.float() * (max - min + 1));
  return JSON.stringify({ category, tags, readingMinutes });
}
