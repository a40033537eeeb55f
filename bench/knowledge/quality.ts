/**
 * The bilingual retrieval benchmark (issue 19, "Quality and speed, measured"):
 * `npm run bench:knowledge:quality`. Scores the judged queries against
 *  - in-process baselines over the same corpus: raw SQLite FTS5 (no segmentation) and FTS5 over
 *    jieba-segmented words, with and without contextual chunk headers (no hub needed);
 *  - the hub, through the official openai SDK: keyword, vector, hybrid and hybrid + rerank, each
 *    with and without contextual headers (modes needing a model run only when one is named);
 * and times Chinese ingestion and keyword queries on the hub. Writes
 * bench/results/knowledge-quality.md and prints it. See README.md in this folder for the settings.
 * Exit status 2 when the hub part failed (the baseline rows are still written).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { countTokens, loadTokenizer } from '../../src/usage/tokens.js';
import { CHUNKING, MAX_RESULTS, MODES } from './api.js';
import { chunkMarkdown } from './chunk.js';
import { HERE, loadCorpus, loadQueries, validateDataset } from './dataset.js';
import { buildFts } from './fts.js';
import type { Tokens } from './fts.js';
import { connectHub, runHub } from './hub-run.js';
import type { HubResult } from './hub-run.js';
import { scoreQuery, summarise } from './judge.js';
import type { QueryScore } from './judge.js';
import { renderReport } from './report.js';
import type { Row } from './report.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

const docs = loadCorpus();
const queries = loadQueries();
const dataset = validateDataset(docs, queries);
if (dataset.problems.length) {
  log(`the dataset has problems (run bench/knowledge/check.ts):\n${dataset.problems.join('\n')}`);
  process.exit(1);
}

// In-process baselines.
await loadTokenizer('gpt-4o');
const count = (t: string) => countTokens('gpt-4o', t).tokens;
const chunks = docs.flatMap((d) => chunkMarkdown(d.name, d.text, { maxTokens: CHUNKING.max_chunk_size_tokens, overlapTokens: CHUNKING.chunk_overlap_tokens }, count));
log(`baseline: ${chunks.length} chunks from ${docs.length} documents`);
const baselines: { retrieval: string; tokens: Tokens; headers: boolean }[] = [
  { retrieval: 'raw FTS5 (no segmentation)', tokens: 'raw', headers: false },
  { retrieval: 'raw FTS5 (no segmentation)', tokens: 'raw', headers: true },
  { retrieval: 'jieba-segmented FTS5 BM25', tokens: 'segmented', headers: false },
  { retrieval: 'jieba-segmented FTS5 BM25', tokens: 'segmented', headers: true },
];
const rows: Row[] = baselines.map((b) => {
  const index = buildFts(chunks, b.tokens, b.headers);
  const scores = new Map<string, QueryScore>(queries.map((q) => [q.id, scoreQuery(q, index.search(q.query, MAX_RESULTS))]));
  index.close();
  return { retrieval: b.retrieval, where: 'in-process', headers: b.headers, summary: summarise(queries, scores) };
});

// The hub.
const models = { embedding: process.env.BAIMO_BENCH_EMBEDDING_MODEL || undefined, rerank: process.env.BAIMO_BENCH_RERANK_MODEL || undefined };
let hub: { label: string; result?: HubResult; skipped?: string };
if (process.env.BAIMO_BENCH_HUB === '0') {
  hub = { label: 'none', skipped: 'BAIMO_BENCH_HUB=0' };
} else {
  const conn = await connectHub(models);
  log(`hub: ${conn.label}`);
  try {
    const result = await runHub(conn, docs, queries, { models, ingestCopies: Number(process.env.BAIMO_BENCH_INGEST_COPIES ?? 10), log });
    hub = { label: conn.label, result };
  } finally {
    await conn.close();
  }
}
for (const headers of [false, true]) {
  for (const mode of MODES) {
    const r = hub.result?.rows.find((x) => x.mode === mode && x.headers === headers);
    // A mode the hub never reached still gets its row, saying so.
    const notRun = r ? r.notRun : hub.skipped ? `not run: ${hub.skipped}` : 'not run: the hub part failed (see above)';
    rows.push({ retrieval: `hub ${mode}`, where: 'hub', headers, summary: r?.summary, notRun });
  }
}

const cpu = cpus();
const report = renderReport({
  date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC',
  dataset,
  rows,
  hub,
  models,
  zhChunksPerCopy: chunks.filter((c) => docs.find((d) => d.name === c.name)?.lang === 'zh').length,
  machine: `${cpu.length} × ${cpu[0]?.model.trim() ?? 'unknown CPU'}, Node ${process.version}`,
});
const out = join(HERE, '../results/knowledge-quality.md');
mkdirSync(join(HERE, '../results'), { recursive: true });
writeFileSync(out, report);
process.stdout.write(report);
log(`written: ${out}`);
if (hub.result?.error) {
  log(`the hub part failed: ${hub.result.error}`);
  process.exit(2);
}
process.exit(0);
