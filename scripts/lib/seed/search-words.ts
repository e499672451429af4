/**
 * Words to search the seeded posts for, with the share of posts each one matches: "a word in about
 * 2.5 % of the posts", for benchmarks and tests. The shares are computed, not measured: from each word's
 * probability in titles and content and the length of both (post-text.ts). Full-text search matches
 * lexemes, not words: `to_tsvector('english', …)` stems "runs" and "running" to "run", so a word's share
 * is that of all the vocabulary words with its stem. The stems come from wink-porter2-stemmer, the same
 * Porter2 (Snowball English) algorithm PostgreSQL's `english` configuration uses.
 *
 * The share is of all posts, whatever the seed; published, deleted or not is drawn independently of
 * the words, so it holds for those subsets too. Sampling noise is ±2·√(share·(1−share)/posts).
 */
import stem from 'wink-porter2-stemmer';
import { ValidationError } from '../../../src/errors/classes.js';
import { CONTENT_WORDS, contentChoice, TEXT_SHAPE, TITLE_WORDS, titleChoice } from './post-text.js';

export interface SearchWord {
  word: string;
  /** The lexeme PostgreSQL indexes the word as (its stem). */
  lexeme: string;
  /** Expected share of posts that contain the lexeme, in [0, 1]. */
  documentFraction: number;
}

/** The probability that none of `draws` independent draws, each `p`, hits, averaged over a uniform length. */
function missesAll(p: number, lengths: { min: number; max: number }): number {
  let sum = 0;
  for (let length = lengths.min; length <= lengths.max; length += 1) sum += (1 - p) ** length;
  return sum / (lengths.max - lengths.min + 1);
}

function lexemeProbabilities(words: readonly string[], choice: { probability(index: number): number }) {
  const byLexeme = new Map<string, number>();
  words.forEach((word, index) => {
    const lexeme = stem(word);
    byLexeme.set(lexeme, (byLexeme.get(lexeme) ?? 0) + choice.probability(index));
  });
  return byLexeme;
}

function buildSearchWords(): SearchWord[] {
  const inTitles = lexemeProbabilities(TITLE_WORDS, titleChoice);
  const inContent = lexemeProbabilities(CONTENT_WORDS, contentChoice);
  const { nullContent } = TEXT_SHAPE;
  const seen = new Set<string>();
  const words: SearchWord[] = [];
  // Titles hold no stop words, so TITLE_WORDS is exactly the searchable words, most frequent first.
  for (const word of TITLE_WORDS) {
    const lexeme = stem(word);
    // One word per lexeme: the most frequent one, as a user would type it.
    if (seen.has(lexeme)) continue;
    seen.add(lexeme);
    const absentFromTitle = missesAll(inTitles.get(lexeme) ?? 0, TEXT_SHAPE.titleWords);
    const absentFromContent =
      nullContent + (1 - nullContent) * missesAll(inContent.get(lexeme) ?? 0, TEXT_SHAPE.contentWords);
    words.push({ word, lexeme, documentFraction: 1 - absentFromTitle * absentFromContent });
  }
  return words.sort((a, b) => b.documentFraction - a.documentFraction || (a.word < b.word ? -1 : 1));
}

let cached: readonly SearchWord[] | undefined;

/** Every searchable word of the seeded posts (one per lexeme), the most frequent first. */
export function searchWords(): readonly SearchWord[] {
  cached ??= Object.freeze(buildSearchWords());
  return cached;
}

/**
 * The word whose expected share of posts is nearest `targetFraction` (0 < targetFraction < 1), compared
 * on a log scale, so 2.5 % is as near 2 % as 3.125 %. The same answer every time.
 */
export function wordWithFrequency(targetFraction: number): SearchWord {
  if (!(targetFraction > 0 && targetFraction < 1)) {
    throw new ValidationError([
      { field: 'targetFraction', message: `must be between 0 and 1, got ${targetFraction}` },
    ]);
  }
  let best: SearchWord | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of searchWords()) {
    const distance = Math.abs(Math.log(candidate.documentFraction / targetFraction));
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best as SearchWord;
}
