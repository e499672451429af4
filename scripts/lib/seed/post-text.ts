/**
 * A post's title and content: real words drawn by their real frequency (see vocabulary.ts). Titles are
 * headline-cased content words; content is sentences that also carry the stop words, as prose does.
 * The numbers here also feed the expected document frequencies of search-words.ts.
 */
import type { Random } from './random.js';
import { VOCABULARY } from './vocabulary.js';
import { WeightedChoice } from './weighted-choice.js';

export const TEXT_SHAPE = {
  titleWords: { min: 4, max: 8 },
  contentWords: { min: 30, max: 50 },
  sentenceWords: { min: 5, max: 12 },
  /** Share of posts without content (the column is nullable; search then sees the title only). */
  nullContent: 0.01,
} as const;

export const TITLE_WORDS = VOCABULARY.filter((entry) => !entry.stopWord).map((entry) => entry.word);
export const CONTENT_WORDS = VOCABULARY.map((entry) => entry.word);

export const titleChoice = new WeightedChoice(
  VOCABULARY.filter((entry) => !entry.stopWord).map((entry) => entry.count),
);
export const contentChoice = new WeightedChoice(VOCABULARY.map((entry) => entry.count));

const capitalize = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

export function postTitle(random: Random): string {
  const { min, max } = TEXT_SHAPE.titleWords;
  const length = random.between(min, max);
  const words: string[] = [];
  for (let i = 0; i < length; i += 1) words.push(capitalize(TITLE_WORDS[titleChoice.draw(random)] as string));
  return words.join(' ');
}

export function postContent(random: Random): string | null {
  if (random.chance(TEXT_SHAPE.nullContent)) return null;
  const length = random.between(TEXT_SHAPE.contentWords.min, TEXT_SHAPE.contentWords.max);
  const sentences: string[] = [];
  let written = 0;
  while (written < length) {
    const sentenceLength = Math.min(
      random.between(TEXT_SHAPE.sentenceWords.min, TEXT_SHAPE.sentenceWords.max),
      length - written,
    );
    const words: string[] = [];
    for (let i = 0; i < sentenceLength; i += 1)
      words.push(CONTENT_WORDS[contentChoice.draw(random)] as string);
    words[0] = capitalize(words[0] as string);
    sentences.push(`${words.join(' ')}.`);
    written += sentenceLength;
  }
  return sentences.join(' ');
}
