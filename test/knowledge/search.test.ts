/**
 * Retrieval's arithmetic over the real SQLite chunk index: which lists are made, how they are
 * fused (reciprocal rank, k = 60, normalised so first everywhere is 1), which score a caller sees
 * on each path, the threshold, and rerank's reordering. The models are a test double of the
 * KnowledgeModels port with vectors chosen by hand, so each ranking is known in advance.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChunkHit, KnowledgeModels } from '../../src/knowledge/ports.js';
import { reciprocalRankFusion, RRF_K, search } from '../../src/knowledge/search.js';
import { indexTerms } from '../../src/knowledge/segment.js';
import { KnowledgeService } from '../../src/knowledge/vector-stores.js';
import { openSQLiteStores } from '../../src/store/sqlite/index.js';
import type { SQLiteStores } from '../../src/store/sqlite/index.js';

const vec = (...xs: number[]) => {
  const n = Math.hypot(...xs);
  return new Float32Array(xs.map((x) => x / n));
};

const TEXTS = ['长江流域的城市', '长江 长江 长江 健康', '健康饮食', 'river cities'];
const VECTORS = [vec(1, 0, 0), vec(0, 1, 0), vec(0, 0, 1), vec(1, 1, 0)];

let dir: string;
let stores: SQLiteStores;
const scope = { vectorStoreIds: ['vs_1'] };

/** Embeds by a table; reranks by a fixed order of documents; counts its calls. */
function models(table: Record<string, Float32Array>, rerankOrder: string[] = []): KnowledgeModels & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async embed(model, inputs) {
      calls.push(`embed:${model}`);
      return { vectors: inputs.map((i) => table[i] ?? vec(1, 1, 1)) };
    },
    async rerank(model, _query, documents, topN) {
      calls.push(`rerank:${model}`);
      const results = rerankOrder.map((text, rank) => ({ index: documents.indexOf(text), relevanceScore: 0.9 - rank * 0.2 })).filter((r) => r.index >= 0);
      // A rerank answer naming a document that was not sent is ignored.
      return { results: [...results.slice(0, topN), { index: 99, relevanceScore: 1 }] };
    },
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'baimo-search-'));
  stores = openSQLiteStores(dir);
  await stores.knowledge.replaceFile(
    'vs_1',
    'file-1',
    TEXTS.map((text, seq) => ({ seq, text, terms: indexTerms(text), tokens: 5, vector: VECTORS[seq]! })),
  );
});

afterAll(() => {
  stores?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('reciprocal rank fusion', () => {
  const hit = (seq: number): ChunkHit => ({ vectorStoreId: 'v', fileId: 'f', seq, text: String(seq), score: 0 });

  it('adds 1/(k + rank) across lists, normalised so that first in every list is 1', () => {
    const fused = reciprocalRankFusion([[hit(1), hit(2)], [hit(2), hit(3)]]);
    const best = 2 / (RRF_K + 1);
    expect(fused.map((h) => h.seq)).toEqual([2, 1, 3]);
    expect(fused[0]!.score).toBeCloseTo((1 / (RRF_K + 2) + 1 / (RRF_K + 1)) / best, 12);
    expect(fused[1]!.score).toBeCloseTo(1 / (RRF_K + 1) / best, 12);
    expect(reciprocalRankFusion([[hit(1)], [hit(1)]])[0]!.score).toBeCloseTo(1, 12);
  });
});

describe('search paths and the score each shows', () => {
  it('keyword alone: BM25 relative to the best hit (the best is 1), no model called', async () => {
    const m = models({});
    const r = await search(stores.knowledge, m, { queries: ['长江'], scope, maxResults: 10, vectors: [] });
    expect(r.scoring).toBe('keyword');
    expect(r.hits.map((h) => h.seq)).toEqual([1, 0]);
    expect(r.hits[0]!.score).toBe(1);
    expect(r.hits[1]!.score).toBeGreaterThan(0);
    expect(r.hits[1]!.score).toBeLessThan(1);
    expect(m.calls).toEqual([]);
  });

  it('vector alone (no indexed word in the query): cosine similarity, best first', async () => {
    const m = models({ 'of the': vec(1, 0.2, 0) });
    const r = await search(stores.knowledge, m, { queries: ['of the'], scope, maxResults: 2, vectors: [{ model: 'emb', scope }] });
    expect(r.scoring).toBe('vector');
    expect(r.hits.map((h) => h.seq)).toEqual([0, 3]);
    expect(r.hits[0]!.score).toBeCloseTo(1 / Math.hypot(1, 0.2), 5);
    expect(m.calls).toEqual(['embed:emb']);
  });

  it('hybrid: keyword and vector lists fused; a chunk first in both scores 1', async () => {
    // 健康: keyword finds seq 2 (short, one word) and 1; the vector points at seq 2 too.
    const m = models({ 健康: vec(0, 0, 1) });
    const r = await search(stores.knowledge, m, { queries: ['健康'], scope, maxResults: 10, vectors: [{ model: 'emb', scope }] });
    expect(r.scoring).toBe('rrf');
    expect(r.hits[0]!.seq).toBe(2);
    expect(r.hits[0]!.score).toBeCloseTo(1, 12);
    // A chunk found by one list only is fused too (every chunk with a vector is in the vector list).
    expect(r.hits.map((h) => h.seq).sort()).toEqual([0, 1, 2, 3]);
  });

  it('the threshold applies to the final score; maxResults cuts after it', async () => {
    const m = models({ 健康: vec(0, 0, 1) });
    const all = await search(stores.knowledge, m, { queries: ['健康'], scope, maxResults: 10, vectors: [{ model: 'emb', scope }] });
    const cut = await search(stores.knowledge, m, { queries: ['健康'], scope, maxResults: 10, vectors: [{ model: 'emb', scope }], threshold: 0.6 });
    expect(cut.hits.length).toBeGreaterThan(0);
    expect(cut.hits.length).toBeLessThan(all.hits.length);
    expect(cut.hits.every((h) => h.score >= 0.6)).toBe(true);
    const one = await search(stores.knowledge, m, { queries: ['健康'], scope, maxResults: 1, vectors: [{ model: 'emb', scope }] });
    expect(one.hits).toHaveLength(1);
  });

  it('rerank reorders the candidates and its relevance is the score; stray indexes are dropped', async () => {
    const m = models({}, ['健康饮食', '长江 长江 长江 健康']);
    const r = await search(stores.knowledge, m, { queries: ['长江 健康'], scope, maxResults: 5, vectors: [], rerankModel: 'rr' });
    expect(r.scoring).toBe('rerank');
    expect(r.hits.map((h) => h.text)).toEqual(['健康饮食', '长江 长江 长江 健康']);
    expect(r.hits.map((h) => h.score)).toEqual([0.9, expect.closeTo(0.7, 12)]);
    expect(m.calls).toEqual(['rerank:rr']);
  });

  it('several queries fuse all their lists; a query of stop words alone with no vectors finds nothing', async () => {
    const r = await search(stores.knowledge, models({}), { queries: ['长江', 'river'], scope, maxResults: 10, vectors: [] });
    expect(r.scoring).toBe('rrf');
    expect(new Set(r.hits.map((h) => h.seq))).toEqual(new Set([0, 1, 3]));
    const none = await search(stores.knowledge, models({}), { queries: ['的 the'], scope, maxResults: 10, vectors: [] });
    expect(none).toEqual({ hits: [], scoring: null });
  });

  it('searches only the scope: other stores and files outside a filter are never returned', async () => {
    await stores.knowledge.replaceFile('vs_2', 'file-9', [{ seq: 0, text: '长江', terms: indexTerms('长江'), tokens: 1 }]);
    const r = await search(stores.knowledge, undefined, { queries: ['长江'], scope: { vectorStoreIds: ['vs_1'], fileIds: ['file-none'] }, maxResults: 10, vectors: [] });
    expect(r.hits).toEqual([]);
    const other = await search(stores.knowledge, undefined, { queries: ['长江'], scope: { vectorStoreIds: ['vs_2'] }, maxResults: 10, vectors: [] });
    expect(other.hits.map((h) => h.fileId)).toEqual(['file-9']);
  });
});

describe('searching several stores at once (what file_search asks)', () => {
  it('fuses across stores, each store vectors by its own model, filters per (store, file), refuses a store not the caller’s', async () => {
    const d = mkdtempSync(join(tmpdir(), 'baimo-multi-'));
    const s = openSQLiteStores(d);
    try {
      const now = Math.floor(Date.now() / 1000);
      const store = (id: string, embeddingModel: string | null, keyId: string | null = null) => s.vectorStores.create({ id, keyId, name: id, metadata: null, createdAt: now, lastActiveAt: now, expiresAfterDays: null, expiresAt: null, embeddingModel, contextualHeaders: true }, []);
      await store('vs_a', 'emb-a');
      await store('vs_b', 'emb-b');
      await store('vs_other', null, 'key_2');
      const row = (vectorStoreId: string, fileId: string, lang: string) => ({
        vectorStoreId, fileId, filename: `${fileId}.txt`, keyId: null, createdAt: now, status: 'in_progress' as const, lastError: null, attributes: { lang }, chunking: { maxTokens: 800, overlapTokens: 400 }, usageBytes: 0, batchId: null,
      });
      // The same file in both stores, with different attributes in each.
      await s.vectorStores.addFiles([row('vs_a', 'file-1', 'zh'), row('vs_b', 'file-1', 'en')]);
      for (const [vs, v] of [['vs_a', vec(1, 0, 0)], ['vs_b', vec(0, 1, 0)]] as const) {
        await s.knowledge.replaceFile(vs, 'file-1', [{ seq: 0, text: '长江', terms: indexTerms('长江'), tokens: 1, vector: v }]);
        await s.vectorStores.finish(vs, 'file-1', { status: 'completed', usageBytes: 6 });
      }
      const m = models({ 长江: vec(1, 1, 0) });
      const service = new KnowledgeService({ store: s.vectorStores, files: s.files, index: s.knowledge, runner: { poke() {}, cancel() {} }, models: () => m, settings: {} });
      const caller = { owner: undefined, keyId: null };
      const q = { queries: ['长江'], maxResults: 10, rerank: false };
      const signal = new AbortController().signal;
      const both = await service.searchStores(['vs_a', 'vs_b'], caller, q, signal);
      expect(both.scoring).toBe('rrf');
      expect(both.hits.map((h) => h.vectorStoreId).sort()).toEqual(['vs_a', 'vs_b']);
      expect(m.calls.sort()).toEqual(['embed:emb-a', 'embed:emb-b']);
      const en = await service.searchStores(['vs_a', 'vs_b'], caller, { ...q, filter: { type: 'eq', key: 'lang', value: 'en' } }, signal);
      expect(en.hits.map((h) => [h.vectorStoreId, h.attributes])).toEqual([['vs_b', { lang: 'en' }]]);
      const keyed = { owner: 'key_1', keyId: 'key_1' };
      await expect(service.searchStores(['vs_other'], keyed, q, signal)).rejects.toMatchObject({ status: 404 });
    } finally {
      s.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});
