/**
 * Words for the keyword index, in Chinese and English alike. Chinese has no spaces, so a
 * full-text engine's own tokenizer sees a whole clause as one token (or every character as one)
 * and finds nothing for a two-character word inside longer text; jieba (dictionary + HMM, its
 * dictionary shipped in the package) cuts it into words first. Search mode also yields the short
 * words inside a long one (长江流域 → 长江, 流域, 长江流域), so a query for the short word finds the
 * long one. Text and queries go through the same function, so they meet on the same words.
 */
import { Jieba } from '@node-rs/jieba';
import { dict } from '@node-rs/jieba/dict.js';

let jieba: Jieba | undefined;

/** Loaded on first use: the dictionary takes a moment and most hubs never search. */
function cutter(): Jieba {
  jieba ??= Jieba.withDict(dict);
  return jieba;
}

/**
 * Words too common to tell passages apart, in both languages. BM25's idf would weigh them down
 * anyway; dropping them keeps the index and the query's OR smaller.
 */
const STOP = new Set(
  (
    'a an and are as at be but by for from has have if in into is it its of on or that the their there these this to was were will with ' +
    '的 了 是 在 和 与 及 或 也 就 都 而 并 这 那 之 其 被 把 对 从 以 于 将 等 中 上 下 个 吗 呢 吧 啊'
  ).split(' '),
);

/** A word worth indexing: holds a letter or a digit (not punctuation or space), and is not a stop word. */
const WORDY = /[\p{L}\p{N}]/u;

/**
 * The words of `text`, lowercased and width-normalised (ＡＢＣ → abc), in order, repeats kept
 * (term frequency matters to BM25). Synchronous and CPU-bound: ingestion calls it off the main
 * thread; a query's few words are cheap.
 */
export function segment(text: string): string[] {
  const out: string[] = [];
  for (const raw of cutter().cutForSearch(text.normalize('NFKC').toLowerCase(), true)) {
    const w = raw.trim();
    if (w && WORDY.test(w) && !STOP.has(w)) out.push(w);
  }
  return out;
}

/** The index's form of a text: its words joined by single spaces (ChunkInput.terms). */
export function indexTerms(text: string): string {
  return segment(text).join(' ');
}

/** A query's distinct words, in order of first appearance. */
export function queryTerms(query: string): string[] {
  return [...new Set(segment(query))];
}
