import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import type { AnthropicUpstream } from './upstreams/anthropic.js';
import { startGeminiUpstream } from './upstreams/gemini.js';
import type { GeminiUpstream } from './upstreams/gemini.js';

const ANTHROPIC_KEY = 'sk-ant-test-secret-0123456789';
const GEMINI_KEY = 'AIza-test-secret-0123456789';
let claude: AnthropicUpstream;
let gemini: GeminiUpstream;
let hub: TestHub;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  claude = await startAnthropicUpstream({ apiKey: ANTHROPIC_KEY });
  gemini = await startGeminiUpstream({ apiKey: GEMINI_KEY });
  hub = await startTestHub(
    `providers:\n  anthropic:\n    baseURL: ${claude.baseURL}\n  gemini:\n    baseURL: ${gemini.baseURL}\n`,
    { ANTHROPIC_API_KEY: ANTHROPIC_KEY, GEMINI_API_KEY: GEMINI_KEY },
  );
  openai = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: hub.url, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await claude?.close();
  await gemini?.close();
});

const ask = (model: string) => ({ model, messages: [{ role: 'user' as const, content: 'hi' }] });

describe('native Anthropic and Gemini providers behind the preset ids', () => {
  it('authenticate the way each provider wants, keys never in the URL', async () => {
    await openai.chat.completions.create(ask('anthropic/gpt-test'));
    expect(claude.requests.at(-1)!.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(claude.requests.at(-1)!.headers['anthropic-version']).toBe('2023-06-01');
    await openai.chat.completions.create(ask('gemini/gpt-test'));
    expect(gemini.requests.at(-1)!.headers['x-goog-api-key']).toBe(GEMINI_KEY);
    expect(gemini.requests.at(-1)!.path).not.toContain(GEMINI_KEY);
  });

  it('a Gemini safety block is a clear 400, not an empty answer', async () => {
    const err = await openai.chat.completions.create(ask('gemini/blocked')).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toMatch(/blocked/i);
    expect(err.message).toContain('SAFETY');
    const answer = await anthropic.messages.create({ ...ask('gemini/unsafe-answer'), max_tokens: 50 }).catch((e) => e);
    expect(answer).toBeInstanceOf(Anthropic.BadRequestError);
    expect(answer.message).toContain('SAFETY');
  });

  it('Gemini RetryInfo becomes Retry-After on a 429', async () => {
    const err = await openai.chat.completions.create(ask('gemini/error-429')).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.headers.get('retry-after')).toBe('7');
  });

  it('an Anthropic error mid-stream ends the client stream with an error, after what arrived', async () => {
    const stream = await openai.chat.completions.create({ ...ask('anthropic/overloaded-midstream'), stream: true });
    const err = await (async () => {
      for await (const _ of stream) void _;
    })().catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.message).toMatch(/overloaded/i);
  });

  it('Anthropic 529 overloaded is retried and then reported as 502', async () => {
    const before = claude.requests.length;
    const err = await anthropic.messages.create({ ...ask('anthropic/error-529'), max_tokens: 50 }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.InternalServerError);
    expect(err.error.error.type).toBe('overloaded_error');
    expect(claude.requests.length - before).toBe(2);
  });

  it('count_tokens asks an upstream that can count', async () => {
    const r = await anthropic.messages.countTokens({ model: 'anthropic/x', messages: [{ role: 'user', content: 'one two three four' }] });
    expect(claude.requests.at(-1)!.path).toBe('/v1/messages/count_tokens');
    expect(r.input_tokens).toBe(4);
  });
});

describe('providers with an Anthropic-compatible endpoint', () => {
  it('serve Anthropic-format clients natively and OpenAI-format clients over chat completions', async () => {
    const { startOpenAIUpstream } = await import('./upstreams/openai.js');
    const oai = await startOpenAIUpstream();
    const ant = await startAnthropicUpstream();
    const h = await startTestHub(`providers:\n  dual:\n    baseURL: ${oai.baseURL}\n    anthropicBaseURL: ${ant.baseURL}\n`);
    try {
      const a = new Anthropic({ baseURL: h.url, apiKey: 'x', maxRetries: 0 });
      const m = await a.messages.create({ model: 'dual/reasoner', max_tokens: 100, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'q' }] });
      expect(m.content.map((b) => b.type)).toEqual(['thinking', 'text']);
      expect((m.content[0] as Anthropic.ThinkingBlock).signature).toBe('sig-reasoner-1'); // the provider's own signature, untouched
      expect(ant.requests.at(-1)!.path).toBe('/v1/messages');
      expect(oai.requests).toHaveLength(0);
      const o = new OpenAI({ baseURL: `${h.url}/v1`, apiKey: 'x', maxRetries: 0 });
      await o.chat.completions.create({ model: 'dual/gpt-test', messages: [{ role: 'user', content: 'q' }] });
      expect(oai.requests).toHaveLength(1);
    } finally {
      await h.dispose();
      await oai.close();
      await ant.close();
    }
  });
});

describe('Anthropic clients to an Anthropic upstream', () => {
  it('are relayed as they are: prompt-caching marks and betas reach the provider, usage is still counted', async () => {
    const system = [{ type: 'text' as const, text: 'You are a careful assistant.', cache_control: { type: 'ephemeral' as const } }];
    const m = await anthropic.messages.create(
      { model: 'anthropic/reasoner', max_tokens: 50, system, messages: [{ role: 'user', content: 'q' }] },
      { headers: { 'anthropic-beta': 'context-management-2025-06-27' } },
    );
    expect(m.usage).toMatchObject({ input_tokens: 20, cache_read_input_tokens: 10, output_tokens: 50 });
    const sent = claude.requests.at(-1)!;
    expect(sent.body.system).toEqual(system);
    expect(sent.headers['anthropic-beta']).toBe('context-management-2025-06-27');
    expect(sent.headers['x-api-key']).toBe(ANTHROPIC_KEY); // the hub's key, not the client's
    await expect.poll(() => hub.store.recentUsage(1)[0]?.model, { timeout: 3000 }).toBe('anthropic/reasoner');
    expect(hub.store.recentUsage(1)[0]).toMatchObject({ input_tokens: 30, cached_input_tokens: 10, output_tokens: 50 });
    const stream = anthropic.messages.stream({ model: 'anthropic/reasoner', max_tokens: 50, system, messages: [{ role: 'user', content: 'q' }] });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    await expect.poll(() => hub.store.recentUsage(1)[0]?.stream, { timeout: 3000 }).toBe(1);
    expect(hub.store.recentUsage(1)[0]).toMatchObject({ input_tokens: 30, output_tokens: 50 });
  });
});
