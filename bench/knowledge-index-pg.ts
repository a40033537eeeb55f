/**
 * Issue 19's keyword latency on PostgreSQL: BM25 queries through the chunk index's port
 * (PostgresChunkIndex.keyword) over BENCH_KI_CHUNKS chunks (default 100,000) in one vector store,
 * on a fresh database of the local server (127.0.0.1:5432, user postgres, trust; BAIMO_TEST_PG
 * overrides the server). Run once by hand, not in CI: npx tsx bench/knowledge-index-pg.ts
 *
 * The chunks are synthetic but shaped like segmented text: words drawn from a 50,000-word
 * vocabulary by Zipf's law (s = 1) with the 50 most frequent left out (segment.ts drops stop
 * words), 250 words per chunk on average (an 800-token chunk of Chinese or English), written
 * through replaceFile in files of 100 chunks. Queries are 2 to 4 words, each of a rank drawn
 * log-uniformly from the vocabulary (as a user's words: mostly mid-frequency, some common, some
 * rare); "common" queries hold one of the 100 most frequent words left, the worst case (tens of
 * thousands of candidates). Prints a markdown table, writes bench/results/knowledge-index-pg.md
 * and drops the database.
 */
import { writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import type { ChunkInput } from '../src/knowledge/ports.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { createTestDatabase } from '../test/helpers/pg.js';

const CHUNKS = Number(process.env.BENCH_KI_CHUNKS ?? 100_000);
if (!Number.isInteger(CHUNKS) || CHUNKS < 1000) throw new Error(`BENCH_KI_CHUNKS must be an integer ≥ 1000, not ${process.env.BENCH_KI_CHUNKS}`);
const VOCAB = 50_000;
const STOP = 50;
const WORDS_PER_CHUNK = 250;
const PER_FILE = 100;
const QUERIES = 300;
const WARMUP = 30;

const log = (s: string) => process.stderr.write(`${s}\n`);

/** A seeded generator (mulberry32), so runs compare. */
let seed = 0x9e3779b9;
function rand(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** Zipf (s = 1) over ranks STOP..VOCAB-1 by inverting the cumulative weights. */
const cumulative = new Float64Array(VOCAB);
for (let r = 0, sum = 0; r < VOCAB; r++) cumulative[r] = sum += r < STOP ? 0 : 1 / (r + 1);
function zipfRank(): number {
  const x = rand() * cumulative[VOCAB - 1]!;
  let lo = 0;
  let hi = VOCAB - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
/** Words look like segmented text's: half Chinese-like (two CJK characters and a rank), half Latin. */
const word = (rank: number) => (rank % 2 ? `词${String.fromCodePoint(0x4e00 + (rank % 20000))}${rank}` : `w${rank}`);

function chunk(seq: number): ChunkInput {
  const n = WORDS_PER_CHUNK / 2 + Math.floor(rand() * WORDS_PER_CHUNK);
  const words = Array.from({ length: n }, () => word(zipfRank()));
  const terms = words.join(' ');
  return { seq, text: terms, terms, tokens: Math.round(n * 1.3) };
}

function query(common: boolean): string[] {
  const n = 2 + Math.floor(rand() * 3);
  const ranks = Array.from({ length: n }, () => Math.floor(Math.exp(Math.log(STOP) + rand() * (Math.log(VOCAB) - Math.log(STOP)))));
  if (common) ranks[0] = STOP + Math.floor(rand() * 100);
  return ranks.map(word);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const db = await createTestDatabase();
const stores = await openPostgresStores(db.url);
try {
  const index = stores.knowledge;
  log(`writing ${CHUNKS} chunks…`);
  let t0 = performance.now();
  for (let f = 0; f * PER_FILE < CHUNKS; f++) {
    const n = Math.min(PER_FILE, CHUNKS - f * PER_FILE);
    await index.replaceFile('vs_bench', `file-${f}`, Array.from({ length: n }, (_, i) => chunk(i)));
    if (f % 100 === 99) log(`  ${(f + 1) * PER_FILE}`);
  }
  const writeS = (performance.now() - t0) / 1000;
  await stores.pool.query('VACUUM ANALYZE knowledge_chunks');
  const size = (await stores.pool.query<{ table: string; gin: string }>(
    `SELECT pg_size_pretty(pg_total_relation_size('knowledge_chunks')) AS table, pg_size_pretty(pg_relation_size('knowledge_chunks_tsv')) AS gin`,
  )).rows[0]!;

  const files = Array.from({ length: 1000 }, (_, i) => `file-${i * 3}`);
  const cases: { name: string; common: boolean; fileIds?: string[]; limit: number }[] = [
    { name: 'typical words, top 20', common: false, limit: 20 },
    { name: 'typical words, 1,000 of the files', common: false, fileIds: files, limit: 20 },
    { name: 'with a common word, top 20', common: true, limit: 20 },
  ];
  const rows: string[] = [];
  for (const c of cases) {
    const times: number[] = [];
    let hits = 0;
    for (let i = 0; i < WARMUP + QUERIES; i++) {
      const terms = query(c.common);
      t0 = performance.now();
      const r = await index.keyword({ vectorStoreIds: ['vs_bench'], ...(c.fileIds ? { fileIds: c.fileIds } : {}) }, terms, c.limit);
      if (i >= WARMUP) {
        times.push(performance.now() - t0);
        hits += r.length;
      }
    }
    times.sort((a, b) => a - b);
    const row = `| ${c.name} | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 95).toFixed(1)} | ${times.at(-1)!.toFixed(1)} | ${(hits / QUERIES).toFixed(1)} |`;
    log(row);
    rows.push(row);
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    `# Keyword search on PostgreSQL (issue 19)`,
    '',
    `${CHUNKS.toLocaleString('en')} chunks (${WORDS_PER_CHUNK} words on average, Zipf over ${VOCAB.toLocaleString('en')} words) in one vector store;`,
    `${(await stores.pool.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version} on ${availableParallelism()} × ${cpu}, shared with other work (load average ${loadavg()[0]!.toFixed(1)} at the end).`,
    `Written through replaceFile in files of ${PER_FILE}: ${writeS.toFixed(0)} s (${(CHUNKS / writeS).toFixed(0)} chunks/s); table ${size.table} (GIN index ${size.gin}).`,
    `${QUERIES} queries per line (2 to 4 words) after ${WARMUP} to warm up, one client, times in ms through the port (one round trip).`,
    '',
    '| query | p50 ms | p95 ms | max ms | hits per query |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(md);
  writeFileSync(new URL('./results/knowledge-index-pg.md', import.meta.url), md);
} finally {
  await stores.close();
  await db.drop();
}
