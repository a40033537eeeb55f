import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderSpec } from '../src/catalog/providers.js';
import { assembleFrom } from '../src/server/assemble.js';
import { Metrics, OTHER_MODEL } from '../src/usage/metrics.js';
import type { UsageRecord } from '../src/usage/record.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let hub: TestHub;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  // The fixture answers any model name, as many OpenAI-compatible servers do: `loop/<anything>`
  // reaches it and succeeds.
  hub = await startTestHub(`
providers:
  loop:
    baseURL: ${upstream.baseURL}
    models: [gpt-test]
models:
  chat:
    provider: loop
    model: gpt-test
aliases:
  fast: loop/gpt-test
pricing:
  models:
    loop/priced-model: { input: 1, output: 2 }
`);
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

const chat = (model: string) =>
  fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }) }).then(async (r) => (await r.text(), r.status));

describe('metric labels come only from names the hub knows', () => {
  it('random model names (unknown, or provider/<random> that an upstream answers) do not grow /metrics', async () => {
    const names: string[] = [];
    const statuses = new Set<number>();
    const N = 1_000;
    for (let i = 0; i < N; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const rnd = randomBytes(12).toString('hex');
          // Half unknown everywhere (404), half `loop/<random>` (the upstream answers: 200).
          const name = (i + j) % 2 ? `m-${rnd}` : `loop/m-${rnd}`;
          names.push(name);
          statuses.add(await chat(name));
        }),
      );
    }
    expect(statuses).toEqual(new Set([200, 404]));
    for (const known of ['chat', 'fast', 'loop/gpt-test', 'loop/priced-model']) expect(await chat(known)).toBe(200);

    const text = await (await fetch(`${hub.url}/metrics`)).text();
    for (const name of names) expect(text).not.toContain(name.replace(/^loop\//, ''));
    // Before: one series per name in every family (about 3.7 KB a name: 92 MB for 25,000).
    expect(text.length).toBeLessThan(64 * 1024);
    expect(text).toMatch(new RegExp(`baimo_requests_total\\{endpoint="chat",model="\\(other\\)",provider="loop",status="200",attempt="final"\\} ${N / 2}\\b`));
    expect(text).toMatch(new RegExp(`baimo_requests_total\\{endpoint="chat",model="\\(other\\)",provider="",status="404",attempt="final"\\} ${N / 2}\\b`));
    // Direct routes the random names created are one gauge series per provider.
    expect(text).toMatch(/baimo_deployment_circuit_state\{route="\(other\)",deployment="\(other\)",provider="loop"\} 0/);
    // Configured, aliased, listed and priced names keep their own labels.
    for (const known of ['chat', 'fast', 'loop/gpt-test', 'loop/priced-model']) {
      expect(text).toContain(`baimo_requests_total{endpoint="chat",model="${known}",provider="loop",status="200",attempt="final"} 1`);
    }
    expect(text).toMatch(/baimo_deployment_circuit_state\{route="loop\/priced-model",deployment="loop\/priced-model",provider="loop"\} 0/);
  });

  it('stays bounded over many records however many names there are', () => {
    const spec: ProviderSpec = {
      id: 'p', type: 'openai', name: 'P', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'k', headers: {}, models: ['known'], embeddingModels: [],
      connectTimeoutMs: 1000, firstByteTimeoutMs: 1000, idleTimeoutMs: 1000, maxTokensField: 'max_tokens', source: 'config',
    };
    const { registry } = assembleFrom({}, [spec]);
    const metrics = new Metrics(registry);
    const record = (model: string): UsageRecord =>
      ({ requestId: 'r', ts: 0, endpoint: 'chat', model, provider: 'p', attempt: 1, final: true, stream: false, status: 200, latencyMs: 5, usage: { inputTokens: 1, outputTokens: 1 } }) as UsageRecord;
    for (let i = 0; i < 25_000; i++) metrics.observe(record(`p/${randomBytes(8).toString('hex')}`));
    metrics.observe(record('p/known'));
    return metrics.text().then((text) => {
      expect(text.length).toBeLessThan(32 * 1024);
      expect(text).toContain(`baimo_requests_total{endpoint="chat",model="${OTHER_MODEL}",provider="p",status="200",attempt="final"} 25000`);
      expect(text).toContain('baimo_requests_total{endpoint="chat",model="p/known",provider="p",status="200",attempt="final"} 1');
    });
  });
});
