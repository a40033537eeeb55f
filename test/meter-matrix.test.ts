/**
 * One meter, every path: relay (whole, stream) and canonical (whole, stream), for each inbound
 * format (chat, messages, responses) × each upstream format (OpenAI-compatible, Anthropic, Gemini,
 * and a Responses-speaking upstream — another hub), each request's usage record read back from
 * the store: usage, a time to first token (present, within the latency, and after the first
 * content byte: the loopback `slow-stream` models pause between events, and a whole answer
 * arrives only after all of them), and completion (a cut stream or body is an error, a complete
 * one is not).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import { startGeminiUpstream } from './upstreams/gemini.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { UsageRow } from '../src/usage/ports.js';

type Inbound = 'chat' | 'messages' | 'responses';
type Upstream = 'openai' | 'anthropic' | 'gemini' | 'responses';

let hub: TestHub;
let native: TestHub;
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const openai = await startOpenAIUpstream();
  const anthropic = await startAnthropicUpstream();
  const gemini = await startGeminiUpstream();
  closers.push(() => openai.close(), () => anthropic.close(), () => gemini.close());
  // A hub stands in for a Responses-native upstream such as OpenAI.
  native = await startTestHub(`providers:\n  loop: { baseURL: ${openai.baseURL} }\n`);
  hub = await startTestHub(
    'providers:\n' +
      `  openai-up: { type: openai, baseURL: ${openai.baseURL} }\n` +
      `  anthropic-up: { type: anthropic, baseURL: ${anthropic.baseURL} }\n` +
      `  gemini-up: { type: gemini, baseURL: ${gemini.baseURL} }\n` +
      `  responses-up: { baseURL: ${native.url}/v1, responsesAPI: true }\n` +
      `  responses-b: { baseURL: ${native.url}/v1, responsesAPI: true }\n` +
      'models:\n' +
      '  capped:\n' +
      '    strategy: priority\n' +
      '    deployments:\n' +
      '      - { provider: responses-up, model: loop/gpt-test, priority: 0, tpm: 50 }\n' +
      '      - { provider: responses-b, model: loop/gpt-test, priority: 1 }\n',
  );
}, 30_000);

afterAll(async () => {
  await hub?.dispose();
  await native?.dispose();
  for (const c of closers) await c();
});

const modelName = (up: Upstream, model: string) => (up === 'responses' ? `responses-up/loop/${model}` : `${up}-up/${model}`);

const PATHS: Record<Inbound, string> = { chat: '/v1/chat/completions', messages: '/v1/messages', responses: '/v1/responses' };

function body(inbound: Inbound, model: string, stream: boolean): Record<string, unknown> {
  if (inbound === 'chat') return { model, stream, messages: [{ role: 'user', content: 'hi there' }] };
  if (inbound === 'messages') return { model, stream, max_tokens: 100, messages: [{ role: 'user', content: 'hi there' }] };
  return { model, stream, input: 'hi there' };
}

/** The pairs that go byte for byte: the client's format is the upstream's. */
const relayed = (inbound: Inbound, up: Upstream) =>
  (inbound === 'chat' && (up === 'openai' || up === 'responses')) || (inbound === 'messages' && up === 'anthropic') || (inbound === 'responses' && up === 'responses');

async function call(inbound: Inbound, model: string, stream: boolean): Promise<{ status: number; text: string; row: UsageRow }> {
  const res = await fetch(`${hub.url}${PATHS[inbound]}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify(body(inbound, model, stream)),
  });
  const text = await res.text();
  const id = res.headers.get('x-request-id')!;
  expect(id).toBeTruthy();
  let row: UsageRow | undefined;
  await expect
    .poll(() => (row = hub.store.recentUsage(200).find((r) => r.request_id === id && r.final === 1)), { timeout: 5000 })
    .toBeDefined();
  return { status: res.status, text, row: row! };
}

const INBOUND: Inbound[] = ['chat', 'messages', 'responses'];
const UPSTREAMS: Upstream[] = ['openai', 'anthropic', 'gemini', 'responses'];

describe.each(INBOUND)('%s client', (inbound) => {
  describe.each(UPSTREAMS)('→ %s upstream', (up) => {
    const path = relayed(inbound, up) ? 'relay' : 'canonical';
    describe.each([false, true])(`${path}, stream=%s`, (stream) => {
      it('records usage, a time to first token after the first content byte, and a complete answer', async () => {
        const { status, text, row } = await call(inbound, modelName(up, 'slow-stream'), stream);
        expect(status, text).toBe(200);
        expect(row.status).toBe(200);
        expect(row.error_kind).toBeNull();
        expect(row.input_tokens).toBeGreaterThan(0);
        expect(row.output_tokens).toBeGreaterThan(0);
        expect(row.ttft_ms).not.toBeNull();
        expect(row.ttft_ms!).toBeLessThanOrEqual(row.latency_ms);
        // Every slow-stream upstream pauses 100 ms after each event and sends no text in its first
        // one but Gemini's: a first token stamped at the headers, the first event or (whole) before
        // the answer arrived would be earlier than this.
        if (up !== 'gemini' || !stream) expect(row.ttft_ms!).toBeGreaterThanOrEqual(90);
      }, 20_000);

      it('records a cut answer as an error', async () => {
        const { row } = await call(inbound, modelName(up, 'cut'), stream);
        expect(row.status >= 400 || row.error_kind !== null).toBe(true);
      }, 20_000);
    });
  });
});

describe('the Responses relay admits with the prompt it relays', () => {
  it('counts the input against a deployment\'s tokens per minute (not zero)', async () => {
    const small = await fetch(`${hub.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'capped', input: 'hi' }) });
    expect(small.status).toBe(200);
    expect(small.headers.get('x-baimo-provider')).toBe('responses-up');
    // About 100 tokens of input: over the first deployment's 50 a minute, so the second answers.
    const big = await fetch(`${hub.url}/v1/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'capped', input: 'word '.repeat(100) }) });
    expect(big.status).toBe(200);
    expect(big.headers.get('x-baimo-provider')).toBe('responses-b');
  });
});
