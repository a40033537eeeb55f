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
 * of the five most frequent words. Segmentation and embedding are not timed: only the index.
 *
 * Vectors, two sets of `size` each, 50 queries drawn as the set's vectors are:
 * - random unit vectors (uniform on the sphere): no structure at all, the worst case for the
 *   1-bit prefilter (the nearest are hardly nearer than the rest), unlike real embeddings;
 * - clustered, made like real embeddings: 300 topics; a vector is mean + topic + noise, normalized.
 *   The mean is a fixed direction of length 0.5 (real embeddings share a common component: any
 *   two have a positive cosine, here about 0.25); topic centres and noise are Gaussian with a
 *   standard deviation decaying as rank^-0.5 over the dimensions (variance ∝ 1/rank: anisotropic,
 *   two thirds of the variance in a tenth of the directions, as in embeddings' principal
 *   components), noise 1.5 times a topic's spread (a query's 10th nearest chunk has a cosine of
 *   about 0.45), turned by a fixed random rotation (random signs, then a Walsh-Hadamard transform),
 *   so that the principal directions are not the coordinate axes — a model's are not either.
 * The recall of the approximate search is measured against the exact cosine top 10 of the same
 * query, which one SQL statement computes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChunkInput } from '../src/knowledge/ports.js';
import { openSQLiteStores } from '../src/store/sqlite/index.js';
import { candidates, EXACT_BELOW, MIN_CANDIDATES } from '../src/store/sqlite/knowledge-index.js';
import { bitWords, float64sOf, hamming, quantize, smallest, wordsOf } from '../src/store/sqlite/vector-bits.js';
import { mulberry32 } from '../src/core/random.js';

const SIZES = process.argv.slice(2).map(Number).filter((n) => n > 0);
const DIMS = 1024;
const WORDS_PER_CHUNK = 300;
const VOCAB = 50_000;
const STOP = 20;
const FILE_CHUNKS = 100;

/** Seeded, so runs compare. */
const rand = mulberry32(42);

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

/** A standard normal deviate (Box-Muller over `rand`). */
let spare: number | undefined;
function gauss(): number {
  if (spare !== undefined) {
    const x = spare;
    spare = undefined;
    return x;
  }
  const m = Math.sqrt(-2 * Math.log(rand() || 1e-300));
  const a = 2 * Math.PI * rand();
  spare = m * Math.sin(a);
  return m * Math.cos(a);
}

/** The clustered set's generator (see the top of the file), its constants drawn once. */
function clusteredGenerator(): () => Float32Array {
  const TOPICS = 300;
  const MEAN = 1;
  const NOISE = 1.5;
  const spread = new Float64Array(DIMS);
  for (let i = 0; i < DIMS; i++) spread[i] = (i + 1) ** -0.5;
  const norm = Math.sqrt(spread.reduce((a, x) => a + x * x, 0));
  for (let i = 0; i < DIMS; i++) spread[i]! /= norm;
  const signs = Float64Array.from({ length: DIMS }, () => (rand() < 0.5 ? -1 : 1));
  const mean = Float64Array.from({ length: DIMS }, gauss);
  const m = Math.sqrt(mean.reduce((a, x) => a + x * x, 0));
  for (let i = 0; i < DIMS; i++) mean[i] = (mean[i]! / m) * MEAN;
  const topics = Array.from({ length: TOPICS }, () => Float64Array.from(spread, (s) => s * gauss()));
  return () => {
    const topic = topics[Math.floor(rand() * TOPICS)]!;
    const u = new Float64Array(DIMS);
    for (let i = 0; i < DIMS; i++) u[i] = (topic[i]! + NOISE * spread[i]! * gauss()) * signs[i]!;
    // Fast Walsh-Hadamard transform, scaled to a rotation.
    for (let h = 1; h < DIMS; h <<= 1) {
      for (let i = 0; i < DIMS; i += h << 1) {
        for (let j = i; j < i + h; j++) {
          const x = u[j]!;
          const y = u[j + h]!;
          u[j] = x + y;
          u[j + h] = x - y;
        }
      }
    }
    const v = new Float32Array(DIMS);
    let n = 0;
    for (let i = 0; i < DIMS; i++) n += (v[i] = mean[i]! + u[i]! / Math.sqrt(DIMS)) ** 2;
    n = Math.sqrt(n);
    for (let i = 0; i < DIMS; i++) v[i]! /= n;
    return v;
  };
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

    // The clustered set: a store of its own, vectors only (one word a chunk, not searched).
    const clustered = 'vs_clustered';
    const generate = clusteredGenerator();
    let clusteredMs = 0;
    for (let f = 0; f * FILE_CHUNKS < size; f++) {
      const chunks: ChunkInput[] = [];
      for (let seq = 0; seq < FILE_CHUNKS && f * FILE_CHUNKS + seq < size; seq++) chunks.push({ seq, text: 'c', terms: 'c', tokens: 1, vector: generate() });
      const t = performance.now();
      await k.replaceFile(clustered, `file_${f}`, chunks);
      clusteredMs += performance.now() - t;
    }
    console.log(`${size} clustered vectors indexed in ${(clusteredMs / 1000).toFixed(1)} s (one word a chunk)`);
    stores.db.exec('ANALYZE');

    const blob = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    // The exact top 10, in one statement: the reference for recall, and the exact scan's time.
    const exact = stores.db.prepare(`SELECT c.file_id || '/' || c.seq AS key, v.score FROM (
        SELECT id, 1 - vec_distance_cosine(vector, @q) AS score FROM knowledge_vectors
        WHERE length(vector) = @bytes AND vector_store_id = @store AND (@files IS NULL OR file_id IN (SELECT value FROM json_each(@files)))
        ORDER BY score DESC LIMIT 10) v JOIN knowledge_chunks c ON c.id = v.id ORDER BY v.score DESC`);
    const recalls: string[] = [];
    const recall = (got: string[][], truth: string[][]): number =>
      got.reduce((a, g, i) => a + g.filter((x) => truth[i]!.includes(x)).length / truth[i]!.length, 0) / got.length;
    const sets = [
      { name: 'random', store, gen: unit },
      { name: 'clustered', store: clustered, gen: generate },
    ];
    for (const set of sets) {
      const queries = Array.from({ length: 50 }, set.gen);
      const truth: string[][] = [];
      let tenth = 0;
      row(size, `nearest, exact scan, one statement (sync), ${set.name}`, await timeAll(queries.length, (i) => {
        const r = exact.all({ q: blob(queries[i]!), bytes: DIMS * 4, store: set.store, files: null }) as { key: string; score: number }[];
        truth[i] = r.map((x) => x.key);
        tenth += r[9]!.score / queries.length;
      }));
      const got: string[][] = [];
      row(size, `nearest, 1-bit prefilter + exact rescoring, ${set.name}`, await timeAll(queries.length, async (i) => {
        got[i] = (await k.nearest({ vectorStoreIds: [set.store] }, queries[i]!, 10)).map((h) => `${h.fileId}/${h.seq}`);
      }));
      // Any write to the store makes its cached bits stale: the next search reads them from
      // knowledge_bits again. Each search timed here follows an untimed one-chunk write.
      const cold = { wall: [] as number[], cpu: [] as number[] };
      for (let i = 0; i < 10; i++) {
        await k.replaceFile(set.store, 'file_written', [{ seq: 0, text: 'w', terms: 'w', tokens: 1, vector: set.gen() }]);
        const one = await timeAll(1, () => k.nearest({ vectorStoreIds: [set.store] }, queries[i]!, 10));
        cold.wall.push(...one.wall);
        cold.cpu.push(...one.cpu);
      }
      await k.removeFile(set.store, 'file_written');
      row(size, `nearest, first search after a write to the store (bits reread), ${set.name}`, cold);
      let pairs = 0;
      let pairCos = 0;
      for (let a = 0; a < queries.length; a++) {
        for (let b = a + 1; b < queries.length; b++, pairs++) for (let d = 0; d < DIMS; d++) pairCos += queries[a]![d]! * queries[b]![d]!;
      }
      recalls.push(`| ${size.toLocaleString('en')} | ${set.name} | ${candidates(10, DIMS)} (shipped: k.nearest) | ${recall(got, truth).toFixed(3)} |`);
      console.log(`${set.name}: cosine of two queries ${(pairCos / pairs).toFixed(2)} on average; the 10th nearest chunk's ${tenth.toFixed(2)}`);
      // Recall for other candidate counts: the same functions over the store's bits as read
      // from knowledge_bits, rescored by the same SQL.
      const rows = stores.db.prepare('SELECT ids, bits FROM knowledge_bits WHERE store_id = (SELECT id FROM knowledge_stores WHERE vector_store_id = ?) AND dims = ?').all(set.store, DIMS) as { ids: Buffer; bits: Buffer }[];
      const ids = rows.flatMap((r) => [...float64sOf(r.ids)]);
      const bits = new Uint32Array(ids.length * bitWords(DIMS));
      let at = 0;
      for (const r of rows) {
        const w = wordsOf(r.bits);
        bits.set(w, at);
        at += w.length;
      }
      const rescore = stores.db.prepare(`SELECT c.file_id || '/' || c.seq AS key FROM (
          SELECT id, 1 - vec_distance_cosine(vector, ?) AS score FROM knowledge_vectors WHERE id IN (SELECT value FROM json_each(?))
          ORDER BY score DESC LIMIT 10) v JOIN knowledge_chunks c ON c.id = v.id`).pluck();
      for (const c of [100, 200, 400, 800, 1600]) {
        const swept = queries.map((q) => {
          const qb = new Uint32Array(bitWords(DIMS));
          quantize(q, qb, 0);
          const dist = new Uint32Array(ids.length);
          hamming(bits, ids.length, qb, dist, 0);
          return rescore.all(blob(q), JSON.stringify(smallest(dist, ids.length, c, DIMS).map((i) => ids[i]))) as string[];
        });
        recalls.push(`| ${size.toLocaleString('en')} | ${set.name} | ${c} | ${recall(swept, truth).toFixed(3)} |`);
      }
    }
    // A scope of files: half the store's files (every other one, 1,000 named), and three files.
    for (const [what, fileIds] of [
      ['1,000 files named, half the store in scope', Array.from({ length: 1000 }, (_, i) => `file_${i * 2}`)],
      [`3 files in scope (exact: ${EXACT_BELOW.toLocaleString('en')} vectors or fewer)`, ['file_1', 'file_7', 'file_42']],
    ] as const) {
      const queries = Array.from({ length: 20 }, generate);
      const truth = queries.map((q) => (exact.all({ q: blob(q), bytes: DIMS * 4, store: clustered, files: JSON.stringify(fileIds) }) as { key: string }[]).map((x) => x.key));
      const got: string[][] = [];
      row(size, `nearest, clustered, ${what}`, await timeAll(queries.length, async (i) => {
        got[i] = (await k.nearest({ vectorStoreIds: [clustered], fileIds }, queries[i]!, 10)).map((h) => `${h.fileId}/${h.seq}`);
      }));
      recalls.push(`| ${size.toLocaleString('en')} | clustered, ${what} | shipped | ${recall(got, truth).toFixed(3)} |`);
    }

    // The alternatives, on the random set. The same 1-bit prefilter in SQL, a row per vector
    // (sqlite-vec's vec_distance_hamming): the per-row cost is SQLite's, not the distance's.
    const vectors = Array.from({ length: 20 }, unit);
    stores.db.exec(`CREATE TABLE bench_bits AS SELECT id, vector_store_id, vec_quantize_binary(vector) AS bits FROM knowledge_vectors WHERE vector_store_id = '${store}'`);
    const hammingSql = stores.db.prepare(`SELECT id FROM bench_bits WHERE vector_store_id = ? ORDER BY vec_distance_hamming(vec_bit(bits), vec_quantize_binary(?)) LIMIT ${MIN_CANDIDATES}`);
    row(size, `1-bit prefilter alone in SQL, ${MIN_CANDIDATES} candidates (sync)`, await timeAll(vectors.length, (i) => hammingSql.all(store, blob(vectors[i]!))));
    // BLOBs read out, cosine in JavaScript.
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
    // sqlite-vec's vec0 table (fixed dimension per table, store as partition key): exact, brute force.
    const t = performance.now();
    stores.db.exec(`CREATE VIRTUAL TABLE bench_vec USING vec0 (store TEXT PARTITION KEY, embedding float[${DIMS}] distance_metric=cosine)`);
    stores.db.exec(`INSERT INTO bench_vec (rowid, store, embedding) SELECT id, vector_store_id, vector FROM knowledge_vectors WHERE vector_store_id = '${store}'`);
    console.log(`vec0 built in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const knn = stores.db.prepare('SELECT rowid, distance FROM bench_vec WHERE embedding MATCH ? AND k = 10 AND store = ?');
    row(size, 'nearest, vec0 KNN (sync)', await timeAll(vectors.length, (i) => knn.all(blob(vectors[i]!), store)));
    console.log(`\n| chunks | vectors | candidates rescored | recall@10 |\n|---|---|---|---|\n${recalls.join('\n')}\n`);
  } finally {
    stores.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log('| chunks | query | p50 ms | p95 ms | max ms | CPU p50 ms | CPU p95 ms |\n|---|---|---|---|---|---|---|');
for (const size of SIZES.length > 0 ? SIZES : [10_000, 100_000]) await bench(size);
