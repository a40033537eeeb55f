/**
 * Scoring, independent of chunking: a retrieved chunk is relevant to a judged quote when it comes
 * from the quote's file and holds the quote, or most of it (a chunk boundary may cut a quote: the
 * chunk then holds its start or its end). Recall@5 counts the quotes covered by the top five;
 * MRR@10 is the reciprocal rank of the first relevant chunk in the top ten.
 */
import { KINDS, LANGS, quoteName } from './dataset.js';
import type { Kind, Lang, Query, Quote } from './dataset.js';

/** One search result: the file it came from (its name, as vector stores report `filename`) and its text. */
export interface Hit {
  readonly name: string;
  readonly text: string;
}

/** Share of a quote a chunk must hold, at its start or end, to count when cut by a boundary. */
export const MOST = 0.6;

const squash = (s: string) => s.replace(/\s+/g, ' ').trim();

export function holdsQuote(chunk: string, quote: string): boolean {
  const c = squash(chunk);
  const q = [...squash(quote)];
  if (c.includes(q.join(''))) return true;
  for (let k = q.length - 1; k >= Math.ceil(q.length * MOST); k--) {
    if (c.includes(q.slice(0, k).join('')) || c.includes(q.slice(q.length - k).join(''))) return true;
  }
  return false;
}

export function relevant(hit: Hit, quote: Quote): boolean {
  return hit.name === quoteName(quote) && holdsQuote(hit.text, quote.quote);
}

export interface QueryScore {
  readonly recall5: number;
  readonly rr10: number;
}

export function scoreQuery(q: Query, ranked: readonly Hit[]): QueryScore {
  const top5 = ranked.slice(0, 5);
  const found = q.relevant.filter((quote) => top5.some((h) => relevant(h, quote))).length;
  const first = ranked.slice(0, 10).findIndex((h) => q.relevant.some((quote) => relevant(h, quote)));
  return { recall5: found / q.relevant.length, rr10: first < 0 ? 0 : 1 / (first + 1) };
}

/** Mean scores over a set of queries; undefined when the set is empty. */
export interface Summary {
  readonly n: number;
  readonly recall5: number;
  readonly mrr10: number;
}

export type Group = 'all' | Lang | Kind;
export const GROUPS: readonly Group[] = ['all', ...LANGS, ...KINDS];

export function summarise(queries: readonly Query[], scores: ReadonlyMap<string, QueryScore>): Record<Group, Summary> {
  const out = {} as Record<Group, Summary>;
  for (const g of GROUPS) {
    const qs = queries.filter((q) => g === 'all' || q.lang === g || q.kind === g);
    const s = qs.map((q) => scores.get(q.id) ?? { recall5: 0, rr10: 0 });
    const mean = (f: (x: QueryScore) => number) => (s.length ? s.reduce((a, x) => a + f(x), 0) / s.length : 0);
    out[g] = { n: qs.length, recall5: mean((x) => x.recall5), mrr10: mean((x) => x.rr10) };
  }
  return out;
}
