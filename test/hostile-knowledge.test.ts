/**
 * Hostile input against the knowledge and rerank surface (vector stores, files, search,
 * file_search, rerank): malformed paths and query strings, absurd bodies, evil files and an evil
 * upstream (garbage, wrong-dimension vectors, huge answers, silence). Each case checks the status,
 * that the error body is OpenAI's `{error: {message, type, param, code}}`, that no upstream
 * credential appears in it, and that the hub still serves another key meanwhile.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chunkDocument } from '../src/knowledge/ingest/chunk.js';
import { countTokens, loadTokenizer } from '../src/usage/tokens.js';
import { startSharedTestHub, startTestHub } from './helpers/hub.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-hostile-kb-0000000000';
const LOOP_SECRET = 'sk-upstream-loop-secret-hostile-0000000';
const EVIL_SECRET = 'sk-upstream-evil-secret-hostile-0000000';

/**
 * An OpenAI-compatible upstream (embeddings, Jina rerank) that misbehaves by model name:
 * `wrong-dim` answers vectors whose length differs per input, `inf` numbers that parse as
 * Infinity, `huge` a 10 MB body, `garbage` HTML with status 200, `hang` nothing at all.
 */
interface EvilUpstream {
  baseURL: string;
  hits: number;
  close(): Promise<void>;
}

async function startEvilUpstream(): Promise<EvilUpstream> {
  const sockets = new Set<import('node:net').Socket>();
  const state = { hits: 0 };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.hits++;
      if (req.headers.authorization !== `Bearer ${EVIL_SECRET}`) {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'bad key', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }));
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string; input?: string | string[]; documents?: string[] };
      const model = body.model;
      if (model === 'hang') return; // never answers
      if (model === 'garbage') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`<html>${EVIL_SECRET}</html>`);
      }
      // Errors that echo the caller's key, as some providers' do: OpenAI's 401 shape, and a plain-text 500.
      if (model === 'echo') {
        res.writeHead(401, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: `Incorrect API key provided: ${req.headers.authorization}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } }));
      }
      if (model === 'echo-500') {
        res.writeHead(500, { 'content-type': 'text/plain' });
        return res.end(`internal error while serving ${req.headers.authorization} (key ${EVIL_SECRET})`);
      }
      if (model === 'huge') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`{"results": [], "pad": "${'x'.repeat(10 * 1024 * 1024)}"}`);
      }
      if (req.url === '/v1/embeddings') {
        const inputs = typeof body.input === 'string' ? [body.input] : (body.input ?? []);
        const data = inputs.map((_, index) => {
          const dim = model === 'wrong-dim' ? 4 + index + (state.hits % 3) : model === 'shifty' ? 8 + (state.hits % 5) : 8;
          const numbers = Array.from({ length: dim }, (_, i) => (model === 'inf' ? '1e999' : String((i + 1) / 10)));
          return `{"object":"embedding","index":${index},"embedding":[${numbers.join(',')}]}`;
        });
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(`{"object":"list","model":"${model}","data":[${data.join(',')}],"usage":{"prompt_tokens":1,"total_tokens":1}}`);
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'no route', type: 'invalid_request_error', param: null, code: null } }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    get hits() {
      return state.hits;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

let upstream: OpenAIUpstream;
let evil: EvilUpstream;
let hub: TestHub;
let keyA: string;
let keyB: string;

const newKey = async () => (await createKey(hub.url, ADMIN, { name: 'hostile' })).key;

const client = (key: string) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: key, maxRetries: 0 });

interface Raw {
  status: number;
  text: string;
  json: any;
}

async function raw(key: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}, base = hub.url): Promise<Raw> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers },
    ...(body !== undefined && { body: typeof body === 'string' || body instanceof Uint8Array ? (body as string) : JSON.stringify(body) }),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** OpenAI's error shape, with no upstream credential in it. */
function expectError(r: Raw, status: number): void {
  expect(r.status, r.text.slice(0, 500)).toBe(status);
  expect(r.json).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
  expect(r.json.error).toHaveProperty('param');
  expect(r.json.error).toHaveProperty('code');
  expect(r.text).not.toContain(LOOP_SECRET);
  expect(r.text).not.toContain(EVIL_SECRET);
}

/** The other tenant is served: its own store lists fine. */
async function otherTenantServed(): Promise<void> {
  const r = await raw(keyB, 'GET', '/v1/vector_stores?limit=1');
  expect(r.status).toBe(200);
  expect(r.json.object).toBe('list');
}

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ apiKey: LOOP_SECRET });
  evil = await startEvilUpstream();
  hub = await startTestHub(
    `
providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: \${LOOP_KEY}
  evil:
    baseURL: ${evil.baseURL}
    apiKey: \${EVIL_KEY}
    timeoutMs: 1500
server:
  maxBodyBytes: 4194304
knowledge:
  embeddingModel: loop/text-embedding-3-small
  rerankModel: loop/rr
virtualModels:
  kb-gone:
    kind: rag
    model: loop/gpt-test
    vectorStores: [vs_01a24b000000000000000000deadbeef]
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, LOOP_KEY: LOOP_SECRET, EVIL_KEY: EVIL_SECRET },
  );
  keyA = await newKey();
  keyB = await newKey();
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
  await evil?.close();
});

describe('paths and query strings', () => {
  let storeA: string;
  let storeB: string;
  beforeAll(async () => {
    storeA = (await client(keyA).vectorStores.create({ name: 'a' })).id;
    storeB = (await client(keyB).vectorStores.create({ name: 'b' })).id;
  });

  it('malformed percent-encoding, NUL and 10 KB ids are 4xx in OpenAI shape', async () => {
    for (const p of ['/v1/vector_stores/%E0%A4%A', '/v1/vector_stores/%', '/v1/files/%E0%A4%A', '/v1/vector_stores/%E0%A4%A/search']) {
      const r = await raw(keyA, 'GET', p);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
      expectError(r, r.status);
    }
    // A control character in an id is refused where the path is decoded, before any store.
    expectError(await raw(keyA, 'GET', '/v1/vector_stores/vs_%00abc'), 400);
    const long = await raw(keyA, 'GET', `/v1/vector_stores/${'v'.repeat(10_000)}`);
    expect(long.status).toBeGreaterThanOrEqual(400);
    expect(long.text.length).toBeLessThan(2000);
    expectError(await raw(keyA, 'GET', `/v1/files/${'f'.repeat(10_000)}`), 404);
    await otherTenantServed();
  });

  it('absurd and duplicated list parameters', async () => {
    expectError(await raw(keyA, 'GET', '/v1/vector_stores?limit=1e309'), 400);
    expectError(await raw(keyA, 'GET', '/v1/vector_stores?limit=-0'), 400);
    const dup = await raw(keyA, 'GET', '/v1/vector_stores?limit=1&limit=1000');
    expect([200, 400]).toContain(dup.status);
    const files = await raw(keyA, 'GET', '/v1/files?limit=1e309');
    expect([200, 400]).toContain(files.status);
    if (files.status !== 200) expectError(files, 400);
    const fafter = await raw(keyA, 'GET', `/v1/files?after=${'x'.repeat(5000)}`);
    expect([200, 400]).toContain(fafter.status);
  });

  it("'after' naming another key's store shows nothing of it", async () => {
    const r = await raw(keyA, 'GET', `/v1/vector_stores?after=${storeB}`);
    expect([200, 400, 404]).toContain(r.status);
    expect(r.text).not.toContain(storeB);
    const f = await raw(keyA, 'GET', `/v1/vector_stores/${storeA}/files?after=${storeB}`);
    expect([200, 400, 404]).toContain(f.status);
    expect(f.text).not.toContain(storeB);
  });

  it('another key\'s store is a 404 on every route', async () => {
    for (const [m, p, b] of [
      ['GET', `/v1/vector_stores/${storeB}`, undefined],
      ['POST', `/v1/vector_stores/${storeB}`, { name: 'x' }],
      ['DELETE', `/v1/vector_stores/${storeB}`, undefined],
      ['POST', `/v1/vector_stores/${storeB}/search`, { query: 'x' }],
      ['GET', `/v1/vector_stores/${storeB}/files`, undefined],
    ] as const) {
      expectError(await raw(keyA, m, p, b), 404);
    }
  });
});

describe('absurd bodies', () => {
  let store: string;
  beforeAll(async () => {
    store = (await client(keyA).vectorStores.create({ name: 'bodies' })).id;
  });

  it('malformed JSON, deep nesting, wrong types', async () => {
    expectError(await raw(keyA, 'POST', '/v1/vector_stores', '{"name": '), 400);
    expectError(await raw(keyA, 'POST', '/v1/vector_stores', '[]'), 400);
    expectError(await raw(keyA, 'POST', '/v1/vector_stores', 'null'), 400);
    const deep = '{"metadata":'.repeat(128) + '1' + '}'.repeat(128);
    expectError(await raw(keyA, 'POST', '/v1/vector_stores', deep), 400);
    const deeper = '['.repeat(100_000) + ']'.repeat(100_000);
    const d = await raw(keyA, 'POST', `/v1/vector_stores/${store}/search`, `{"query":"x","filters":${deeper}}`);
    expect(d.status).toBeGreaterThanOrEqual(400);
    expect(d.status).toBeLessThan(500);
    expectError(d, d.status);
    expectError(await raw(keyA, 'POST', '/v1/vector_stores', { name: 5 }), 400);
    expectError(await raw(keyA, 'POST', '/v1/vector_stores', { name: 'a\u0000b' }), 400);
    await otherTenantServed();
  });

  it('attributes with 10k keys or huge values, filters with 1e5-long in lists, 1e4 queries', async () => {
    const many = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']));
    expectError(await raw(keyA, 'POST', `/v1/vector_stores`, { metadata: many }), 400);
    expectError(await raw(keyA, 'POST', `/v1/vector_stores/${store}/files`, { file_id: 'file-x', attributes: many }), 400);
    expectError(await raw(keyA, 'POST', `/v1/vector_stores/${store}/files`, { file_id: 'file-x', attributes: { k: 'v'.repeat(1_000_000) } }), 400);
    const inList = { type: 'in', key: 'k', value: Array.from({ length: 100_000 }, (_, i) => i) };
    expectError(await raw(keyA, 'POST', `/v1/vector_stores/${store}/search`, { query: 'x', filters: inList }), 400);
    // A key JSON.parse keeps and no object can hold: refused, not silently dropped.
    expectError(await raw(keyA, 'POST', `/v1/vector_stores`, '{"metadata": {"__proto__": "x", "team": "docs"}}'), 400);
    expectError(await raw(keyA, 'POST', `/v1/vector_stores/${store}/files`, '{"file_id": "file-x", "attributes": {"__proto__": "x"}}'), 400);
    const ctor = await raw(keyA, 'POST', `/v1/vector_stores`, { metadata: { constructor: 'x', toString: 'y' } });
    expect(ctor.status, ctor.text).toBe(200);
    expect(ctor.json.metadata).toEqual({ constructor: 'x', toString: 'y' });
    const queries = Array.from({ length: 10_000 }, () => 'q'.repeat(300));
    const q = await raw(keyA, 'POST', `/v1/vector_stores/${store}/search`, { query: queries });
    expect([400, 413]).toContain(q.status);
    expectError(q, q.status);
    const big = await raw(keyA, 'POST', `/v1/vector_stores/${store}/search`, JSON.stringify({ query: 'x', pad: 'y'.repeat(5 * 1024 * 1024) }));
    expectError(big, 413);
    expectError(await raw(keyA, 'POST', `/v1/vector_stores/${store}/search`, { query: 'x', max_num_results: 1e309 }), 400);
    await otherTenantServed();
  });
});

/** Polls a store file until ingestion ends (bounded, not a timing assertion). */
async function settled(key: string, store: string, fileId: string): Promise<any> {
  const end = Date.now() + 60_000;
  for (;;) {
    const r = await raw(key, 'GET', `/v1/vector_stores/${store}/files/${fileId}`);
    if (r.status !== 200 || r.json.status !== 'in_progress' || Date.now() > end) return r.json;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function upload(key: string, bytes: Buffer | Uint8Array, name: string): Promise<string> {
  return (await client(key).files.create({ file: await toFile(bytes, name), purpose: 'assistants' })).id;
}

describe('evil files and an evil embedding upstream', () => {
  it('a store embedded by wrong-dimension, infinite, garbage or silent models fails its files, not the hub', async () => {
    // Several chunks, so that one file's vectors can disagree with each other.
    const file = await upload(keyA, Buffer.from(Array.from({ length: 40 }, (_, i) => `长江是中国最长的河流${i}。The Thames flows through London ${i}.`).join('\n\n')), 'evil.txt');
    for (const model of ['evil/wrong-dim', 'evil/inf', 'evil/garbage', 'evil/hang', 'evil/huge']) {
      const vs = await raw(keyA, 'POST', '/v1/vector_stores', { name: model, embedding_model: model });
      expect(vs.status, vs.text).toBe(200);
      const add = await raw(keyA, 'POST', `/v1/vector_stores/${vs.json.id}/files`, { file_id: file, chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 0 } } });
      expect(add.status, add.text).toBe(200);
      const done = await settled(keyA, vs.json.id, file);
      // An answer no index can use fails the file with the reason; none is stored.
      expect(done.status, JSON.stringify(done)).toBe('failed');
      expect(JSON.stringify(done)).not.toContain(EVIL_SECRET);
      expect(done.last_error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
      // Searching it, whatever ingestion did: a clear answer, never a 500 or a secret.
      for (const baimo_mode of ['vector', 'hybrid', 'keyword']) {
        const s = await raw(keyA, 'POST', `/v1/vector_stores/${vs.json.id}/search`, { query: ['长江', 'Thames'], baimo_mode });
        expect(s.status, `${model} ${baimo_mode}: ${s.text.slice(0, 300)}`).not.toBe(500);
        if (baimo_mode === 'keyword') expect(s.status).toBe(200);
        else if (model !== 'evil/hang') expectError(s, 502);
        else expectError(s, 504);
      }
      await otherTenantServed();
    }
  }, 180_000);

  it('valid-looking but evil files fail with a reason and the hub keeps serving', async () => {
    const vs = (await client(keyA).vectorStores.create({ name: 'evil files', embedding_model: null } as any)).id;
    const cases: [string, Buffer][] = [
      ['columns.csv', Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => `c${i % 10}`).join(',') + '\n' + ','.repeat(999_999) + '\n')],
      ['line.txt', Buffer.from('长'.repeat(200_000))],
      ['bad-utf8.txt', Buffer.from([0x68, 0x69, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0x20, 0xf0, 0x28, 0x8c, 0x28, 0x0a])],
      ['surrogates.txt', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(new Uint16Array([0x68, 0xd800, 0x69, 0xdc00, 0xdc00, 0xd83d]).buffer)])],
      ['pages.pdf', Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 1000000000 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF')],
      ['deep.json', Buffer.from('['.repeat(200_000) + ']'.repeat(200_000))],
      ['deep.md', Buffer.from('>'.repeat(100_000) + ' x\n' + '- '.repeat(50_000) + 'y\n')],
      ['deep.html', Buffer.from('<div>'.repeat(200_000) + 'x')],
    ];
    for (const [name, bytes] of cases) {
      const id = await upload(keyA, bytes, name);
      const add = await raw(keyA, 'POST', `/v1/vector_stores/${vs}/files`, { file_id: id });
      expect(add.status, add.text).toBe(200);
      await otherTenantServed();
      const done = await settled(keyA, vs, id);
      expect(['completed', 'failed'], `${name}: ${JSON.stringify(done)}`).toContain(done.status);
      if (done.status === 'failed') expect(done.last_error.message.length).toBeGreaterThan(0);
    }
    const s = await raw(keyA, 'POST', `/v1/vector_stores/${vs}/search`, { query: '长长长' });
    expect(s.status).toBe(200);
  }, 180_000);
});

describe('POST /v1/rerank', () => {
  const docs = ['Beijing is the capital of China.', 'Bananas are yellow.'];

  it('absurd bodies are 4xx in OpenAI shape', async () => {
    expectError(await raw(keyA, 'POST', '/v1/rerank', { model: 'loop/rr', query: 'q', documents: Array.from({ length: 100_000 }, () => 'd') }), 400);
    expectError(await raw(keyA, 'POST', '/v1/rerank', { model: 'loop/rr', query: 'q', documents: [{ title: 'no text' }, { text: 5 }] }), 400);
    expectError(await raw(keyA, 'POST', '/v1/rerank', { model: 'loop/rr', query: 'q', documents: [null] }), 400);
    expectError(await raw(keyA, 'POST', '/v1/rerank', `{"model":"loop/rr","query":"q","documents":["a"],"top_n":1e309}`), 400);
    expectError(await raw(keyA, 'POST', '/v1/rerank', '{"model":'), 400);
    expectError(await raw(keyA, 'POST', '/v1/rerank', { model: 'nobody/knows', query: 'q', documents: docs }), 404);
    const big = await raw(keyA, 'POST', '/v1/rerank', JSON.stringify({ model: 'loop/rr', query: 'q', documents: ['x'.repeat(5 * 1024 * 1024)] }));
    expectError(big, 413);
    await otherTenantServed();
  });

  it('an upstream that answers garbage or nothing is a 5xx in OpenAI shape with no secret; 10 MB is read', async () => {
    const other = raw(keyB, 'POST', '/v1/rerank', { model: 'loop/rr', query: 'capital of china', documents: docs });
    for (const model of ['evil/garbage', 'evil/hang']) {
      const r = await raw(keyA, 'POST', '/v1/rerank', { model, query: 'q', documents: docs });
      expect(r.status, `${model}: ${r.text.slice(0, 300)}`).toBeGreaterThanOrEqual(500);
      expectError(r, r.status);
    }
    // A 10 MB answer whose results are an empty list is read (under the 256 MB cap) and relayed as such.
    const huge = await raw(keyA, 'POST', '/v1/rerank', { model: 'evil/huge', query: 'q', documents: docs });
    expect(huge.status, huge.text.slice(0, 300)).toBe(200);
    expect(huge.json.results).toEqual([]);
    expect(huge.text.length).toBeLessThan(1000);
    const o = await other;
    expect(o.status, o.text).toBe(200);
    expect(o.json.results[0].index).toBe(0);
  });
});

describe('file_search and concurrent deletes', () => {
  it("file_search naming 16 stores, one of them another key's, is a 404 and sends nothing upstream", async () => {
    const mine = await Promise.all(Array.from({ length: 15 }, (_, i) => client(keyA).vectorStores.create({ name: `fs${i}` })));
    const theirs = await client(keyB).vectorStores.create({ name: 'theirs' });
    const before = upstream.requests.length;
    const r = await raw(keyA, 'POST', '/v1/responses', {
      model: 'loop/gpt-test',
      input: 'hello',
      tools: [{ type: 'file_search', vector_store_ids: [...mine.map((v) => v.id), theirs.id] }],
    });
    expectError(r, 404);
    expect(upstream.requests.length).toBe(before);
    const many = await raw(keyA, 'POST', '/v1/responses', {
      model: 'loop/gpt-test',
      input: 'hello',
      tools: [{ type: 'file_search', vector_store_ids: Array.from({ length: 10_000 }, (_, i) => `vs_${i}`) }],
    });
    expect(many.status).toBeGreaterThanOrEqual(400);
    expect(many.status).toBeLessThan(500);
    expectError(many, many.status);
  });

  it('deleting a store during search and during ingestion loses nothing and crashes nothing', async () => {
    const a = client(keyA);
    const text = Array.from({ length: 400 }, (_, i) => `段落${i}：长江流经重庆、武汉、南京和上海。Paragraph ${i} about the river.`).join('\n\n');
    const file = await upload(keyA, Buffer.from(text), 'river.txt');
    for (let round = 0; round < 3; round++) {
      const vs = await a.vectorStores.create({ name: `race${round}`, file_ids: [file] });
      const searches = Array.from({ length: 5 }, () => raw(keyA, 'POST', `/v1/vector_stores/${vs.id}/search`, { query: '长江 river' }));
      const del = raw(keyA, 'DELETE', `/v1/vector_stores/${vs.id}`);
      for (const s of await Promise.all(searches)) {
        expect([200, 404], s.text.slice(0, 300)).toContain(s.status);
        if (s.status !== 200) expectError(s, 404);
      }
      expect((await del).status).toBe(200);
      expectError(await raw(keyA, 'GET', `/v1/vector_stores/${vs.id}`), 404);
    }
    // The same file in many stores at once, then all deleted while they ingest.
    const stores = await Promise.all(Array.from({ length: 30 }, (_, i) => a.vectorStores.create({ name: `many${i}` })));
    const adds = await Promise.all(stores.map((s) => raw(keyA, 'POST', `/v1/vector_stores/${s.id}/files`, { file_id: file })));
    expect(adds.every((r) => r.status === 200)).toBe(true);
    const dels = await Promise.all(stores.map((s) => raw(keyA, 'DELETE', `/v1/vector_stores/${s.id}`)));
    expect(dels.every((r) => r.status === 200)).toBe(true);
    await otherTenantServed();
    // The file itself survives its stores.
    expect((await a.files.retrieve(file)).id).toBe(file);
    const fresh = await a.vectorStores.create({ name: 'after', file_ids: [file] });
    expect((await settled(keyA, fresh.id, file)).status).toBe('completed');
  }, 180_000);
});

describe('chunking a line with no punctuation', () => {
  it('counts each character a bounded number of times, however long the line (no quadratic hard split)', async () => {
    expect(await loadTokenizer('gpt-4o')).toBe(true);
    const line = '长'.repeat(100_000);
    let counted = 0;
    const count = (t: string) => {
      counted += t.length;
      return countTokens('gpt-4o', t).tokens;
    };
    const chunks = chunkDocument({ title: 't', blocks: [{ path: [], text: line, kind: 'paragraph' }] }, { maxTokens: 800, overlapTokens: 400, contextualHeaders: false }, count);
    expect(chunks.map((c) => c.text).join('')).toBe(line);
    expect(chunks.every((c) => c.tokens <= 800)).toBe(true);
    // Counting the rest of the line at every cut read ~n²/1600 characters (6 million here, hours
    // of the shared ingest thread for a 40 MB line); now each cut reads about 15 of its own lengths.
    expect(counted).toBeLessThan(line.length * 20);
  });
});

describe('more hostile requests', () => {
  it('search queries in full-text syntax, lone surrogates and 4096-character words are plain text', async () => {
    const vs = await client(keyA).vectorStores.create({ name: 'fts' });
    await client(keyA).vectorStores.files.createAndPoll(vs.id, { file_id: await upload(keyA, Buffer.from('The "river" flows. 长江*流经 NEAR 上海。'), 'fts.txt') });
    for (const query of ['"', '"unbalanced', 'NEAR(a b', 'river*', '* OR 1=1 --', 'AND OR NOT', '^river', 'col:river', "'; DROP TABLE chunks; --", '\ud800x', 'x'.repeat(4096), '长'.repeat(4096), '{}[]()', '\u0001\u0002']) {
      const r = await raw(keyA, 'POST', `/v1/vector_stores/${vs.id}/search`, `{"query": ${JSON.stringify(query).replace(/\\\\u/g, '\\u')}}`);
      expect(r.status, `${query.slice(0, 20)}: ${r.text.slice(0, 300)}`).toBe(200);
    }
    await otherTenantServed();
  });

  it('hostile multipart uploads are 4xx', async () => {
    const form = (parts: [string, string | Blob, string?][]) => {
      const f = new FormData();
      for (const [k, v, name] of parts) (name === undefined ? f.append(k, v as string) : f.append(k, v as Blob, name));
      return f;
    };
    const post = async (body: FormData | string, headers: Record<string, string> = {}) => {
      const res = await fetch(`${hub.url}/v1/files`, { method: 'POST', headers: { authorization: `Bearer ${keyA}`, ...headers }, body });
      const text = await res.text();
      return { status: res.status, text, json: JSON.parse(text) } as Raw;
    };
    expectError(await post(form([['purpose', 'assistants']])), 400);
    expectError(await post(form([['purpose', 'nope'], ['file', new Blob(['x']), 'a.txt']])), 400);
    expectError(await post(form([['purpose', 'assistants'], ['file', new Blob(['x']), '../../']])), 400);
    const many = form(Array.from({ length: 20_000 }, (_, i) => [`f${i}`, 'v'] as [string, string]));
    many.append('purpose', 'assistants');
    const m = await post(many);
    expect(m.status).toBeGreaterThanOrEqual(400);
    expect(m.status).toBeLessThan(500);
    expectError(m, m.status);
    expectError(await post('--x\r\nnot a multipart body', { 'content-type': 'multipart/form-data; boundary=x' }), 400);
    expectError(await post('{}', { 'content-type': 'application/json' }), 415);
    await otherTenantServed();
  });

  it("a rag model whose store is gone is the operator's error (500 naming the config), not the client's (404)", async () => {
    const r = await raw(keyA, 'POST', '/v1/chat/completions', { model: 'kb-gone', messages: [{ role: 'user', content: '长江有多长？' }] });
    expectError(r, 500);
    expect(r.text).toContain('virtualModels.kb-gone.vectorStores');
    await otherTenantServed();
  });
});

describe('a model whose vectors change length between calls, on PostgreSQL', () => {
  it('files embedded at different lengths leave the store searchable by keyword and vector search a clear answer', async () => {
    const db = await createTestDatabase();
    const pgHub = await startSharedTestHub(
      `providers:\n  evil:\n    baseURL: ${evil.baseURL}\n    apiKey: \${EVIL_KEY}\n`,
      { databaseUrl: db.url },
      { BAIMO_AUTH: 'none', EVIL_KEY: EVIL_SECRET },
    );
    try {
      const c = new OpenAI({ baseURL: `${pgHub.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const made = await raw('x', 'POST', '/v1/vector_stores', { name: 'shifty', embedding_model: 'evil/shifty' }, {}, pgHub.url);
      if (made.status === 501) {
        // A server without pgvector (this machine's PostgreSQL 15) refuses the store at create,
        // naming the extension; what follows needs pgvector.
        expectError(made, 501);
        expect(made.json.error).toMatchObject({ code: 'vectors_unavailable', param: 'embedding_model', message: expect.stringMatching(/pgvector/) });
        return;
      }
      expect(made.status, made.text).toBe(200);
      const vs = made.json as { id: string };
      for (const text of ['长江是中国最长的河流。', 'The Thames flows through London.', '黄河是中国第二长的河流。']) {
        const f = await c.vectorStores.files.createAndPoll(vs.id, { file_id: (await c.files.create({ file: await toFile(Buffer.from(text), 'f.txt'), purpose: 'assistants' })).id });
        expect(['completed', 'failed']).toContain(f.status);
      }
      for (const baimo_mode of ['keyword', 'vector', 'hybrid']) {
        const res = await fetch(`${pgHub.url}/v1/vector_stores/${vs.id}/search`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '长江', baimo_mode }) });
        const text = await res.text();
        // With pgvector, each length is searched apart: every mode answers.
        expect(res.status, text.slice(0, 300)).toBe(200);
      }
    } finally {
      await pgHub.dispose();
      await db.drop();
    }
  }, 120_000);
});

/**
 * An upstream whose error echoes the key the hub called it with: whatever the ingestion keeps
 * of the failure (the file's `last_error`), no row of any knowledge table may hold that key.
 */
describe('no upstream key in the knowledge tables after an embedding call failed echoing it', () => {
  const KNOWLEDGE_TABLE = /^(files|vector_store|knowledge)/;
  const MODELS = ['evil/echo', 'evil/echo-500', 'evil/garbage'];
  const text = (rows: unknown[]) => JSON.stringify(rows, (_, v: unknown) => (Buffer.isBuffer(v) || v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : typeof v === 'bigint' ? String(v) : v));

  /** Adds a file to a store of each model through the API and waits for it to fail; the stores' ids. */
  async function failIngestion(base: string, key: string, store: (model: string) => Promise<string>): Promise<string[]> {
    const c = new OpenAI({ baseURL: `${base}/v1`, apiKey: key, maxRetries: 0 });
    const file = (await c.files.create({ file: await toFile(Buffer.from('长江是中国最长的河流。The Thames flows through London.'), 'echo.txt'), purpose: 'assistants' })).id;
    const ids: string[] = [];
    for (const model of MODELS) {
      const id = await store(model);
      ids.push(id);
      const f = await c.vectorStores.files.createAndPoll(id, { file_id: file }, { pollIntervalMs: 100 });
      expect(f.status, `${model}: ${JSON.stringify(f)}`).toBe('failed');
      expect(f.last_error?.message.length).toBeGreaterThan(0);
      expect(JSON.stringify(f)).not.toContain(EVIL_SECRET);
    }
    return ids;
  }

  it('embedded store (SQLite): files, vector stores, their files and batches, chunks and vectors hold no upstream key', async () => {
    const ids = await failIngestion(hub.url, keyA, async (model) => {
      const made = await raw(keyA, 'POST', '/v1/vector_stores', { name: model, embedding_model: model });
      expect(made.status, made.text).toBe(200);
      return made.json.id as string;
    });
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(join(hub.dir, 'data', 'baimo.db'), { readonly: true });
    try {
      const tables = (db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((t) => t.name).filter((n) => KNOWLEDGE_TABLE.test(n));
      expect(tables).toEqual(expect.arrayContaining(['files', 'vector_stores', 'vector_store_files', 'vector_store_file_batches', 'knowledge_chunks', 'knowledge_vectors']));
      const dump = tables.map((t) => text(db.prepare(`SELECT * FROM "${t.replaceAll('"', '""')}"`).raw(false).all())).join('\n');
      // The scan saw the failed jobs: their rows, with the reason each failed.
      const failed = db.prepare(`SELECT count(*) AS n FROM vector_store_files WHERE status = 'failed' AND error_message <> '' AND vector_store_id IN (${ids.map(() => '?').join(', ')})`).get(...ids) as { n: number };
      expect(failed.n).toBe(MODELS.length);
      for (const id of ids) expect(dump).toContain(id);
      // The upstream's own words were kept (so its echo of the key reached the rows), the key not.
      expect(dump).toContain('Incorrect API key provided');
      expect(dump).toContain('internal error while serving');
      expect(dump).not.toContain(EVIL_SECRET);
      expect(dump).not.toContain(LOOP_SECRET);
    } finally {
      db.close();
    }
  }, 120_000);

  it('shared store (PostgreSQL): the same tables hold no upstream key', async () => {
    const db = await createTestDatabase();
    const pgHub = await startSharedTestHub(`providers:\n  evil:\n    baseURL: ${evil.baseURL}\n    apiKey: \${EVIL_KEY}\n`, { databaseUrl: db.url }, { BAIMO_AUTH: 'none', EVIL_KEY: EVIL_SECRET });
    try {
      const pool = (pgHub.store as PostgresStores).pool;
      const ids = await failIngestion(pgHub.url, 'x', async (model) => {
        const made = await raw('x', 'POST', '/v1/vector_stores', { name: model, embedding_model: model }, {}, pgHub.url);
        if (made.status === 200) return made.json.id as string;
        // Without pgvector (this machine's PostgreSQL 15) such a store is refused at create; one
        // made before that refusal (or copied by `baimo migrate --from sqlite`) still exists and
        // still embeds its files before it would write a vector.
        expectError(made, 501);
        const plain = await raw('x', 'POST', '/v1/vector_stores', { name: model }, {}, pgHub.url);
        await pool.query('UPDATE vector_stores SET embedding_model = $1 WHERE id = $2', [model, plain.json.id]);
        return plain.json.id as string;
      });
      const tables = (await pool.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema()`)).rows.map((r) => r.t).filter((n) => KNOWLEDGE_TABLE.test(n));
      expect(tables).toEqual(expect.arrayContaining(['files', 'vector_stores', 'vector_store_files', 'vector_store_file_batches', 'knowledge_chunks', 'knowledge_index_terms']));
      const dumps: string[] = [];
      for (const t of tables) dumps.push(text((await pool.query(`SELECT * FROM "${t.replaceAll('"', '""')}"`)).rows));
      const dump = dumps.join('\n');
      const failed = await pool.query(`SELECT 1 FROM vector_store_files WHERE status = 'failed' AND error_message <> '' AND vector_store_id = ANY ($1)`, [ids]);
      expect(failed.rowCount).toBe(MODELS.length);
      for (const id of ids) expect(dump).toContain(id);
      expect(dump).toContain('Incorrect API key provided');
      expect(dump).toContain('internal error while serving');
      expect(dump).not.toContain(EVIL_SECRET);
    } finally {
      await pgHub.dispose();
      await db.drop();
    }
  }, 120_000);
});
