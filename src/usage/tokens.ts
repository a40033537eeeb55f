import { cjkChars, estimateTextTokens } from './estimate.js';

/**
 * Token counts for text whose usage no upstream reported (a stream the client abandoned, a
 * provider that ignores include_usage), with OpenAI's public BPE tables where a model uses one.
 *
 * Nothing here may stall the event loop: a table (200k entries) is built in slices of a few
 * milliseconds between other work, on first need, and until it is ready counts are the cheap
 * estimate. Counting itself is bounded too: a merge costs O(n log n) in a word's length, and text
 * past a budget is extrapolated from what was counted.
 */

type EncodingName = 'o200k_base' | 'cl100k_base';

/** The published table format (`js-tiktoken/ranks/*`): `<tag> <first rank> <base64 token> …` lines. */
interface Ranks {
  readonly pat_str: string;
  readonly bpe_ranks: string;
}

/** OpenAI's public tokenizers, by model family. Other families publish none a library ships. */
function encodingFor(model: string): EncodingName | undefined {
  const m = model.slice(model.lastIndexOf('/') + 1).toLowerCase();
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o[1-9]|chatgpt-4o|gpt-oss)/.test(m)) return 'o200k_base';
  if (/^(gpt-4|gpt-3\.5|text-embedding-3|text-embedding-ada)/.test(m)) return 'cl100k_base';
  return undefined;
}

/**
 * What one count may tokenize: this many characters, and this many bytes of words that need
 * merging (a merge costs ~1 µs a byte; common words are one lookup). The rest of a longer text
 * is extrapolated from what was counted, and the count is then not exact.
 */
export const EXACT_CHARS = 256_000;
export const MERGE_BYTES = 32_768;
/** A word longer than what is left of the budget is counted from a window this long at most. */
const WINDOW = 4_096;
/** How long one slice of table building may hold the event loop. */
const SLICE_MS = 4;
const NON_ASCII = /[^\x00-\x7f]/;
/** Words up to this many bytes are merged by rescanning, longer ones with a heap. */
const SHORT = 16;

/**
 * Token → rank, in 64 maps rather than one: a Map rehashes all its entries when it grows, and
 * one of 200k entries would hold the event loop for tens of milliseconds doing so.
 */
class RankTable {
  private readonly shards = Array.from({ length: 64 }, () => new Map<string, number>());
  private shard(k: string): Map<string, number> {
    return this.shards[(k.charCodeAt(0) * 31 + k.charCodeAt(k.length - 1) + k.length) & 63]!;
  }
  get(k: string): number | undefined {
    return this.shard(k).get(k);
  }
  has(k: string): boolean {
    return this.shard(k).has(k);
  }
  set(k: string, rank: number): void {
    this.shard(k).set(k, rank);
  }
}

interface Counted {
  readonly tokens: number;
  /** Where counting stopped. */
  readonly end: number;
  readonly exact: boolean;
  /** CJK characters in text[0, end), and the tokens attributed to them. */
  readonly cjk: number;
  readonly cjkTokens: number;
}

/** Below this many characters of a kind counted, the rest is extrapolated at a default rate. */
const MIN_SAMPLE = 1_000;

/**
 * Tokens for text[c.end…] at the rates the counted part had, CJK and other characters apart (a
 * long prompt may turn from English to Chinese half-way); a kind too rare in the counted part
 * goes at the plain estimate's rate (one token a CJK character, one per four others).
 */
function extrapolate(text: string, c: Counted): number {
  const other = c.end - c.cjk;
  const cjkRate = c.cjk >= MIN_SAMPLE ? c.cjkTokens / c.cjk : 1;
  const otherRate = other >= MIN_SAMPLE ? (c.tokens - c.cjkTokens) / other : 0.25;
  const restCjk = cjkChars(text, c.end);
  return Math.ceil(restCjk * cjkRate + (text.length - c.end - restCjk) * otherRate);
}

/** A byte-pair encoder that only counts. Tokens are byte strings: one char per byte (latin1). */
class BpeCounter {
  constructor(
    private readonly pattern: RegExp,
    private readonly ranks: RankTable,
  ) {}

  /**
   * Tokens in `text` up to where the budget ran out: `end` is text.length when all of it was
   * counted, and `exact` false when a word had to be extrapolated from a window of it. The
   * CJK characters counted and their share of the tokens give a rate for extrapolating.
   */
  count(text: string): Counted {
    let n = 0;
    let cjk = 0;
    let cjkTokens = 0;
    let budget = MERGE_BYTES;
    const re = this.pattern;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      const s = m[0];
      let tokens: number;
      let last = false;
      // Special-token text (`<|endoftext|>`) counts as the plain text it is; it never throws.
      const wide = NON_ASCII.test(s);
      const piece = wide ? Buffer.from(s, 'utf8').toString('latin1') : s;
      if (piece.length === 1 || this.ranks.has(piece)) tokens = 1;
      else if (piece.length <= budget) {
        budget -= piece.length;
        tokens = this.merge(piece);
      } else {
        // Over budget: this word is counted from a window of it, and counting stops here.
        const w = Math.min(piece.length, Math.max(budget, WINDOW));
        tokens = w === piece.length ? this.merge(piece) : Math.ceil((this.merge(piece.slice(0, w)) * piece.length) / w);
        last = true;
      }
      n += tokens;
      if (wide) {
        const c = cjkChars(s, 0);
        cjk += c;
        cjkTokens += (tokens * c) / s.length;
      }
      if (last) return { tokens: n, end: re.lastIndex, exact: false, cjk, cjkTokens };
    }
    return { tokens: n, end: text.length, exact: true, cjk, cjkTokens };
  }

  /**
   * Byte-pair merging as tiktoken does it (always the lowest-ranked adjacent pair, leftmost
   * first), with a heap over pair ranks: O(n log n) for a piece of n bytes, where rescanning
   * every pair after every merge (js-tiktoken) is O(n²): minutes for a 20 KB run of one letter.
   */
  private merge(piece: string): number {
    return piece.length <= SHORT ? this.mergeShort(piece) : this.mergeLong(piece);
  }

  private readonly bounds = new Int32Array(SHORT + 1);

  /** A short word: rescanning its few pairs after each merge beats any bookkeeping. */
  private mergeShort(piece: string): number {
    const b = this.bounds;
    let n = piece.length + 1;
    for (let i = 0; i < n; i++) b[i] = i;
    while (n > 2) {
      let min = Infinity;
      let at = -1;
      for (let i = 0; i + 2 < n; i++) {
        const r = this.ranks.get(piece.slice(b[i]!, b[i + 2]!));
        if (r !== undefined && r < min) {
          min = r;
          at = i;
        }
      }
      if (at < 0) break;
      b.copyWithin(at + 1, at + 2, n);
      n--;
    }
    return n - 1;
  }

  private mergeLong(piece: string): number {
    const len = piece.length;
    const next = new Int32Array(len);
    const prev = new Int32Array(len);
    // Bumped when a part grows (and -1 once it is merged away): an entry that recorded an older
    // generation of either of its parts is stale.
    const gen = new Int32Array(len);
    for (let i = 0; i < len; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    const heap = new PairHeap(len);
    const push = (s: number) => {
      const r = next[s]!;
      if (r >= len) return;
      const rank = this.ranks.get(piece.slice(s, next[r]!));
      if (rank !== undefined) heap.push(rank, s, gen[s]!, gen[r]!);
    };
    for (let i = 0; i + 1 < len; i++) push(i);
    let parts = len;
    while (heap.size > 0) {
      const s = heap.start();
      const stale = heap.genLeft() !== gen[s]! || next[s]! >= len || heap.genRight() !== gen[next[s]!]!;
      heap.pop();
      if (stale) continue;
      const r = next[s]!;
      const end = next[r]!;
      gen[r] = -1;
      gen[s]!++;
      next[s] = end;
      if (end < len) prev[end] = s;
      parts--;
      if (prev[s]! >= 0) push(prev[s]!);
      push(s);
    }
    return parts;
  }
}

/**
 * A min-heap of pairs ordered by rank, then start (leftmost first), in typed arrays: a merge
 * pushes two entries, so a long piece makes millions of them. Each entry keeps the generations
 * of both its parts, to tell whether either has changed since.
 */
class PairHeap {
  private key: Float64Array;
  private gl: Int32Array;
  private gr: Int32Array;
  size = 0;
  constructor(capacity: number) {
    const n = Math.max(16, capacity);
    this.key = new Float64Array(n);
    this.gl = new Int32Array(n);
    this.gr = new Int32Array(n);
  }
  push(rank: number, start: number, genLeft: number, genRight: number): void {
    if (this.size === this.key.length) {
      const grow = <T extends Float64Array | Int32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      this.key = grow(this.key);
      this.gl = grow(this.gl);
      this.gr = grow(this.gr);
    }
    // rank < 2^20 and start < 2^32: one exact float orders by rank, then start.
    const k = rank * 4294967296 + start;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.key[p]! <= k) break;
      this.key[i] = this.key[p]!;
      this.gl[i] = this.gl[p]!;
      this.gr[i] = this.gr[p]!;
      i = p;
    }
    this.key[i] = k;
    this.gl[i] = genLeft;
    this.gr[i] = genRight;
  }
  start(): number {
    return this.key[0]! % 4294967296;
  }
  genLeft(): number {
    return this.gl[0]!;
  }
  genRight(): number {
    return this.gr[0]!;
  }
  pop(): void {
    const n = --this.size;
    if (n === 0) return;
    const k = this.key[n]!;
    const l0 = this.gl[n]!;
    const r0 = this.gr[n]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && this.key[c + 1]! < this.key[c]!) c++;
      if (this.key[c]! >= k) break;
      this.key[i] = this.key[c]!;
      this.gl[i] = this.gl[c]!;
      this.gr[i] = this.gr[c]!;
      i = c;
    }
    this.key[i] = k;
    this.gl[i] = l0;
    this.gr[i] = r0;
  }
}

const ready = new Map<EncodingName, BpeCounter>();
const loading = new Map<EncodingName, Promise<BpeCounter | undefined>>();

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

async function importRanks(name: EncodingName): Promise<Ranks> {
  // Separate modules per table: the package's main entry would compile all six of them.
  const mod = name === 'o200k_base' ? await import('js-tiktoken/ranks/o200k_base') : await import('js-tiktoken/ranks/cl100k_base');
  return mod.default;
}

/** Builds a table a slice at a time, yielding to the event loop between slices. */
async function build(name: EncodingName): Promise<BpeCounter> {
  const table = await importRanks(name);
  await yieldToLoop();
  const ranks = new RankTable();
  const text = table.bpe_ranks;
  let pos = 0;
  let rank = 0;
  let deadline = performance.now() + SLICE_MS;
  let n = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = text.length;
    // A line: a tag, the rank of its first token, then space-separated base64 tokens.
    const tagEnd = text.indexOf(' ', pos);
    const rankEnd = text.indexOf(' ', tagEnd + 1);
    if (tagEnd === -1 || tagEnd > eol || rankEnd === -1 || rankEnd > eol) {
      pos = eol + 1;
      continue;
    }
    rank = Number.parseInt(text.slice(tagEnd + 1, rankEnd), 10);
    pos = rankEnd + 1;
    while (pos < eol) {
      let end = text.indexOf(' ', pos);
      if (end === -1 || end > eol) end = eol;
      // atob gives exactly the byte string wanted, and is ~2.5x faster than a Buffer round trip.
      if (end > pos) ranks.set(atob(text.slice(pos, end)), rank++);
      pos = end + 1;
      if ((++n & 255) === 0 && performance.now() > deadline) {
        await yieldToLoop();
        deadline = performance.now() + SLICE_MS;
      }
    }
    pos = eol + 1;
  }
  return new BpeCounter(new RegExp(table.pat_str, 'gu'), ranks);
}

/**
 * Starts loading the tokenizer `model` counts with (if it has one and it is not loaded yet),
 * off the request path; resolves true once it is ready, false if the model has none or the
 * table could not be loaded (counts then stay estimates).
 */
export function loadTokenizer(model: string): Promise<boolean> {
  const enc = encodingFor(model);
  if (!enc) return Promise.resolve(false);
  if (ready.has(enc)) return Promise.resolve(true);
  let p = loading.get(enc);
  if (!p) {
    p = build(enc).then(
      (c) => (ready.set(enc, c), c),
      () => undefined,
    );
    loading.set(enc, p);
  }
  return p.then((c) => c !== undefined);
}

/**
 * Tokens in `text` for `model`: exact with the model's own tokenizer where one exists and is
 * loaded, else an honest estimate (and the tokenizer starts loading for next time). Never blocks
 * on a table load, and costs a few tens of milliseconds at most: text past the budget
 * (`EXACT_CHARS`, `MERGE_BYTES`) is extrapolated.
 */
export function countTokens(model: string, text: string): { tokens: number; exact: boolean } {
  if (text === '') return { tokens: 0, exact: true };
  const enc = encodingFor(model);
  const counter = enc && ready.get(enc);
  if (!counter) {
    if (enc && !loading.has(enc)) void loadTokenizer(model);
    return { tokens: estimateTextTokens(text), exact: false };
  }
  // Only the head of a long text is even scanned (one 30 MB "word" is one regex match).
  const head = text.length <= EXACT_CHARS ? text : text.slice(0, EXACT_CHARS - (/[\ud800-\udbff]/.test(text[EXACT_CHARS - 1]!) ? 1 : 0));
  const c = counter.count(head);
  if (c.end >= text.length) return { tokens: c.tokens, exact: c.exact };
  return { tokens: c.tokens + extrapolate(text, c), exact: false };
}
