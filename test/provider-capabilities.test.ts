/**
 * What admission learns from a provider's capabilities rather than from its wire format: the
 * output cap an Anthropic provider sends when a request names none (`Model.defaultMaxTokens`)
 * bounds a budget reservation; an OpenAI-compatible provider sends none.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import type { AnthropicUpstream } from './upstreams/anthropic.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-capabilities-0000000';
let openai: OpenAIUpstream;
let anthropic: AnthropicUpstream;
let hub: TestHub;

beforeAll(async () => {
  openai = await startOpenAIUpstream();
  anthropic = await startAnthropicUpstream();
  // Model names the catalog does not know: no output limit, no context window.
  hub = await startTestHub(
    `providers:
  loop: { baseURL: ${openai.baseURL} }
  ant: { type: anthropic, baseURL: ${anthropic.baseURL} }
pricing:
  models:
    loop/uncatalogued-model: { input: 1, output: 1000 }
    ant/uncatalogued-model: { input: 1, output: 1000 }
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
  );
});

afterAll(async () => {
  await hub?.dispose();
  await openai?.close();
  await anthropic?.close();
});

async function refusal(model: string): Promise<string> {
  const created = await fetch(`${hub.url}/admin/keys`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: model, budget_usd: 0.5, budget_period: 'day' }),
  });
  expect(created.status).toBe(201);
  const { key } = (await created.json()) as { key: string };
  const res = await fetch(`${hub.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  });
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(res.status).toBe(429);
  expect(body.error.code).toBe('budget_exceeded');
  return body.error.message;
}

describe('the output bound of a request without max_tokens', () => {
  it('is the cap an Anthropic provider sends by default', async () => {
    const message = await refusal('ant/uncatalogued-model');
    expect(message).toContain('up to 4,096 output tokens');
    expect(message).toContain('the max_tokens the hub sends this provider by default');
  });

  it('is the hub’s own default for a provider that sends none', async () => {
    const message = await refusal('loop/uncatalogued-model');
    expect(message).not.toContain('the max_tokens the hub sends this provider by default');
    expect(message).toContain("the hub's default for a model whose limit it does not know");
  });
});
