/**
 * How fast the embedded chunk index (store/sqlite/knowledge-index.ts) answers, at 10k and 100k
 * chunks of one vector store with 1024-dimension vectors; and, for the vector half, the
 * alternatives it was chosen over: the same exact scan in JavaScript over the BLOBs, and
 * sqlite-vec's vec0 virtual table. Run: npm run bench:knowledge [-- 10000 100000]
 *
 * The corpus is synthetic, as segmentation leaves it: 300 words a chunk (an 800-token chunk less
 * its stop words) drawn from a 50,000-word Zipf vocabulary, its 20 most frequent ranks left out
 * as segment.ts's stop words are; half the words Chinese-shaped (two characters), half ASCII.
 * Keyword queries: 200 of 2-5 words from ranks 20-5,000 (typical query words), and a worst case
 * of the five most frequent words. Vectors: random unit vectors (an exact scan's cost does not
 * depend on them). Segmentation and embedding are not timed: only the index.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChunkInput } from '../src/knowledge/ports.js';
import { openSQLiteStores } from '../src/store/sqlite/index.js';

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const DIMS = 1024;
const WORDS_PER_CHUNK = 300;
const VOCAB = 50_000;
const STOP = 20;
const FILE_CHUNKS = 100;

/** A deterministic generator (mulberry32), so runs compare. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = rng(42);

const vocabulary = Array.from({ length: VOCAB }, (_, i) =>
  i % 2 === 0 ? String.fromCodePoint(0x4e00 + (i % 20000), 0x4e00 + ((i * 7919) % 20000)) : `w${i.toString(36)}`,
);
// Zipf (s = 1) over ranks STOP..VOCAB-1: cumulative weights, sampled by binary search.
const cdf = new Float64Array(VOCAB);
let total = 0;
for (let r = 0; r < VOCAB; r++) cdf[r] = total += r < STOP ? 0 : 1 / (r + 1);
function word(): string {
  const x = rand() * total;
  let lo = 0;
  let hi = VOCAB - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return vocabulary[lo]!;
}

function unit(): Float32Array {
  const v = new Float32Array(DIMS);
  let norm = 0;
  for (let i = 0; i < DIMS; i++) norm += (v[i] = rand() * 2 - 1) ** 2;
  norm = Math.sqrt(norm);
  for (let i = 0; i < DIMS; i++) v[i]! /= norm;
  return v;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

const ms = (x: number): string => x.toFixed(1);

/** Wall-clock and CPU milliseconds of each call: the CPU time is what the call would take on an idle machine. */
async function timeAll(n: number, f: (i: number) => unknown): Promise<{ wall: number[]; cpu: number[] }> {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    await f(i);
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  return { wall, cpu };
}

const row = (size: number, what: string, xs: { wall: number[]; cpu: number[] }) => {
  const line = `| ${size.toLocaleString('en')} | ${what} | ${ms(percentile(xs.wall, 50))} | ${ms(percentile(xs.wall, 95))} | ${ms(Math.max(...xs.wall))} | ${ms(percentile(xs.cpu, 50))} | ${ms(percentile(xs.cpu, 95))} |`;
  console.log(line);
};

async function bench(size: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'baimo-kbench-'));
  const stores = openSQLiteStores(dir);
  try {
    const k = stores.knowledge;
    const store = 'vs_bench';
    // A second, small store, so that scoping is exercised (its chunks never in scope).
    const other = 'vs_other';
    let termBytes = 0;
    let indexMs = 0;
    for (let f = 0; f * FILE_CHUNKS < size; f++) {
      const chunks: ChunkInput[] = [];
      for (let seq = 0; seq < FILE_CHUNKS && f * FILE_CHUNKS + seq < size; seq++) {
        const terms = Array.from({ length: WORDS_PER_CHUNK }, word).join(' ');
        termBytes += Buffer.byteLength(terms);
        chunks.push({ seq, text: terms, terms, tokens: 800, vector: unit() });
      }
      const t = performance.now();
      await k.replaceFile(store, `file_${f}`, chunks);
      indexMs += performance.now() - t;
    }
    await k.replaceFile(other, 'file_x', Array.from({ length: 100 }, (_, seq) => ({ seq, text: 'x', terms: vocabulary[STOP]!, tokens: 1, vector: unit() })));
    stores.db.exec('ANALYZE');
    const line = `${size} chunks indexed in ${(indexMs / 1000).toFixed(1)} s (${((termBytes / 1e6 / indexMs) * 60_000).toFixed(0)} MB of words a minute, vectors included)`;
    console.log(line);

    const scope = { vectorStoreIds: [store] };
    const queries = Array.from({ length: 200 }, () => {
      const n = 2 + Math.floor(rand() * 4);
      return Array.from({ length: n }, () => vocabulary[STOP + Math.floor(rand() * 4980)]!);
    });
    await k.keyword(scope, queries[0]!, 10);
    row(size, 'keyword, 2-5 words, top 10', await timeAll(queries.length, (i) => k.keyword(scope, queries[i]!, 10)));
    const common = vocabulary.slice(STOP, STOP + 5);
    row(size, 'keyword, the 5 most frequent words', await timeAll(10, () => k.keyword(scope, common, 10)));
    const files = { vectorStoreIds: [store], fileIds: Array.from({ length: 1000 }, (_, i) => `file_${i * 2}`) };
    row(size, 'keyword, 2-5 words, 1,000 files in scope', await timeAll(50, (i) => k.keyword(files, queries[i]!, 10)));

    const vectors = Array.from({ length: 20 }, unit);
    row(size, 'nearest (sqlite-vec cosine, windows of 10k rowids)', await timeAll(vectors.length, (i) => k.nearest(scope, vectors[i]!, 10)));
    // The same scan as one statement: how long one synchronous step would hold the event loop.
    const whole = stores.db.prepare(`SELECT id, 1 - vec_distance_cosine(vector, ?) AS score FROM knowledge_vectors
      WHERE length(vector) = ? AND vector_store_id = ? ORDER BY score DESC LIMIT 10`);
    const blob = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    row(size, 'nearest, one statement (sync)', await timeAll(vectors.length, (i) => whole.all(blob(vectors[i]!), DIMS * 4, store)));
    // The alternative: BLOBs read out, cosine in JavaScript.
    const read = stores.db.prepare('SELECT id, vector FROM knowledge_vectors WHERE vector_store_id = ?');
    row(size, 'nearest, exact scan in JS (sync)', await timeAll(3, (i) => {
      const q = vectors[i]!;
      const best: { id: number; s: number }[] = [];
      for (const r of read.iterate(store) as Iterable<{ id: number; vector: Buffer }>) {
        const v = new Float32Array(r.vector.buffer, r.vector.byteOffset, DIMS);
        let dot = 0;
        let nv = 0;
        for (let d = 0; d < DIMS; d++) {
          dot += q[d]! * v[d]!;
          nv += v[d]! * v[d]!;
        }
        const s = dot / Math.sqrt(nv);
        if (best.length < 10 || s > best[best.length - 1]!.s) {
          best.push({ id: r.id, s });
          best.sort((a, b) => b.s - a.s);
          if (best.length > 10) best.pop();
        }
      }
      return best;
    }));
    // The alternative: sqlite-vec's vec0 table (fixed dimension per table, store as partition key).
    const t = performance.now();
    stores.db.exec(`CREATE VIRTUAL TABLE bench_vec USING vec0 (store TEXT PARTITION KEY, embedding float[${DIMS}] distance_metric=cosine)`);
    stores.db.exec(`INSERT INTO bench_vec (rowid, store, embedding) SELECT id, vector_store_id, vector FROM knowledge_vectors`);
    console.log(`vec0 built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const knn = stores.db.prepare('SELECT rowid, distance FROM bench_vec WHERE embedding MATCH ? AND k = 10 AND store = ?');
    row(size, 'nearest, vec0 KNN (sync)', await timeAll(vectors.length, (i) => knn.all(blob(vectors[i]!), store)));
  } finally {
    stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log('| chunks | query | p50 ms | p95 ms | max ms | CPU p50 ms | CPU p95 ms |\n|---|---|---|---|---|---|---|');
for (const size of SIZES.length > 0 ? SIZES : [10_000, 100_000]) await bench(size);
