/**
 * Sentence boundaries in Chinese and English text, for chunking. The pieces concatenate back to
 * the input exactly: each keeps its terminator, closing quotes and the white space after it.
 *
 * Chinese ends a sentence at 。！？；… whatever follows (no space is written after them). English
 * ends one at . ! ? followed by white space, unless the word before is an abbreviation (e.g.,
 * i.e., Dr.) or an initial, or the next word starts lowercase ("e.g. this"); a period inside a
 * number (3.14) or a name (Node.js) has no space after it and never ends anything. A line break
 * ends a piece too (list items, table rows, wrapped PDF lines already joined are one line).
 */
const CANDIDATE = /[。！？；…]+[”’」』）》)\]"']*\s*|[!?]+[”’」』）》)\]"']*\s*|\.[”’」』）》)\]"']*\s*|\n/g;
const ABBREVIATIONS = new Set([
  'e.g', 'i.e', 'etc', 'vs', 'cf', 'al', 'mr', 'mrs', 'ms', 'dr', 'prof', 'st', 'no', 'fig', 'approx', 'inc', 'ltd', 'jr', 'sr', 'co', 'corp', 'dept', 'est', 'u.s',
]);
const CJK = /[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f]/;

export function splitSentences(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (const m of text.matchAll(CANDIDATE)) {
    const end = m.index + m[0].length;
    if (!isBoundary(text, m.index, m[0], end)) continue;
    out.push(text.slice(start, end));
    start = end;
  }
  if (start < text.length) out.push(text.slice(start));
  return out;
}

function isBoundary(text: string, at: number, match: string, end: number): boolean {
  const c = match[0]!;
  if (c === '\n' || /[。！？；…]/.test(c)) return true;
  const next = text[end];
  const spaced = /\s/.test(match) || end >= text.length;
  if (c === '!' || c === '?') return spaced || (next !== undefined && CJK.test(next));
  // A period.
  if (!spaced) return false;
  if (next !== undefined && /\p{Ll}/u.test(next)) return false;
  const word = /([\p{L}\p{N}.]+)$/u.exec(text.slice(Math.max(0, at - 12), at))?.[1]?.toLowerCase() ?? '';
  if (ABBREVIATIONS.has(word)) return false;
  // An initial ("J. Smith"), but not a one-letter word that ends a Chinese-English sentence.
  if (/^\p{Lu}$/u.test(text.slice(at - 1, at)) && !/[\p{L}\p{N}]/u.test(text[at - 2] ?? ' ')) return false;
  return true;
}
