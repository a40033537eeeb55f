import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { createKey } from './helpers/keys.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-budget-records-0000';
let upstream: OpenAIUpstream;
let hub: TestHub;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(
    `providers:
  loop: { baseURL: ${upstream.baseURL} }
pricing:
  models:
    # One default answer (12 in, 9 out) costs $0.03.
    loop/gpt-test: { input: 1000, output: 2000 }
    loop/p1: { input: 10, output: 10 }
    loop/p2: { input: 20, output: 10 }
    loop/agg: { input: 10, output: 30 }
virtualModels:
  panel:
    kind: moa
    proposers: [loop/p1, loop/p2]
    aggregator: loop/agg
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
  );
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

const newKey = (fields: Record<string, unknown>) => createKey(hub.url, ADMIN, { name: 'records', ...fields });

const hi = (model = 'loop/gpt-test') => ({ model, max_tokens: 20, messages: [{ role: 'user', content: 'hi' }] });

async function chat(key: string, body: unknown) {
  const res = await fetch(`${hub.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function myRequests(key: string): Promise<any[]> {
  const res = await fetch(`${hub.url}/v1/me/requests`, { headers: { authorization: `Bearer ${key}` } });
  expect(res.status).toBe(200);
  return ((await res.json()) as any).data;
}

describe('requests refused at admission are recorded against their key', () => {
  it('RPM, budget and model-access refusals appear in the key’s own request log and usage', async () => {
    const team = await (await fetch(`${hub.url}/admin/teams`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'throttled' }) })).json() as { id: string };
    const k = await newKey({ rpm: 1, allowed_models: ['loop/gpt-test'], team_id: team.id });
    expect((await chat(k.key, hi())).status).toBe(200);
    const rpm = await chat(k.key, hi());
    expect(rpm.status).toBe(429);
    const denied = await chat(k.key, hi('loop/json'));
    expect(denied.status).toBe(403);
    const poor = await newKey({ budget_usd: 0.01, budget_period: 'day' });
    const budget = await chat(poor.key, hi());
    expect(budget.status).toBe(429);
    expect(budget.body.error.code).toBe('budget_exceeded');

    await expect.poll(async () => (await myRequests(k.key)).map((r) => r.status).sort(), { timeout: 5000 }).toEqual([200, 403, 429]);
    const mine = await myRequests(k.key);
    for (const r of mine) expect(r.key_id).toBe(k.id);
    expect(mine.find((r) => r.status === 429)).toMatchObject({ error_kind: 'rate_limited', model: 'loop/gpt-test' });
    expect(mine.find((r) => r.status === 403)).toMatchObject({ error_kind: 'permission', model: 'loop/json' });
    // The team sees its key's throttling too.
    const teamRows = hub.store.db.prepare('SELECT status FROM usage WHERE team_id = ? AND final = 1 ORDER BY id').all(team.id) as { status: number }[];
    expect(teamRows.map((r) => r.status)).toEqual([200, 429, 403]);
    await expect.poll(async () => (await myRequests(poor.key)).map((r) => r.status), { timeout: 5000 }).toEqual([429]);
    // And the admin's usage query by key counts them.
    const usage = (await (await fetch(`${hub.url}/admin/usage?key_id=${k.id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expect(usage.data[0].requests).toBe(3);
  });
});

describe('virtual-model traces carry their sub-calls’ costs', () => {
  // 12 in + 9 out per call: p1 $0.00021, p2 $0.00033, agg $0.00039.
  const costs = { 'loop/p1': (12 * 10 + 9 * 10) / 1e6, 'loop/p2': (12 * 20 + 9 * 10) / 1e6, 'loop/agg': (12 * 10 + 9 * 30) / 1e6 } as Record<string, number>;
  const total = costs['loop/p1']! + costs['loop/p2']! + costs['loop/agg']!;

  async function recordedCost(n: number): Promise<{ cost_usd: number; request_id: string }> {
    await expect.poll(() => (hub.store.db.prepare("SELECT COUNT(*) AS n FROM usage WHERE model = 'panel' AND final = 1").get() as any).n, { timeout: 5000 }).toBe(n);
    return hub.store.db.prepare("SELECT cost_usd, request_id FROM usage WHERE model = 'panel' AND final = 1 ORDER BY id DESC LIMIT 1").get() as { cost_usd: number; request_id: string };
  }

  function expectTrace(trace: { steps: { model: string; costUsd?: number }[]; summary: { costUsd: number } }, recorded: number) {
    expect(trace.steps.map((s) => s.model).sort()).toEqual(['loop/agg', 'loop/p1', 'loop/p2']);
    for (const s of trace.steps) expect(s.costUsd, s.model).toBeCloseTo(costs[s.model]!, 12);
    expect(trace.summary.costUsd).toBeCloseTo(total, 12);
    expect(trace.summary.costUsd).toBeCloseTo(recorded, 12);
  }

  it('on a streamed answer: every step, the streamed aggregator too, and the summary equal to the recorded cost', async () => {
    const k = await newKey({ budget_usd: 10 });
    const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: k.key, maxRetries: 0 });
    const stream = await client.chat.completions.create({ model: 'panel', stream: true, messages: [{ role: 'user', content: 'What is best?' }] });
    let trace: any;
    for await (const c of stream) trace ??= (c as unknown as { baimo_trace?: unknown }).baimo_trace;
    const row = await recordedCost(1);
    expect(row.cost_usd).toBeCloseTo(total, 12);
    expectTrace(trace, row.cost_usd);
    // The stored trace (what the console shows) says the same.
    const detail = (await (await fetch(`${hub.url}/admin/requests/${row.request_id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
    expectTrace(detail.trace, row.cost_usd);
  });

  it('on a whole answer', async () => {
    const k = await newKey({ budget_usd: 10 });
    const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: k.key, maxRetries: 0 });
    const r = await client.chat.completions.create({ model: 'panel', messages: [{ role: 'user', content: 'What is best?' }] });
    const row = await recordedCost(2);
    expectTrace((r as any).baimo_trace, row.cost_usd);
  });
});
