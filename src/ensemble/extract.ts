/**
 * Reading a sample's final answer for a vote. Each extractor returns a canonical string (equal
 * answers give equal strings) or undefined when the sample has no answer of that shape, which
 * makes it an invalid vote.
 */
import type { VoteExtract } from './config.js';

/** Numbers as written: optional sign, thousands separators, decimals, a leading-dot decimal. */
const NUMBER = /[-−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-−]?\.\d+/g;

/**
 * The last number in the text (a `\boxed{…}` answer wins over the text around it). Canonical
 * form: the JavaScript number, so `1,000`, `1000.0` and `1000` agree.
 */
export function lastNumber(text: string): string | undefined {
  const boxed = [...text.matchAll(/\\boxed\{([^{}]*)\}/g)].pop()?.[1];
  for (const source of boxed !== undefined ? [boxed, text] : [text]) {
    const m = [...source.matchAll(NUMBER)].pop()?.[0];
    if (m === undefined) continue;
    const n = Number(m.replace(/,/g, '').replace('−', '-'));
    if (Number.isFinite(n)) return String(n === 0 ? 0 : n);
  }
  return undefined;
}

/**
 * A multiple-choice letter A–J, found by the first rule that matches (the last match of it):
 * 1. `answer is (B)`, `Answer: B`, `final answer: **B**`;
 * 2. a line that is only the letter, optionally in parentheses or followed by `.`/`)`/`:`;
 * 3. a parenthesised letter `(B)`.
 * No rule looks for a bare capital inside prose (too many false hits, e.g. "I think").
 */
export function choiceLetter(text: string): string | undefined {
  const clean = text.replace(/[*_`]/g, '');
  const rules = [
    /\b[Aa]nswer(?:\s+is)?\s*[:：]?\s*\(?([A-J])\)?(?![A-Za-z])/g,
    /^\s*\(?([A-J])(?:[).:]|\))?\s*$/gm,
    /\(([A-J])\)/g,
  ];
  for (const rule of rules) {
    const m = [...clean.matchAll(rule)].pop()?.[1];
    if (m !== undefined) return m;
  }
  return undefined;
}

/** JSON with object keys sorted, so key order does not split votes. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** The JSON value in a text: the whole text, else a fenced ```json block, else the outermost {…}. */
export function findJson(text: string): unknown {
  const candidates = [text.trim()];
  const fence = /```(?:json)?\s*\n([\s\S]*?)\n?```/i.exec(text);
  if (fence?.[1] !== undefined) candidates.push(fence[1].trim());
  const open = text.indexOf('{');
  const close = text.lastIndexOf('}');
  if (open >= 0 && close > open) candidates.push(text.slice(open, close + 1));
  for (const c of candidates) {
    try {
      return JSON.parse(c) as unknown;
    } catch {
      // next candidate
    }
  }
  return undefined;
}

/** A field of the answer's JSON by a dotted path (`a.b.0.c`); canonical JSON of its value. */
export function jsonField(text: string, path: string): string | undefined {
  let v: unknown = findJson(text);
  if (v === undefined) return undefined;
  for (const key of path.split('.')) {
    if (v === null || typeof v !== 'object' || !Object.hasOwn(v, key)) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v === undefined ? undefined : canonicalJson(v);
}

/**
 * Text compared loosely: Unicode NFKC, lower case, markdown emphasis and surrounding quotes
 * removed, whitespace collapsed, trailing punctuation dropped.
 */
export function normalizedText(text: string): string | undefined {
  const s = text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[*_`]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^["'“”‘’]+|["'“”‘’]+$/g, '')
    .replace(/[\s.!?。！？,，;；:：]+$/u, '')
    .trim();
  return s === '' ? undefined : s;
}

export function extractAnswer(text: string, how: VoteExtract): string | undefined {
  if (typeof how === 'object') return jsonField(text, how.json_field);
  switch (how) {
    case 'last_number':
      return lastNumber(text);
    case 'choice_letter':
      return choiceLetter(text);
    case 'normalized_text':
      return normalizedText(text);
  }
}

export interface Tally {
  /** The winning answer, undefined when no sample had a valid answer. */
  readonly winner: string | undefined;
  /** Index (in sample order) of the first sample that gave the winner. */
  readonly winnerIndex: number | undefined;
  readonly votes: number;
  readonly valid: number;
  /** Answer → votes, in order of first appearance. */
  readonly counts: ReadonlyMap<string, number>;
}

/**
 * Majority vote over answers given in sample order (undefined = invalid vote). Tie-break: among
 * answers with the most votes, the one that first appeared earliest in sample order (sample i is
 * the i-th sample, spread round-robin over the models in config order) — so it does not depend on
 * which call finished first.
 */
export function tally(answers: readonly (string | undefined)[]): Tally {
  const counts = new Map<string, number>();
  const first = new Map<string, number>();
  answers.forEach((a, i) => {
    if (a === undefined) return;
    counts.set(a, (counts.get(a) ?? 0) + 1);
    if (!first.has(a)) first.set(a, i);
  });
  let winner: string | undefined;
  let votes = 0;
  for (const [a, n] of counts) {
    // Map order is first-appearance order, so a strict `>` keeps the earliest on ties.
    if (n > votes) {
      winner = a;
      votes = n;
    }
  }
  const valid = [...counts.values()].reduce((s, n) => s + n, 0);
  return { winner, winnerIndex: winner === undefined ? undefined : first.get(winner), votes, valid, counts };
}
