import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';
import { estimatePromptTokens, promptTokenBound, textTokenBound } from '../src/usage/estimate.js';
import { getEncoding } from 'js-tiktoken';

const ADMIN = 'sk-baimo-admin-budget-bound-000000';
let upstream: OpenAIUpstream;
let hub: TestHub;

// $1,000 per million prompt tokens: a 2,000-token prompt costs $2.
const PRICE_IN = 1000;
const PRICE_OUT = 1000;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(
    `providers:
  loop: { baseURL: ${upstream.baseURL} }
pricing:
  models:
    loop/tokenized: { input: ${PRICE_IN}, output: ${PRICE_OUT} }
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
  );
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

async function newKey(budget: number): Promise<{ id: string; key: string }> {
  const res = await fetch(`${hub.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'bound', budget_usd: budget, budget_period: 'day' }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { id: string; key: string };
}

/** Prompts that tokenize badly: characters/4 undercounts them 4x (random alphanumerics), 3x (emoji) and 2x (Thai). */
const PROMPTS = {
  alnum: 'x7Qz9'.repeat(400),
  emoji: '😀🎉🔥💡🚀'.repeat(100),
  thai: 'สวัสดีครับ ยินดีต้อนรับ'.repeat(40),
};

describe('the budget reservation bounds the prompt from above', () => {
  const enc = getEncoding('o200k_base');
  const real = Object.fromEntries(Object.entries(PROMPTS).map(([k, t]) => [k, enc.encode(t).length])) as Record<keyof typeof PROMPTS, number>;

  it('UTF-8 bytes bound the real token count of prompts that tokenize badly, where characters/4 fell 2-4x short', () => {
    for (const [what, text] of Object.entries(PROMPTS)) {
      const count = real[what as keyof typeof PROMPTS];
      const request = { model: 'm', messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text }] }] };
      expect(textTokenBound(text), what).toBeGreaterThanOrEqual(count);
      expect(promptTokenBound(request), what).toBeGreaterThanOrEqual(count + 6);
      // The old estimate, kept for count_tokens and rate limits, is far below the real count.
      expect(estimatePromptTokens(request), what).toBeLessThan(count);
    }
    // Plain English is bounded too, about 4x above its real count: a reservation, not a charge.
    const english = 'The quick brown fox jumps over the lazy dog. '.repeat(20);
    expect(textTokenBound(english)).toBeGreaterThanOrEqual(enc.encode(english).length);
  });

  it('bounds images, tools and response schemas too', () => {
    const text = { model: 'm', messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }] };
    const base = promptTokenBound(text);
    const withImage = { ...text, messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }, { type: 'image' as const, url: 'data:image/png;base64,' + 'A'.repeat(100_000) }] }] };
    // An image costs what the provider makes of it after scaling (≤ ~1,600 tokens), not its base64 length.
    expect(promptTokenBound(withImage)).toBe(base + 2_048);
    const tool = { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };
    const withTool = { ...text, tools: [tool] } as Parameters<typeof promptTokenBound>[0];
    expect(promptTokenBound(withTool)).toBeGreaterThanOrEqual(base + 512 + Buffer.byteLength(JSON.stringify(tool)));
    const withSchema = { ...text, responseFormat: { type: 'json_schema', name: 'x', schema: { type: 'object' } } } as Parameters<typeof promptTokenBound>[0];
    expect(promptTokenBound(withSchema)).toBeGreaterThan(base + 20);
  });

  it('500 concurrent requests with badly tokenizing prompts spend no more than the budget (plus at most one request)', async () => {
    const budget = 10;
    const counts = { alnum: 200, emoji: 150, thai: 150 };
    const keys = { alnum: await newKey(budget), emoji: await newKey(budget), thai: await newKey(budget) };
    const send = (key: string, text: string) =>
      fetch(`${hub.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'loop/tokenized', max_tokens: 1, messages: [{ role: 'user', content: text }] }),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));
    const all = await Promise.all(
      (Object.keys(counts) as (keyof typeof counts)[]).flatMap((k) => Array.from({ length: counts[k] }, () => send(keys[k].key, PROMPTS[k]).then((r) => ({ ...r, k })))),
    );
    for (const k of Object.keys(counts) as (keyof typeof counts)[]) {
      const mine = all.filter((r) => r.k === k);
      const ok = mine.filter((r) => r.status === 200).length;
      const refused = mine.filter((r) => r.status === 429);
      expect(ok, k).toBeGreaterThan(0);
      expect(ok + refused.length, k).toBe(counts[k]);
      expect(refused[0]!.body.error.code, k).toBe('budget_exceeded');
      // What one request really costs: the upstream reports o200k counts (+3 per message, +3).
      const oneRequest = ((real[k] + 6) * PRICE_IN + 1 * PRICE_OUT) / 1e6;
      await expect.poll(() => (hub.store.db.prepare('SELECT COUNT(*) AS n FROM usage WHERE key_id = ? AND final = 1 AND status = 200').get(keys[k].id) as any).n, { timeout: 5000 }).toBe(ok);
      const spent = (hub.store.db.prepare('SELECT SUM(cost_usd) AS usd FROM usage WHERE key_id = ?').get(keys[k].id) as { usd: number }).usd;
      expect(spent, k).toBeCloseTo(ok * oneRequest, 6);
      // Characters/4 let this reach 3.8x (alnum) and more; an upper bound keeps it within the budget.
      expect(spent, k).toBeLessThanOrEqual(budget + oneRequest);
    }
  }, 120_000);
});
