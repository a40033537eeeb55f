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
import { validateConfig } from '../src/config/load.js';
import { Cancel } from '../src/core/cancel.js';
import { call } from '../src/gateway/call.js';
import { callContext } from '../src/gateway/context.js';
import { compileHooks } from '../src/gateway/hooks.js';
import { assemble } from '../src/server/assemble.js';
import { Ledger } from '../src/tenancy/ledger.js';
import { RateLimiter } from '../src/tenancy/rate-limits.js';
import { UsageRecorder } from '../src/usage/record.js';
import type { UsageRecord } from '../src/usage/record.js';
import type { RunningHub } from '../src/server/start.js';
import type { SQLiteStores } from '../src/store/sqlite/index.js';
import { startAnthropicUpstream } from './upstreams/anthropic.js';
import type { AnthropicUpstream } from './upstreams/anthropic.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let openai: OpenAIUpstream;
let anthropic: AnthropicUpstream;
let hooked: RunningHub<SQLiteStores>;
let plain: RunningHub<SQLiteStores>;
let capturing: RunningHub<SQLiteStores>;
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

async function hub(yaml: string, hooks: Hook[]): Promise<RunningHub<SQLiteStores>> {
  const dir = mkdtempSync(join(tmpdir(), 'baimo-hooks-'));
  dirs.push(dir);
  const config = join(dir, 'baimo.yaml');
  writeFileSync(config, yaml);
  const h = await startHub({ config, port: '0', host: '127.0.0.1', dataDir: join(dir, 'data'), env: { BAIMO_AUTH: 'none', BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false, hooks });
  if (h.store.kind !== 'sqlite') throw new Error('expected the embedded store');
  return h as RunningHub<SQLiteStores>;
}

beforeAll(async () => {
  openai = await startOpenAIUpstream();
  anthropic = await startAnthropicUpstream();
  const yaml = `providers:\n  loop: { baseURL: ${openai.baseURL} }\n  anth: { type: anthropic, baseURL: ${anthropic.baseURL} }\n`;
  hooked = await hub(yaml, [order('first'), order('second'), cache, observer, order('third')]);
  plain = await hub(yaml, []);
  // Body capture (a hook the config turns on) beside a stream hook of the program's.
  capturing = await hub(`${yaml}logging: { bodies: true, maxBodyBytes: 65536 }\n`, [observer]);
}, 30_000);

afterAll(async () => {
  await hooked?.close();
  await plain?.close();
  await capturing?.close();
  await openai?.close();
  await anthropic?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function post(h: RunningHub<SQLiteStores>, path: string, body: unknown) {
  const res = await fetch(`${h.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, text, id: res.headers.get('x-request-id')!, headers: res.headers };
}

async function row(h: RunningHub<SQLiteStores>, id: string) {
  let r: ReturnType<SQLiteStores['recentUsage']>[number] | undefined;
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

describe('body capture as a hook', () => {
  const stored = async (id: string) => {
    await expect.poll(() => capturing.store.usage.bodies(id), { timeout: 3000 }).toBeTruthy();
    return (await capturing.store.usage.bodies(id))!;
  };

  it.each([
    ['a relayed stream', '/v1/chat/completions', { model: 'loop/gpt-test', stream: true, messages: [{ role: 'user', content: 'hi' }] }],
    ['a canonical stream', '/v1/chat/completions', { model: 'anth/claude-test', stream: true, messages: [{ role: 'user', content: 'hi' }] }],
    ['a whole answer', '/v1/messages', { model: 'anth/claude-test', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }],
    ['an error', '/v1/chat/completions', { model: 'nowhere/none', messages: [{ role: 'user', content: 'hi' }] }],
  ])('keeps exactly what the client got: %s', async (_what, path, body) => {
    const r = await post(capturing, path, body);
    const b = await stored(r.id);
    expect(b.response).toBe(r.text);
    expect(JSON.parse(b.request)).toEqual(body);
  });

  it('keeps a body that is not JSON as it came, with the 400 it got', async () => {
    const res = await fetch(`${capturing.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "loop/gpt-test", oops' });
    const text = await res.text();
    expect(res.status).toBe(400);
    const b = await stored(res.headers.get('x-request-id')!);
    expect(b.request).toBe('{"model": "loop/gpt-test", oops');
    expect(b.response).toBe(text);
  });

  it('while a stream hook on the same hub sees the same bytes', async () => {
    const r = await post(capturing, '/v1/messages', { model: 'anth/claude-test', stream: true, max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] });
    expect((await stored(r.id)).response).toBe(r.text);
    expect(relayed.get(r.id)).toBe(r.text);
  });
});

const CACHED: ChatEvent[] = [
  { type: 'text', choice: 0, text: 'cached answer' },
  { type: 'finish', choice: 0, reason: 'stop' },
];

describe('gateway.call (no HTTP) runs the same hooks', () => {
  const records: UsageRecord[] = [];
  const seen: string[] = [];
  let gw: Parameters<typeof call>[0];

  beforeAll(async () => {
    const config = validateConfig({ providers: { loop: { baseURL: openai.baseURL } } }, {});
    const { registry, prices } = await assemble(config, {}, { detectOllama: false });
    const recorder = new UsageRecorder({ writeUsageLines: (jsonl) => void records.push(...jsonl.split('\n').map((l) => JSON.parse(l) as UsageRecord)) }, undefined, 1);
    const hooks: Hook[] = [
      {
        name: 'outer',
        pre: (c) => void seen.push(`pre outer ${c.via}`),
        post: (end) => void seen.push(`post outer ${end.out.status}`),
      },
      {
        name: 'cache',
        pre: (c) =>
          c.call!.requestId === 'req_cached'
            ? { events: CACHED, usage: { inputTokens: 1, outputTokens: 2 } }
            : undefined,
        event: (c, e) => void (e.type === 'text' && seen.push(`event ${c.call!.requestId}`)),
        post: () => void seen.push('post cache'),
      },
    ];
    gw = { registry, recorder, prices, ledger: new Ledger(() => 0), limiter: new RateLimiter(), hooks: compileHooks(hooks) };
  });

  afterAll(async () => {
    await gw?.recorder.close();
  });

  const ask = { model: '', messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'hi' }] }] };
  const drain = async (it: AsyncIterable<ChatEvent>) => {
    const out: ChatEvent[] = [];
    for await (const e of it) out.push(e);
    return out;
  };

  it('streams through the event hooks, pre in order and post in reverse', async () => {
    seen.length = 0;
    const events = await drain(call(gw, callContext({ kind: 'open' }, 'req_streamed', new Cancel()), 'loop/gpt-test', ask));
    const texts = events.filter((e) => e.type === 'text').length;
    expect(texts).toBeGreaterThan(0);
    expect(seen).toEqual(['pre outer call', ...Array(texts).fill('event req_streamed'), 'post cache', 'post outer 200']);
  });

  it("a pre-hook's events answer with no upstream call, and the call is recorded", async () => {
    const before = openai.requests.length;
    const events = await drain(call(gw, callContext({ kind: 'open' }, 'req_cached', new Cancel()), 'loop/gpt-test', ask));
    expect(events).toEqual(CACHED);
    expect(openai.requests.length).toBe(before);
    await expect.poll(() => records.find((r) => r.requestId === 'req_cached')).toMatchObject({ status: 200, usage: { inputTokens: 1, outputTokens: 2 } });
  });
});

describe('a hook that throws leaves the response and the record intact', () => {
  const STAGES = ['post', 'event', 'relay', 'sent'] as const;
  type Stage = (typeof STAGES)[number];
  /** Calls to each stage's throwing hook, and to the hooks around it that must still run. */
  const thrown: Record<Stage, number> = { post: 0, event: 0, relay: 0, sent: 0 };
  const witnessed: Record<Stage, number> = { post: 0, event: 0, relay: 0, sent: 0 };
  const hubs = new Map<string, RunningHub<SQLiteStores>>();

  const stageHook = (stage: Stage, name: string, run: () => void): Hook => ({ name, [stage]: run });
  /** The throwing hook between two that count: whichever order a stage runs in, one runs after it. */
  const around = (stage: Stage): Hook[] => [
    stageHook(stage, 'before', () => void witnessed[stage]++),
    stageHook(stage, 'throwing', () => {
      thrown[stage]++;
      throw new Error(`the ${stage} hook failed`);
    }),
    stageHook(stage, 'after', () => void witnessed[stage]++),
  ];

  beforeAll(async () => {
    const yaml =
      `providers:\n  loop: { baseURL: ${openai.baseURL} }\n  anth: { type: anthropic, baseURL: ${anthropic.baseURL} }\n` +
      'pricing:\n  models:\n    loop/gpt-test: { input: 1000, output: 2000 }\n    anth/claude-test: { input: 3000, output: 15000 }\n';
    hubs.set('none', await hub(yaml, []));
    for (const stage of STAGES) hubs.set(stage, await hub(yaml, around(stage)));
  }, 30_000);

  afterAll(async () => {
    for (const h of hubs.values()) await h.close();
  });

  const CALLS: [string, string, Record<string, unknown>][] = [
    ['a relayed stream (OpenAI → OpenAI)', '/v1/chat/completions', { model: 'loop/gpt-test', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] }],
    ['a relayed whole answer (Anthropic → Anthropic)', '/v1/messages', { model: 'anth/claude-test', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }],
    ['a canonical stream (OpenAI → Anthropic)', '/v1/chat/completions', { model: 'anth/claude-test', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] }],
    ['a canonical whole answer (Anthropic → OpenAI)', '/v1/messages', { model: 'loop/gpt-test', max_tokens: 50, messages: [{ role: 'user', content: 'hi' }] }],
    ['an upstream failure (OpenAI → OpenAI, 500)', '/v1/chat/completions', { model: 'loop/error-500', messages: [{ role: 'user', content: 'hi' }] }],
  ];

  /** A response with what differs between two calls anyway (ids, timestamps) taken out. */
  const same = (t: string) =>
    t
      .replace(/"(id|request_id)":"[^"]*"/g, '"$1":"X"')
      .replace(/"created":\d+/g, '"created":0')
      .replace(/(chatcmpl|msg|req)[-_][A-Za-z0-9_-]+/g, '$1-X');
  const recorded = (r: Awaited<ReturnType<typeof row>>) => ({
    status: r.status,
    error_kind: r.error_kind,
    stream: r.stream,
    input_tokens: r.input_tokens,
    output_tokens: r.output_tokens,
    cost_usd: r.cost_usd,
    usage_counted: r.usage_counted,
    deployment: r.deployment,
    ttft: r.ttft_ms === null ? null : 'set',
  });

  describe.each(STAGES)('a throwing %s hook', (stage) => {
    it.each(CALLS)('%s: the same response and record as with no hook', async (_what, path, body) => {
      const before = { thrown: thrown[stage], witnessed: witnessed[stage] };
      const want = await post(hubs.get('none')!, path, body);
      const got = await post(hubs.get(stage)!, path, body);
      expect(got.status).toBe(want.status);
      expect(same(got.text)).toBe(same(want.text));
      const rec = recorded(await row(hubs.get(stage)!, got.id));
      expect(rec).toEqual(recorded(await row(hubs.get('none')!, want.id)));
      if (want.status === 200) expect(rec.cost_usd).toBeGreaterThan(0);
      // The hook did throw (where its stage saw this call), and the hooks after it still ran.
      const threw = thrown[stage] - before.thrown;
      expect(witnessed[stage] - before.witnessed).toBe(2 * threw);
      const reaches = stage === 'post' || stage === 'sent' || (stage === 'event' ? _what.includes('canonical') : _what.includes('relayed'));
      expect(threw > 0).toBe(reaches);
    });
  });
});
