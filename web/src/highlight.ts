/**
 * Which parts of a search result to highlight for a query. Deliberately simple, and done in the
 * browser without the hub's tokenizer:
 * - the query is split on spaces, punctuation and symbols;
 * - a word in a spaced script (Latin, Cyrillic, digits…) is marked where it starts a word in the
 *   text, case-insensitively ("river" marks "River" and "rivers", not "driver");
 * - a run of CJK characters is marked wherever the text holds two or more of its characters in a
 *   row, in the query's order (a one-character run marks that character): "长江流域" marks "长江"
 *   and "流域" inside longer text, as a reader would expect of a word-less script.
 * No stemming, no synonyms: what the ranker matched may differ (it segments Chinese into words).
 */

export interface Segment {
  text: string;
  hit: boolean;
}

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;
const CJK_RUNS = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]+/gu;
const SEPARATORS = /[\s\p{P}\p{S}]+/u;
const WORD_CHAR = /[\p{L}\p{N}]/u;

export interface QueryTerms {
  /** Words of spaced scripts, as written. */
  words: string[];
  /** Runs of CJK characters. */
  runs: string[];
}

export function queryTerms(query: string): QueryTerms {
  const words = new Set<string>();
  const runs = new Set<string>();
  for (const part of query.split(SEPARATORS)) {
    if (!part) continue;
    for (const run of part.match(CJK_RUNS) ?? []) runs.add(run);
    for (const w of part.split(CJK_RUNS)) if (w) words.add(w);
  }
  return { words: [...words], runs: [...runs] };
}

/** Splits `text` into marked and unmarked segments for `query` (adjacent marks merged). */
export function highlight(text: string, query: string): Segment[] {
  const { words, runs } = queryTerms(query);
  const chars = Array.from(text);
  // Case is folded a character at a time: lower-casing a whole string can change its length ('İ').
  const fold = (c: string) => c.toLowerCase();
  const folded = chars.map(fold);
  const marked = new Array<boolean>(chars.length).fill(false);

  for (const w of words) {
    const wc = Array.from(w).map(fold);
    for (let i = 0; i + wc.length <= folded.length; i++) {
      if (i > 0 && WORD_CHAR.test(folded[i - 1]!)) continue;
      if (wc.every((c, j) => folded[i + j] === c)) for (let j = 0; j < wc.length; j++) marked[i + j] = true;
    }
  }

  for (const run of runs) {
    const rc = Array.from(run);
    const min = rc.length === 1 ? 1 : 2;
    for (let i = 0; i < chars.length; ) {
      if (!CJK.test(chars[i]!)) {
        i++;
        continue;
      }
      // The longest piece of the run that starts here.
      let best = 0;
      for (let len = Math.min(rc.length, chars.length - i); len >= min && best === 0; len--) {
        if (run.includes(chars.slice(i, i + len).join(''))) best = len;
      }
      if (best === 0) {
        i++;
        continue;
      }
      for (let j = 0; j < best; j++) marked[i + j] = true;
      i += best;
    }
  }

  const out: Segment[] = [];
  chars.forEach((c, i) => {
    const last = out.at(-1);
    if (last && last.hit === marked[i]) last.text += c;
    else out.push({ text: c, hit: marked[i]! });
  });
  return out;
}
