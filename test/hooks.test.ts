/**
 * Hooks around every model call (src/gateway/hooks.ts): pre-hooks in order, post-hooks in
 * reverse, a pre-hook's ready answer (no upstream call, still recorded), stream hooks on both the
 * relay and the canonical path, and relayed bytes untouched when no stream hook is registered.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError } from '../src/core/errors.js';
import type { ChatEvent } from '../src/core/types.js';
import type { CallEnd, Hook } from '../src/gateway/hooks.js';
import { startHub } from '../src/server/start.js';
import type { RunningHub } from '../src/server/start.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import type { AnthropicUpstream } from './upstreams/anthropic.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let openai: OpenAIUpstream;
let anthropic: AnthropicUpstream;
let hooked: RunningHub;
let plain: RunningHub;
const dirs: string[] = [];

/** What the hooks saw, by request id. */
const trail: string[] = [];
const ends = new Map<string, CallEnd>();
const events = new Map<string, ChatEvent[]>();
const relayed = new Map<string, string>();

const idOf = (c: { call: { requestId: string } | undefined }) => c.call!.requestId;
const user = (c: { request: unknown }) => (c.request as { user?: string } | undefined)?.user;

function order(name: string): Hook {
  return {
    name,
    pre: (c) => void (user(c) === 'order' && trail.push(`pre ${name}`)),
    post: (end) => void (user(end.info) === 'order' && trail.push(`post ${name}`)),
  };
}

const cache: Hook = {
  name: 'cache',
  pre(c) {
    if (user(c) === 'refuse') throw new HubError('permission', 'refused by a hook', { code: 'hook_refused' });
    if (user(c) !== 'cached') return undefined;
    return { text: JSON.stringify({ id: 'chatcmpl-cached', object: 'chat.completion', created: 1, model: 'cached', choices: [{ index: 0, message: { role: 'assistant', content: 'from the cache' }, finish_reason: 'stop' }] }), usage: { inputTokens: 3, outputTokens: 4 } };
  },
};

const observer: Hook = {
  name: 'observer',
  event(c, e) {
    const id = idOf(c);
    events.set(id, [...(events.get(id) ?? []), e]);
  },
  relay(c, text) {
    const id = idOf(c);
    relayed.set(id, (relayed.get(id) ?? '') + text);
  },
  post(end) {
    if (end.info.call) ends.set(end.info.call.requestId, end);
  },
};

async function hub(yaml: string, hooks: Hook[]): Promise<RunningHub> {
  const dir = mkdtempSync(join(tmpdir(), 'baimo-hooks-'));
  dirs.push(dir);
  const config = join(dir, 'baimo.yaml');
  writeFileSync(config, yaml);
  return startHub({ config, port: '0', host: '127.0.0.1', dataDir: join(dir, 'data'), env: { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false, hooks });
}

beforeAll(async () => {
  openai = await startOpenAIUpstream();
  anthropic = await startAnthropicUpstream();
  const yaml = `providers:\n  loop: { baseURL: ${openai.baseURL} }\n  anth: { type: anthropic, baseURL: ${anthropic.baseURL} }\n`;
  hooked = await hub(yaml, [order('first'), order('second'), cache, observer, order('third')]);
  plain = await hub(yaml, []);
}, 30_000);

afterAll(async () => {
  await hooked?.close();
  await plain?.close();
  await openai?.close();
  await anthropic?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function post(h: RunningHub, path: string, body: unknown) {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, id: res.headers.get('x-request-id')!, headers: res.headers };
}

async function row(h: RunningHub, id: string) {
  let r: ReturnType<RunningHub['store']['recentUsage']>[number] | undefined;
  await expect.poll(() => (r = h.store.recentUsage(200).find((x) => x.request_id === id && x.final === 1)), { timeout: 5000 }).toBeDefined();
  return r!;
}

describe('pre- and post-hooks', () => {
  it('run pre-hooks in registration order and post-hooks in reverse', async () => {
    const r = await post(hooked, '/v1/chat/completions', { model: 'loop/gpt-test', user: 'order', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status, r.text).toBe(200);
    await row(hooked, r.id);
    expect(trail).toEqual(['pre first', 'pre second', 'pre third', 'post third', 'post second', 'post first']);
  });

  it('a pre-hook answer goes to the client with no upstream call, and the call is recorded with its usage', async () => {
    const before = openai.requests.length;
    const r = await post(hooked, '/v1/chat/completions', { model: 'loop/gpt-test', user: 'cached', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.text).choices[0].message.content).toBe('from the cache');
    expect(r.headers.get('x-baimo-hook')).toBe('cache');
    expect(openai.requests.length).toBe(before);
    const rec = await row(hooked, r.id);
    expect(rec.status).toBe(200);
    expect(rec.input_tokens).toBe(3);
    expect(rec.output_tokens).toBe(4);
    expect(rec.deployment).toBeNull();
    // The later pre-hooks did not run, the post-hooks did.
    expect(ends.get(r.id)?.out.usage).toEqual({ inputTokens: 3, outputTokens: 4 });
  });

  it('a pre-hook refusal is answered in the client\'s own shape and recorded, with no upstream call', async () => {
    const before = anthropic.requests.length;
    const r = await post(hooked, '/v1/messages', { model: 'anth/claude-test', user: 'refuse', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    // `user` is not an Anthropic field; the refusal comes from a body the hook reads as it is.
    expect(r.status).toBe(403);
    expect(JSON.parse(r.text)).toMatchObject({ type: 'error', error: { message: 'refused by a hook' } });
    expect(anthropic.requests.length).toBe(before);
    const rec = await row(hooked, r.id);
    expect(rec.status).toBe(403);
    expect(ends.get(r.id)?.error?.code).toBe('hook_refused');
  });

  it('post-hooks see the outcome: usage, cost, status, timings', async () => {
    const r = await post(hooked, '/v1/chat/completions', { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }] });
    const rec = await row(hooked, r.id);
    const end = ends.get(r.id)!;
    expect(end.out.status).toBe(200);
    expect(end.out.usage?.inputTokens).toBe(rec.input_tokens);
    expect(end.latencyMs).toBeGreaterThan(0);
    expect(end.ttftMs).toBeLessThanOrEqual(end.latencyMs);
    expect(end.out.attempt?.deployment.provider).toBe('loop');
  });
});

describe('stream hooks', () => {
  it('see every byte the relay sends, in order (OpenAI client → OpenAI upstream)', async () => {
    const r = await post(hooked, '/v1/chat/completions', { model: 'loop/gpt-test', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    await row(hooked, r.id);
    expect(relayed.get(r.id)).toBe(r.text);
    expect(r.text).toContain('data: [DONE]');
    expect(events.get(r.id)).toBeUndefined();
  });

  it('see every byte the relay sends (Anthropic client → Anthropic upstream)', async () => {
    const r = await post(hooked, '/v1/messages', { model: 'anth/claude-test', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    await row(hooked, r.id);
    expect(relayed.get(r.id)).toBe(r.text);
    expect(r.text).toContain('message_stop');
  });

  it('see every canonical event (OpenAI client → Anthropic upstream), the streamed text included', async () => {
    const r = await post(hooked, '/v1/chat/completions', { model: 'anth/claude-test', stream: true, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    const rec = await row(hooked, r.id);
    const seen = events.get(r.id)!;
    expect(relayed.get(r.id)).toBeUndefined();
    const text = seen.filter((e) => e.type === 'text').map((e) => (e as { text: string }).text).join('');
    const sent = r.text
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => JSON.parse(l.slice(6)).choices?.[0]?.delta?.content ?? '')
      .join('');
    expect(text).toBe(sent);
    expect(text.length).toBeGreaterThan(0);
    const usage = seen.find((e) => e.type === 'usage') as { usage: { outputTokens: number } } | undefined;
    expect(usage?.usage.outputTokens).toBe(rec.output_tokens);
  });

  it('see a whole canonical answer\'s events too (Anthropic client → OpenAI upstream, not streamed)', async () => {
    const r = await post(hooked, '/v1/messages', { model: 'loop/gpt-test', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    await row(hooked, r.id);
    const text = events.get(r.id)!.filter((e) => e.type === 'text').map((e) => (e as { text: string }).text).join('');
    expect(text).toBe(JSON.parse(r.text).content[0].text);
  });
});

describe('with no stream hook', () => {
  it('the relayed stream is byte for byte what the upstream sent', async () => {
    const body = { stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] };
    const viaHub = await post(plain, '/v1/chat/completions', { ...body, model: 'loop/gpt-test' });
    // The same request again, as the hub sent it upstream.
    const sent = openai.requests.at(-1)!.body;
    expect(sent).toMatchObject({ ...body, model: 'gpt-test' });
    const direct = await fetch(`${openai.baseURL}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sent) });
    // The upstream's answer differs between calls only in its id and timestamp.
    const same = (t: string) => t.replace(/chatcmpl-[A-Za-z0-9_-]+/g, 'chatcmpl-X').replace(/"created":\d+/g, '"created":0');
    expect(viaHub.status).toBe(200);
    expect(same(viaHub.text)).toBe(same(await direct.text()));
  });
});
