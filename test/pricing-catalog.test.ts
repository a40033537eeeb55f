import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOG } from '../src/catalog/models.js';
import { PROVIDER_PRESETS } from '../src/catalog/presets.js';
import { PriceBook } from '../src/catalog/prices.js';
import { costUsd } from '../src/usage/cost.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import type { AnthropicUpstream } from './upstreams/anthropic.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

describe('price book', () => {
  const book = new PriceBook(CATALOG, { 'openai/gpt-4o': { currency: 'USD', input: 7, output: 8 } }, 7.1);

  it('prices every model the issue found unpriced, from the maintained data package', () => {
    const unpricedBefore = [
      ['openai', 'gpt-4o'],
      ['openai', 'gpt-4o-mini'],
      ['openai', 'gpt-5'],
      ['openai', 'text-embedding-3-small'],
      ['openai', 'text-embedding-3-large'],
      ['anthropic', 'claude-opus-4-6'],
      ['anthropic', 'claude-sonnet-4-6'],
      ['anthropic', 'claude-sonnet-4-5'],
    ] as const;
    for (const [p, m] of unpricedBefore) {
      const price = book.price(p, m);
      expect(price, `${p}/${m}`).toBeDefined();
      expect(price!.input, `${p}/${m}`).toBeGreaterThan(0);
    }
    expect(book.price('openai', 'gpt-4o-mini')).toMatchObject({ input: 0.15, output: 0.6, cachedInput: 0.075 });
    expect(book.price('anthropic', 'claude-sonnet-4-5')).toMatchObject({ input: 3, output: 15, cachedInput: 0.3, cacheWrite: 3.75 });
    expect(book.source('anthropic', 'claude-sonnet-4-5')).toBe('package');
    expect(book.contextWindow('openai', 'gpt-4o-mini')).toBe(128_000);
  });

  it('prices every chat and embedding model the OpenAI, Anthropic and Gemini presets list', () => {
    for (const id of ['openai', 'anthropic', 'gemini']) {
      const preset = PROVIDER_PRESETS.find((p) => p.id === id)!;
      for (const m of [...preset.models, ...(preset.embeddingModels ?? [])]) expect(book.price(id, m), `${id}/${m}`).toBeDefined();
    }
  });

  it('keeps config overrides first and the hub’s own CNY prices before the package', () => {
    expect(book.price('openai', 'gpt-4o')).toEqual({ input: 7, output: 8 });
    expect(book.source('openai', 'gpt-4o')).toBe('config');
    // DeepSeek bills in CNY; the package knows the same model in USD, the hub's table wins.
    const cny = CATALOG.find((e) => e.id === 'deepseek-v4-flash' && e.price.currency === 'CNY')!;
    expect(book.source('deepseek', 'deepseek-v4-flash')).toBe('catalog');
    expect(book.price('deepseek', 'deepseek-v4-flash')!.input).toBeCloseTo(cny.price.input / 7.1, 12);
    // A Chinese provider the package does not cover at all keeps its catalog entries.
    expect(book.price('qwen', 'qwen3-max')).toBeDefined();
    // Custom providers and unknown models have no price.
    expect(book.price('loop', 'gpt-4o-mini')).toBeUndefined();
    expect(book.price('openai', 'no-such-model-xyz')).toBeUndefined();
  });

  it('bills long prompts at their tier', () => {
    const p = book.price('anthropic', 'claude-sonnet-4-5')!;
    expect(costUsd({ inputTokens: 1_000, outputTokens: 1_000 }, p)).toBeCloseTo((1_000 * 3 + 1_000 * 15) / 1e6, 12);
    // Above 200k prompt tokens the whole request is billed at $6 / $22.50.
    expect(costUsd({ inputTokens: 250_000, outputTokens: 1_000 }, p)).toBeCloseTo((250_000 * 6 + 1_000 * 22.5) / 1e6, 12);
  });

  it('allows unpriced models only as configured', () => {
    expect(book.unpricedAllowed('loop/x', 'loop', 'x')).toBe(false);
    expect(new PriceBook([], {}, 7.1, { allowUnpriced: true }).unpricedAllowed('loop/x', 'loop', 'x')).toBe(true);
    const some = new PriceBook([], {}, 7.1, { allowUnpriced: ['loop/free-*', 'alias'] });
    expect(some.unpricedAllowed('loop/free-1', 'loop', 'free-1')).toBe(true);
    expect(some.unpricedAllowed('alias', 'loop', 'other')).toBe(true);
    expect(some.unpricedAllowed('loop/paid', 'loop', 'paid')).toBe(false);
  });
});

const ADMIN = 'sk-baimo-admin-pricing-test-000000';
let openaiUp: OpenAIUpstream;
let anthropicUp: AnthropicUpstream;
let loopUp: OpenAIUpstream;
let hub: TestHub;

beforeAll(async () => {
  openaiUp = await startOpenAIUpstream();
  loopUp = await startOpenAIUpstream();
  anthropicUp = await startAnthropicUpstream();
  hub = await startTestHub(
    `providers:
  loop: { baseURL: ${loopUp.baseURL} }
pricing:
  allowUnpriced: [loop/free-*]
`,
    {
      BAIMO_AUTH: 'required',
      BAIMO_ADMIN_KEY: ADMIN,
      OPENAI_API_KEY: 'sk-test-openai',
      OPENAI_BASE_URL: openaiUp.baseURL,
      ANTHROPIC_API_KEY: 'sk-ant-test',
      ANTHROPIC_BASE_URL: anthropicUp.baseURL,
    },
  );
});

afterAll(async () => {
  await hub?.dispose();
  await Promise.all([openaiUp?.close(), loopUp?.close(), anthropicUp?.close()]);
});

async function newKey(fields: Record<string, unknown>): Promise<{ id: string; key: string }> {
  const res = await fetch(`${hub.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'pricing', ...fields }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

async function chat(key: string, body: Record<string, unknown>) {
  const res = await fetch(`${hub.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], ...body }),
  });
  return { status: res.status, body: (await res.json()) as any };
}

async function recorded(keyId: string, n: number) {
  await expect.poll(() => (hub.store.db.prepare('SELECT COUNT(*) AS n FROM usage WHERE key_id = ? AND final = 1').get(keyId) as any).n, { timeout: 5000 }).toBe(n);
  return hub.store.db.prepare('SELECT model, status, cost_usd FROM usage WHERE key_id = ? AND final = 1 ORDER BY id').all(keyId) as { model: string; status: number; cost_usd: number | null }[];
}

describe('costs and budgets on catalogued models', () => {
  it('/v1/models shows the package’s prices and context windows', async () => {
    const res = await fetch(`${hub.url}/v1/models`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const data = ((await res.json()) as any).data as any[];
    expect(data.find((m) => m.id === 'openai/gpt-4o-mini')).toMatchObject({
      context_window: 128_000,
      pricing: { currency: 'USD', input_per_million: 0.15, output_per_million: 0.6, cached_input_per_million: 0.075 },
    });
    expect(data.find((m) => m.id === 'anthropic/claude-opus-4-6')).toMatchObject({ context_window: 1_000_000, pricing: { input_per_million: 5, output_per_million: 25 } });
  });

  it('records the cost of gpt-4o-mini and claude-sonnet-4-5 calls', async () => {
    const k = await newKey({ budget_usd: 5, budget_period: 'day' });
    const client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: k.key, maxRetries: 0 });
    await client.chat.completions.create({ model: 'openai/gpt-4o-mini', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const anthropic = new Anthropic({ baseURL: hub.url, apiKey: k.key, maxRetries: 0 });
    await anthropic.messages.create({ model: 'anthropic/claude-sonnet-4-5', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    const rows = await recorded(k.id, 2);
    // Both loopback upstreams report 12 prompt and 9 completion tokens.
    expect(rows[0]).toMatchObject({ model: 'openai/gpt-4o-mini', status: 200 });
    expect(rows[0]!.cost_usd).toBeCloseTo((12 * 0.15 + 9 * 0.6) / 1e6, 12);
    expect(rows[1]).toMatchObject({ model: 'anthropic/claude-sonnet-4-5', status: 200 });
    expect(rows[1]!.cost_usd).toBeCloseTo((12 * 3 + 9 * 15) / 1e6, 12);
  });

  it('a $0.0001/day key no longer makes unlimited gpt-4o-mini calls', async () => {
    const budget = 0.0001;
    const k = await newKey({ budget_usd: budget, budget_period: 'day' });
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await chat(k.key, { model: 'openai/gpt-4o-mini', max_tokens: 10 })).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
    expect(statuses.slice(-5)).toEqual([429, 429, 429, 429, 429]);
    const rows = await recorded(k.id, 40);
    const spent = rows.reduce((n, r) => n + (r.cost_usd ?? 0), 0);
    expect(spent).toBeLessThanOrEqual(budget);
  });

  it('refuses a budgeted key an unpriced model with a 403 that says how to allow it', async () => {
    const k = await newKey({ budget_usd: 5, budget_period: 'day' });
    const r = await chat(k.key, { model: 'loop/my-finetune' });
    expect(r.status).toBe(403);
    expect(r.body.error.code).toBe('model_unpriced');
    expect(r.body.error.message).toContain("'loop/my-finetune' has no known price");
    expect(r.body.error.message).toContain('pricing.models');
    expect(r.body.error.message).toContain('pricing.allowUnpriced');
    expect(loopUp.requests.filter((q) => q.body?.model === 'my-finetune')).toHaveLength(0);
    // Anthropic clients get it in their own shape.
    const res = await fetch(`${hub.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': k.key, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'loop/my-finetune', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as any).error).toMatchObject({ type: 'permission_error' });
  });

  it('lets the unpriced model through where the config allows it, and for keys without a budget', async () => {
    const budgeted = await newKey({ budget_usd: 5, budget_period: 'day' });
    expect((await chat(budgeted.key, { model: 'loop/free-model' })).status).toBe(200);
    const unlimited = await newKey({});
    expect((await chat(unlimited.key, { model: 'loop/my-finetune' })).status).toBe(200);
  });

  it('reserves the output allowance once per choice (n)', async () => {
    const k = await newKey({ budget_usd: 0.001, budget_period: 'day' });
    // max_tokens 1000 at $0.60/M: $0.0006 for one choice, $0.0048 for eight.
    const eight = await chat(k.key, { model: 'openai/gpt-4o-mini', max_tokens: 1000, n: 8 });
    expect(eight.status).toBe(429);
    expect(eight.body.error.message).toContain('up to 8,000 output tokens (its max_tokens for each of 8 choices)');
    expect((await chat(k.key, { model: 'openai/gpt-4o-mini', max_tokens: 1000 })).status).toBe(200);
  });

  it('explains a budget refusal: what was spent, what this request reserves and why, and that max_tokens lowers it', async () => {
    const k = await newKey({ budget_usd: 1, budget_period: 'day' });
    // No max_tokens: gpt-5's whole 400k context window may be output at $10/M.
    const r = await chat(k.key, { model: 'openai/gpt-5' });
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('budget_exceeded');
    const msg: string = r.body.error.message;
    expect(msg).toMatch(/^Budget exceeded for this key: \$0 spent of \$1\.00 per day\. This request reserves up to \$4\.00: /);
    expect(msg).toMatch(/a prompt of at most [\d,]+ tokens at \$1\.25\/M/);
    expect(msg).toMatch(/up to 399,9\d\d output tokens at \$10\.00\/M, because max_tokens was not set/);
    expect(msg).toContain('Setting max_tokens');
    // With max_tokens the reservation is small and the request goes through.
    expect((await chat(k.key, { model: 'openai/gpt-5', max_tokens: 100 })).status).toBe(200);
  });
});
