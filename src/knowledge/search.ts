/**
 * Retrieval over a ChunkIndex: keyword (BM25 over segmented words), vector (cosine, when the
 * store has an embedding model), hybrid (reciprocal rank fusion of the lists), optional rerank,
 * and a score threshold. Every score a caller sees is in 0…1, higher is better, and which one it
 * is depends on the path taken (see `Scored.scoring`):
 *   - rerank: the rerank model's relevance score;
 *   - several lists (hybrid, or several queries): the fused RRF score divided by the most a chunk
 *     could get (first in every list), so 1 means "first everywhere";
 *   - keyword alone: the BM25 score divided by the best hit's (relative to this query's best);
 *   - vector alone: the cosine similarity, negative clamped to 0.
 * The threshold applies to that final score.
 */
import { HubError } from '../core/errors.js';
import { VectorsUnavailableError } from './ports.js';
import type { ChunkHit, ChunkIndex, ChunkScope, KnowledgeModels } from './ports.js';
import { queryTerms } from './segment.js';

/** RRF's constant (Cormack et al. 2009): damps the weight of the very top ranks. */
export const RRF_K = 60;

export interface SearchRequest {
  readonly queries: readonly string[];
  readonly scope: ChunkScope;
  readonly maxResults: number;
  /** Results scoring below this (0…1) are dropped. */
  readonly threshold?: number;
  /**
   * Where vectors are searched, by the model that made them: each store's chunks are compared only
   * with the query embedded by that store's model (vectors of two models never meet). Empty:
   * keyword only.
   */
  readonly vectors: readonly { readonly model: string; readonly scope: ChunkScope }[];
  /** Whether to search keywords too (default true; false: vectors alone). */
  readonly keyword?: boolean;
  /** Rerank the fused candidates with this model (absent: no rerank). */
  readonly rerankModel?: string | undefined;
}

export type Scoring = 'keyword' | 'vector' | 'rrf' | 'rerank';

export interface Scored extends ChunkHit {
  readonly score: number;
}

export interface SearchResult {
  readonly hits: readonly Scored[];
  readonly scoring: Scoring | null;
}

const key = (h: ChunkHit) => `${h.vectorStoreId}\u0000${h.fileId}\u0000${h.seq}`;

/** Fuses ranked lists by reciprocal rank (k = 60), normalised so that first in every list is 1. */
export function reciprocalRankFusion(lists: readonly (readonly ChunkHit[])[], k = RRF_K): Scored[] {
  const fused = new Map<string, { hit: ChunkHit; score: number }>();
  for (const list of lists) {
    list.forEach((hit, rank) => {
      const e = fused.get(key(hit));
      const add = 1 / (k + rank + 1);
      if (e) e.score += add;
      else fused.set(key(hit), { hit, score: add });
    });
  }
  const best = lists.length / (k + 1);
  return [...fused.values()].map(({ hit, score }) => ({ ...hit, score: score / best })).sort((a, b) => b.score - a.score);
}

/** How many candidates each list contributes before fusion and rerank. */
function candidates(maxResults: number): number {
  return Math.min(100, Math.max(20, maxResults * 3));
}

/**
 * An embedding model's vectors as the index may hold them, or an `upstream` error: every vector
 * non-empty, finite (a 1e999 in the JSON, or a float beyond float32, is Infinity) and as long as
 * the others. An upstream answering otherwise would fill the index with vectors no query ever
 * finds (or, on PostgreSQL, that fail every search of the store).
 */
export function usableVectors<V extends readonly Float32Array[]>(model: string, vectors: V): V {
  const dim = vectors[0]?.length ?? 0;
  for (const v of vectors) {
    if (v.length === 0 || v.length !== dim) throw new HubError('upstream', `The embedding model ${model.slice(0, 200)} answered vectors of different lengths (${dim} and ${v.length}).`);
    for (const x of v) if (!Number.isFinite(x)) throw new HubError('upstream', `The embedding model ${model.slice(0, 200)} answered a vector with a value that is not a finite number.`);
  }
  return vectors;
}

/**
 * The index's nearest chunks. A backend without vectors (PostgreSQL without pgvector) is the
 * hub's setup, not the client's mistake: a 501 that says what to install, not an opaque 500.
 */
async function nearest(index: ChunkIndex, scope: ChunkScope, v: Float32Array, n: number): Promise<ChunkHit[]> {
  try {
    return await index.nearest(scope, v, n);
  } catch (err) {
    if (err instanceof VectorsUnavailableError) throw new HubError('not_found', err.message, { status: 501, code: 'vectors_unavailable' });
    throw err;
  }
}

/** Runs one search. `models` is needed when there are vectors to search or a rerank model is given. */
export async function search(index: ChunkIndex, models: KnowledgeModels | undefined, req: SearchRequest, signal: AbortSignal = new AbortController().signal): Promise<SearchResult> {
  const n = candidates(req.maxResults);
  const lists: { kind: 'keyword' | 'vector'; hits: ChunkHit[] }[] = [];
  for (const q of req.keyword === false ? [] : req.queries) {
    const terms = queryTerms(q);
    if (terms.length) lists.push({ kind: 'keyword', hits: await index.keyword(req.scope, terms, n) });
  }
  for (const group of req.vectors) {
    if (!models) throw new Error('a store with an embedding model needs the models caller');
    const vectors = usableVectors(group.model, (await models.embed(group.model, req.queries, signal)).vectors);
    for (const v of vectors) lists.push({ kind: 'vector', hits: await nearest(index, group.scope, v, n) });
  }
  if (!lists.length) return { hits: [], scoring: null };

  let scored: Scored[];
  let scoring: Scoring;
  if (lists.length === 1) {
    const only = lists[0]!;
    if (only.kind === 'keyword') {
      const top = only.hits[0]?.score ?? 1;
      scored = only.hits.map((h) => ({ ...h, score: top > 0 ? h.score / top : 0 }));
      scoring = 'keyword';
    } else {
      scored = only.hits.map((h) => ({ ...h, score: Math.max(0, Math.min(1, h.score)) }));
      scoring = 'vector';
    }
  } else {
    scored = reciprocalRankFusion(lists.map((l) => l.hits));
    scoring = 'rrf';
  }

  if (req.rerankModel !== undefined && scored.length) {
    if (!models) throw new Error('rerank needs the models caller');
    const pool = scored.slice(0, n);
    const { results } = await models.rerank(req.rerankModel, req.queries.join('\n'), pool.map((h) => h.text), Math.min(pool.length, req.maxResults), signal);
    scored = results
      .filter((r) => Number.isInteger(r.index) && r.index >= 0 && r.index < pool.length)
      .map((r) => ({ ...pool[r.index]!, score: Math.max(0, Math.min(1, r.relevanceScore)) }))
      .sort((a, b) => b.score - a.score);
    scoring = 'rerank';
  }

  const threshold = req.threshold ?? 0;
  return { hits: scored.filter((h) => h.score >= threshold).slice(0, req.maxResults), scoring };
}
