import type { Block, ExtractedDoc } from './doc.js';
import { splitSentences } from './sentences.js';

/** One chunk before it is stored: its text, its contextual header, its size. */
export interface DraftChunk {
  /** Position within the file, from 0. */
  readonly seq: number;
  /** The chunk's text (without the header). */
  readonly text: string;
  /** "title › section › subsection": what the chunk sits under. */
  readonly header: string;
  /** count(text). */
  readonly tokens: number;
}

export interface ChunkOptions {
  readonly maxTokens: number;
  readonly overlapTokens: number;
  /**
   * Whether the caller prepends the header to the text it indexes and embeds. Chunking returns
   * both either way; the flag travels with the options so that prepareFile can act on it.
   */
  readonly contextualHeaders: boolean;
}

/** OpenAI's static chunking defaults (vector store files' `chunking_strategy`). */
export const DEFAULT_CHUNKING = { maxTokens: 800, overlapTokens: 400 } as const;

/**
 * OpenAI's limits on a static chunking strategy: `max_chunk_size_tokens` an integer from 100 to
 * 4096, `chunk_overlap_tokens` a non-negative integer at most half of it. A one-line reason, or
 * undefined when the sizes are acceptable.
 */
export function chunkingError(o: { maxTokens: unknown; overlapTokens: unknown }): string | undefined {
  const max = o.maxTokens;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 100 || max > 4096)
    return 'max_chunk_size_tokens must be an integer from 100 to 4096';
  const overlap = o.overlapTokens;
  if (typeof overlap !== 'number' || !Number.isInteger(overlap) || overlap < 0)
    return 'chunk_overlap_tokens must be a non-negative integer';
  if (overlap > max / 2) return `chunk_overlap_tokens must not exceed half of max_chunk_size_tokens (${Math.floor(max / 2)})`;
  return undefined;
}

/** The smallest piece chunking moves: a sentence, a line of code or a table row, or a heading line. */
interface Unit {
  readonly text: string;
  readonly tokens: number;
  /** What goes between this unit and the one before it in the same chunk. */
  readonly sep: string;
  /** The heading path of its block (the title's own heading left out). */
  readonly path: readonly string[];
  /** A line naming the subsection that starts here (within a top-level section). */
  readonly heading: boolean;
}

const SEPARATOR = '›';

/**
 * Cuts a document into chunks of at most `maxTokens` (by `count`), following its structure: a
 * chunk never spans two top-level sections (each section starts a new chunk); within a section,
 * blocks are packed whole where they fit and split at sentences where they do not (lines for
 * code and tables), and a sentence longer than a chunk is cut by tokens as a last resort. Each
 * chunk after the first in a section starts with the previous chunk's last sentences, up to
 * `overlapTokens`. Subsection headings inside a chunk appear as a line of their own; the chunk's
 * header names the title and the headings all its text sits under.
 */
export function chunkDocument(doc: ExtractedDoc, o: ChunkOptions, count: (text: string) => number): DraftChunk[] {
  const out: DraftChunk[] = [];
  for (const section of sections(doc)) pack(toUnits(section, o.maxTokens, count), doc.title, o, count, out);
  return out;
}

/** The heading path without the title's own heading (the header names the title once). */
function own(path: readonly string[], title: string): readonly string[] {
  return path[0] === title ? path.slice(1) : path;
}

/** Consecutive blocks under the same top-level heading. */
function sections(doc: ExtractedDoc): Block[][] {
  const out: Block[][] = [];
  let key: string | undefined;
  for (const b of doc.blocks) {
    const path = own(b.path, doc.title);
    const k = path[0] ?? '';
    if (k !== key || out.length === 0) out.push([]);
    key = k;
    out[out.length - 1]!.push({ ...b, path });
  }
  return out;
}

function toUnits(blocks: readonly Block[], max: number, count: (t: string) => number): Unit[] {
  const units: Unit[] = [];
  let prev: Block | undefined;
  for (const b of blocks) {
    let sep = prev === undefined ? '' : prev.kind === 'row' && b.kind === 'row' ? '\n' : '\n\n';
    // The section's own heading is in every chunk's header; a subsection's is a line of text.
    const before = prev?.path ?? b.path.slice(0, 1);
    if (!samePath(before, b.path)) {
      const common = commonPrefix([before, b.path]).length;
      const text = b.path.slice(common).join(` ${SEPARATOR} `);
      if (text) {
        units.push({ text, tokens: count(text), sep, path: b.path, heading: true });
        sep = '\n';
      }
    }
    const pieces = b.kind === 'code' || b.kind === 'table' ? b.text.split(/(?<=\n)/) : splitSentences(b.text);
    for (const piece of pieces) {
      for (const part of fit(piece, max, count)) {
        units.push({ text: part.text, tokens: part.tokens, sep, path: b.path, heading: false });
        sep = '';
      }
    }
    prev = b;
  }
  return units;
}

/** A piece as it is when it fits, else cut into the longest runs that do (by tokens). */
function fit(piece: string, max: number, count: (t: string) => number): { text: string; tokens: number }[] {
  const tokens = count(piece);
  if (tokens <= max) return piece.trim() ? [{ text: piece, tokens }] : [];
  const out: { text: string; tokens: number }[] = [];
  // No token is shorter than a character, so a chunk's text is at most max × 16 characters unless
  // tokens are long runs.
  const span = max * 16;
  let rest = piece;
  while (rest) {
    // Only a rest that could fit is counted whole: counting a long one on every cut made a 40 MB
    // line without punctuation quadratic (hours on the ingest thread every tenant shares).
    const whole = rest.length <= span ? count(rest) : Infinity;
    if (whole <= max) {
      out.push({ text: rest, tokens: whole });
      break;
    }
    // The longest prefix within `max` tokens. max / 3 UTF-16 units always fit (a byte-level BPE
    // token covers at least one UTF-8 byte, and a unit is at most three); then galloping, and
    // bisection between the last length that fits and the first that does not, so that no count
    // reads much more than the answer.
    let lo = Math.max(1, Math.min(rest.length, span, Math.floor(max / 3)));
    let hi = Math.min(rest.length, span);
    for (let probe = lo * 2; probe < hi; probe *= 2) {
      if (count(rest.slice(0, probe)) > max) {
        hi = probe - 1;
        break;
      }
      lo = probe;
    }
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (count(rest.slice(0, mid)) <= max) lo = mid;
      else hi = mid - 1;
    }
    let cut = lo;
    // Never between the halves of a surrogate pair; at a space when there is one near the end.
    if (/[\ud800-\udbff]/.test(rest[cut - 1] ?? '') && cut > 1) cut--;
    const space = rest.lastIndexOf(' ', cut);
    if (space > cut * 0.8) cut = space + 1;
    const text = rest.slice(0, cut);
    out.push({ text, tokens: count(text) });
    rest = rest.slice(cut);
  }
  return out;
}

function pack(units: readonly Unit[], title: string, o: ChunkOptions, count: (t: string) => number, out: DraftChunk[]): void {
  const size = (u: Unit, first: boolean) => u.tokens + (first || !u.sep ? 0 : 1);
  let start = 0;
  let carry: Unit[] = [];
  while (start < units.length) {
    // Drop the front of the overlap until the first new unit fits after it.
    let tail = carry;
    const sum = (us: readonly Unit[]) => us.reduce((n, u, i) => n + size(u, i === 0), 0);
    while (tail.length && sum(tail) + size(units[start]!, false) > o.maxTokens) tail = tail.slice(1);
    let est = sum(tail) + size(units[start]!, tail.length === 0);
    let end = start + 1;
    while (end < units.length && est + size(units[end]!, false) <= o.maxTokens) est += size(units[end++]!, false);
    // A subsection heading belongs with the text after it.
    while (end - start > 1 && units[end - 1]!.heading) end--;
    let chunk = [...tail, ...units.slice(start, end)];
    let prefix = commonPrefix(chunk.map((u) => u.path));
    let text = render(chunk, prefix.length);
    let tokens = count(text);
    // Token counts do not quite add up across joins; the joined text is what must fit.
    while (tokens > o.maxTokens && chunk.length > 1) {
      if (end - start > 1) end--;
      else tail = tail.slice(1);
      chunk = [...tail, ...units.slice(start, end)];
      prefix = commonPrefix(chunk.map((u) => u.path));
      text = render(chunk, prefix.length);
      tokens = count(text);
    }
    if (text) {
      out.push({ seq: out.length, text, header: [title, ...prefix].join(` ${SEPARATOR} `), tokens });
    }
    start = end;
    carry = overlap(chunk, o.overlapTokens);
  }
}

/** The chunk's last sentences, up to `budget` tokens (never a heading line alone at its front). */
function overlap(chunk: readonly Unit[], budget: number): Unit[] {
  let n = 0;
  let i = chunk.length;
  while (i > 0 && n + chunk[i - 1]!.tokens <= budget) n += chunk[--i]!.tokens;
  const tail = chunk.slice(i);
  while (tail[0]?.heading) tail.shift();
  return tail;
}

/** The units joined; a heading line that would open the chunk is left out when the header names it. */
function render(chunk: readonly Unit[], headerDepth: number): string {
  let i = 0;
  while (i < chunk.length - 1 && chunk[i]!.heading && chunk[i]!.path.length <= headerDepth) i++;
  let s = '';
  for (let j = i; j < chunk.length; j++) s += (j === i ? '' : chunk[j]!.sep) + chunk[j]!.text;
  return s.trim();
}

function samePath(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function commonPrefix(paths: readonly (readonly string[])[]): string[] {
  const first = paths[0] ?? [];
  let n = first.length;
  for (const p of paths) {
    let k = 0;
    while (k < n && k < p.length && p[k] === first[k]) k++;
    n = k;
  }
  return first.slice(0, n);
}
