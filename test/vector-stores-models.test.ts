/**
 * Vector stores with models: chunks embedded at ingestion and queries at search (hybrid: keyword
 * and vector lists fused by reciprocal rank), candidates reranked, each call made through the
 * gateway as the key's own (recorded with its key), against the loopback OpenAI upstream's
 * /v1/embeddings and /v1/rerank (Jina's shape). The upstream's vectors are a hash of the text,
 * so "meaning" here is exact text: a query that is a chunk's embedded text is its nearest.
 */
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { overlapScore, startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
const ZH = '长江是中国最长的河流，全长约六千三百公里。';
const EN = 'The Thames flows through London to the North Sea.';

let upstream: OpenAIUpstream;
let hub: TestHub;
let key: string;
let keyId: string;
const client = () => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: key, maxRetries: 0 });

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(
    `
providers:
  loop:
    baseURL: ${upstream.baseURL}
knowledge:
  embeddingModel: loop/text-embedding-3-small
  rerankModel: loop/rr
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
  );
  const made = await createKey(hub.url, ADMIN, { name: 'kb' });
  key = made.key;
  keyId = made.id;
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

/** The usage rows of the key, once the writer has stored them (a bounded wait, not a timing assertion). */
async function rowsOf(endpoint: string, atLeast: number, model?: string) {
  const end = Date.now() + 20_000;
  for (;;) {
    const rows = hub.store.recentUsage(500).filter((r) => r.key_id === keyId && r.endpoint === endpoint && (model === undefined || r.model === model));
    if (rows.length >= atLeast || Date.now() > end) return rows;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('vector stores with an embedding model and a rerank model', () => {
  let storeId: string;

  it('embeds chunks at ingestion as the adding key, with the hub default model', async () => {
    const c = client();
    const vs = await c.vectorStores.create({ name: 'hybrid' });
    expect((vs as unknown as { embedding_model: string }).embedding_model).toBe('loop/text-embedding-3-small');
    storeId = vs.id;
    const before = upstream.requests.filter((r) => r.path === '/v1/embeddings').length;
    const batch = await c.vectorStores.fileBatches.uploadAndPoll(vs.id, { files: [await toFile(Buffer.from(ZH), 'zh.txt'), await toFile(Buffer.from(EN), 'en.txt')] });
    expect(batch.file_counts).toMatchObject({ completed: 2, failed: 0 });
    const sent = upstream.requests.filter((r) => r.path === '/v1/embeddings').slice(before);
    expect(sent.length).toBeGreaterThanOrEqual(2);
    // Each chunk embedded with its contextual header (the file's title) before its text.
    const inputs = sent.flatMap((r) => r.body.input as string[]);
    expect(inputs.some((i) => i.endsWith(ZH))).toBe(true);
    expect(inputs.some((i) => i.endsWith(EN))).toBe(true);
    const rows = await rowsOf('embeddings', 2);
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(rows.every((r) => r.status === 200 && r.model === 'loop/text-embedding-3-small')).toBe(true);
    expect(rows.some((r) => r.request_id.startsWith('kb_'))).toBe(true);
  });

  it('searches hybrid (keyword + vector, fused) and reranks, scores in 0..1', async () => {
    const c = client();
    const before = upstream.requests.length;
    const r = await c.vectorStores.search(storeId, { query: 'Thames London' });
    const calls = upstream.requests.slice(before).map((x) => x.path);
    expect(calls).toContain('/v1/embeddings');
    expect(calls).toContain('/v1/rerank');
    expect(r.data[0]).toMatchObject({ filename: 'en.txt' });
    // The score a user sees is the rerank model's relevance score.
    expect(r.data[0]!.score).toBeCloseTo(overlapScore('Thames London', r.data[0]!.content[0]!.text), 6);
    expect(r.data.every((h) => h.score >= 0 && h.score <= 1)).toBe(true);
    const rerank = upstream.requests.slice(before).find((x) => x.path === '/v1/rerank')!;
    expect(rerank.body).toMatchObject({ model: 'rr', query: 'Thames London' });
    expect((await rowsOf('rerank', 1)).length).toBeGreaterThanOrEqual(1);
  });

  it("ranker 'none' skips rerank: the scores are the fused (RRF) ones, in 0..1", async () => {
    const c = client();
    const before = upstream.requests.length;
    const r = await c.vectorStores.search(storeId, { query: '长江', ranking_options: { ranker: 'none' } });
    const calls = upstream.requests.slice(before).map((x) => x.path);
    expect(calls).toEqual(['/v1/embeddings']);
    expect(r.data[0]).toMatchObject({ filename: 'zh.txt' });
    expect(r.data.every((h) => h.score > 0 && h.score <= 1)).toBe(true);
  });

  it('finds by vector alone what keyword search cannot: a query of no indexed word', async () => {
    // Stop words only: no keyword list at all, so the vector list decides (the upstream's vectors
    // put "of the" nowhere in particular, but it is answered, scored as cosine in 0..1).
    const r = await client().vectorStores.search(storeId, { query: 'of the', ranking_options: { ranker: 'none' } });
    expect(r.data.length).toBeGreaterThan(0);
    expect(r.data.every((h) => h.score >= 0 && h.score <= 1)).toBe(true);
  });

  it('baimo_mode picks the lists: keyword (no model call), vector, hybrid (no rerank), hybrid_rerank', async () => {
    const c = client();
    const calls = async (mode: string, ranker?: 'none' | 'auto') => {
      const before = upstream.requests.length;
      const r = await c.vectorStores.search(storeId, { query: 'Thames London', ...(ranker && { ranking_options: { ranker } }), baimo_mode: mode } as never);
      return { paths: upstream.requests.slice(before).map((x) => x.path), r };
    };
    expect((await calls('keyword')).paths).toEqual([]);
    const keyword = (await calls('keyword')).r;
    expect(keyword.data[0]).toMatchObject({ filename: 'en.txt', score: 1 });
    expect((await calls('vector')).paths).toEqual(['/v1/embeddings']);
    expect((await calls('hybrid')).paths).toEqual(['/v1/embeddings']);
    expect((await calls('hybrid_rerank')).paths).toEqual(['/v1/embeddings', '/v1/rerank']);
    expect((await calls('hybrid_rerank', 'none')).paths).toEqual(['/v1/embeddings']);
    const bad = await fetch(`${hub.url}/v1/vector_stores/${storeId}/search`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ query: 'x', baimo_mode: 'psychic' }) });
    expect(bad.status).toBe(400);
  });

  it('contextual_headers false: chunks are embedded (and indexed) without their header', async () => {
    const c = client();
    const vs = await c.vectorStores.create({ name: 'bare', contextual_headers: false } as never);
    expect((vs as unknown as { contextual_headers: boolean }).contextual_headers).toBe(false);
    const before = upstream.requests.length;
    const f = await c.vectorStores.files.uploadAndPoll(vs.id, await toFile(Buffer.from(EN), 'headerless-title.txt'));
    expect(f.status).toBe('completed');
    const inputs = upstream.requests.slice(before).filter((r) => r.path === '/v1/embeddings').flatMap((r) => r.body.input as string[]);
    expect(inputs).toEqual([EN]);
    // The file's title is no indexed word of it.
    expect((await c.vectorStores.search(vs.id, { query: 'headerless', baimo_mode: 'keyword' } as never)).data).toEqual([]);
    const withHeaders = (await c.vectorStores.retrieve(storeId)) as unknown as { contextual_headers: boolean };
    expect(withHeaders.contextual_headers).toBe(true);
  });

  it('keeps a store to one embedding model: a change is refused once it holds files', async () => {
    const c = client();
    const err = await c.vectorStores.update(storeId, { embedding_model: 'loop/other-embedder' } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'embedding_model' });
    // A store may choose keyword search only, per store.
    const plain = await c.vectorStores.create({ name: 'plain', embedding_model: null } as never);
    expect((plain as unknown as { embedding_model: string | null }).embedding_model).toBeNull();
    const empty = await c.vectorStores.update(plain.id, { embedding_model: 'loop/text-embedding-3-small' } as never);
    expect((empty as unknown as { embedding_model: string | null }).embedding_model).toBe('loop/text-embedding-3-small');
  });

  it('refuses a model the hub does not serve; fails a file with server_error when its embedding call fails', async () => {
    const c = client();
    const unknown = await c.vectorStores.create({ name: 'typo', embedding_model: 'nope/missing-model' } as never).catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.BadRequestError);
    expect((unknown as InstanceType<typeof OpenAI.BadRequestError>).error).toMatchObject({ param: 'embedding_model' });
    // A model the hub serves whose upstream answers garbage.
    const vs = await c.vectorStores.create({ name: 'broken', embedding_model: 'loop/garbage' } as never);
    const f = await c.vectorStores.files.uploadAndPoll(vs.id, await toFile(Buffer.from(EN), 'x.txt'));
    expect(f.status).toBe('failed');
    expect(f.last_error?.code).toBe('server_error');
    expect(f.last_error?.message.length).toBeGreaterThan(0);
    const failed = await rowsOf('embeddings', 1, 'loop/garbage');
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((r) => r.status >= 500)).toBe(true);
  });
});

describe('a store with an embedding model on a PostgreSQL without pgvector', () => {
  let shared: TestHub<any> | undefined;
  let db: TestDatabase | undefined;
  afterAll(async () => {
    await shared?.dispose();
    await db?.drop();
  });

  it('refuses the store at create and on update with a 501 naming the extension and how to install it; keyword stores still work', async (t) => {
    db = await createTestDatabase();
    shared = await startSharedTestHub(`providers:\n  loop:\n    baseURL: ${upstream.baseURL}\n`, { databaseUrl: db.url });
    // This is about a server without pgvector (this machine's PostgreSQL 15): elsewhere it does not apply.
    const available = await (shared.store as PostgresStores).pool.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`);
    if (available.rowCount) t.skip();
    const c = new OpenAI({ baseURL: `${shared.url}/v1`, apiKey: 'x', maxRetries: 0 });
    const refused = (await c.vectorStores.create({ name: 'vectors', embedding_model: 'loop/text-embedding-3-small' } as never).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(refused.status).toBe(501);
    expect(refused.code).toBe('vectors_unavailable');
    expect(refused.param).toBe('embedding_model');
    expect(refused.message).toMatch(/pgvector/);
    expect(refused.message).toMatch(/"vector"/);
    expect(refused.message).toMatch(/install pgvector on the database server \(e\.g\. the postgresql-\d+-pgvector package\)/);
    // Nothing was kept of the refused store.
    expect((await c.vectorStores.list()).data).toEqual([]);

    const plain = await c.vectorStores.create({ name: 'keyword' });
    const onUpdate = (await c.vectorStores.update(plain.id, { embedding_model: 'loop/text-embedding-3-small' } as never).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(onUpdate.status).toBe(501);
    expect(onUpdate.code).toBe('vectors_unavailable');
    expect(onUpdate.message).toMatch(/pgvector/);
    expect((await c.vectorStores.retrieve(plain.id)) as unknown).toMatchObject({ embedding_model: null });
    // A change that sets no model is not refused.
    expect((await c.vectorStores.update(plain.id, { name: 'renamed', embedding_model: null } as never)).name).toBe('renamed');
    expect((await c.vectorStores.files.uploadAndPoll(plain.id, await toFile(Buffer.from(EN), 'en.txt'))).status).toBe('completed');
    expect((await c.vectorStores.search(plain.id, { query: 'Thames' })).data[0]).toMatchObject({ filename: 'en.txt' });
  });
});
