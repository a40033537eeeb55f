/**
 * POST /v1/rerank over plain fetch, against the loopback OpenAI-compatible upstream's Jina-shaped
 * /v1/rerank (word-overlap scores): ranking, top_n, return_documents, the call recorded and charged
 * in the request log, key limits, unknown and incapable models, hostile bodies, upstream garbage
 * and failing over to a second deployment.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rerankRequestToWire, rerankResponseFromWire, rerankURL } from '../src/providers/openai-compatible/rerank.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { overlapScore, startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-rerank-tests-000000';
const UPSTREAM_KEY = 'sk-upstream-rerank-secret-0000000000';
let upstream: OpenAIUpstream;
let hub: TestHub;
let key: string;
let keyId: string;

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ apiKey: UPSTREAM_KEY });
  hub = await startTestHub(
    `providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: \${LOOP_KEY}
  anth: { type: anthropic, baseURL: ${upstream.baseURL}, apiKey: sk-ant-unused-0000000000 }
pricing:
  models:
    # USD per million tokens: a token costs $0.001.
    loop/rr: { input: 1000, output: 0 }
    loop/dear-rr: { input: 1000000, output: 0 }
    loop/garbage: { input: 1, output: 0 }
    loop/error-500: { input: 1, output: 0 }
    anth/claude-haiku-4-5: { input: 1, output: 1 }
models:
  reranker:
    deployments: [{ provider: loop, model: error-500, priority: 0 }, { provider: loop, model: rr, priority: 1 }]
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, LOOP_KEY: UPSTREAM_KEY },
  );
  ({ key, id: keyId } = await newKey({ name: 'rerank' }));
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

async function newKey(fields: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await fetch(`${hub.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify(fields),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

async function rerank(body: unknown, k = key): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${hub.url}/v1/rerank`, {
    method: 'POST',
    headers: { authorization: `Bearer ${k}`, 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

async function requestLog(k: string): Promise<any[]> {
  const res = await fetch(`${hub.url}/v1/me/requests`, { headers: { authorization: `Bearer ${k}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as { data: any[] }).data;
}

const QUERY = 'capital of china';
// Worst first, so that ranking them reverses them.
const DOCS = ['Bananas are yellow.', 'Rice grows in southern China.', 'Paris is the capital of France.', 'Beijing is the capital of China.'];
// The upstream's count: the query's 3 words once per document, and every document's words.
const TOKENS = 3 * 4 + (3 + 5 + 6 + 6);

/** An OpenAI-shaped error body. */
const openAIError = (b: any) => {
  expect(b.error).toEqual(expect.objectContaining({ message: expect.any(String), type: expect.any(String) }));
  expect(b.error.message).not.toContain(UPSTREAM_KEY);
};

describe('POST /v1/rerank', () => {
  it('ranks every document best first, in the Jina/Cohere shape, without documents unless asked', async () => {
    const r = await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS });
    expect(r.status).toBe(200);
    expect(r.body.model).toBe('loop/rr');
    expect(r.body.id).toBe(r.headers.get('x-request-id'));
    expect(r.body.results.map((x: any) => x.index)).toEqual([3, 2, 1, 0]);
    const scores = r.body.results.map((x: any) => x.relevance_score);
    expect(scores).toEqual([...scores].sort((a: number, b: number) => b - a));
    expect(scores[0]).toBeCloseTo(overlapScore(QUERY, DOCS[3]!), 12);
    expect(r.body.results[0]).not.toHaveProperty('document');
    expect(r.body.usage).toEqual({ total_tokens: TOKENS });
    // Upstream: Jina's request, the hub's own key, documents never asked back.
    const sent = upstream.requests.at(-1)!;
    expect(sent.path).toBe('/v1/rerank');
    expect(sent.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
    expect(sent.body).toEqual({ model: 'rr', query: QUERY, documents: DOCS, return_documents: false });
  });

  it('top_n keeps the best; return_documents gives each its text; {text} documents are accepted', async () => {
    const r = await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS.map((text) => ({ text })), top_n: 2, return_documents: true });
    expect(r.status).toBe(200);
    expect(r.body.results).toEqual([
      { index: 3, relevance_score: expect.any(Number), document: { text: DOCS[3] } },
      { index: 2, relevance_score: expect.any(Number), document: { text: DOCS[2] } },
    ]);
    expect(upstream.requests.at(-1)!.body.top_n).toBe(2);
    // A top_n past the end is all of them.
    expect((await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS, top_n: 50 })).body.results).toHaveLength(4);
  });

  it('is recorded in the request log as a rerank call, with its tokens and cost charged to the key', async () => {
    const k = await newKey({ name: 'logged', budget_usd: 5 });
    expect((await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS }, k.key)).status).toBe(200);
    await expect.poll(async () => (await requestLog(k.key)).length, { timeout: 5000 }).toBe(1);
    const [row] = await requestLog(k.key);
    expect(row).toMatchObject({ endpoint: 'rerank', model: 'loop/rr', provider: 'loop', status: 200, input_tokens: TOKENS, output_tokens: 0, key_id: k.id });
    expect(row.cost_usd).toBeCloseTo(TOKENS / 1000, 9);
    // Charged against the key's budget.
    const me = (await (await fetch(`${hub.url}/v1/me`, { headers: { authorization: `Bearer ${k.key}` } })).json()) as any;
    expect(me.key.spend_usd).toBeCloseTo(TOKENS / 1000, 9);
  });

  it("the key's limits apply: rpm, budget, allowed models", async () => {
    const limited = await newKey({ name: 'rpm', rpm: 1 });
    expect((await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS }, limited.key)).status).toBe(200);
    const second = await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS }, limited.key);
    expect(second.status).toBe(429);
    openAIError(second.body);

    const poor = await newKey({ name: 'poor', budget_usd: 0.01, budget_period: 'day' });
    const before = upstream.requests.length;
    // 32 tokens at $1 each: far over a cent.
    const over = await rerank({ model: 'loop/dear-rr', query: QUERY, documents: DOCS }, poor.key);
    expect(over.status).toBe(429);
    expect(over.body.error.code).toBe('budget_exceeded');
    expect(upstream.requests.length).toBe(before);

    const narrow = await newKey({ name: 'narrow', allowed_models: ['loop/other'] });
    expect((await rerank({ model: 'loop/rr', query: QUERY, documents: DOCS }, narrow.key)).status).toBe(403);
    await expect.poll(async () => (await requestLog(poor.key)).map((r) => [r.endpoint, r.status]), { timeout: 5000 }).toEqual([['rerank', 429]]);
    // And without a key at all.
    const anonymous = await fetch(`${hub.url}/v1/rerank`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'loop/rr', query: 'q', documents: ['d'] }) });
    expect(anonymous.status).toBe(401);
  });

  it('an unknown model is a 404 naming close matches; a model without rerank is a 400 saying so', async () => {
    const unknown = await rerank({ model: 'rerankr', query: QUERY, documents: DOCS });
    expect(unknown.status).toBe(404);
    openAIError(unknown.body);
    expect(unknown.body.error.message).toContain("Did you mean 'reranker'");
    const chatOnly = await rerank({ model: 'anth/claude-haiku-4-5', query: QUERY, documents: DOCS });
    expect(chatOnly.status).toBe(400);
    openAIError(chatOnly.body);
    expect(chatOnly.body.error.message).toContain('does not rerank');
    expect(chatOnly.body.error.param).toBe('model');
  });

  it('hostile bodies are 400s in OpenAI shape, and nothing reaches the upstream', async () => {
    const before = upstream.requests.length;
    const cases: [unknown, string][] = [
      [{ model: 'loop/rr', query: QUERY, documents: 'Beijing' }, 'documents'],
      [{ model: 'loop/rr', query: QUERY, documents: [] }, 'documents'],
      [{ model: 'loop/rr', query: QUERY, documents: Array.from({ length: 100_000 }, () => 'x') }, 'documents'],
      [{ model: 'loop/rr', query: QUERY, documents: DOCS, top_n: -1 }, 'top_n'],
      [{ model: 'loop/rr', query: QUERY, documents: DOCS, top_n: 1.5 }, 'top_n'],
      [{ model: 'loop/rr', query: QUERY, documents: DOCS, top_n: '2' }, 'top_n'],
      [{ model: 'loop/rr', query: '', documents: DOCS }, 'query'],
      [{ model: 'loop/rr', query: { $ne: 1 }, documents: DOCS }, 'query'],
      [{ model: 'loop/rr', query: QUERY, documents: [{ text: { nested: [[[['junk']]]] } }] }, 'documents[0].text'],
      [{ model: 'loop/rr', query: QUERY, documents: [42, null] }, 'documents[0]'],
      [{ query: QUERY, documents: DOCS }, 'model'],
      [{ model: 'x'.repeat(10_000), query: QUERY, documents: DOCS }, 'model'],
    ];
    for (const [body, param] of cases) {
      const r = await rerank(body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(400);
      openAIError(r.body);
      expect(r.body.error.param).toBe(param);
    }
    expect((await rerank('{"model":"loop/rr","query":')).status).toBe(400);
    expect((await rerank('[]')).status).toBe(400);
    const deep = await rerank(`{"model":"loop/rr","query":"q","documents":${'['.repeat(200)}${']'.repeat(200)}}`);
    expect(deep.status).toBe(400);
    openAIError(deep.body);
    expect(upstream.requests.length).toBe(before);
    const get = await fetch(`${hub.url}/v1/rerank`, { headers: { authorization: `Bearer ${key}` } });
    expect(get.status).toBe(405);
  });

  it('upstream garbage is a 502; an upstream error keeps its status; the upstream key never shows', async () => {
    const garbage = await rerank({ model: 'loop/garbage', query: QUERY, documents: DOCS });
    expect(garbage.status).toBe(502);
    openAIError(garbage.body);
    const refused = await rerank({ model: 'loop/error-400', query: QUERY, documents: DOCS });
    expect(refused.status).toBe(400);
    openAIError(refused.body);
    // A server without a rerank endpoint answers 404 for the path: the client learns it as such.
    const none = await rerank({ model: 'loop/error-404', query: QUERY, documents: DOCS });
    expect(none.status).toBe(404);
    // The upstream refusing the hub's own key is the operator's problem, and its key stays hidden.
    const denied = await rerank({ model: 'loop/error-401', query: QUERY, documents: DOCS });
    expect(denied.status).toBe(502);
    expect(denied.body.error.code).toBe('upstream_authentication_failed');
    openAIError(denied.body);
    expect(JSON.stringify(denied.body)).not.toContain(UPSTREAM_KEY.slice(8));
  });

  it('fails over to the next deployment when the first fails, and records the failed attempt', async () => {
    const k = await newKey({ name: 'failover' });
    const r = await rerank({ model: 'reranker', query: QUERY, documents: DOCS, top_n: 1 }, k.key);
    expect(r.status).toBe(200);
    expect(r.body.results.map((x: any) => x.index)).toEqual([3]);
    expect(r.headers.get('x-baimo-deployment')).toBe('loop/rr#1');
    expect(r.headers.get('x-baimo-attempts')).toBe('2');
    await expect.poll(async () => (await requestLog(k.key)).length, { timeout: 5000 }).toBe(1);
    const [final] = await requestLog(k.key);
    expect(final).toMatchObject({ endpoint: 'rerank', model: 'reranker', status: 200, attempts: 2, input_tokens: TOKENS });
    expect(final.cost_usd).toBeCloseTo(TOKENS / 1000, 9);
    const detail = (await (await fetch(`${hub.url}/v1/me/requests/${final.request_id}`, { headers: { authorization: `Bearer ${k.key}` } })).json()) as any;
    expect(detail.attempts.map((a: any) => [a.attempt, a.deployment, a.status, a.final])).toEqual([
      [1, 'loop/error-500#0', 502, false],
      [2, 'loop/rr#1', 200, true],
    ]);
  });
});

describe('the rerank wire format, as each documented server answers', () => {
  const request = { model: 'm', query: 'q', documents: ['a', 'b', 'c'] };
  const results = [
    { index: 2, relevance_score: 0.9 },
    { index: 0, relevance_score: 0.4 },
  ];

  it('request: Jina/Cohere fields, documents never asked back', () => {
    expect(rerankRequestToWire({ ...request, topN: 2 })).toEqual({ model: 'm', query: 'q', documents: ['a', 'b', 'c'], top_n: 2, return_documents: false });
    expect(rerankRequestToWire(request)).not.toHaveProperty('top_n');
  });

  it('usage under each server’s name: Jina and Qwen usage.total_tokens, SiliconFlow tokens, Cohere meta.tokens; none from search units', () => {
    const read = (extra: object) => rerankResponseFromWire('p', JSON.stringify({ results, ...extra }), request);
    expect(read({ model: 'jina-reranker-v2-base-multilingual', usage: { total_tokens: 815 } })).toEqual({
      model: 'jina-reranker-v2-base-multilingual',
      results: [
        { index: 2, relevanceScore: 0.9 },
        { index: 0, relevanceScore: 0.4 },
      ],
      usage: { inputTokens: 815, outputTokens: 0 },
    });
    expect(read({ id: 'x', object: 'list', model: 'qwen3-rerank', usage: { total_tokens: 12 } }).usage).toEqual({ inputTokens: 12, outputTokens: 0 });
    expect(read({ id: 'x', tokens: { input_tokens: 33, output_tokens: 0 } }).usage).toEqual({ inputTokens: 33, outputTokens: 0 });
    expect(read({ meta: { tokens: { input_tokens: 7 }, billed_units: { search_units: 1 } } }).usage).toEqual({ inputTokens: 7, outputTokens: 0 });
    expect(read({ meta: { api_version: { version: '2' }, billed_units: { search_units: 1 } } }).usage).toBeUndefined();
    // The request's model name when the answer names none.
    expect(read({}).model).toBe('m');
  });

  it('sorted best first and cut to topN whatever order the server sent', () => {
    const r = rerankResponseFromWire('p', JSON.stringify({ results: [results[1], { index: 1, relevance_score: 0.5 }, results[0]] }), { ...request, topN: 2 });
    expect(r.results.map((x) => x.index)).toEqual([2, 1]);
  });

  it('an answer that names no document of the request, or is not JSON, is an upstream error', () => {
    const bad = [
      '<html>oops</html>',
      '{}',
      '{"results":{"index":0}}',
      '{"results":[{"index":3,"relevance_score":1}]}',
      '{"results":[{"index":-1,"relevance_score":1}]}',
      '{"results":[{"index":0,"relevance_score":1},{"index":0,"relevance_score":0.5}]}',
      '{"results":[{"index":0,"relevance_score":"high"}]}',
      '{"results":[null]}',
      'null',
    ];
    for (const text of bad) expect(() => rerankResponseFromWire('p', text, request), text).toThrow(expect.objectContaining({ kind: 'upstream', status: 502 }));
  });

  it('where a server reranks: {baseURL}/rerank, DashScope’s compatible-api beside its compatible-mode chat', () => {
    expect(rerankURL('https://api.siliconflow.cn/v1', 'siliconflow')).toBe('https://api.siliconflow.cn/v1/rerank');
    expect(rerankURL('http://127.0.0.1:8000/v1', undefined)).toBe('http://127.0.0.1:8000/v1/rerank');
    expect(rerankURL('https://dashscope-intl.aliyuncs.com/compatible-mode/v1', 'qwen')).toBe('https://dashscope-intl.aliyuncs.com/compatible-api/v1/reranks');
    // A proxy in front of DashScope on another path keeps the plain rule.
    expect(rerankURL('https://proxy.example/qwen/v1', 'qwen')).toBe('https://proxy.example/qwen/v1/rerank');
  });
});
