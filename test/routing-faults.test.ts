/**
 * Fault injection through the real hub: for each way an upstream can fail, the client sees either
 * a success through another deployment or one clear error; retries stop at their bounds; every
 * attempt is recorded.
 */
import { createServer as createHttpServer } from 'node:http';
import type { Server } from 'node:http';
import { createServer } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';
import { readChatStream } from './helpers/chat-stream.js';

let bad: OpenAIUpstream;
let good: OpenAIUpstream;
let hub: TestHub;
let client: OpenAI;
let stall: Server;

/** Streams one chunk of an answer, then falls silent for 3 s. */
async function startStallingUpstream(): Promise<string> {
  stall = createHttpServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write('data: {"id":"s","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}\n\n');
    const t = setTimeout(() => res.end('data: [DONE]\n\n'), 3000);
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((r) => stall.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(stall.address() as { port: number }).port}/v1`;
}

async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const FAULTS = ['refused', 'hang', 'error-500', 'error-503', 'error-429', 'garbage', 'cut'] as const;

beforeAll(async () => {
  bad = await startOpenAIUpstream({ slowFirstByteMs: 5000 });
  good = await startOpenAIUpstream();
  const refused = await closedPort();
  const stalling = await startStallingUpstream();
  const timeouts = '{ firstByteMs: 400, idleMs: 60 }';
  let yaml = `providers:
  bad: { baseURL: ${bad.baseURL} }
  good: { baseURL: ${good.baseURL} }
  refused: { baseURL: "http://127.0.0.1:${refused}/v1" }
  stall: { baseURL: ${stalling} }
models:
  stalls:
    timeouts: { idleMs: 1000 }
    deployments: [{ provider: stall, model: m, priority: 0 }, { provider: good, model: gpt-test, priority: 1 }]
`;
  for (const f of FAULTS) {
    const faulty = f === 'refused' ? '{ provider: refused, model: gpt-test, priority: 0 }' : `{ provider: bad, model: ${f}, priority: 0 }`;
    // A model that recovers through a healthy deployment, and one with nowhere else to go.
    yaml += `  via-${f}:\n    timeouts: ${timeouts}\n    deployments:\n      - ${faulty}\n      - { provider: good, model: gpt-test, priority: 1 }\n`;
    yaml += `  only-${f}:\n    timeouts: ${timeouts}\n    retries: 2\n    maxRetryDelayMs: 50\n    deployments:\n      - ${faulty}\n`;
  }
  yaml += `  strong:
    deployments: [{ provider: bad, model: error-500 }]
    retries: 1
    fallbacks: [weak]
  weak: { provider: good, model: gpt-test }
`;
  hub = await startTestHub(yaml);
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await bad?.close();
  await good?.close();
  stall?.closeAllConnections();
  stall?.close();
});

function attemptsFor(requestIdHeader: string | null) {
  return hub.store.db.prepare('SELECT * FROM usage WHERE request_id = ? ORDER BY attempt').all(requestIdHeader) as any[];
}

async function flushed(requestId: string | null, n: number) {
  await expect.poll(() => attemptsFor(requestId).length, { timeout: 3000 }).toBe(n);
  return attemptsFor(requestId);
}

describe.each(FAULTS)('upstream fault: %s', (fault) => {
  it('fails over to the healthy deployment, non-streaming, and records both attempts', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: `via-${fault}`, messages: [{ role: 'user', content: 'ping' }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello from gpt-test! You said: ping');
    expect(response.headers.get('x-baimo-attempts')).toBe('2');
    expect(response.headers.get('x-baimo-deployment')).toBe('good/gpt-test#1');
    const rows = await flushed(response.headers.get('x-request-id'), 2);
    expect(rows.map((r) => [r.attempt, r.final, r.status])).toEqual([[1, 0, fault === 'error-429' ? 429 : fault === 'hang' ? 504 : 502], [2, 1, 200]]);
    expect(rows[1]).toMatchObject({ input_tokens: 12, output_tokens: 9 });
  });

  it('streaming: before the first byte it fails over; after it, one clear error event', async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: `via-${fault}`, messages: [{ role: 'user', content: 'ping' }], stream: true })
      .withResponse();
    const { text, err } = await readChatStream(stream);
    if (fault === 'cut') {
      // These fail only after content has reached the client: no retry, no duplicated text.
      expect(err).toBeInstanceOf(OpenAI.APIError);
      expect(text.length).toBeGreaterThan(0);
      expect(text).not.toContain('Hello from gpt-test! You said: ping');
      expect(response.headers.get('x-baimo-attempts')).toBe('1');
    } else {
      expect(err).toBeUndefined();
      expect(text).toBe('Hello from gpt-test! You said: ping');
      // The 429 of the test before cooled the faulty deployment down for its Retry-After (7 s):
      // traffic goes straight to the healthy one meanwhile.
      expect(response.headers.get('x-baimo-attempts')).toBe(fault === 'error-429' ? '1' : '2');
    }
  });

  it('with no other deployment: one clear error after a bounded number of attempts', async () => {
    const before = bad.requests.length;
    const t0 = Date.now();
    const err = await client.chat.completions.create({ model: `only-${fault}`, messages: [{ role: 'user', content: 'ping' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(fault === 'error-429' ? 429 : fault === 'hang' ? 504 : 502);
    expect(Date.now() - t0).toBeLessThan(5000);
    const rows = await flushed(err.headers.get('x-request-id'), fault === 'error-429' ? 1 : 3);
    expect(rows.at(-1)!.final).toBe(1);
    if (fault !== 'refused') expect(bad.requests.length - before).toBe(rows.length);
  });
});

describe('idle timeout between stream chunks', () => {
  it('a stream that stalls after its first chunk ends with an error event, not a hang', async () => {
    const t0 = Date.now();
    const stream = await client.chat.completions.create({ model: 'stalls', messages: [{ role: 'user', content: 'x' }], stream: true });
    const { text, err } = await readChatStream(stream);
    expect(text).toBe('Hel');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.message).toMatch(/timed out/);
    expect(Date.now() - t0).toBeLessThan(2900);
  });
});

describe('fallback chains', () => {
  it('a failing model falls back to another model, and says so', async () => {
    const { data, response } = await client.chat.completions.create({ model: 'strong', messages: [{ role: 'user', content: 'x' }] }).withResponse();
    expect(data.choices[0]!.message.content).toBe('Hello from gpt-test! You said: x');
    expect(response.headers.get('x-baimo-fallback')).toBe('strong -> weak');
    expect(response.headers.get('x-baimo-attempts')).toBe('3');
  });
});
