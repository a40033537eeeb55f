/**
 * Embeddings and rerank calls that knowledge work makes through the gateway: a principal's own
 * calls (principalCaller: each a top-level call, admitted, charged to the key and recorded on its
 * own, as over HTTP) and a model's sub-calls (modelCaller: settled one by one, their cost on the
 * parent call's tally), against the loopback OpenAI upstream's /v1/embeddings and /v1/rerank and
 * the Gemini upstream's batchEmbedContents (the canonical `embed` path).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cancel } from '../src/core/cancel.js';
import { startCall } from '../src/gateway/call.js';
import { modelCaller } from '../src/gateway/caller.js';
import { callContext } from '../src/gateway/context.js';
import type { Gateway } from '../src/gateway/context.js';
import { compileHooks } from '../src/gateway/hooks.js';
import { newOutcome } from '../src/gateway/outcome.js';
import { principalCaller } from '../src/gateway/principal.js';
import { recordCall } from '../src/gateway/record.js';
import type { Ledger } from '../src/tenancy/ledger.js';
import type { UsageRecord } from '../src/usage/record.js';
import { keyPrincipal as key, startTestGateway } from './helpers/gateway.js';
import { geminiEmbedding, startGeminiUpstream } from './upstreams/gemini.js';
import type { GeminiUpstream } from './upstreams/gemini.js';
import { overlapScore, startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const GEM_KEY = 'AIza-test-gemini-key-0000000000000000000';
let upstream: OpenAIUpstream;
let gemini: GeminiUpstream;
let gw: Gateway;
let ledger: Ledger;
const records: UsageRecord[] = [];

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  gemini = await startGeminiUpstream({ apiKey: GEM_KEY });
  ({ gw, ledger } = await startTestGateway(
    {
      providers: {
        loop: { baseURL: upstream.baseURL },
        gem: { type: 'gemini', baseURL: gemini.baseURL, apiKey: GEM_KEY, embeddingModels: ['gemini-embedding-001'] },
      },
      // Dollars per million tokens: one token costs $0.001.
      pricing: {
        models: {
          'loop/text-embedding-3-small': { input: 1000, output: 0 },
          'loop/rr': { input: 1000, output: 0 },
          'loop/garbage': { input: 1, output: 0 },
          'loop/gpt-test': { input: 1, output: 1 },
          'gem/gemini-embedding-001': { input: 1, output: 0 },
          'gem/gemini-2.5-flash': { input: 1, output: 1 },
        },
      },
    },
    records,
  ));
});

afterAll(async () => {
  await gw?.recorder.close();
  await upstream?.close();
  await gemini?.close();
});

const signal = () => new AbortController().signal;
const DOCS = ['gamma delta', 'alpha beta gamma', 'beta'];
// The upstream's count: the query's 2 words once per document, and every document's words.
const RERANK_TOKENS = 2 * 3 + (2 + 3 + 1);

describe("principalCaller: each call is the principal's own top-level call", () => {
  it('embed: vectors in input order, floats asked for, recorded and charged to the key', async () => {
    const caller = principalCaller(gw, key('e1'), { via: 'kb' });
    const r = await caller.embed('loop/text-embedding-3-small', ['alpha beta', 'gamma'], signal());
    expect(r.vectors).toHaveLength(2);
    expect(r.vectors[0]).toBeInstanceOf(Float32Array);
    expect(r.vectors[0]!.length).toBe(8);
    expect(Math.hypot(...r.vectors[0]!)).toBeCloseTo(1, 5);
    expect(Array.from(r.vectors[0]!)).not.toEqual(Array.from(r.vectors[1]!));
    expect(r.usage).toEqual({ inputTokens: 3, outputTokens: 0 });
    expect(r.costUsd).toBeCloseTo(0.003, 12);
    const sent = upstream.requests.at(-1)!;
    expect(sent.path).toBe('/v1/embeddings');
    expect(sent.body).toEqual({ model: 'text-embedding-3-small', input: ['alpha beta', 'gamma'], encoding_format: 'float' });
    expect(ledger.spent('key:e1', 'month')).toBeCloseTo(0.003, 12);
    await gw.recorder.close();
    const mine = records.filter((x) => x.keyId === 'e1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ endpoint: 'embeddings', model: 'loop/text-embedding-3-small', status: 200, final: true, usage: { inputTokens: 3, outputTokens: 0 } });
    expect(mine[0]!.costUsd).toBeCloseTo(0.003, 12);
    // `via` names where the call came from in its request id.
    expect(mine[0]!.requestId).toMatch(/^kb_[0-9a-f]+$/);
  });

  it('embed through a provider without the OpenAI relay (Gemini): the canonical embed capability', async () => {
    const r = await principalCaller(gw, key('e2')).embed('gem/gemini-embedding-001', ['alpha beta', 'gamma'], signal());
    const want = geminiEmbedding('gamma', r.vectors[1]!.length);
    Array.from(r.vectors[1]!).forEach((x, i) => expect(x).toBeCloseTo(want[i]!, 5));
    expect(gemini.requests.at(-1)!.path).toBe('/v1beta/models/gemini-embedding-001:batchEmbedContents');
    await gw.recorder.close();
    expect(records.filter((x) => x.keyId === 'e2').map((x) => [x.endpoint, x.status])).toEqual([['embeddings', 200]]);
  });

  it('rerank: best first, topN kept, recorded as a rerank call with its cost', async () => {
    const caller = principalCaller(gw, key('r1'));
    const r = await caller.rerank('loop/rr', 'alpha beta', DOCS, 2, signal());
    expect(r.results.map((x) => x.index)).toEqual([1, 2]);
    expect(r.results[0]!.relevanceScore).toBeCloseTo(overlapScore('alpha beta', DOCS[1]!), 12);
    expect(r.costUsd).toBeCloseTo(RERANK_TOKENS / 1000, 12);
    // The hub holds the documents: it never asks for them back.
    expect(upstream.requests.at(-1)!.body).toEqual({ model: 'rr', query: 'alpha beta', documents: DOCS, top_n: 2, return_documents: false });
    await gw.recorder.close();
    const mine = records.filter((x) => x.keyId === 'r1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ endpoint: 'rerank', model: 'loop/rr', status: 200, usage: { inputTokens: RERANK_TOKENS, outputTokens: 0 } });
    expect(mine[0]!.requestId).toMatch(/^req_/);
    expect(ledger.spent('key:r1', 'month')).toBeCloseTo(RERANK_TOKENS / 1000, 12);
  });

  it("the key's limits apply: over budget, a model it may not use, an unknown model — refused, recorded, nothing charged", async () => {
    const before = upstream.requests.length;
    await expect(principalCaller(gw, key('p1', { budgetUsd: 0.000001 })).rerank('loop/rr', 'alpha beta', DOCS, undefined, signal())).rejects.toMatchObject({ kind: 'rate_limited', code: 'budget_exceeded' });
    await expect(principalCaller(gw, key('p2', { allowedModels: ['loop/rr'] })).embed('loop/text-embedding-3-small', ['x'], signal())).rejects.toMatchObject({ kind: 'permission' });
    await expect(principalCaller(gw, key('p3')).embed('nowhere/x', ['x'], signal())).rejects.toMatchObject({ kind: 'not_found' });
    expect(upstream.requests.length).toBe(before);
    expect(ledger.spent('key:p1', 'month')).toBe(0);
    await gw.recorder.close();
    expect(records.find((x) => x.keyId === 'p1')).toMatchObject({ endpoint: 'rerank', status: 429, final: true });
    expect(records.find((x) => x.keyId === 'p2')).toMatchObject({ endpoint: 'embeddings', status: 403 });
  });

  it('upstream failures come back as HubErrors and are recorded; a model that cannot rerank is a 400', async () => {
    await expect(principalCaller(gw, key('f1')).rerank('loop/garbage', 'q', ['a'], undefined, signal())).rejects.toMatchObject({ kind: 'upstream', status: 502 });
    await expect(principalCaller(gw, key('f2')).rerank('gem/gemini-2.5-flash', 'q', ['a'], undefined, signal())).rejects.toMatchObject({ kind: 'bad_request', status: 400 });
    await gw.recorder.close();
    expect(records.filter((x) => x.keyId === 'f1' && x.final).map((x) => x.status)).toEqual([502]);
    expect(records.find((x) => x.keyId === 'f2' && x.final)).toMatchObject({ endpoint: 'rerank', status: 400, errorKind: 'bad_request' });
  });

  it('a canceled signal ends the call as canceled', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(principalCaller(gw, key('c1')).embed('loop/text-embedding-3-small', ['x'], ac.signal)).rejects.toMatchObject({ kind: 'canceled' });
  });

  it('chat: complete is a top-level call with its cost; hooks see every call as made outside HTTP', async () => {
    const seen: { via: string; endpoint: string; id: string }[] = [];
    const hooks = compileHooks([{ name: 'audit', post: (end) => void seen.push({ via: end.info.via, endpoint: end.info.endpoint, id: end.info.call!.requestId }) }]);
    const caller = principalCaller({ ...gw, hooks }, key('h1'));
    const done = await caller.complete('loop/gpt-test', { model: '', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }, signal());
    expect(done.choices[0]!.text).toContain('You said: hi');
    await caller.rerank('loop/rr', 'alpha', DOCS, undefined, signal());
    expect(seen.map((s) => [s.via, s.endpoint])).toEqual([['call', 'chat'], ['call', 'rerank']]);
    expect(new Set(seen.map((s) => s.id)).size).toBe(2);
  });
});

describe("modelCaller: a model's embeddings and rerank calls are sub-calls of its call", () => {
  it('each is admitted and charged to the key as it settles, and the parent call carries their total', async () => {
    const parent = callContext(key('s1'), 'req_parent_1', new Cancel());
    const caller = modelCaller(gw, parent, startCall);
    const e = await caller.embed('loop/text-embedding-3-small', ['alpha beta', 'gamma'], signal());
    const r = await caller.rerank('loop/rr', 'alpha beta', DOCS, undefined, signal());
    expect(r.results.map((x) => x.index)).toEqual([1, 2, 0]);
    expect(e.costUsd).toBeCloseTo(0.003, 12);
    expect(parent.tally).toMatchObject({ calls: 2 });
    expect(parent.tally!.costUsd).toBeCloseTo(0.003 + RERANK_TOKENS / 1000, 12);
    expect(ledger.spent('key:s1', 'month')).toBeCloseTo(0.003 + RERANK_TOKENS / 1000, 12);
    // The parent's own record carries the sub-calls' total (nothing more is charged for it).
    const out = newOutcome();
    out.model = 'kb-model';
    const cost = recordCall(gw, parent, out, { t0: performance.now(), ts: Date.now(), endpoint: 'chat', caller: parent.principal });
    expect(cost).toBeCloseTo(parent.tally!.costUsd, 12);
    await gw.recorder.close();
    expect(records.filter((x) => x.requestId.startsWith('req_parent_1'))).toHaveLength(1);
    expect(ledger.spent('key:s1', 'month')).toBeCloseTo(0.003 + RERANK_TOKENS / 1000, 12);
  });

  it('a sub-call the key cannot afford is refused before anything is sent', async () => {
    const parent = callContext(key('s2', { budgetUsd: 0.000001 }), 'req_parent_2', new Cancel());
    const before = upstream.requests.length;
    await expect(modelCaller(gw, parent, startCall).embed('loop/text-embedding-3-small', ['alpha'], signal())).rejects.toMatchObject({ code: 'budget_exceeded' });
    expect(upstream.requests.length).toBe(before);
  });
});
