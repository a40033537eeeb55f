/**
 * The hub half of the benchmark, through the official `openai` SDK only: upload the corpus into
 * vector stores (with contextual chunk headers and without), search every query in every ranking
 * mode the configured models allow, and time Chinese ingestion and keyword queries.
 */
import { readFileSync } from 'node:fs';
import OpenAI, { toFile } from 'openai';
import { parseDocument } from 'yaml';
import type { VectorStoreCreateParams, VectorStoreSearchParams } from 'openai/resources/vector-stores/vector-stores';
import { percentile } from '../stats.js';
import { CHUNKING, EXT, MAX_RESULTS, MODES } from './api.js';
import type { Mode } from './api.js';
import type { Doc, Query } from './dataset.js';
import { scoreQuery, summarise } from './judge.js';
import type { Group, Hit, QueryScore, Summary } from './judge.js';

export interface HubModels {
  /** BAIMO_BENCH_EMBEDDING_MODEL: needed by vector, hybrid and hybrid_rerank. */
  readonly embedding?: string | undefined;
  /** BAIMO_BENCH_RERANK_MODEL: needed by hybrid_rerank. */
  readonly rerank?: string | undefined;
}

export interface HubConn {
  readonly client: OpenAI;
  /** Where the hub is, for the report. */
  readonly label: string;
  /** True when the benchmark started the hub (its data goes with it). */
  readonly embedded: boolean;
  close(): Promise<void>;
}

/** Variables a config file names as ${NAME}: handed to the embedded hub, nothing else from the shell. */
function namedEnv(yaml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of yaml.matchAll(/\$\{(\w+)\}/g)) {
    const v = process.env[m[1]!];
    if (v !== undefined) out[m[1]!] = v;
  }
  return out;
}

/** The config with `knowledge.rerankModel` set to the benchmark's rerank model, where it names one. */
function withRerankModel(yaml: string, rerank: string | undefined): string {
  if (!rerank) return yaml;
  const doc = parseDocument(yaml);
  doc.setIn(['knowledge', 'rerankModel'], rerank);
  return doc.toString();
}

/** The hub at BAIMO_BENCH_URL (key BAIMO_BENCH_KEY), or an embedded one in a temp data dir. */
export async function connectHub(models: HubModels): Promise<HubConn> {
  const url = process.env.BAIMO_BENCH_URL;
  if (url) {
    const baseURL = /\/v1\/?$/.test(url) ? url : `${url.replace(/\/$/, '')}/v1`;
    const client = new OpenAI({ baseURL, apiKey: process.env.BAIMO_BENCH_KEY ?? 'none', maxRetries: 0, timeout: 120_000 });
    return { client, label: baseURL, embedded: false, close: async () => {} };
  }
  // Imported only here: the embedded hub pulls in the whole server.
  const { startTestHub } = await import('../../test/helpers/hub.js');
  const configFile = process.env.BAIMO_BENCH_CONFIG;
  const given = configFile ? readFileSync(configFile, 'utf8') : 'providers: {}\n';
  const yaml = withRerankModel(given, models.rerank);
  const hub = await startTestHub(yaml, namedEnv(given));
  const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'none', maxRetries: 0, timeout: 120_000 });
  return { client, label: `embedded hub (${configFile ? `config ${configFile}` : 'no providers'})`, embedded: true, close: () => hub.dispose() };
}

export interface ModeRow {
  readonly mode: Mode;
  readonly headers: boolean;
  readonly summary?: Record<Group, Summary>;
  /** Why the row has no numbers. */
  readonly notRun?: string;
}

export interface HubResult {
  readonly rows: ModeRow[];
  readonly ingest?: { files: number; bytes: number; ms: number; mbPerMin: number };
  readonly latency?: { n: number; p50: number; p95: number; files: number; bytes: number };
  /** Set when the hub could not run the benchmark (e.g. no Vector Stores API, an extension field refused). */
  readonly error?: string;
}

function whyNot(mode: Mode, m: HubModels): string | undefined {
  if (mode !== 'keyword' && !m.embedding) return 'not run: no embedding model';
  if (mode === 'hybrid_rerank' && !m.rerank) return 'not run: no rerank model';
  return undefined;
}

async function createStore(client: OpenAI, name: string, headers: boolean, embedding: string | undefined): Promise<string> {
  // Extension fields ride in the same JSON body: the SDK sends the params object as it is. An
  // explicit null embedding model keeps a store keyword-only whatever the hub's default.
  const body = { name, [EXT.contextualHeaders]: headers, [EXT.embeddingModel]: embedding ?? null } as VectorStoreCreateParams;
  return (await client.vectorStores.create(body)).id;
}

export interface Upload {
  readonly name: string;
  readonly bytes: Buffer;
}

/**
 * Uploads files and adds them to a store as one batch, waiting until it is done; the new file ids
 * also go into `uploaded` as they come (for cleaning up). This is what the SDK's
 * fileBatches.uploadAndPoll does (files.create five at a time, then createAndPoll), done by hand
 * for two reasons: uploadAndPoll sends no chunking_strategy, so the batch would be chunked 'auto'
 * (OpenAI applies a store's chunking only to the file_ids given when the store is created), and
 * its poll waits 5 s between looks, which would swamp the ingest timing.
 */
async function upload(client: OpenAI, storeId: string, files: readonly Upload[], uploaded: string[]): Promise<void> {
  const ids: string[] = [];
  const queue = files.values();
  await Promise.all(
    Array.from({ length: 5 }, async () => {
      for (const f of queue) {
        const { id } = await client.files.create({ file: await toFile(f.bytes, f.name, { type: 'text/markdown' }), purpose: 'assistants' });
        ids.push(id);
        uploaded.push(id);
      }
    }),
  );
  const batch = await client.vectorStores.fileBatches.createAndPoll(storeId, { file_ids: ids, chunking_strategy: { type: 'static', static: CHUNKING } }, { pollIntervalMs: 100 });
  const c = batch.file_counts;
  if (c.completed !== files.length) {
    let reason = '';
    for await (const f of client.vectorStores.fileBatches.listFiles(batch.id, { vector_store_id: storeId, filter: 'failed' })) {
      reason = `; e.g. ${f.last_error?.code ?? ''}: ${f.last_error?.message ?? ''}`;
      break;
    }
    throw new Error(`${c.completed} of ${files.length} files completed (failed ${c.failed}, cancelled ${c.cancelled}, in progress ${c.in_progress})${reason}`);
  }
}

async function search(client: OpenAI, storeId: string, query: string, mode: Mode, vectors: boolean): Promise<Hit[]> {
  const body = {
    query,
    max_num_results: MAX_RESULTS,
    ranking_options: { ranker: mode === 'hybrid_rerank' ? 'auto' : 'none' },
    // A keyword-only store has one way to search: no mode to choose.
    ...(vectors && { [EXT.mode]: mode }),
  } as VectorStoreSearchParams;
  const page = await client.vectorStores.search(storeId, body);
  return page.data.map((r) => ({ name: r.filename, text: r.content.map((c) => c.text).join('\n') }));
}

export interface HubOptions {
  readonly models: HubModels;
  /** How many copies of the Chinese documents the ingest-speed store gets (more bytes, steadier MB/min). */
  readonly ingestCopies: number;
  readonly log: (line: string) => void;
}

export async function runHub(conn: HubConn, docs: readonly Doc[], queries: readonly Query[], o: HubOptions): Promise<HubResult> {
  const { client } = conn;
  const created: string[] = [];
  const uploaded: string[] = [];
  const rows: ModeRow[] = [];
  const vectors = o.models.embedding !== undefined;
  try {
    for (const headers of [false, true]) {
      const name = `kbbench-${headers ? 'headers' : 'plain'}`;
      const id = await createStore(client, name, headers, o.models.embedding);
      created.push(id);
      o.log(`hub: ${name}: uploading ${docs.length} files`);
      await upload(client, id, docs.map((d) => ({ name: d.name, bytes: Buffer.from(d.text, 'utf8') })), uploaded);
      for (const mode of MODES) {
        const notRun = whyNot(mode, o.models);
        if (notRun) {
          rows.push({ mode, headers, notRun });
          continue;
        }
        const scores = new Map<string, QueryScore>();
        for (const q of queries) scores.set(q.id, scoreQuery(q, await search(client, id, q.query, mode, vectors)));
        rows.push({ mode, headers, summary: summarise(queries, scores) });
        o.log(`hub: ${name}: ${mode} done`);
      }
    }

    // Ingest speed: Chinese text into a keyword-only store (no embedding calls to wait for).
    const zh = docs.filter((d) => d.lang === 'zh');
    const copies = Array.from({ length: o.ingestCopies }, (_, i) => zh.map((d) => ({ name: `c${String(i).padStart(3, '0')}-${d.name}`, bytes: Buffer.from(d.text, 'utf8') }))).flat();
    const bytes = copies.reduce((a, c) => a + c.bytes.length, 0);
    const ingestId = await createStore(client, 'kbbench-ingest-zh', false, undefined);
    created.push(ingestId);
    o.log(`hub: ingest: ${copies.length} Chinese files, ${(bytes / 1e6).toFixed(2)} MB`);
    const t0 = performance.now();
    await upload(client, ingestId, copies, uploaded);
    const ms = performance.now() - t0;
    const ingest = { files: copies.length, bytes, ms, mbPerMin: bytes / 1e6 / (ms / 60_000) };

    // Keyword latency over the larger store: every query, twice, one at a time, client-side.
    const samples: number[] = [];
    for (let round = 0; round < 2; round++) {
      for (const q of queries) {
        const t = performance.now();
        await search(client, ingestId, q.query, 'keyword', false);
        samples.push(performance.now() - t);
      }
    }
    const latency = { n: samples.length, p50: percentile(samples, 50), p95: percentile(samples, 95), files: copies.length, bytes };
    return { rows, ingest, latency };
  } catch (err) {
    const e = err as { status?: number; message?: string };
    return { rows, error: `${e.status ? `HTTP ${e.status}: ` : ''}${e.message ?? String(err)}` };
  } finally {
    // An outside hub keeps nothing of ours; an embedded one goes with its temp dir.
    if (!conn.embedded) {
      for (const id of created) await client.vectorStores.delete(id).catch(() => {});
      for (const id of uploaded) await client.files.delete(id).catch(() => {});
    }
  }
}
