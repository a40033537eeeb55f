import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIUpstream } from './openai.js';
import type { OpenAIUpstream } from './openai.js';
import { expectLeavingHangCounted, expectLeavingStreamCounted, json, readUntilCut } from './fixture-client.js';

/** Checks the fixture itself over plain fetch, so a wire mistake here is not blamed on the gateway. */
const KEY = 'sk-fixture-key-0123456789abcdef';
let up: OpenAIUpstream;

beforeAll(async () => {
  up = await startOpenAIUpstream({ apiKey: KEY, slowFirstByteMs: 200 });
});

afterAll(async () => {
  await up?.close();
});

const auth = { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' };

function post(path: string, body: unknown, init: RequestInit = {}) {
  return fetch(`${up.baseURL}${path}`, { method: 'POST', headers: auth, body: JSON.stringify(body), ...init });
}

/** Reads an SSE body into its `data:` payloads (raw strings, `[DONE]` included). */
async function sseData(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice('data: '.length));
}

async function chatStream(body: Record<string, unknown>) {
  const res = await post('/chat/completions', { ...body, stream: true });
  expect(res.headers.get('content-type')).toBe('text/event-stream');
  const data = await sseData(res);
  expect(data.at(-1)).toBe('[DONE]');
  return data.slice(0, -1).map((d) => JSON.parse(d));
}

describe('OpenAI upstream fixture', () => {
  it('rejects a missing or wrong key without echoing it', async () => {
    const none = await fetch(`${up.baseURL}/models`);
    expect(none.status).toBe(401);
    const wrong = await fetch(`${up.baseURL}/models`, { headers: { authorization: 'Bearer sk-wrong-key-123456789' } });
    expect(wrong.status).toBe(401);
    const body = await json(wrong);
    expect(body.error).toMatchObject({ type: 'invalid_request_error', param: null, code: 'invalid_api_key' });
    expect(body.error.message).toContain('Incorrect API key provided');
    expect(body.error.message).not.toContain('sk-wrong-key-123456789');
  });

  it('answers a plain chat and records the request', async () => {
    const res = await post('/chat/completions', {
      model: 'gpt-test',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'user', content: [{ type: 'text', text: 'hi' }, { type: 'text', text: 'there' }] },
      ],
    });
    expect(res.status).toBe(200);
    const r = await json(res);
    expect(r).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-test',
      system_fingerprint: 'fp_test',
      choices: [
        { index: 0, message: { role: 'assistant', content: 'Hello from gpt-test! You said: hi there', refusal: null }, logprobs: null, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 },
    });
    expect(r.id).toMatch(/^chatcmpl-/);
    const rec = up.requests.at(-1)!;
    expect(rec).toMatchObject({ method: 'POST', path: '/v1/chat/completions' });
    expect(rec.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(rec.body.model).toBe('gpt-test');
  });

  it('returns n choices with logprobs', async () => {
    const r = await json(post('/chat/completions', { model: 'm', n: 3, logprobs: true, messages: [{ role: 'user', content: 'p' }] }));
    expect(r.choices.map((c: any) => c.message.content)).toEqual([0, 1, 2].map((i) => `Hello from m! You said: p (#${i})`));
    expect(r.choices.map((c: any) => c.index)).toEqual([0, 1, 2]);
    expect(r.choices[0].logprobs.content[0]).toMatchObject({ token: 'Hello', bytes: [72, 101, 108, 108, 111], top_logprobs: [] });
    expect(r.usage).toEqual({ prompt_tokens: 12, completion_tokens: 27, total_tokens: 39 });
  });

  it('streams text without usage unless asked, and with usage:null plus a final usage chunk when asked', async () => {
    const plain = await chatStream({ model: 'gpt-test', messages: [{ role: 'user', content: 'stream me' }] });
    expect(plain.every((c) => !('usage' in c))).toBe(true);
    expect(plain[0].choices[0].delta).toEqual({ role: 'assistant', content: '', refusal: null });
    expect(plain.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Hello from gpt-test! You said: stream me');
    expect(plain.length).toBeGreaterThan(4);
    expect(plain.at(-1).choices[0]).toEqual({ index: 0, delta: {}, logprobs: null, finish_reason: 'stop' });
    expect(plain[0]).toMatchObject({ object: 'chat.completion.chunk', model: 'gpt-test', system_fingerprint: 'fp_test' });

    const withUsage = await chatStream({ model: 'gpt-test', messages: [{ role: 'user', content: 'u' }], stream_options: { include_usage: true } });
    const last = withUsage.at(-1);
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 });
    expect(withUsage.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(new Set(withUsage.map((c) => c.id)).size).toBe(1);
  });

  it('returns and streams parallel tool calls, then answers the tool-result turn', async () => {
    const r = await json(post('/chat/completions', { model: 'tools', messages: [{ role: 'user', content: 'q' }] }));
    expect(r.choices[0].finish_reason).toBe('tool_calls');
    expect(r.choices[0].message.content).toBeNull();
    expect(r.choices[0].message.tool_calls).toEqual([
      { id: 'call_weather_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } },
      { id: 'call_time_2', type: 'function', function: { name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' } },
    ]);
    expect(r.usage).toEqual({ prompt_tokens: 40, completion_tokens: 20, total_tokens: 60 });

    const chunks = await chatStream({ model: 'tools', messages: [{ role: 'user', content: 'q' }] });
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: null });
    const toolDeltas = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(toolDeltas[0]).toEqual({ index: 0, id: 'call_weather_1', type: 'function', function: { name: 'get_weather', arguments: '' } });
    const argPieces = (i: number) => toolDeltas.filter((t: any) => t.index === i && !t.id);
    expect(argPieces(0).length).toBeGreaterThanOrEqual(3);
    expect(argPieces(1).length).toBeGreaterThanOrEqual(3);
    expect(argPieces(0).every((t: any) => Object.keys(t).join() === 'index,function')).toBe(true);
    expect(argPieces(0).map((t: any) => t.function.arguments).join('')).toBe('{"city":"Paris","unit":"celsius"}');
    expect(argPieces(1).map((t: any) => t.function.arguments).join('')).toBe('{"timezone":"Europe/Paris"}');
    expect(toolDeltas.map((t: any) => t.index)).toEqual([...toolDeltas.map((t: any) => t.index)].sort());
    expect(chunks.at(-1).choices[0].finish_reason).toBe('tool_calls');

    const follow = await json(
      post('/chat/completions', {
        model: 'tools',
        messages: [
          { role: 'user', content: 'q' },
          { role: 'tool', tool_call_id: 'call_weather_1', content: '{}' },
        ],
      }),
    );
    expect(follow.choices[0]).toMatchObject({ message: { content: 'The weather in Paris is 18°C.' }, finish_reason: 'stop' });
    expect(follow.usage.total_tokens).toBe(70);
  });

  it('gives reasoning_content and DeepSeek-style usage, streaming or not', async () => {
    const r = await json(post('/chat/completions', { model: 'reasoner', messages: [{ role: 'user', content: 'q' }] }));
    expect(r.choices[0].message).toMatchObject({ reasoning_content: 'Let me think step by step.', content: 'The answer is 42.' });
    expect(r.usage).toEqual({
      prompt_tokens: 30,
      completion_tokens: 50,
      total_tokens: 80,
      completion_tokens_details: { reasoning_tokens: 35 },
      prompt_cache_hit_tokens: 10,
      prompt_cache_miss_tokens: 20,
    });
    const chunks = await chatStream({ model: 'reasoner', messages: [{ role: 'user', content: 'q' }], stream_options: { include_usage: true } });
    const deltas = chunks.filter((c) => c.choices.length).map((c) => c.choices[0].delta);
    const reasoning = deltas.filter((d) => d.reasoning_content);
    const content = deltas.filter((d) => d.content);
    expect(reasoning.length).toBeGreaterThanOrEqual(2);
    expect(reasoning.every((d) => d.content === null)).toBe(true);
    expect(content.length).toBeGreaterThanOrEqual(2);
    expect(reasoning.map((d) => d.reasoning_content).join('')).toBe('Let me think step by step.');
    expect(content.map((d) => d.content).join('')).toBe('The answer is 42.');
    expect(chunks.at(-1).usage.prompt_cache_hit_tokens).toBe(10);
  });

  it('answers json', async () => {
    const r = await json(post('/chat/completions', { model: 'json', messages: [{ role: 'user', content: 'q' }] }));
    expect(JSON.parse(r.choices[0].message.content)).toEqual({ name: 'Ada Lovelace', born: 1815 });
    expect(r.usage.total_tokens).toBe(37);
  });

  it('returns OpenAI error bodies', async () => {
    const cases: [string, number, Record<string, unknown>][] = [
      ['error-400', 400, { type: 'invalid_request_error', param: 'temperature', code: 'invalid_value' }],
      ['error-401', 401, { type: 'invalid_request_error', param: null, code: 'invalid_api_key' }],
      ['error-404', 404, { type: 'invalid_request_error', param: null, code: 'model_not_found' }],
      ['error-429', 429, { type: 'requests', param: null, code: 'rate_limit_exceeded' }],
      ['error-500', 500, { type: 'server_error', param: null, code: null }],
      ['error-503', 503, { type: 'server_error', param: null, code: null }],
    ];
    for (const [model, status, error] of cases) {
      for (const stream of [false, true]) {
        const res = await post('/chat/completions', { model, stream, messages: [{ role: 'user', content: 'x' }] });
        expect(res.status, model).toBe(status);
        expect(res.headers.get('content-type')).toBe('application/json');
        const body = await json(res);
        expect(body.error, model).toMatchObject(error);
        expect(typeof body.error.message).toBe('string');
        if (status === 429) expect(res.headers.get('retry-after')).toBe('7');
        if (status === 401) expect(body.error.message).not.toContain(KEY);
      }
    }
  });

  it('rejects malformed JSON and unknown routes', async () => {
    const bad = await fetch(`${up.baseURL}/chat/completions`, { method: 'POST', headers: auth, body: '{"model": ' });
    expect(bad.status).toBe(400);
    expect((await json(bad)).error).toMatchObject({ type: 'invalid_request_error', param: null, code: null });
    const nope = await fetch(`${up.baseURL}/nope`, { headers: auth });
    expect(nope.status).toBe(404);
    expect((await json(nope)).error.message).toBe('Invalid URL (GET /v1/nope)');
  });

  it('lists models', async () => {
    const r = await json(fetch(`${up.baseURL}/models`, { headers: auth }));
    expect(r.object).toBe('list');
    expect(r.data[0]).toMatchObject({ id: 'gpt-4o-mini', object: 'model', owned_by: 'test' });
    expect(typeof r.data[0].created).toBe('number');
  });

  it('creates deterministic embeddings as floats or base64 float32', async () => {
    const floats = await json(post('/embeddings', { model: 'e', input: ['alpha beta', 'gamma'], encoding_format: 'float' }));
    expect(floats).toMatchObject({ object: 'list', model: 'e', usage: { prompt_tokens: 3, total_tokens: 3 } });
    expect(floats.data.map((d: any) => [d.object, d.index, d.embedding.length])).toEqual([
      ['embedding', 0, 8],
      ['embedding', 1, 8],
    ]);
    const v: number[] = floats.data[1].embedding;
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);

    const b64 = await json(post('/embeddings', { model: 'e', input: 'gamma', encoding_format: 'base64' }));
    const buf = Buffer.from(b64.data[0].embedding, 'base64');
    const decoded = Array.from({ length: buf.length / 4 }, (_, i) => buf.readFloatLE(i * 4));
    expect(decoded).toEqual(v.map((x) => Math.fround(x)));

    const dims = await json(post('/embeddings', { model: 'e', input: [[1, 2, 3], [4]], dimensions: 4 }));
    expect(dims.data[0].embedding).toHaveLength(4);
    expect(dims.usage.prompt_tokens).toBe(4);
  });

  it('waits before the first byte for model slow', async () => {
    const t0 = Date.now();
    const r = await json(post('/chat/completions', { model: 'slow', messages: [{ role: 'user', content: 'z' }] }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(180);
    expect(r.choices[0].message.content).toBe('Hello from slow! You said: z');
  });

  it('counts a client leaving a hanging request', async () => {
    await expectLeavingHangCounted(up, (signal) => post('/chat/completions', { model: 'hang', messages: [{ role: 'user', content: 'x' }] }, { signal }));
  });

  it('counts a client leaving a slow stream mid-way', async () => {
    await expectLeavingStreamCounted(up, (signal) =>
      post('/chat/completions', { model: 'slow-stream', stream: true, messages: [{ role: 'user', content: 'a long story' }] }, { signal }),
    );
  });

  it('cuts a stream after partial text, and a JSON body halfway, without counting them as aborts', async () => {
    const before = up.aborted();
    const res = await post('/chat/completions', { model: 'cut', stream: true, messages: [{ role: 'user', content: 'x' }] });
    const { raw, err } = await readUntilCut(res);
    expect(err).toBeInstanceOf(Error);
    expect(raw).not.toContain('[DONE]');
    const deltas = raw
      .split('\n\n')
      .filter((e) => e.startsWith('data: '))
      .map((e) => JSON.parse(e.slice(6)).choices[0].delta.content);
    expect(deltas).toEqual(['', 'Partial ', 'answer']);

    const half = await post('/chat/completions', { model: 'cut', messages: [{ role: 'user', content: 'x' }] });
    expect(half.status).toBe(200);
    await expect(half.text()).rejects.toThrow();
    expect(up.aborted()).toBe(before);
  });

  it('answers garbage, streaming or not', async () => {
    const res = await post('/chat/completions', { model: 'garbage', messages: [{ role: 'user', content: 'x' }] });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('<html>oops</html>');
    const s = await post('/chat/completions', { model: 'garbage', stream: true, messages: [{ role: 'user', content: 'x' }] });
    expect(await sseData(s)).toEqual(['{not json', '[DONE]']);
  });
});
