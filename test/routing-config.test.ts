import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let hub: TestHub;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`
providers:
  cheap: { baseURL: ${upstream.baseURL} }
  dear: { baseURL: ${upstream.baseURL} }
pricing:
  models:
    cheap/gpt-test: { input: 0.1, output: 0.2 }
    dear/json: { input: 5, output: 15 }
models:
  thrifty:
    strategy: least-cost
    deployments: [{ provider: dear, model: json }, { provider: cheap, model: gpt-test }]
  capped:
    timeouts: { totalMs: 350 }
    deployments: [{ provider: cheap, model: slow-stream }]
`);
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

async function chat(model: string, stream = false) {
  const res = await fetch(`${hub.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'a fairly long story please' }], stream }),
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

describe('routing configuration', () => {
  it('least-cost sends every request to the cheaper deployment by catalog or config price', async () => {
    for (let i = 0; i < 10; i++) {
      const r = await chat('thrifty');
      expect(r.headers.get('x-baimo-deployment')).toBe('cheap/gpt-test#1');
    }
  });

  it('a total timeout ends a stream that runs too long with a timeout error event', async () => {
    const t0 = Date.now();
    const r = await chat('capped', true);
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(r.text).toContain('"type":"timeout_error"');
    expect(r.text).toContain('total timeout of 350 ms');
    expect(r.text).not.toContain('[DONE]');
  });
});
