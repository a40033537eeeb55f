import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let hub: TestHub;
let client: Anthropic;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`providers:\n  loop:\n    baseURL: ${upstream.baseURL}\n    timeoutMs: 500\n`);
  client = new Anthropic({ baseURL: hub.url, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

const msg = (model: string) => ({ model, max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] });

describe('Anthropic SDK errors come in Anthropic shape with the matching class', () => {
  it('unknown model → NotFoundError', async () => {
    const err = await client.messages.create(msg('nope/x')).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    expect(err.error.error.message).toContain("'nope/x'");
  });

  it('missing max_tokens → BadRequestError naming the field', async () => {
    const res = await fetch(`${hub.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'loop/x', messages: [] }) });
    expect(res.status).toBe(400);
    const body = (await res.json()) as any;
    expect(body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(body.error.message).toContain("'max_tokens'");
  });

  it('malformed JSON → 400 invalid_request_error', async () => {
    const res = await fetch(`${hub.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(res.status).toBe(400);
    expect(((await res.json()) as any).error.type).toBe('invalid_request_error');
  });

  it('upstream 429 → RateLimitError with retry-after; 500 → InternalServerError; timeout → 504', async () => {
    const rl = await client.messages.create(msg('loop/error-429')).catch((e) => e);
    expect(rl).toBeInstanceOf(Anthropic.RateLimitError);
    expect(rl.headers.get('retry-after')).toBe('7');
    expect(rl.error.error.type).toBe('rate_limit_error');
    const ise = await client.messages.create(msg('loop/error-500')).catch((e) => e);
    expect(ise).toBeInstanceOf(Anthropic.InternalServerError);
    expect(ise.status).toBe(502);
    const slow = await client.messages.create(msg('loop/slow')).catch((e) => e);
    expect(slow.status).toBe(504);
  });

  it('a stream cut mid-way ends with an error event after the text that arrived', async () => {
    const stream = client.messages.stream(msg('loop/cut'));
    let text = '';
    stream.on('text', (t) => (text += t));
    const err = await stream.finalMessage().catch((e) => e);
    expect(text).toBe('Partial answer');
    expect(err).toBeInstanceOf(Anthropic.APIError);
  });
});

describe('count_tokens', () => {
  it('estimates for a model whose upstream cannot count', async () => {
    const r = await client.messages.countTokens({ model: 'loop/x', messages: [{ role: 'user', content: 'hello world, how are you today?' }] });
    expect(r.input_tokens).toBeGreaterThan(5);
    expect(r.input_tokens).toBeLessThan(30);
  });
});

describe('the model list for Anthropic clients', () => {
  it('comes in Anthropic\'s shape', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) {
      expect(m.type).toBe('model');
      ids.push(m.id);
    }
    expect(Array.isArray(ids)).toBe(true);
    const one = await client.models.retrieve('loop/gpt-test');
    expect(one).toMatchObject({ type: 'model', id: 'loop/gpt-test' });
  });
});
