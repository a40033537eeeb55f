import type { RetrievedPassage } from './types.js';

/**
 * Citation markers in a knowledge-grounded answer. The grounding prompt numbers the passages
 * [1], [2], … and asks the model to cite them that way; a renderer turns the markers it finds
 * into its format's citations (Responses `file_citation` annotations, the `baimo_retrieval`
 * extension elsewhere). The markers stay in the text: a streamed delta cannot be taken back, and
 * a reader without annotations still sees where each claim came from.
 */

/** `[3]`, `[1, 2]`, `【3】` (models writing Chinese often use the full-width brackets). */
const MARKER = /\[(\d{1,3}(?:\s*,\s*\d{1,3})*)\]|【(\d{1,3})】/g;

export interface Citation {
  /** Where the marker starts in the text (UTF-16 code units, as JavaScript and OpenAI's `index` count). */
  readonly index: number;
  /** The cited passage, from 0. */
  readonly passage: number;
}

/** The markers in `text` that name one of `count` passages, in order; other numbers are left alone. */
export function findCitations(text: string, count: number): Citation[] {
  const out: Citation[] = [];
  for (const m of text.matchAll(MARKER)) {
    for (const n of (m[1] ?? m[2]!).split(',')) {
      const k = Number(n.trim());
      if (k >= 1 && k <= count) out.push({ index: m.index, passage: k - 1 });
    }
  }
  return out;
}

/**
 * The `baimo_retrieval` extension field of a grounded answer in formats with no citations of
 * their own (chat completions, Anthropic messages): what was searched, the passages (numbered
 * from 1 in the order given), and, once the text is whole, which of them it cited and where.
 */
export function retrievalExtension(r: { readonly queries: readonly string[]; readonly results: readonly RetrievedPassage[] }, text?: string): Record<string, unknown> {
  return {
    queries: r.queries,
    results: r.results.map((p, i) => ({
      n: i + 1,
      file_id: p.fileId,
      filename: p.filename,
      vector_store_id: p.vectorStoreId,
      score: p.score,
      text: p.text,
      attributes: p.attributes ?? {},
    })),
    ...(text !== undefined && { citations: findCitations(text, r.results.length).map((c) => ({ index: c.index, n: c.passage + 1, file_id: r.results[c.passage]!.fileId })) }),
  };
}
