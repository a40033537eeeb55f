/**
 * Issue 16, §3: a hung upstream is bounded by default and falls back to another deployment, and
 * a stream cut after the upstream was reached says so instead of "Could not reach upstream".
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveProviders } from '../src/catalog/providers.js';
import { dispatchOptions } from '../src/providers/http.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import type { AnthropicUpstream } from './upstreams/anthropic.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';
import { readChatStream } from './helpers/chat-stream.js';

let good: OpenAIUpstream;
let anthropic: AnthropicUpstream;
let hub: TestHub;
let client: OpenAI;
const servers: Server[] = [];
let hungRequests = 0;

/** An upstream that takes each request and then never says a word, or says only its headers. */
async function hangingUpstream(headers: boolean): Promise<string> {
  const s = createServer((req, res) => {
    hungRequests++;
    req.resume();
    if (!headers) return;
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.flushHeaders();
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  servers.push(s);
  return `http://127.0.0.1:${(s.address() as { port: number }).port}/v1`;
}

beforeAll(async () => {
  good = await startOpenAIUpstream();
  anthropic = await startAnthropicUpstream();
  const mute = await hangingUpstream(false);
  const stalled = await hangingUpstream(true);
  hub = await startTestHub(`providers:
  good: { baseURL: ${good.baseURL} }
  mute: { baseURL: ${mute} }
  stalled: { baseURL: ${stalled} }
  claude: { type: anthropic, baseURL: ${anthropic.baseURL} }
models:
  # Headers, then silence: longer than the whole retry budget, and still it falls back.
  stalls:
    timeouts: { idleMs: 300 }
    retryBudgetMs: 100
    deployments: [{ provider: stalled, model: m, priority: 0 }, { provider: good, model: gpt-test, priority: 1 }]
  # No headers at all on a stream: bounded by the idle timeout, not the 5-minute first-byte one.
  mutes:
    timeouts: { idleMs: 300 }
    deployments: [{ provider: mute, model: m, priority: 0 }, { provider: good, model: gpt-test, priority: 1 }]
  relay-cut: { provider: good, model: cut }
  translated-cut: { provider: claude, model: cut }
`);
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await good?.close();
  await anthropic?.close();
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

async function streamText(model: string) {
  const { data: stream, response } = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'ping' }], stream: true }).withResponse();
  const { text, err } = await readChatStream(stream);
  return { text, err, response };
}

describe('a hung upstream', () => {
  it('that sent its headers and then fell silent falls back to the next deployment, even past the retry budget', async () => {
    const before = hungRequests;
    const { text, err, response } = await streamText('stalls');
    expect(err).toBeUndefined();
    expect(text).toBe('Hello from gpt-test! You said: ping');
    expect(response.headers.get('x-baimo-attempts')).toBe('2');
    expect(hungRequests).toBe(before + 1);
  });

  it('that never answers a stream is bounded by the idle timeout and falls back', { timeout: 20_000 }, async () => {
    const { text, err, response } = await streamText('mutes');
    expect(err).toBeUndefined();
    expect(text).toBe('Hello from gpt-test! You said: ping');
    expect(response.headers.get('x-baimo-attempts')).toBe('2');
  });

  it('defaults: 10 s to connect, 2 min of silence on a stream (headers included), 5 min for a whole non-streaming answer', () => {
    const spec = resolveProviders({ providers: { x: { baseURL: 'http://127.0.0.1:1/v1' } } } as never, {}).get('x')!;
    expect(spec).toMatchObject({ connectTimeoutMs: 10_000, firstByteTimeoutMs: 300_000, idleTimeoutMs: 120_000 });
    const timeouts = { connectMs: spec.connectTimeoutMs, firstByteMs: spec.firstByteTimeoutMs, idleMs: spec.idleTimeoutMs };
    const base = { url: new URL('http://127.0.0.1:1/v1/chat/completions'), headers: {}, signal: new AbortController().signal, timeouts, provider: 'x' };
    expect(dispatchOptions({ ...base, body: '{"model":"m","stream":true}' })).toMatchObject({ headersTimeout: 120_000, bodyTimeout: 120_000 });
    expect(dispatchOptions({ ...base, body: '{"model":"m"}' })).toMatchObject({ headersTimeout: 300_000, bodyTimeout: 300_000 });
    const gemini = { ...base, url: new URL('http://127.0.0.1:1/v1beta/models/g:streamGenerateContent?alt=sse'), body: '{}' };
    expect(dispatchOptions(gemini)).toMatchObject({ headersTimeout: 120_000 });
  });
});

describe('a stream cut after the upstream was reached', () => {
  for (const [path, model] of [['relay (OpenAI-compatible upstream)', 'relay-cut'], ['translated (Anthropic upstream)', 'translated-cut']] as const) {
    it(`says the connection closed mid-stream, not that the upstream could not be reached: ${path}`, async () => {
      const { text, err } = await streamText(model);
      expect(text.length).toBeGreaterThan(0);
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(err.message).toMatch(/closed mid-stream/);
      expect(err.message).not.toMatch(/Could not reach/);
    });
  }
});
