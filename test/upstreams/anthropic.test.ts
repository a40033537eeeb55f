import Anthropic, { APIError, AuthenticationError, OverloadedError, RateLimitError } from '@anthropic-ai/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAnthropicUpstream } from './anthropic.js';
import type { AnthropicUpstream } from './anthropic.js';
import { expectLeavingHangCounted, expectLeavingStreamCounted, json, readUntilCut } from './fixture-client.js';

/**
 * Checks the fixture itself, over plain fetch (exact bytes and event order) and through the
 * official @anthropic-ai/sdk (that a real client accepts the wire), so a wire mistake here is not
 * blamed on the gateway.
 */
const KEY = 'sk-ant-fixture-key-0123456789abcdef';
const VERSION = '2023-06-01';
let up: AnthropicUpstream;
let client: Anthropic;

beforeAll(async () => {
  up = await startAnthropicUpstream({ apiKey: KEY, slowFirstByteMs: 200 });
  client = new Anthropic({ apiKey: KEY, baseURL: up.baseURL, maxRetries: 0 });
});

afterAll(async () => {
  await up?.close();
});

const headers = { 'x-api-key': KEY, 'anthropic-version': VERSION, 'content-type': 'application/json' };
const user = (content: unknown) => [{ role: 'user', content }];

function post(path: string, body: unknown, init: RequestInit = {}) {
  return fetch(`${up.baseURL}${path}`, { method: 'POST', headers, body: JSON.stringify(body), ...init });
}

/** A /v1/messages request body with the required fields filled in. */
function msg(model: string, extra: Record<string, unknown> = {}) {
  return { model, max_tokens: 256, messages: user('hi'), ...extra };
}

interface Event {
  event: string;
  data: any;
}

/** Parses an SSE body into `{event, data}` pairs; every event must carry both lines. */
function parseSse(text: string): Event[] {
  return text
    .split('\n\n')
    .filter((e) => e.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^event: /);
      expect(lines[1]).toMatch(/^data: /);
      return { event: lines[0]!.slice('event: '.length), data: JSON.parse(lines[1]!.slice('data: '.length)) };
    });
}

async function stream(body: Record<string, unknown>): Promise<Event[]> {
  const res = await post('/v1/messages', { ...body, stream: true });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  expect(res.headers.get('request-id')).toMatch(/^req_/);
  const events = parseSse(await res.text());
  for (const e of events) expect(e.data.type).toBe(e.event);
  return events;
}

/**
 * Checks the documented event grammar: message_start, then per block start / deltas / stop with
 * consecutive indexes (a ping after the first block start), then message_delta and message_stop.
 * Returns the blocks rebuilt from the deltas, plus the framing events.
 */
function assemble(events: Event[]) {
  const names = events.map((e) => e.event);
  expect(names[0]).toBe('message_start');
  expect(names.slice(-2)).toEqual(['message_delta', 'message_stop']);
  expect(names.filter((n) => n === 'ping')).toHaveLength(1);
  expect(names[2]).toBe('ping');
  const start = events[0]!.data.message;
  expect(start).toMatchObject({ type: 'message', role: 'assistant', content: [], stop_reason: null, stop_sequence: null });
  expect(start.usage.output_tokens).toBe(1);

  const body = events.slice(1, -2).filter((e) => e.event !== 'ping');
  const blocks: any[] = [];
  const partials: string[][] = [];
  const deltaTypes: string[][] = [];
  let open: number | undefined;
  for (const { event, data } of body) {
    if (event === 'content_block_start') {
      expect(open).toBeUndefined();
      expect(data.index).toBe(blocks.length);
      open = data.index;
      blocks.push(structuredClone(data.content_block));
      partials.push([]);
      deltaTypes.push([]);
    } else if (event === 'content_block_delta') {
      expect(data.index).toBe(open);
      const b = blocks[data.index];
      const d = data.delta;
      deltaTypes[data.index]!.push(d.type);
      if (d.type === 'text_delta') b.text += d.text;
      else if (d.type === 'thinking_delta') b.thinking += d.thinking;
      else if (d.type === 'signature_delta') b.signature += d.signature;
      else if (d.type === 'input_json_delta') partials[data.index]!.push(d.partial_json);
      else throw new Error(`unexpected delta ${d.type}`);
    } else if (event === 'content_block_stop') {
      expect(data.index).toBe(open);
      const b = blocks[data.index];
      if (b.type === 'tool_use') b.input = JSON.parse(partials[data.index]!.join(''));
      open = undefined;
    } else {
      throw new Error(`unexpected event ${event}`);
    }
  }
  expect(open).toBeUndefined();
  return { start, blocks, partials, deltaTypes, delta: events.at(-2)!.data };
}

describe('Anthropic upstream fixture', () => {
  it('requires x-api-key and anthropic-version', async () => {
    const none = await fetch(`${up.baseURL}/v1/models`, { headers: { 'anthropic-version': VERSION } });
    expect(none.status).toBe(401);
    const noneBody = await json(none);
    expect(noneBody).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: 'x-api-key header is required' } });
    expect(noneBody.request_id).toBe(none.headers.get('request-id'));

    const wrong = await fetch(`${up.baseURL}/v1/models`, { headers: { 'x-api-key': 'sk-ant-wrong', 'anthropic-version': VERSION } });
    expect(wrong.status).toBe(401);
    expect((await json(wrong)).error).toEqual({ type: 'authentication_error', message: 'invalid x-api-key' });

    // The key may also travel as a bearer token (what this SDK major sends); x-api-key wins when both are there.
    const bearer = await fetch(`${up.baseURL}/v1/models`, { headers: { authorization: `Bearer ${KEY}`, 'anthropic-version': VERSION } });
    expect(bearer.status).toBe(200);
    const both = await fetch(`${up.baseURL}/v1/models`, {
      headers: { 'x-api-key': 'sk-ant-wrong', authorization: `Bearer ${KEY}`, 'anthropic-version': VERSION },
    });
    expect(both.status).toBe(401);
    await client.models.list();
    expect(up.requests.at(-1)!.headers.authorization).toBe(`Bearer ${KEY}`);

    const wrongSdk = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: up.baseURL, maxRetries: 0 });
    await expect(wrongSdk.messages.create({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(
      AuthenticationError,
    );

    const noVersion = await fetch(`${up.baseURL}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body: JSON.stringify(msg('m')),
    });
    expect(noVersion.status).toBe(400);
    expect((await json(noVersion)).error).toEqual({ type: 'invalid_request_error', message: 'anthropic-version: header is required' });

    const badVersion = await post('/v1/messages', msg('m'), { headers: { ...headers, 'anthropic-version': '2024-10-22' } });
    expect(badVersion.status).toBe(400);
    expect((await json(badVersion)).error.message).toBe('anthropic-version: "2024-10-22" is not a valid version');
  });

  it('rejects sampling parameters on API version 2026-10-21 only', async () => {
    const v2026 = { ...headers, 'anthropic-version': '2026-10-21' };
    for (const param of ['temperature', 'top_p', 'top_k']) {
      const res = await post('/v1/messages', msg('m', { [param]: 1 }), { headers: v2026 });
      expect(res.status).toBe(400);
      expect((await json(res)).error).toEqual({ type: 'invalid_request_error', message: `${param}: Extra inputs are not permitted` });
    }
    const counted = await post('/v1/messages/count_tokens', { model: 'm', messages: user('x'), temperature: 1 }, { headers: v2026 });
    expect(counted.status).toBe(400);
    const ok = await post('/v1/messages', msg('m'), { headers: v2026 });
    expect(ok.status).toBe(200);
    const old = await post('/v1/messages', msg('m', { temperature: 0.2 }));
    expect(old.status).toBe(200);
  });

  it('validates required fields', async () => {
    const noMax = await post('/v1/messages', { model: 'm', messages: user('x') });
    expect(noMax.status).toBe(400);
    expect((await json(noMax)).error).toEqual({ type: 'invalid_request_error', message: 'max_tokens: Field required' });
    const noMessages = await post('/v1/messages', { model: 'm', max_tokens: 5 });
    expect((await json(noMessages)).error.message).toBe('messages: Field required');
    const noModel = await post('/v1/messages', { max_tokens: 5, messages: user('x') });
    expect((await json(noModel)).error.message).toBe('model: Field required');
  });

  it('answers the default scenario and records the request', async () => {
    const { data: r, response } = await client.messages
      .create({
        model: 'claude-test',
        max_tokens: 100,
        system: 'be brief',
        messages: [
          { role: 'user', content: 'first' },
          { role: 'assistant', content: 'ok' },
          { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'there' }] },
        ],
      })
      .withResponse();
    expect(r).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content: [{ type: 'text', text: 'Hello from claude-test! You said: hi there' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 12, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    expect(r.id).toMatch(/^msg_01/);
    expect(response.headers.get('request-id')).toMatch(/^req_011C/);
    const rec = up.requests.at(-1)!;
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/messages' });
    expect(rec.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(rec.headers['anthropic-version']).toBe('2026-10-21');
    expect(rec.body.model).toBe('claude-test');

    // The exact non-streaming body, key for key.
    const raw = await json(post('/v1/messages', msg('m', { messages: user([{ type: 'text', text: 'a' }, { type: 'tool_result', tool_use_id: 't', content: 'zzz' }]) })));
    expect(Object.keys(raw)).toEqual(['id', 'type', 'role', 'model', 'content', 'stop_reason', 'stop_sequence', 'usage']);
    expect(raw.content).toEqual([{ type: 'text', text: 'Hello from m! You said: a' }]);
  });

  it('streams the default scenario in the documented event order', async () => {
    const events = await stream(msg('claude-test', { messages: user('stream me') }));
    const { start, blocks, deltaTypes, delta } = assemble(events);
    expect(events.map((e) => e.event).slice(0, 3)).toEqual(['message_start', 'content_block_start', 'ping']);
    expect(start).toMatchObject({ model: 'claude-test', usage: { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } });
    expect(start.id).toMatch(/^msg_01/);
    expect(events[1]!.data.content_block).toEqual({ type: 'text', text: '' });
    expect(blocks).toEqual([{ type: 'text', text: 'Hello from claude-test! You said: stream me' }]);
    expect(deltaTypes[0]!.length).toBeGreaterThan(3);
    expect(delta).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { input_tokens: 12, output_tokens: 9, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });

    // The SDK's stream helper rebuilds the same message the non-streaming call returns.
    const final = await client.messages.stream({ model: 'claude-test', max_tokens: 50, messages: [{ role: 'user', content: 'stream me' }] }).finalMessage();
    expect(final.content).toMatchObject([{ type: 'text', text: 'Hello from claude-test! You said: stream me' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage).toMatchObject({ input_tokens: 12, output_tokens: 9 });
  });

  it('cuts text at a requested stop sequence', async () => {
    const r = await client.messages.create({
      model: 'm',
      max_tokens: 50,
      stop_sequences: ['zzz', 'said'],
      messages: [{ role: 'user', content: 'q' }],
    });
    expect(r.content).toMatchObject([{ type: 'text', text: 'Hello from m! You ' }]);
    expect(r.stop_reason).toBe('stop_sequence');
    expect(r.stop_sequence).toBe('said');

    const { blocks, delta } = assemble(await stream(msg('m', { stop_sequences: ['!'] })));
    expect(blocks).toEqual([{ type: 'text', text: 'Hello from m' }]);
    expect(delta.delta).toEqual({ stop_reason: 'stop_sequence', stop_sequence: '!' });

    const miss = await client.messages.create({ model: 'm', max_tokens: 5, stop_sequences: ['nowhere'], messages: [{ role: 'user', content: 'q' }] });
    expect(miss).toMatchObject({ stop_reason: 'end_turn', stop_sequence: null });
  });

  it('returns and streams two tool_use blocks, then answers the tool-result turn', async () => {
    const tools = [
      { name: 'get_weather', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } },
      { name: 'get_time', input_schema: { type: 'object' as const, properties: { timezone: { type: 'string' } } } },
    ];
    const r = await client.messages.create({ model: 'tools', max_tokens: 100, tools, messages: [{ role: 'user', content: 'q' }] });
    expect(r.content).toEqual([
      { type: 'tool_use', id: 'toolu_weather_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
      { type: 'tool_use', id: 'toolu_time_2', name: 'get_time', input: { timezone: 'Europe/Paris' } },
    ]);
    expect(r.stop_reason).toBe('tool_use');
    expect(r.usage).toMatchObject({ input_tokens: 40, output_tokens: 20 });

    const events = await stream(msg('tools', { tools }));
    const { blocks, partials, delta } = assemble(events);
    expect(blocks).toEqual(r.content);
    const starts = events.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
    expect(starts).toEqual([
      { type: 'tool_use', id: 'toolu_weather_1', name: 'get_weather', input: {} },
      { type: 'tool_use', id: 'toolu_time_2', name: 'get_time', input: {} },
    ]);
    for (const pieces of partials) {
      expect(pieces[0]).toBe('');
      expect(pieces.filter((p) => p !== '').length).toBeGreaterThanOrEqual(3);
    }
    expect(partials[0]!.join('')).toBe('{"city":"Paris","unit":"celsius"}');
    expect(partials[1]!.join('')).toBe('{"timezone":"Europe/Paris"}');
    expect(delta.delta.stop_reason).toBe('tool_use');
    expect(delta.usage).toMatchObject({ input_tokens: 40, output_tokens: 20 });

    const final = await client.messages.stream({ model: 'tools', max_tokens: 100, tools, messages: [{ role: 'user', content: 'q' }] }).finalMessage();
    expect(final.content).toMatchObject(r.content);

    const followMessages: Anthropic.MessageParam[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: r.content.map((b) => (b.type === 'tool_use' ? { type: 'tool_use' as const, id: b.id, name: b.name, input: b.input } : { type: 'text' as const, text: '' })) },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_weather_1', content: '18' },
          { type: 'tool_result', tool_use_id: 'toolu_time_2', content: [{ type: 'text', text: '12:00' }] },
        ],
      },
    ];
    const follow = await client.messages.create({ model: 'tools', max_tokens: 100, tools, messages: followMessages });
    expect(follow.content).toMatchObject([{ type: 'text', text: 'The weather in Paris is 18°C.' }]);
    expect(follow.stop_reason).toBe('end_turn');
    expect(follow.usage).toMatchObject({ input_tokens: 60, output_tokens: 10 });

    const followStream = assemble(await stream(msg('tools', { messages: followMessages })));
    expect(followStream.blocks).toEqual([{ type: 'text', text: 'The weather in Paris is 18°C.' }]);
    expect(followStream.delta.usage.output_tokens).toBe(10);
  });

  it('gives a signed thinking block before the text, with cache-read usage', async () => {
    const r = await client.messages.create({
      model: 'reasoner',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [{ role: 'user', content: 'q' }],
    });
    expect(r.content).toEqual([
      { type: 'thinking', thinking: 'Let me think step by step.', signature: 'sig-reasoner-1' },
      { type: 'text', text: 'The answer is 42.' },
    ]);
    expect(r.usage).toEqual({ input_tokens: 20, output_tokens: 50, cache_creation_input_tokens: 0, cache_read_input_tokens: 10 });
    expect(up.requests.at(-1)!.body.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });

    // Without `thinking` it answers the same.
    const plain = await json(post('/v1/messages', msg('reasoner')));
    expect(plain.content).toEqual(r.content);
    expect(up.requests.at(-1)!.body.thinking).toBeUndefined();

    const events = await stream(msg('reasoner', { thinking: { type: 'enabled', budget_tokens: 1024 } }));
    const { start, blocks, deltaTypes, delta } = assemble(events);
    expect(events[1]!.data.content_block).toEqual({ type: 'thinking', thinking: '', signature: '' });
    expect(blocks).toEqual(r.content);
    const thinkingDeltas = deltaTypes[0]!;
    expect(thinkingDeltas.filter((t) => t === 'thinking_delta').length).toBeGreaterThanOrEqual(2);
    expect(thinkingDeltas.at(-1)).toBe('signature_delta');
    expect(thinkingDeltas.filter((t) => t === 'signature_delta')).toHaveLength(1);
    expect(deltaTypes[1]!.every((t) => t === 'text_delta')).toBe(true);
    expect(start.usage).toEqual({ input_tokens: 20, output_tokens: 1, cache_creation_input_tokens: 0, cache_read_input_tokens: 10 });
    expect(delta.usage).toEqual({ input_tokens: 20, output_tokens: 50, cache_creation_input_tokens: 0, cache_read_input_tokens: 10 });

    const final = await client.messages
      .stream({ model: 'reasoner', max_tokens: 2048, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'q' }] })
      .finalMessage();
    expect(final.content).toMatchObject(r.content);
  });

  it('counts images in the last user message, base64 and url alike', async () => {
    const content = [
      { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
      { type: 'text', text: 'what are these?' },
      { type: 'image', source: { type: 'url', url: 'https://example.com/a.jpg' } },
    ];
    const r = await json(post('/v1/messages', msg('vision', { messages: [{ role: 'user', content: [content[0]] }, { role: 'assistant', content: 'ok' }, { role: 'user', content }] })));
    expect(r.content).toEqual([{ type: 'text', text: 'I see 2 image(s).' }]);
    expect(r.usage).toMatchObject({ input_tokens: 12, output_tokens: 9 });
    const { blocks } = assemble(await stream(msg('vision', { messages: user(content) })));
    expect(blocks).toEqual([{ type: 'text', text: 'I see 2 image(s).' }]);
    const none = await json(post('/v1/messages', msg('vision', { messages: user('no images') })));
    expect(none.content[0].text).toBe('I see 0 image(s).');
  });

  it('returns Anthropic error bodies with a request-id, streaming or not', async () => {
    const cases: [string, number, string][] = [
      ['error-400', 400, 'invalid_request_error'],
      ['error-401', 401, 'authentication_error'],
      ['error-404', 404, 'not_found_error'],
      ['error-429', 429, 'rate_limit_error'],
      ['error-500', 500, 'api_error'],
      ['error-503', 503, 'overloaded_error'],
      ['error-529', 529, 'overloaded_error'],
    ];
    for (const [model, status, type] of cases) {
      for (const streaming of [false, true]) {
        const res = await post('/v1/messages', msg(model, { stream: streaming }));
        expect(res.status, model).toBe(status);
        expect(res.headers.get('content-type')).toBe('application/json');
        const body = await json(res);
        expect(Object.keys(body)).toEqual(['type', 'error', 'request_id']);
        expect(body.type).toBe('error');
        expect(body.error.type, model).toBe(type);
        expect(typeof body.error.message).toBe('string');
        expect(body.request_id).toMatch(/^req_011C/);
        expect(body.request_id).toBe(res.headers.get('request-id'));
        expect(res.headers.get('retry-after')).toBe(status === 429 ? '7' : null);
      }
    }
    const notFound = await json(post('/v1/messages', msg('error-404')));
    expect(notFound.error.message).toBe('model: error-404');
    const overloaded = await json(post('/v1/messages', msg('error-529')));
    expect(overloaded.error.message).toBe('Overloaded');

    const rate = await client.messages.create({ model: 'error-429', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(rate).toBeInstanceOf(RateLimitError);
    expect((rate as RateLimitError).requestID).toMatch(/^req_011C/);
    const over = await client.messages.create({ model: 'error-529', max_tokens: 5, messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect(over).toBeInstanceOf(OverloadedError);
  });

  it('sends a mid-stream overloaded error after message_start', async () => {
    const events = await stream(msg('overloaded-midstream'));
    expect(events.map((e) => e.event)).toEqual(['message_start', 'error']);
    expect(events[1]!.data).toEqual({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

    const sdkStream = await client.messages.create({ model: 'overloaded-midstream', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'x' }] });
    const seen: string[] = [];
    const err = await (async () => {
      for await (const e of sdkStream) seen.push(e.type);
    })().catch((e: unknown) => e);
    expect(seen).toEqual(['message_start']);
    expect(err).toBeInstanceOf(APIError);
    expect((err as APIError).error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });

    // Without a stream the same overload is the plain HTTP 529.
    const res = await post('/v1/messages', msg('overloaded-midstream'));
    expect(res.status).toBe(529);
    expect((await json(res)).error.type).toBe('overloaded_error');
  });

  it('counts tokens deterministically', async () => {
    // system 2 words + "one two three" 3 + "four" 1 + tool_result "five six" 2 + 2 tools * 5 = 18
    const r = await client.messages.countTokens({
      model: 'claude-test',
      system: [{ type: 'text', text: 'be  brief' }],
      tools: [
        { name: 'a', input_schema: { type: 'object' } },
        { name: 'b', input_schema: { type: 'object' } },
      ],
      messages: [
        { role: 'user', content: 'one two three' },
        { role: 'assistant', content: [{ type: 'text', text: 'four' }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'five six' }, { type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] },
      ],
    });
    expect(r).toEqual({ input_tokens: 18 });
    expect(up.requests.at(-1)!.path).toBe('/v1/messages/count_tokens');
    // No max_tokens needed here; error models fail here too.
    expect(await json(post('/v1/messages/count_tokens', { model: 'm', messages: user('a b') }))).toEqual({ input_tokens: 2 });
    const failed = await post('/v1/messages/count_tokens', { model: 'error-500', messages: user('a') });
    expect(failed.status).toBe(500);
    expect((await json(failed)).error.type).toBe('api_error');
  });

  it('lists models', async () => {
    const page = await client.models.list();
    expect(page.data[0]).toMatchObject({ type: 'model', id: 'claude-sonnet-4-5', display_name: 'Claude Sonnet 4.5' });
    expect(page.data.map((m) => m.id)).toContain('reasoner');
    const raw = await json(fetch(`${up.baseURL}/v1/models`, { headers }));
    expect(raw).toMatchObject({ has_more: false, first_id: 'claude-sonnet-4-5', last_id: raw.data.at(-1).id });
    expect(raw.data[0].created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('rejects malformed JSON and unknown routes', async () => {
    const bad = await fetch(`${up.baseURL}/v1/messages`, { method: 'POST', headers, body: '{"model": ' });
    expect(bad.status).toBe(400);
    const badBody = await json(bad);
    expect(badBody.error.type).toBe('invalid_request_error');
    expect(badBody.error.message).toMatch(/^The request body is not valid JSON: /);
    const nope = await fetch(`${up.baseURL}/v1/nope`, { headers });
    expect(nope.status).toBe(404);
    expect((await json(nope)).error).toEqual({ type: 'not_found_error', message: 'Not Found' });
  });

  it('waits before the first byte for model slow, streaming or not', async () => {
    let t0 = Date.now();
    const r = await client.messages.create({ model: 'slow', max_tokens: 5, messages: [{ role: 'user', content: 'z' }] });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
    expect(r.content).toMatchObject([{ type: 'text', text: 'Hello from slow! You said: z' }]);
    t0 = Date.now();
    const { blocks } = assemble(await stream(msg('slow', { messages: user('z') })));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
    expect(blocks).toEqual([{ type: 'text', text: 'Hello from slow! You said: z' }]);
  });

  it('counts a client leaving a hanging request, streaming or not', async () => {
    for (const streaming of [false, true]) {
      await expectLeavingHangCounted(up, (signal) => post('/v1/messages', msg('hang', { stream: streaming }), { signal }));
    }
  });

  it('counts a client leaving a slow stream mid-way', async () => {
    await expectLeavingStreamCounted(up, (signal) => post('/v1/messages', msg('slow-stream', { stream: true, messages: user('a long story') }), { signal }));
  });

  it('cuts a stream after partial text, and a JSON body halfway, without counting them as aborts', async () => {
    const before = up.aborted();
    const res = await post('/v1/messages', msg('cut', { stream: true }));
    expect(res.status).toBe(200);
    const { raw, err } = await readUntilCut(res);
    expect(err).toBeInstanceOf(Error);
    const events = parseSse(raw);
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'content_block_delta']);
    expect(events.slice(2).map((e) => e.data.delta)).toEqual([
      { type: 'text_delta', text: 'Partial ' },
      { type: 'text_delta', text: 'answer' },
    ]);

    const sdkStream = await client.messages.create({ model: 'cut', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'x' }] });
    const texts: string[] = [];
    const sdkErr = await (async () => {
      for await (const e of sdkStream) if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') texts.push(e.delta.text);
    })().catch((e: unknown) => e);
    expect(texts).toEqual(['Partial ', 'answer']);
    expect(sdkErr).toBeInstanceOf(Error);

    const half = await post('/v1/messages', msg('cut'));
    expect(half.status).toBe(200);
    await expect(half.text()).rejects.toThrow();
    expect(up.aborted()).toBe(before);
  });

  it('answers garbage, streaming or not', async () => {
    const res = await post('/v1/messages', msg('garbage'));
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<html>oops</html>');
    const s = await post('/v1/messages', msg('garbage', { stream: true }));
    expect(s.headers.get('content-type')).toBe('text/event-stream');
    expect(await s.text()).toBe('event: message_start\ndata: {not json\n\n');
  });
});
