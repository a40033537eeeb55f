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
 * thousands of candidates). Each query runs twice, through the one-pass statement the index had
 * before MaxScore and through the port, on one connection each (wall time, and the server process's
 * CPU time from /proc). Prints a markdown table, writes bench/results/knowledge-index-pg.md and
 * drops the database. BENCH_KI_QUERIES (default 300) sets the queries per line; BENCH_KI_DATABASE
 * names a database an earlier run of the same size left (one stopped after its writes): the
 * queries run on it, nothing is written or dropped. BENCH_KI_KEEP=1 keeps the database a run
 * wrote (its URL is printed), for BENCH_KI_DATABASE and EXPLAIN.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import pg from 'pg';
import type { ChunkInput } from '../src/knowledge/ports.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { createTestDatabase } from '../test/helpers/pg.js';
import { mulberry32 } from '../src/core/random.js';

const CHUNKS = Number(process.env.BENCH_KI_CHUNKS ?? 100_000);
if (!Number.isInteger(CHUNKS) || CHUNKS < 1000) throw new Error(`BENCH_KI_CHUNKS must be an integer ≥ 1000, not ${process.env.BENCH_KI_CHUNKS}`);
const VOCAB = 50_000;
const STOP = 50;
const WORDS_PER_CHUNK = 250;
const PER_FILE = 100;
const QUERIES = Number(process.env.BENCH_KI_QUERIES ?? 300);
if (!Number.isInteger(QUERIES) || QUERIES < 10) throw new Error(`BENCH_KI_QUERIES must be an integer ≥ 10, not ${process.env.BENCH_KI_QUERIES}`);
const WARMUP = Math.ceil(QUERIES / 10);
/** A database an earlier run of the same size wrote and kept (its URL): the queries run on it again, nothing is written or dropped. */
const REUSE = process.env.BENCH_KI_DATABASE;
const KEEP = process.env.BENCH_KI_KEEP === '1';

const log = (s: string) => process.stderr.write(`${s}\n`);

/** Seeded, so runs compare. */
const rand = mulberry32(0x9e3779b9);

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

/** A server process's CPU time so far (user + system), in ms: fields 14 and 15 of /proc/PID/stat, in 10 ms ticks. */
function serverCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** The one-pass BM25 statement the index had before MaxScore (test/knowledge/index-postgres.test.ts keeps it too). */
const NAIVE_SQL = `
WITH stats AS (
  SELECT sum(chunks)::float8 AS n, sum(words)::float8 / greatest(sum(chunks), 1) AS avgdl
  FROM knowledge_index_stats WHERE vector_store_id = ANY ($1::text[])
), hits AS (
  SELECT c.vector_store_id, c.file_id, c.seq, c.words, u.lexeme, cardinality(u.positions) AS tf
  FROM knowledge_chunks c
  CROSS JOIN LATERAL unnest(ts_filter(setweight(c.tsv, 'A', $3::text[]), '{a}')) AS u
  WHERE c.vector_store_id = ANY ($1::text[]) AND c.tsv @@ $4::tsquery
), df AS (
  SELECT lexeme, count(*)::float8 AS df FROM hits GROUP BY lexeme
), top AS (
  SELECT h.vector_store_id, h.file_id, h.seq,
         sum(ln(1 + (s.n - df.df + 0.5) / (df.df + 0.5)) * h.tf * 2.2
             / (h.tf + 1.2 * (0.25 + 0.75 * h.words / greatest(s.avgdl, 1e-9)))) AS score
  FROM hits h JOIN df USING (lexeme) CROSS JOIN stats s
  WHERE $2::text[] IS NULL OR h.file_id = ANY ($2::text[])
  GROUP BY h.vector_store_id, h.file_id, h.seq
  ORDER BY score DESC, h.vector_store_id, h.file_id, h.seq
  LIMIT $5
)
SELECT t.vector_store_id, t.file_id, t.seq, c.text, t.score
FROM top t JOIN knowledge_chunks c USING (vector_store_id, file_id, seq)
ORDER BY t.score DESC, t.vector_store_id, t.file_id, t.seq`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const db = REUSE ? { url: REUSE, drop: async () => {} } : await createTestDatabase();
const stores = await openPostgresStores(db.url, { poolSize: 1 });
try {
  const index = stores.knowledge;
  log(`writing ${CHUNKS} chunks…`);
  let t0 = performance.now();
  for (let f = 0; f * PER_FILE < CHUNKS; f++) {
    const n = Math.min(PER_FILE, CHUNKS - f * PER_FILE);
    // Generated either way, so that the queries after them are the same draws.
    const chunks = Array.from({ length: n }, (_, i) => chunk(i));
    if (!REUSE) await index.replaceFile('vs_bench', `file-${f}`, chunks);
    if (f % 100 === 99) log(`  ${(f + 1) * PER_FILE}`);
  }
  const writeS = (performance.now() - t0) / 1000;
  log(REUSE ? `reusing ${REUSE}` : `written in ${writeS.toFixed(0)} s`);
  await stores.pool.query('VACUUM ANALYZE knowledge_chunks');
  const size = (await stores.pool.query<{ table: string; gin: string }>(
    `SELECT pg_size_pretty(pg_total_relation_size('knowledge_chunks')) AS table, pg_size_pretty(pg_relation_size('knowledge_chunks_tsv')) AS gin`,
  )).rows[0]!;
  const loadStart = loadavg().map((x) => x.toFixed(1)).join(', ');

  const files = Array.from({ length: 1000 }, (_, i) => `file-${i * 3}`);
  const cases: { name: string; common: boolean; fileIds?: string[]; limit: number }[] = [
    { name: 'typical words, top 20', common: false, limit: 20 },
    { name: 'typical words, 1,000 of the files', common: false, fileIds: files, limit: 20 },
    { name: 'with a common word, top 20', common: true, limit: 20 },
  ];
  // One connection each, so that its server process's CPU time is the query's.
  const naivePool = new pg.Pool({ connectionString: db.url, max: 1 });
  const naivePid = (await naivePool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const prunedPid = (await stores.pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const rows: string[] = [];
  let differing = 0;
  for (const c of cases) {
    const t = { naive: [] as number[], pruned: [] as number[] };
    const cpu = { naive: 0, pruned: 0 };
    let hits = 0;
    for (let i = 0; i < WARMUP + QUERIES; i++) {
      const terms = query(c.common);
      const scope = { vectorStoreIds: ['vs_bench'], ...(c.fileIds ? { fileIds: c.fileIds } : {}) };
      const runs = {
        naive: () => naivePool.query<{ file_id: string; seq: number; score: number }>(NAIVE_SQL, [scope.vectorStoreIds, c.fileIds ?? null, [...new Set(terms)], [...new Set(terms)].map((w) => `'${w}'`).join(' | '), c.limit]).then((r) => r.rows),
        pruned: () => index.keyword(scope, terms, c.limit),
      };
      const got: Record<string, { id: string; score: number }[]> = {};
      // Alternating which goes first, so that neither always finds the other's pages cached.
      for (const which of i % 2 ? (['naive', 'pruned'] as const) : (['pruned', 'naive'] as const)) {
        const pid = which === 'naive' ? naivePid : prunedPid;
        const cpu0 = serverCpuMs(pid);
        t0 = performance.now();
        const r = await runs[which]();
        const wall = performance.now() - t0;
        got[which] = r.map((h) => ({ id: `${'file_id' in h ? h.file_id : h.fileId}#${h.seq}`, score: Number(h.score) }));
        if (i >= WARMUP) {
          t[which].push(wall);
          cpu[which] += serverCpuMs(pid) - cpu0;
          if (which === 'pruned') hits += r.length;
        }
      }
      // The same chunk at each rank, and the same score, except where two scores tie (a sum's rounding may order them either way).
      const [a, b] = [got.naive!, got.pruned!];
      const tied = (x: number) => a.filter((o) => Math.abs(o.score - x) <= 1e-9 * x).length > 1;
      if (a.length !== b.length || a.some((h, j) => Math.abs(h.score - b[j]!.score) > 1e-9 * h.score || (h.id !== b[j]!.id && !tied(h.score)))) {
        differing++;
        log(`differs: ${terms.join(' ')}\n  before ${JSON.stringify(a)}\n  after  ${JSON.stringify(b)}`);
      }
    }
    for (const which of ['naive', 'pruned'] as const) {
      const times = t[which].sort((a, b) => a - b);
      const row = `| ${c.name} | ${which === 'naive' ? 'before (one pass, every candidate)' : 'after (MaxScore)'} | ${percentile(times, 50).toFixed(1)} | ${percentile(times, 95).toFixed(1)} | ${times.at(-1)!.toFixed(1)} | ${(cpu[which] / QUERIES).toFixed(1)} | ${(hits / QUERIES).toFixed(1)} |`;
      log(row);
      rows.push(row);
    }
  }
  await naivePool.end();
  const load = loadavg().map((x) => x.toFixed(1)).join(', ');

  const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
  const md = [
    `# Keyword search on PostgreSQL (issue 19)`,
    '',
    `${CHUNKS.toLocaleString('en')} chunks (${WORDS_PER_CHUNK} words on average, Zipf over ${VOCAB.toLocaleString('en')} words) in one vector store;`,
    `${(await stores.pool.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version} on ${availableParallelism()} × ${cpuModel}, shared with other work (load average ${loadStart} before the queries, ${load} at the end).`,
    `${REUSE ? 'Written by an earlier run' : `Written through replaceFile in files of ${PER_FILE}: ${writeS.toFixed(0)} s (${(CHUNKS / writeS).toFixed(0)} chunks/s)`}; table ${size.table} (GIN index ${size.gin}).`,
    `${QUERIES} queries per line (2 to 4 words) after ${WARMUP} to warm up, one client. Each query runs both ways in turn`,
    `(alternating which goes first): "before" is the one-pass statement the index had (kept here and in its test as the`,
    `reference), "after" the port's pruned search. Wall times in ms through \`pg\`; server CPU is the backend's user +`,
    `system time per query (from /proc, 10 ms ticks summed over the run). Result lists differed (beyond the order of tied scores) in ${differing} of ${cases.length * (WARMUP + QUERIES)} queries.`,
    '',
    '| query | search | p50 ms | p95 ms | max ms | server CPU ms/query | hits per query |',
    '|---|---|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
  process.stdout.write(md);
  writeFileSync(new URL(process.env.BENCH_KI_OUT ?? './results/knowledge-index-pg.md', import.meta.url), md);
} finally {
  await stores.close();
  if (KEEP && !REUSE) log(`kept: BENCH_KI_DATABASE=${db.url}`);
  else await db.drop();
}
