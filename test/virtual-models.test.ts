import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-virtual-test-00000';
let upstream: OpenAIUpstream;
let hub: TestHub;
let key: { id: string; key: string };
let openai: OpenAI;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(
    `providers:
  loop: { baseURL: ${upstream.baseURL} }
pricing:
  # The vote and cascade members (loop/json, loop/gpt-test) have no price; the test key has a budget.
  allowUnpriced: true
  models:
    loop/p1: { input: 1000, output: 1000 }
    loop/p2: { input: 1000, output: 1000 }
    loop/agg: { input: 1000, output: 1000 }
virtualModels:
  panel:
    kind: moa
    proposers: [loop/p1, loop/p2]
    aggregator: loop/agg
  pick:
    kind: vote
    models: [loop/json, loop/json, loop/gpt-test]
    extract: normalized_text
  careful:
    kind: cascade
    models: [loop/gpt-test, loop/json]
    check: { type: regex, pattern: '^\\\\{' }
  confident:
    kind: cascade
    models: [loop/gpt-test, loop/json]
    check: { type: logprobs, minAvgLogprob: -0.3 }
  doubtful:
    kind: cascade
    models: [loop/gpt-test, loop/json]
    check: { type: logprobs, minAvgLogprob: -0.0000001 }
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
  );
  key = await createKey(hub.url, ADMIN, { name: 'v', budget_usd: 10, allowed_models: ['panel', 'pick', 'careful', 'confident', 'doubtful'] });
  openai = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: key.key, maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

const ask = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'What is best?' }] });

describe('virtual models through the hub', () => {
  it('appear in /v1/models', async () => {
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['panel', 'pick', 'careful']));
  });

  it('moa: the aggregator receives every proposer answer; sub-calls are charged to the key; the trace is in the response and the log', async () => {
    const before = upstream.requests.length;
    const r = await openai.chat.completions.create(ask('panel'));
    expect(r.choices[0]!.message.content).toBe('Hello from agg! You said: What is best?');
    const calls = upstream.requests.slice(before).map((q) => q.body);
    expect(calls.map((b) => b.model).sort()).toEqual(['agg', 'p1', 'p2']);
    const agg = JSON.stringify(calls.find((b) => b.model === 'agg').messages);
    expect(agg).toContain('Hello from p1! You said: What is best?');
    expect(agg).toContain('Hello from p2! You said: What is best?');
    // Three calls of 12 in + 9 out at $1000 per million each.
    const perCall = (12 + 9) * 1000 / 1e6;
    expect(r.usage).toMatchObject({ prompt_tokens: 36, completion_tokens: 27 });
    const trace = (r as unknown as { baimo_trace: { steps: { stage: string; model: string }[] } }).baimo_trace;
    expect(trace.steps.map((s) => s.model).sort()).toEqual(['loop/agg', 'loop/p1', 'loop/p2']);
    await expect.poll(async () => {
      const list = await fetch(`${hub.url}/admin/requests?model=panel`, { headers: { authorization: `Bearer ${ADMIN}` } });
      return ((await list.json()) as any).data.length;
    }, { timeout: 3000 }).toBe(1);
    const row = hub.store.recentUsage(10).find((u) => u.model === 'panel')!;
    expect(row.cost_usd).toBeCloseTo(3 * perCall, 9);
    expect(row.key_id).toBe(key.id);
    const detail = (await (await fetch(`${hub.url}/admin/requests/${row.request_id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(detail.trace.steps).toHaveLength(3);
    const k = (await (await fetch(`${hub.url}/admin/keys/${key.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(k.spend_usd).toBeCloseTo(3 * perCall, 9);
  });

  it('moa streams its final stage to OpenAI and Anthropic clients', async () => {
    const stream = await openai.chat.completions.create({ ...ask('panel'), stream: true });
    let text = '';
    let chunks = 0;
    let trace: unknown;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      if (c.choices[0]?.delta.content) chunks++;
      trace ??= (c as unknown as { baimo_trace?: unknown }).baimo_trace;
    }
    expect(text).toBe('Hello from agg! You said: What is best?');
    expect(chunks).toBeGreaterThan(2);
    expect(trace).toBeTruthy();
    const anthropic = new Anthropic({ baseURL: hub.url, apiKey: key.key, maxRetries: 0 });
    const m = await anthropic.messages.stream({ ...ask('panel'), max_tokens: 100 }).finalMessage();
    expect(m.content.map((b) => (b.type === 'text' ? b.text : b.type))).toEqual(['Hello from agg! You said: What is best?']);
  });

  it('vote returns the majority answer with its agreement', async () => {
    const r = await openai.chat.completions.create(ask('pick'));
    expect(r.choices[0]!.message.content).toBe('{"name":"Ada Lovelace","born":1815}');
    const summary = (r as any).baimo_trace.summary;
    expect(summary.agreement).toBeCloseTo(2 / 3, 5);
  });

  it('cascade escalates when the check fails and stops when it passes', async () => {
    const r = await openai.chat.completions.create(ask('careful'));
    expect(r.choices[0]!.message.content).toBe('{"name":"Ada Lovelace","born":1815}');
    expect((r as any).baimo_trace.steps.map((s: any) => s.model)).toEqual(['loop/gpt-test', 'loop/json']);
  });
});

describe('cascade on the model\'s own confidence', () => {
  it('accepts a confident first answer from its logprobs, and escalates a doubtful one', async () => {
    const sure = await openai.chat.completions.create(ask('confident'));
    expect((sure as any).baimo_trace.steps.map((s: any) => s.model)).toEqual(['loop/gpt-test']);
    expect(upstream.requests.at(-1)!.body.logprobs).toBe(true);
    const unsure = await openai.chat.completions.create(ask('doubtful'));
    expect((unsure as any).baimo_trace.steps.map((s: any) => s.model)).toEqual(['loop/gpt-test', 'loop/json']);
  });
});

describe('virtual model configuration', () => {
  it('rejects unknown members and loops clearly', async () => {
    const { ConfigError, validateConfig } = await import('../src/config/load.js');
    const { assembleFrom } = await import('../src/server/assemble.js');
    const { parse } = await import('yaml');
    const build = (yaml: string) => assembleFrom(validateConfig(parse(yaml), {}), []);
    expect(() => build('virtualModels:\n  v: { kind: moa, proposers: [x/a, x/b], aggregator: x/c }\n')).toThrow(/member 'x\/a' is not a model/);
    expect(() => build('virtualModels:\n  a: { kind: cascade, models: [b], check: { type: regex, pattern: x } }\n  b: { kind: cascade, models: [a], check: { type: regex, pattern: x } }\n')).toThrow(ConfigError);
    expect(() => build('virtualModels:\n  a: { kind: cascade, models: [b], check: { type: regex, pattern: x } }\n  b: { kind: cascade, models: [a], check: { type: regex, pattern: x } }\n')).toThrow(/loop: a → b → a/);
  });
});
