import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChunkInput } from '../../src/knowledge/ports.js';
import { indexTerms, queryTerms } from '../../src/knowledge/segment.js';
import { openSQLiteStores, type SQLiteStores } from '../../src/store/sqlite/index.js';
import { candidates, EXACT_BELOW, MAX_QUERY_WORDS, SQLiteChunkIndex } from '../../src/store/sqlite/knowledge-index.js';
import { openDatabase, SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { hamming, quantize, smallest, wordsOf } from '../../src/store/sqlite/vector-bits.js';
import { migrationIndex, undoMigrationsFrom } from '../helpers/sqlite-undo.js';
import { mulberry32 } from '../../src/core/random.js';
import { cosine } from '../../src/eval/assertions/similar.js';

let dir: string;
let stores: SQLiteStores;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'baimo-kindex-'));
  stores = openSQLiteStores(dir);
});

afterAll(() => {
  stores.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  const all = stores.db.prepare('SELECT vector_store_id FROM knowledge_stores').pluck().all() as string[];
  for (const id of all) await stores.knowledge.removeStore(id);
});

/** The store's words' FTS5 tables that exist. */
const termTables = (): string[] => stores.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'knowledge_terms_*' AND name NOT GLOB '*_*_*_*'").pluck().all() as string[];

/** Chunks of plain text, their words segmented as ingestion does. */
function chunks(...texts: string[]): ChunkInput[] {
  return texts.map((text, seq) => ({ seq, text, terms: indexTerms(text), tokens: text.length }));
}

const vec = (...xs: number[]): Float32Array => new Float32Array(xs);

const ZH = [
  '长江是中国第一长河，发源于青藏高原的唐古拉山脉，流经十一个省级行政区，最终注入东海，全长约六千三百公里。',
  '保持健康的生活方式需要均衡饮食、规律作息和适量运动，医生建议每周至少进行一百五十分钟的中等强度锻炼。',
  '黄河是中华文明的摇篮，流经黄土高原时携带大量泥沙，因此河水呈现浑浊的黄色。',
];

describe('SQLite chunk index: keyword', () => {
  it('finds a two-character Chinese word inside long Chinese text', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_zh', 'file_zh', chunks(...ZH));
    const river = await k.keyword({ vectorStoreIds: ['vs_zh'] }, queryTerms('长江'), 10);
    expect(river.map((h) => h.seq)).toEqual([0]);
    expect(river[0]!.score).toBeGreaterThan(0);
    expect(river[0]!.text).toBe(ZH[0]);
    const health = await k.keyword({ vectorStoreIds: ['vs_zh'] }, queryTerms('健康'), 10);
    expect(health.map((h) => h.seq)).toEqual([1]);
  });

  it('where plain FTS5 over the raw text finds nothing for the same words (the contrast)', () => {
    stores.db.exec('CREATE VIRTUAL TABLE IF NOT EXISTS temp.raw_zh USING fts5 (text)');
    stores.db.exec('DELETE FROM temp.raw_zh');
    const ins = stores.db.prepare('INSERT INTO temp.raw_zh (text) VALUES (?)');
    for (const t of ZH) ins.run(t);
    const hits = (q: string) => (stores.db.prepare('SELECT COUNT(*) AS n FROM temp.raw_zh WHERE raw_zh MATCH ?').get(q) as { n: number }).n;
    expect(hits('长江')).toBe(0);
    expect(hits('健康')).toBe(0);
    // Only the whole clause, as unicode61 saw it, is a token.
    expect(hits('"长江是中国第一长河"')).toBe(1);
    // The trigram tokenizer matches nothing shorter than three characters.
    stores.db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.raw_tri USING fts5 (text, tokenize = 'trigram')");
    stores.db.exec('DELETE FROM temp.raw_tri');
    for (const t of ZH) stores.db.prepare('INSERT INTO temp.raw_tri (text) VALUES (?)').run(t);
    const tri = (q: string) => (stores.db.prepare('SELECT COUNT(*) AS n FROM temp.raw_tri WHERE raw_tri MATCH ?').get(q) as { n: number }).n;
    expect(tri('长江')).toBe(0);
    expect(tri('健康')).toBe(0);
    expect(tri('长江是')).toBe(1);
  });

  it('finds English words, and words with punctuation in them (c++, api-key) whole', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_en', 'f1', chunks('The quick brown fox jumps over the lazy dog.', 'Rotate the API key every ninety days.', 'C++ templates compile slowly.'));
    expect((await k.keyword({ vectorStoreIds: ['vs_en'] }, queryTerms('foxes? fox!'), 10)).map((h) => h.seq)).toEqual([0]);
    expect((await k.keyword({ vectorStoreIds: ['vs_en'] }, queryTerms('api key'), 10)).map((h) => h.seq)).toEqual([1]);
    // Words are matched whole and exactly, not by prefix.
    expect(await k.keyword({ vectorStoreIds: ['vs_en'] }, ['qui'], 10)).toEqual([]);
    // The segmenter keeps c++ whole, and so does the index.
    expect((await k.keyword({ vectorStoreIds: ['vs_en'] }, queryTerms('c++'), 10)).map((h) => h.seq)).toEqual([2]);
    // A word with punctuation in it is one word: indexed as such, found as such, never in parts.
    await k.replaceFile('vs_punct', 'f', [{ seq: 0, text: 'x', terms: 'c++ api-key node.js', tokens: 1 }]);
    const scope = { vectorStoreIds: ['vs_punct'] };
    expect((await k.keyword(scope, ['c++'], 10)).map((h) => h.seq)).toEqual([0]);
    expect((await k.keyword(scope, ['api-key'], 10)).map((h) => h.seq)).toEqual([0]);
    expect(await k.keyword(scope, ['node'], 10)).toEqual([]);
    expect(await k.keyword(scope, ['c'], 10)).toEqual([]);
    // Upper-case query words meet the (lower-case) indexed words.
    expect((await k.keyword(scope, ['NODE.JS'], 10)).map((h) => h.seq)).toEqual([0]);
  });

  it('ranks by BM25: a rarer word, more occurrences and a shorter chunk each rank higher', async () => {
    const k = stores.knowledge;
    // "common" is in every chunk, "rare" in one: a chunk with the rare word beats one with the common word twice.
    await k.replaceFile('vs_r', 'f', [
      { seq: 0, text: '0', terms: 'common rare filler', tokens: 3 },
      { seq: 1, text: '1', terms: 'common common filler', tokens: 3 },
      { seq: 2, text: '2', terms: 'common other filler', tokens: 3 },
      { seq: 3, text: '3', terms: 'common other filler', tokens: 3 },
    ]);
    const rarer = await k.keyword({ vectorStoreIds: ['vs_r'] }, ['common', 'rare'], 10);
    expect(rarer[0]!.seq).toBe(0);
    expect(rarer[1]!.seq).toBe(1);
    expect(rarer.every((h) => h.score > 0)).toBe(true);

    await k.replaceFile('vs_tf', 'f', [
      { seq: 0, text: '0', terms: 'apple pear plum fig', tokens: 4 },
      { seq: 1, text: '1', terms: 'apple apple apple fig', tokens: 4 },
      { seq: 2, text: '2', terms: 'pear plum fig kiwi', tokens: 4 },
    ]);
    expect((await k.keyword({ vectorStoreIds: ['vs_tf'] }, ['apple'], 10)).map((h) => h.seq)).toEqual([1, 0]);

    await k.replaceFile('vs_len', 'f', [
      { seq: 0, text: '0', terms: 'apple ' + 'pad '.repeat(40), tokens: 41 },
      { seq: 1, text: '1', terms: 'apple pad', tokens: 2 },
      { seq: 2, text: '2', terms: 'pad pad pad', tokens: 3 },
    ]);
    const shorter = await k.keyword({ vectorStoreIds: ['vs_len'] }, ['apple'], 10);
    expect(shorter.map((h) => h.seq)).toEqual([1, 0]);
    expect(shorter[0]!.score).toBeGreaterThan(shorter[1]!.score);
  });

  it('scores with each store’s own statistics, whatever other stores hold', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_a', 'f', [
      { seq: 0, text: 'a0', terms: 'alpha beta', tokens: 2 },
      { seq: 1, text: 'a1', terms: 'gamma delta', tokens: 2 },
      { seq: 2, text: 'a2', terms: 'gamma epsilon', tokens: 2 },
    ]);
    const before = await k.keyword({ vectorStoreIds: ['vs_a'] }, ['alpha'], 10);
    // N = 3, n = 1: idf ln((3 - 1 + 0.5) / (1 + 0.5)); dl = avgdl, tf 1: 1 * 2.2 / (1 + 1.2).
    expect(before[0]!.score).toBeCloseTo(Math.log(2.5 / 1.5), 6);
    // Another store fills up with "alpha": vs_a's score for it does not move, alone or beside it.
    await k.replaceFile('vs_b', 'f', Array.from({ length: 50 }, (_, seq) => ({ seq, text: 'b', terms: 'alpha alpha filler words here', tokens: 5 })));
    expect(await k.keyword({ vectorStoreIds: ['vs_a'] }, ['alpha'], 10)).toEqual(before);
    const both = await k.keyword({ vectorStoreIds: ['vs_a', 'vs_b'] }, ['alpha'], 100);
    expect(both).toHaveLength(51);
    expect(both.find((h) => h.vectorStoreId === 'vs_a')).toEqual(before[0]);
    // In vs_b "alpha" is in every chunk: FTS5's idf floors it, yet every score stays > 0.
    expect(both.every((h) => h.score > 0)).toBe(true);
    expect(both[0]!.vectorStoreId).toBe('vs_a');
  });

  it('never returns another store’s or another file’s chunks', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_1', 'file_a', chunks('shared secret alpha'));
    await k.replaceFile('vs_1', 'file_b', chunks('shared secret beta'));
    await k.replaceFile('vs_2', 'file_a', chunks('shared secret gamma'));
    const inStore = await k.keyword({ vectorStoreIds: ['vs_1'] }, ['secret'], 10);
    expect(inStore.map((h) => `${h.vectorStoreId}/${h.fileId}`).sort()).toEqual(['vs_1/file_a', 'vs_1/file_b']);
    const inFile = await k.keyword({ vectorStoreIds: ['vs_1'], fileIds: ['file_b'] }, ['secret'], 10);
    expect(inFile.map((h) => `${h.vectorStoreId}/${h.fileId}`)).toEqual(['vs_1/file_b']);
    // A file id of another store names nothing in this one.
    expect(await k.keyword({ vectorStoreIds: ['vs_2'], fileIds: ['file_b'] }, ['secret'], 10)).toEqual([]);
    expect(await k.keyword({ vectorStoreIds: ['vs_none'] }, ['secret'], 10)).toEqual([]);
    expect(await k.keyword({ vectorStoreIds: [] }, ['secret'], 10)).toEqual([]);
    expect(await k.keyword({ vectorStoreIds: ['vs_1'], fileIds: [] }, ['secret'], 10)).toEqual([]);
    // Thousands of file ids in scope are one parameter.
    const many = [...Array.from({ length: 5000 }, (_, i) => `file_${i}`), 'file_a'];
    expect((await k.keyword({ vectorStoreIds: ['vs_1', 'vs_2'], fileIds: many }, ['secret'], 10)).map((h) => h.vectorStoreId).sort()).toEqual(['vs_1', 'vs_2']);
  });

  it('takes FTS5 query syntax in words literally', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_s', 'f', [
      { seq: 0, text: 'plain', terms: 'apple pear', tokens: 2 },
      { seq: 1, text: 'syntax', terms: '"and" near( * or -x col:y', tokens: 6 },
    ]);
    const scope = { vectorStoreIds: ['vs_s'] };
    for (const w of ['"AND"', 'NEAR(', '*', 'OR', '-x', 'col:y']) {
      expect((await k.keyword(scope, [w], 10)).map((h) => h.seq), w).toEqual([1]);
    }
    for (const w of ['apple OR pear', 'apple*', '"apple"', '(', ')', '^apple', 'NOT', "'", '\\', '\u0000']) {
      const hits = await k.keyword(scope, [w], 10);
      // "apple OR pear" is three words for the index (spaces split); none of these is a query.
      if (w === 'apple OR pear') expect(hits.map((h) => h.seq).sort()).toEqual([0, 1]);
      else expect(hits, w).toEqual([]);
    }
  });

  it('handles empty words, limit 0 or absurd, a 100k-word query and an empty store', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_e', 'f', chunks('alpha beta gamma', 'beta gamma delta', 'gamma delta epsilon'));
    const scope = { vectorStoreIds: ['vs_e'] };
    expect(await k.keyword(scope, [], 10)).toEqual([]);
    expect(await k.keyword(scope, ['', ' ', '\t\n'], 10)).toEqual([]);
    expect(await k.keyword(scope, ['gamma'], 0)).toEqual([]);
    expect(await k.keyword(scope, ['gamma'], -3)).toEqual([]);
    expect(await k.keyword(scope, ['gamma'], Number.NaN)).toEqual([]);
    expect(await k.keyword(scope, ['gamma'], 1.7)).toHaveLength(1);
    expect(await k.keyword(scope, ['gamma'], Number.POSITIVE_INFINITY)).toEqual([]);
    expect(await k.keyword(scope, ['gamma'], 1e12)).toHaveLength(3);
    // The first MAX_QUERY_WORDS distinct words count; the rest of a 100k-word query is ignored.
    const huge = ['delta', 'delta', ...Array.from({ length: 100_000 }, (_, i) => `w${i}`), 'alpha'];
    expect((await k.keyword(scope, huge, 10)).map((h) => h.seq).sort()).toEqual([1, 2]);
    expect(await k.keyword(scope, [...Array.from({ length: MAX_QUERY_WORDS }, (_, i) => `w${i}`), 'alpha'], 10)).toEqual([]);
    expect((await k.keyword(scope, [...Array.from({ length: MAX_QUERY_WORDS - 1 }, (_, i) => `w${i}`), 'alpha'], 10)).map((h) => h.seq)).toEqual([0]);
    await k.replaceFile('vs_empty', 'f', []);
    expect(await k.keyword({ vectorStoreIds: ['vs_empty'] }, ['gamma'], 10)).toEqual([]);
    expect(await k.nearest({ vectorStoreIds: ['vs_empty'] }, vec(1, 0), 10)).toEqual([]);
    expect(await k.fileChunks('vs_empty', 'f', undefined, 10)).toEqual([]);
  });
});

describe('SQLite chunk index: vectors', () => {
  it('returns cosine order, ignores chunks without a vector and skips other dimensions', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_v', 'f', [
      { seq: 0, text: 'east', terms: 'east', tokens: 1, vector: vec(1, 0, 0) },
      { seq: 1, text: 'north-east', terms: 'ne', tokens: 1, vector: vec(1, 1, 0) },
      { seq: 2, text: 'west', terms: 'west', tokens: 1, vector: vec(-1, 0, 0) },
      { seq: 3, text: 'none', terms: 'none', tokens: 1 },
      { seq: 4, text: 'zero', terms: 'zero', tokens: 1, vector: vec(0, 0, 0) },
      { seq: 5, text: 'short', terms: 'short', tokens: 1, vector: vec(1, 0) },
      { seq: 6, text: 'nan', terms: 'nan', tokens: 1, vector: vec(Number.NaN, 0, 0) },
    ]);
    const hits = await k.nearest({ vectorStoreIds: ['vs_v'] }, vec(2, 0, 0), 10);
    expect(hits.map((h) => h.text)).toEqual(['east', 'north-east', 'west']);
    expect(hits[0]!.score).toBeCloseTo(1, 6);
    expect(hits[1]!.score).toBeCloseTo(Math.SQRT1_2, 6);
    expect(hits[2]!.score).toBeCloseTo(-1, 6);
    expect((await k.nearest({ vectorStoreIds: ['vs_v'] }, vec(2, 0, 0), 1)).map((h) => h.seq)).toEqual([0]);
    expect((await k.nearest({ vectorStoreIds: ['vs_v'] }, vec(0, 1), 10)).map((h) => h.text)).toEqual(['short']);
    expect(await k.nearest({ vectorStoreIds: ['vs_v'] }, vec(), 10)).toEqual([]);
    expect(await k.nearest({ vectorStoreIds: ['vs_v'] }, vec(0, 0, 0), 10)).toEqual([]);
    expect(await k.nearest({ vectorStoreIds: ['vs_v'] }, vec(1, 0, 0), 0)).toEqual([]);
  });

  it('honours the scope across scan windows, and yields between them', async () => {
    const k = stores.knowledge;
    // More vectors than one scan window, the best ones of another store or file.
    const many = (n: number, x: number) => Array.from({ length: n }, (_, seq) => ({ seq, text: `${x}`, terms: 'v', tokens: 1, vector: vec(x, 1) }));
    await k.replaceFile('vs_other', 'f', many(100, 10));
    await k.replaceFile('vs_mine', 'f_skip', many(100, 5));
    await k.replaceFile('vs_mine', 'f', many(25_000, 1));
    await k.replaceFile('vs_mine', 'f_late', many(3, 2));
    // The scan lets the event loop turn between windows: an immediate queued before it runs before it ends.
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const hits = await k.nearest({ vectorStoreIds: ['vs_mine'], fileIds: ['f', 'f_late'] }, vec(1, 0), 5);
    expect(turned).toBe(true);
    expect(hits.map((h) => `${h.vectorStoreId}/${h.fileId}`)).toEqual(['vs_mine/f_late', 'vs_mine/f_late', 'vs_mine/f_late', 'vs_mine/f', 'vs_mine/f']);
    expect(hits[0]!.score).toBeGreaterThan(hits[3]!.score);
  });
});

const rng = mulberry32;

/**
 * Clustered unit vectors like embeddings' (a smaller bench/knowledge-index.ts set): a common mean
 * direction, 40 topics, noise 1.5 times a topic's spread; the spread falls as rank^-0.5 over the
 * dimensions, which a fixed rotation (random signs, a Walsh-Hadamard transform) then mixes, as a
 * model's principal directions are not the coordinate axes. `dims` a power of 2.
 */
function clustered(seed: number, dims: number): () => Float32Array {
  const rand = rng(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() || 1e-300)) * Math.cos(2 * Math.PI * rand());
  const spread = Array.from({ length: dims }, (_, i) => (i + 1) ** -0.5);
  const total = Math.hypot(...spread);
  const signs = spread.map(() => (rand() < 0.5 ? -1 : 1));
  const mean = spread.map(() => gauss() / Math.sqrt(dims));
  const topics = Array.from({ length: 40 }, () => spread.map((s) => (s / total) * gauss()));
  return () => {
    const t = topics[Math.floor(rand() * topics.length)]!;
    const u = t.map((x, i) => (x + (1.5 * spread[i]! * gauss()) / total) * signs[i]!);
    for (let h = 1; h < dims; h <<= 1) {
      for (let i = 0; i < dims; i += h << 1) {
        for (let j = i; j < i + h; j++) {
          const x = u[j]!;
          u[j] = x + u[j + h]!;
          u[j + h] = x - u[j + h]!;
        }
      }
    }
    const v = Float32Array.from(u, (x, i) => mean[i]! + x / Math.sqrt(dims));
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  };
}


/** `count` vectors as files of 200 chunks named `${prefix}0`, `${prefix}1`…; returns them by `file/seq`. */
async function fill(store: string, prefix: string, count: number, next: () => Float32Array): Promise<Map<string, Float32Array>> {
  const all = new Map<string, Float32Array>();
  for (let f = 0; f * 200 < count; f++) {
    const chunks = Array.from({ length: Math.min(200, count - f * 200) }, (_, seq) => {
      const vector = next();
      all.set(`${prefix}${f}/${seq}`, vector);
      return { seq, text: `${prefix}${f}/${seq}`, terms: 'v', tokens: 1, vector };
    });
    await stores.knowledge.replaceFile(store, `${prefix}${f}`, chunks);
  }
  return all;
}

/** The exact top `k` of `vectors` for `q`, as `file/seq` keys. */
const exactTop = (vectors: Map<string, Float32Array>, q: Float32Array, k: number): string[] =>
  [...vectors].map(([key, v]) => ({ key, s: cosine(q, v) })).sort((a, b) => b.s - a.s).slice(0, k).map((x) => x.key);

const keys = (hits: { fileId: string; seq: number }[]): string[] => hits.map((h) => `${h.fileId}/${h.seq}`);

describe('SQLite chunk index: approximate vector search (1-bit prefilter, exact rescoring)', () => {
  const DIMS = 256;
  const SIZE = Math.max(15_000, 3 * EXACT_BELOW);

  it('finds the exact top 10 on clustered vectors, with exact cosine scores, yielding as it goes', async () => {
    const k = stores.knowledge;
    const next = clustered(7, DIMS);
    const vectors = await fill('vs_ann', 'f', SIZE, next);
    // Far fewer candidates than vectors are rescored: a prefilter that picked at random would find ~1 in 10.
    expect(candidates(10, DIMS) / SIZE).toBeLessThan(0.15);
    let found = 0;
    const queries = Array.from({ length: 20 }, next);
    for (const q of queries) {
      let turned = false;
      setImmediate(() => {
        turned = true;
      });
      const hits = await k.nearest({ vectorStoreIds: ['vs_ann'] }, q, 10);
      expect(turned).toBe(true);
      expect(hits).toHaveLength(10);
      const truth = exactTop(vectors, q, 10);
      found += keys(hits).filter((key) => truth.includes(key)).length;
      // Scores are the true cosines, best first.
      for (const h of hits) expect(h.score).toBeCloseTo(cosine(q, vectors.get(`${h.fileId}/${h.seq}`)!), 5);
      expect(hits.map((h) => h.score)).toEqual([...hits.map((h) => h.score)].sort((a, b) => b - a));
    }
    expect(found / queries.length).toBeGreaterThanOrEqual(9);
  });

  it('keeps a narrow or wide file scope exact, even when the nearest vectors lie outside it', async () => {
    const k = stores.knowledge;
    const next = clustered(11, DIMS);
    const q = next();
    // Outside the scope: copies of the query itself, in another store and in files not in scope.
    const near = (n: number) => Array.from({ length: n }, (_, seq) => ({ seq, text: 'near', terms: 'v', tokens: 1, vector: q.map((x, i) => x + (i === seq % DIMS ? 1e-3 : 0)) }));
    await k.replaceFile('vs_scope_other', 'near', near(2000));
    await k.replaceFile('vs_scope', 'near', near(2000));
    const mine = await fill('vs_scope', 'm', 2 * EXACT_BELOW, next);
    await fill('vs_scope', 'x', EXACT_BELOW, next);
    const narrowFiles = ['m0', 'm3', 'm7'];
    const narrow = new Map([...mine].filter(([key]) => narrowFiles.includes(key.split('/')[0]!)));
    const narrowHits = await k.nearest({ vectorStoreIds: ['vs_scope'], fileIds: narrowFiles }, q, 10);
    expect(keys(narrowHits)).toEqual(exactTop(narrow, q, 10));
    const wideFiles = [...new Set([...mine.keys()].map((key) => key.split('/')[0]!))];
    const wide = await k.nearest({ vectorStoreIds: ['vs_scope'], fileIds: wideFiles }, q, 10);
    expect(wide).toHaveLength(10);
    expect(wide.every((h) => h.vectorStoreId === 'vs_scope' && wideFiles.includes(h.fileId))).toBe(true);
    expect(keys(wide).filter((key) => exactTop(mine, q, 10).includes(key)).length).toBeGreaterThanOrEqual(9);
    // Unscoped, the copies win; the other store's never show.
    const all = await k.nearest({ vectorStoreIds: ['vs_scope'] }, q, 10);
    expect(all.every((h) => h.vectorStoreId === 'vs_scope' && h.fileId === 'near')).toBe(true);
  });

  it('removeFile, replaceFile and removeStore take the vectors’ bits with them', async () => {
    const k = stores.knowledge;
    const next = clustered(3, DIMS);
    const q = next();
    await fill('vs_rm', 'f', 2 * EXACT_BELOW, next);
    await k.replaceFile('vs_rm', 'best', [{ seq: 0, text: 'best', terms: 'v', tokens: 1, vector: q }]);
    expect((await k.nearest({ vectorStoreIds: ['vs_rm'] }, q, 1))[0]!.text).toBe('best');
    await k.removeFile('vs_rm', 'best');
    expect((await k.nearest({ vectorStoreIds: ['vs_rm'] }, q, 10)).some((h) => h.fileId === 'best')).toBe(false);
    await k.replaceFile('vs_rm', 'best', [{ seq: 0, text: 'again', terms: 'v', tokens: 1, vector: q }]);
    await k.replaceFile('vs_rm', 'best', [{ seq: 0, text: 'no vector now', terms: 'v', tokens: 1 }]);
    expect((await k.nearest({ vectorStoreIds: ['vs_rm'] }, q, 10)).some((h) => h.fileId === 'best')).toBe(false);
    const bitsRows = () => stores.db.prepare('SELECT COUNT(*) FROM knowledge_bits').pluck().get();
    expect(bitsRows()).toBe(2 * EXACT_BELOW / 200);
    await k.removeStore('vs_rm');
    expect(bitsRows()).toBe(0);
    expect(await k.nearest({ vectorStoreIds: ['vs_rm'] }, q, 10)).toEqual([]);
  });

  it('sees another connection’s writes to a store whose bits it holds', async () => {
    const k = stores.knowledge;
    const next = clustered(19, DIMS);
    const q = next();
    await fill('vs_cache', 'f', 2 * EXACT_BELOW, next);
    const before = keys(await k.nearest({ vectorStoreIds: ['vs_cache'] }, q, 3));
    const db = openDatabase(stores.db.name);
    try {
      const other = new SQLiteChunkIndex(db);
      await other.replaceFile('vs_cache', 'late', [{ seq: 0, text: 'late', terms: 'v', tokens: 1, vector: q }]);
      expect(keys(await k.nearest({ vectorStoreIds: ['vs_cache'] }, q, 3))).toEqual(['late/0', ...before.slice(0, 2)]);
      await other.removeFile('vs_cache', 'late');
      await other.removeFile('vs_cache', before[0]!.split('/')[0]!);
      const after = await k.nearest({ vectorStoreIds: ['vs_cache'] }, q, 10);
      expect(after.some((h) => h.fileId === 'late' || h.fileId === before[0]!.split('/')[0])).toBe(false);
    } finally {
      db.close();
    }
  });

  it('never returns vectors without a direction, and refuses absurd queries quietly', async () => {
    const k = stores.knowledge;
    const next = clustered(5, DIMS);
    await fill('vs_odd', 'f', EXACT_BELOW + 1000, next);
    const q = next();
    const bad = [new Float32Array(DIMS), q.map((x, i) => (i === 0 ? Number.NaN : x)), q.map((x, i) => (i === 0 ? Number.POSITIVE_INFINITY : x))];
    await k.replaceFile('vs_odd', 'bad', bad.map((vector, seq) => ({ seq, text: 'bad', terms: 'v', tokens: 1, vector })));
    const scope = { vectorStoreIds: ['vs_odd'] };
    // Asked for more than there are: every vector with a direction, exactly ordered, the bad ones never.
    const every = await k.nearest(scope, q, 1e12);
    expect(every).toHaveLength(EXACT_BELOW + 1000);
    expect(every.some((h) => h.fileId === 'bad')).toBe(false);
    expect(every.map((h) => h.score)).toEqual([...every.map((h) => h.score)].sort((a, b) => b - a));
    for (const v of bad) expect(await k.nearest(scope, v, 10)).toEqual([]);
    // A query of another length, however long, matches no vector.
    expect(await k.nearest(scope, new Float32Array(100_000).fill(1), 10)).toEqual([]);
    // 100k file ids in scope, one of them real, some repeated: that file's vectors only.
    const many = [...Array.from({ length: 100_000 }, (_, i) => `nope_${i}`), 'f3', 'f3'];
    const inFile = await k.nearest({ vectorStoreIds: ['vs_odd', 'vs_none'], fileIds: many }, q, 500);
    expect(inFile).toHaveLength(200);
    expect(new Set(inFile.map((h) => h.fileId))).toEqual(new Set(['f3']));
    expect(await k.nearest(scope, q.subarray(0, DIMS - 1), 10)).toEqual([]);
  });

  it('an old database (vectors without bits) is still searched, and gets its bits on its first search', async () => {
    const old = mkdtempSync(join(tmpdir(), 'baimo-kindex-old-'));
    try {
      const next = clustered(13, DIMS);
      const vectors = new Map<string, Float32Array>();
      let s = openSQLiteStores(old);
      for (let f = 0; f < 40; f++) {
        const chunks = Array.from({ length: 200 }, (_, seq) => {
          const vector = next();
          vectors.set(`f${f}/${seq}`, vector);
          return { seq, text: `f${f}/${seq}`, terms: 'v', tokens: 1, vector };
        });
        await s.knowledge.replaceFile('vs_old', `f${f}`, chunks);
      }
      // The file as the previous schema version left it: no bits table, no quantized column.
      undoMigrationsFrom(s.db, migrationIndex('CREATE TABLE knowledge_bits'));
      s.close();
      s = openSQLiteStores(old);
      try {
        expect(s.db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
        const q = next();
        const truth = exactTop(vectors, q, 10);
        // The first search is the exact scan (the bits are being written meanwhile).
        expect(keys(await s.knowledge.nearest({ vectorStoreIds: ['vs_old'] }, q, 10))).toEqual(truth);
        await s.knowledge.settled();
        expect(s.db.prepare('SELECT quantized FROM knowledge_stores').pluck().all()).toEqual([1]);
        expect(s.db.prepare('SELECT SUM(length(ids)) / 8 FROM knowledge_bits').pluck().get()).toBe(8000);
        const again = await s.knowledge.nearest({ vectorStoreIds: ['vs_old'] }, q, 10);
        expect(keys(again).filter((key) => truth.includes(key)).length).toBeGreaterThanOrEqual(9);
        // Files written after the migration get their bits as they are written.
        await s.knowledge.replaceFile('vs_old', 'new', [{ seq: 0, text: 'new', terms: 'v', tokens: 1, vector: q }]);
        expect((await s.knowledge.nearest({ vectorStoreIds: ['vs_old'] }, q, 1))[0]!.text).toBe('new');
      } finally {
        s.close();
      }
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });

  it('a store removed while its bits are being written stays removed', async () => {
    const old = mkdtempSync(join(tmpdir(), 'baimo-kindex-old-'));
    try {
      let s = openSQLiteStores(old);
      const next = clustered(17, DIMS);
      for (let f = 0; f < 30; f++) await s.knowledge.replaceFile('vs_gone', `f${f}`, Array.from({ length: 200 }, (_, seq) => ({ seq, text: 't', terms: 'v', tokens: 1, vector: next() })));
      undoMigrationsFrom(s.db, migrationIndex('CREATE TABLE knowledge_bits'));
      s.close();
      s = openSQLiteStores(old);
      try {
        const q = next();
        expect(await s.knowledge.nearest({ vectorStoreIds: ['vs_gone'] }, q, 10)).toHaveLength(10);
        await s.knowledge.removeStore('vs_gone');
        // A new store may be given the old one's id; the fill must not write into it.
        await s.knowledge.replaceFile('vs_new', 'f', [{ seq: 0, text: 'n', terms: 'v', tokens: 1, vector: q }]);
        await s.knowledge.settled();
        expect(s.db.prepare('SELECT COUNT(*) FROM knowledge_bits').pluck().get()).toBe(1);
        expect(keys(await s.knowledge.nearest({ vectorStoreIds: ['vs_new'] }, q, 10))).toEqual(['f/0']);
        expect(await s.knowledge.nearest({ vectorStoreIds: ['vs_gone'] }, q, 10)).toEqual([]);
      } finally {
        s.close();
      }
    } finally {
      rmSync(old, { recursive: true, force: true });
    }
  });
});

describe('vector bits', () => {
  it('counts differing signs for any number of words, and picks the smallest distances', () => {
    const rand = rng(1);
    for (const dims of [1, 31, 32, 33, 64, 100, 200, 256, 1000]) {
      const words = Math.ceil(dims / 32);
      const vs = Array.from({ length: 5 }, () => Float32Array.from({ length: dims }, () => rand() - 0.5));
      const packed = new Uint32Array(vs.length * words);
      vs.forEach((v, i) => quantize(v, packed, i * words));
      const q = Float32Array.from({ length: dims }, () => rand() - 0.5);
      const qb = new Uint32Array(words);
      quantize(q, qb, 0);
      const out = new Uint32Array(vs.length + 1);
      hamming(packed, vs.length, qb, out, 1);
      expect([...out.subarray(1)], `${dims}`).toEqual(vs.map((v) => v.reduce((n, x, i) => n + (x > 0 !== q[i]! > 0 ? 1 : 0), 0)));
    }
    const dist = Uint32Array.from([5, 1, 3, 1, 0, 9, 3, 3]);
    expect(smallest(dist, dist.length, 3, 9)).toEqual([1, 3, 4]);
    // Ties at the cut-off: the first ones.
    expect(smallest(dist, dist.length, 5, 9)).toEqual([1, 2, 3, 4, 6]);
    expect(smallest(dist, dist.length, 100, 9)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(smallest(dist, 0, 3, 9)).toEqual([]);
    // A BLOB at an odd offset is read the same.
    const b = Buffer.alloc(9);
    b.writeUInt32LE(0xdeadbeef, 1);
    b.writeUInt32LE(7, 5);
    expect([...wordsOf(b.subarray(1))]).toEqual([0xdeadbeef, 7]);
  });
});

describe('SQLite chunk index: files and stores', () => {
  it('replaceFile replaces a file’s chunks, words and vectors', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_f', 'f', [
      { seq: 0, text: 'old zero', terms: 'old zero', tokens: 2, vector: vec(1, 0) },
      { seq: 1, text: 'old one', terms: 'old one', tokens: 2, vector: vec(0, 1) },
    ]);
    await k.replaceFile('vs_f', 'f', [{ seq: 0, text: 'new zero', terms: 'new zero', tokens: 2 }]);
    const scope = { vectorStoreIds: ['vs_f'] };
    expect(await k.keyword(scope, ['old'], 10)).toEqual([]);
    expect((await k.keyword(scope, ['new'], 10)).map((h) => h.text)).toEqual(['new zero']);
    expect(await k.nearest(scope, vec(1, 0), 10)).toEqual([]);
    expect(await k.fileChunks('vs_f', 'f', undefined, 10)).toEqual([{ seq: 0, text: 'new zero', tokens: 2 }]);
    expect(stores.db.prepare('SELECT COUNT(*) FROM knowledge_vectors').pluck().get()).toBe(0);
  });

  it('replaceFile is all or nothing', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_t', 'f', chunks('kept text'));
    const dup = [...chunks('first new'), ...chunks('second new')];
    await expect(k.replaceFile('vs_t', 'f', dup)).rejects.toThrow();
    expect((await k.fileChunks('vs_t', 'f', undefined, 10)).map((c) => c.text)).toEqual(['kept text']);
    expect(await k.keyword({ vectorStoreIds: ['vs_t'] }, ['first'], 10)).toEqual([]);
    expect((await k.keyword({ vectorStoreIds: ['vs_t'] }, ['kept'], 10)).map((h) => h.text)).toEqual(['kept text']);
    // A new store's first file failing leaves no store behind, nor its words' table.
    await expect(k.replaceFile('vs_new', 'f', dup)).rejects.toThrow();
    expect(stores.db.prepare('SELECT vector_store_id FROM knowledge_stores').pluck().all()).toEqual(['vs_t']);
    expect(termTables()).toHaveLength(1);
    await k.replaceFile('vs_new', 'f', chunks('first new'));
    expect((await k.keyword({ vectorStoreIds: ['vs_new'] }, ['first'], 10)).map((h) => h.text)).toEqual(['first new']);
  });

  it('removeFile and removeStore take chunks, words, vectors and totals', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_x', 'a', [{ seq: 0, text: 'a', terms: 'word', tokens: 1, vector: vec(1, 0) }]);
    await k.replaceFile('vs_x', 'b', [{ seq: 0, text: 'b', terms: 'word', tokens: 1, vector: vec(1, 0) }]);
    await k.replaceFile('vs_y', 'a', [{ seq: 0, text: 'y', terms: 'word', tokens: 1, vector: vec(1, 0) }]);
    await k.removeFile('vs_x', 'a');
    expect((await k.keyword({ vectorStoreIds: ['vs_x'] }, ['word'], 10)).map((h) => h.fileId)).toEqual(['b']);
    expect((await k.nearest({ vectorStoreIds: ['vs_x'] }, vec(1, 0), 10)).map((h) => h.fileId)).toEqual(['b']);
    await k.removeFile('vs_x', 'missing');
    await k.removeStore('vs_x');
    expect(await k.keyword({ vectorStoreIds: ['vs_x'] }, ['word'], 10)).toEqual([]);
    expect(await k.nearest({ vectorStoreIds: ['vs_x'] }, vec(1, 0), 10)).toEqual([]);
    expect((await k.keyword({ vectorStoreIds: ['vs_x', 'vs_y'] }, ['word'], 10)).map((h) => h.text)).toEqual(['y']);
    // The store's words' table is gone with it; the other store's stays.
    expect(stores.db.prepare('SELECT vector_store_id FROM knowledge_stores').pluck().all()).toEqual(['vs_y']);
    expect(termTables()).toHaveLength(1);
    expect(stores.db.prepare('SELECT COUNT(*) FROM knowledge_vectors').pluck().get()).toBe(1);
    await k.removeStore('vs_never');
    await k.removeFile('vs_never', 'a');
    // A store removed and filled again starts from nothing.
    await k.replaceFile('vs_x', 'c', [{ seq: 0, text: 'again', terms: 'word', tokens: 1 }]);
    expect((await k.keyword({ vectorStoreIds: ['vs_x'] }, ['word'], 10)).map((h) => h.text)).toEqual(['again']);
  });

  it('pages a file’s chunks in order after a seq', async () => {
    const k = stores.knowledge;
    await k.replaceFile('vs_p', 'f', chunks('c0', 'c1', 'c2', 'c3', 'c4'));
    expect((await k.fileChunks('vs_p', 'f', undefined, 2)).map((c) => c.seq)).toEqual([0, 1]);
    expect((await k.fileChunks('vs_p', 'f', 1, 2)).map((c) => c.seq)).toEqual([2, 3]);
    expect((await k.fileChunks('vs_p', 'f', 3, 10)).map((c) => c.seq)).toEqual([4]);
    expect(await k.fileChunks('vs_p', 'f', 4, 10)).toEqual([]);
    expect(await k.fileChunks('vs_p', 'f', undefined, 0)).toEqual([]);
    expect(await k.fileChunks('vs_p', 'other', undefined, 10)).toEqual([]);
    expect(await k.fileChunks('vs_other', 'f', undefined, 10)).toEqual([]);
  });
});
