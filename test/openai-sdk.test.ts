import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { readChatStream } from './helpers/chat-stream.js';

const UPSTREAM_KEY = 'sk-upstream-secret-0123456789';

let upstream: OpenAIUpstream;
let hub: TestHub;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ apiKey: UPSTREAM_KEY, slowFirstByteMs: 1500 });
  hub = await startTestHub(
    `
providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: \${LOOP_KEY}
    models: [gpt-test, tools, reasoner]
    embeddingModels: [embed-small]
    timeoutMs: 500
models:
  chat:
    provider: loop
    model: gpt-test
aliases:
  fast: loop/gpt-test
server:
  maxBodyBytes: 65536
`,
    { LOOP_KEY: UPSTREAM_KEY },
  );
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'unused-for-now', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

function lastUpstreamBody(): Record<string, any> {
  return upstream.requests[upstream.requests.length - 1]!.body;
}

async function post(body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  return { status: res.status, body: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } } };
}

describe('chat completions through the official openai SDK', () => {
  it('answers a plain chat with exact text, usage and finish reason', async () => {
    const r = await client.chat.completions.create({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi there' }] });
    expect(r.choices[0]!.message.content).toBe('Hello from gpt-test! You said: hi there');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 });
    expect(lastUpstreamBody().model).toBe('gpt-test');
    expect(upstream.requests.at(-1)!.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`);
  });

  it('resolves config model names and aliases to the upstream model', async () => {
    for (const name of ['chat', 'fast']) {
      const r = await client.chat.completions.create({ model: name, messages: [{ role: 'user', content: 'x' }] });
      expect(r.choices[0]!.message.content).toBe('Hello from gpt-test! You said: x');
      expect(lastUpstreamBody().model).toBe('gpt-test');
    }
  });

  it('streams text, asks the upstream for usage, and strips the usage chunk the client did not ask for', async () => {
    const stream = await client.chat.completions.create({
      model: 'loop/gpt-test',
      messages: [{ role: 'user', content: 'stream please' }],
      stream: true,
    });
    let text = '';
    let chunks = 0;
    let finish: string | null = null;
    for await (const c of stream) {
      chunks++;
      expect(c.choices.length).toBeGreaterThan(0); // no usage-only chunk
      text += c.choices[0]!.delta.content ?? '';
      finish = c.choices[0]!.finish_reason ?? finish;
    }
    expect(text).toBe('Hello from gpt-test! You said: stream please');
    expect(chunks).toBeGreaterThan(3);
    expect(finish).toBe('stop');
    expect(lastUpstreamBody().stream_options).toEqual({ include_usage: true });
  });

  it('streams the usage chunk when the client asks for it', async () => {
    const stream = await client.chat.completions.create({
      model: 'loop/gpt-test',
      messages: [{ role: 'user', content: 'u' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const c of stream) if (c.usage) usage = c.usage;
    expect(usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 });
  });

  it('streams parallel tool calls with ids, names and arguments intact and in order', async () => {
    const stream = await client.chat.completions.create({
      model: 'loop/tools',
      messages: [{ role: 'user', content: 'weather and time in Paris?' }],
      tools: [
        { type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } },
        { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { timezone: { type: 'string' } } } } },
      ],
      parallel_tool_calls: true,
      tool_choice: 'auto',
      stream: true,
    });
    const calls: { id: string; name: string; args: string }[] = [];
    let finish: string | null = null;
    for await (const c of stream) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) {
        calls[t.index] ??= { id: '', name: '', args: '' };
        const call = calls[t.index]!;
        if (t.id) call.id = t.id;
        if (t.function?.name) call.name += t.function.name;
        call.args += t.function?.arguments ?? '';
      }
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(calls).toEqual([
      { id: 'call_weather_1', name: 'get_weather', args: '{"city":"Paris","unit":"celsius"}' },
      { id: 'call_time_2', name: 'get_time', args: '{"timezone":"Europe/Paris"}' },
    ]);
    expect(finish).toBe('tool_calls');
    expect(lastUpstreamBody().tools).toHaveLength(2);
    expect(lastUpstreamBody().parallel_tool_calls).toBe(true);
    expect(lastUpstreamBody().tool_choice).toBe('auto');
  });

  it('returns parallel tool calls without streaming, and answers the tool-result turn', async () => {
    const r = await client.chat.completions.create({
      model: 'loop/tools',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const msg = r.choices[0]!.message;
    expect(r.choices[0]!.finish_reason).toBe('tool_calls');
    expect(msg.tool_calls?.map((t) => t.type === 'function' && [t.id, t.function.name, JSON.parse(t.function.arguments)])).toEqual([
      ['call_weather_1', 'get_weather', { city: 'Paris', unit: 'celsius' }],
      ['call_time_2', 'get_time', { timezone: 'Europe/Paris' }],
    ]);
    expect(lastUpstreamBody().tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });

    const follow = await client.chat.completions.create({
      model: 'loop/tools',
      messages: [
        { role: 'user', content: 'weather?' },
        msg as OpenAI.ChatCompletionAssistantMessageParam,
        { role: 'tool', tool_call_id: 'call_weather_1', content: '{"temp":18}' },
        { role: 'tool', tool_call_id: 'call_time_2', content: '{"time":"12:00"}' },
      ],
    });
    expect(follow.choices[0]!.message.content).toBe('The weather in Paris is 18°C.');
    expect(follow.usage?.total_tokens).toBe(70);
    expect(lastUpstreamBody().messages[1].tool_calls).toHaveLength(2);
  });

  it('carries reasoning_content in stream deltas and normalizes cached and reasoning token counts', async () => {
    const stream = await client.chat.completions.create({
      model: 'loop/reasoner',
      messages: [{ role: 'user', content: 'think' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let reasoning = '';
    let text = '';
    let usage: any;
    for await (const c of stream) {
      const d = c.choices[0]?.delta as { reasoning_content?: string; content?: string } | undefined;
      reasoning += d?.reasoning_content ?? '';
      text += d?.content ?? '';
      if (c.usage) usage = c.usage;
    }
    expect(reasoning).toBe('Let me think step by step.');
    expect(text).toBe('The answer is 42.');
    expect(usage.prompt_tokens).toBe(30);
    expect(usage.completion_tokens).toBe(50);
    expect(usage.prompt_tokens_details.cached_tokens).toBe(10);
    expect(usage.completion_tokens_details.reasoning_tokens).toBe(35);
  });

  it('passes reasoning_content of an assistant turn with tool calls back upstream', async () => {
    await client.chat.completions.create({
      model: 'loop/reasoner',
      messages: [
        { role: 'user', content: 'q' },
        {
          role: 'assistant',
          content: null,
          reasoning_content: 'I should call the tool.',
          tool_calls: [{ id: 'c1', type: 'function', function: { name: 'f', arguments: '{}' } }],
        } as OpenAI.ChatCompletionAssistantMessageParam,
        { role: 'tool', tool_call_id: 'c1', content: 'ok' },
      ],
    });
    expect(lastUpstreamBody().messages[1].reasoning_content).toBe('I should call the tool.');
  });

  it('returns json_schema output and passes response_format through', async () => {
    const format = {
      type: 'json_schema' as const,
      json_schema: { name: 'person', strict: true, schema: { type: 'object', properties: { name: { type: 'string' }, born: { type: 'integer' } }, required: ['name', 'born'], additionalProperties: false } },
    };
    const r = await client.chat.completions.create({ model: 'loop/json', messages: [{ role: 'user', content: 'who?' }], response_format: format });
    expect(JSON.parse(r.choices[0]!.message.content!)).toEqual({ name: 'Ada Lovelace', born: 1815 });
    expect(lastUpstreamBody().response_format).toEqual(format);
  });

  it('passes every standard parameter through unchanged', async () => {
    const params = {
      n: 2,
      stop: ['\n\n', 'END'],
      seed: 7,
      logprobs: true,
      top_logprobs: 2,
      max_completion_tokens: 100,
      max_tokens: 90,
      temperature: 0.3,
      top_p: 0.9,
      presence_penalty: 0.1,
      frequency_penalty: 0.2,
      user: 'user-42',
      metadata: { team: 'a' },
    };
    const r = await client.chat.completions.create({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'p' }], ...params });
    expect(lastUpstreamBody()).toMatchObject(params);
    expect(r.choices.map((c) => c.message.content)).toEqual([
      'Hello from gpt-test! You said: p (#0)',
      'Hello from gpt-test! You said: p (#1)',
    ]);
    expect(r.choices[0]!.logprobs?.content?.length).toBeGreaterThan(0);
    expect(r.usage?.completion_tokens).toBe(18);
  });

  it('creates embeddings (the SDK asks for base64 and decodes it)', async () => {
    const r = await client.embeddings.create({ model: 'loop/embed-small', input: ['alpha beta', 'gamma'] });
    expect(r.data).toHaveLength(2);
    expect(r.data[0]!.embedding).toHaveLength(8);
    expect(r.data[0]!.embedding.every((x) => Number.isFinite(x))).toBe(true);
    expect(r.usage.prompt_tokens).toBe(3);
    const direct = await client.embeddings.create({ model: 'loop/embed-small', input: 'gamma', encoding_format: 'float' });
    // float32 on the base64 path, float64 on the float path: equal to float32 precision
    direct.data[0]!.embedding.forEach((x, i) => expect(x).toBeCloseTo(r.data[1]!.embedding[i]!, 6));
  });

  it('lists models and looks one up, slashes included', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['chat', 'fast', 'loop/gpt-test', 'loop/tools', 'loop/embed-small']));
    const m = await client.models.retrieve('loop/gpt-test');
    expect(m).toMatchObject({ id: 'loop/gpt-test', object: 'model', owned_by: 'loop' });
    await expect(client.models.retrieve('nope/x')).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('errors surface as the SDK error class a client expects', () => {
  it('unknown model: 404 NotFoundError naming close matches', async () => {
    const err = await client.chat.completions.create({ model: 'lop/gpt-test', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.status).toBe(404);
    expect(err.message).toContain("'loop/gpt-test'");
    expect(err.code).toBe('model_not_found');
  });

  it('a model the upstream does not know: its 404 passes through', async () => {
    const err = await client.chat.completions.create({ model: 'loop/error-404', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err.message).toContain('does not exist or you do not have access to it');
  });

  it('upstream 400 passes through with the provider message', async () => {
    const err = await client.chat.completions.create({ model: 'loop/error-400', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toContain("Invalid value for 'temperature': must be <= 2.");
    expect(err.param).toBe('temperature');
  });

  it("an upstream 401 is a 502 that names the provider's key, not the client's, without leaking it", async () => {
    const err = await client.chat.completions.create({ model: 'loop/error-401', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    // Not an AuthenticationError: the client's own key is fine (issue 16, section 6).
    expect(err).not.toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(502);
    expect(err.code).toBe('upstream_authentication_failed');
    expect(err.message).toContain("The upstream provider 'loop' rejected the hub's credential for it (HTTP 401)");
    expect(err.message).toContain("check the API key configured for 'loop'");
    expect(JSON.stringify(err.error)).not.toContain(UPSTREAM_KEY);
  });

  it('upstream 429 passes through with Retry-After', async () => {
    const err = await client.chat.completions.create({ model: 'loop/error-429', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.headers.get('retry-after')).toBe('7');
  });

  it('upstream 500 and 503 become 502', async () => {
    for (const model of ['loop/error-500', 'loop/error-503']) {
      const err = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.InternalServerError);
      expect(err.status).toBe(502);
      expect(err.message).toMatch(/Upstream loop failed \(50[03]\)/);
    }
  });

  it('a slow upstream becomes 504', async () => {
    const err = await client.chat.completions.create({ model: 'loop/slow', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect(err.status).toBe(504);
  });

  it('an upstream answering garbage becomes 502, streaming or not', async () => {
    const err = await client.chat.completions.create({ model: 'loop/garbage', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.message).toContain('not valid JSON');
    // Garbage as the first stream event is caught before any byte reaches the client: a 502 too.
    const streamErr = await client.chat.completions.create({ model: 'loop/garbage', messages: [{ role: 'user', content: 'x' }], stream: true }).catch((e) => e);
    expect(streamErr).toBeInstanceOf(OpenAI.InternalServerError);
    expect(streamErr.status).toBe(502);
    expect(streamErr.message).toContain('not valid JSON');
  });

  it('a stream cut mid-way ends with a clear error after the text that did arrive', async () => {
    const stream = await client.chat.completions.create({ model: 'loop/cut', messages: [{ role: 'user', content: 'x' }], stream: true });
    const { text, err } = await readChatStream(stream);
    expect(text).toBe('Partial answer');
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.message).toMatch(/ended the stream before it was complete|connection closed mid-stream/);
  });

  it('a client that disconnects aborts the upstream request', async () => {
    const before = upstream.aborted();
    const controller = new AbortController();
    const pending = client.chat.completions.create({ model: 'loop/hang', messages: [{ role: 'user', content: 'x' }] }, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 150));
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(OpenAI.APIUserAbortError);
    await expect.poll(() => upstream.aborted(), { timeout: 3000 }).toBe(before + 1);
  });

  it('a client that leaves a stream mid-way aborts the upstream stream', async () => {
    const before = upstream.aborted();
    const stream = await client.chat.completions.create({ model: 'loop/slow-stream', messages: [{ role: 'user', content: 'a long story' }], stream: true });
    let n = 0;
    for await (const _ of stream) if (++n === 2) break;
    await expect.poll(() => upstream.aborted(), { timeout: 3000 }).toBe(before + 1);
    // No usage ever arrived: the hub counted what was sent and what the client received.
    await expect.poll(() => hub.store.recentUsage(1)[0]?.model, { timeout: 3000 }).toBe('loop/slow-stream');
    const row = hub.store.recentUsage(1)[0]!;
    expect(row).toMatchObject({ usage_counted: 1, error_kind: 'canceled' });
    expect(row.input_tokens).toBeGreaterThan(0);
    expect(row.output_tokens).toBeGreaterThan(0);
  });
});

describe('bad input over plain HTTP', () => {
  it('malformed JSON: 400 in OpenAI error shape', async () => {
    const r = await post('{"model": "chat", "messages": [');
    expect(r.status).toBe(400);
    expect(r.body.error.type).toBe('invalid_request_error');
    expect(r.body.error.message).toMatch(/not valid JSON/);
  });

  it('schema violations: 400 naming the field', async () => {
    const cases: [unknown, string][] = [
      [{ messages: [{ role: 'user', content: 'x' }] }, 'model'],
      [{ model: 'chat', messages: [] }, 'messages'],
      [{ model: 'chat', messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
      [{ model: 'chat', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' }, 'temperature'],
      [{ model: 'chat', messages: [{ role: 'user', content: 'x' }], n: 0 }, 'n'],
      [{ model: 'chat', messages: [{ role: 'tool', content: 'x' }] }, 'messages[0].tool_call_id'],
      [{ model: 'chat', messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: { name: 'bad name!' } }] }, 'tools[0].function.name'],
    ];
    for (const [body, param] of cases) {
      const r = await post(JSON.stringify(body));
      expect(r.status, param).toBe(400);
      expect(r.body.error.param, param).toBe(param);
      expect(r.body.error.message).toContain(`'${param}'`);
    }
  });

  it('oversized body: 413', async () => {
    const big = JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] });
    const r = await post(big);
    expect(r.status).toBe(413);
    expect(r.body.error.message).toContain('65536');
  });

  it('unknown route: 404; wrong method: 405; health: 200', async () => {
    expect((await fetch(`${hub.url}/v1/nope`)).status).toBe(404);
    expect((await fetch(`${hub.url}/v1/chat/completions`)).status).toBe(405);
    const h = await fetch(`${hub.url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
  });
});

describe('usage records', () => {
  it('records every request, failures included, with normalized token counts', async () => {
    const marker = `rec-${Date.now()}`;
    await client.chat.completions.create({ model: 'loop/reasoner', messages: [{ role: 'user', content: marker }] });
    await client.chat.completions.create({ model: 'loop/error-500', messages: [{ role: 'user', content: marker }] }).catch(() => {});
    await post(JSON.stringify({ model: marker, messages: 'nope' }));
    await expect.poll(() => hub.store.recentUsage(1)[0]?.model, { timeout: 3000 }).toBe(marker);
    const [bad, failed, failedFirstAttempt, ok] = hub.store.recentUsage(4);
    expect(ok).toMatchObject({ model: 'loop/reasoner', provider: 'loop', upstream_model: 'reasoner', status: 200, attempt: 1, final: 1, input_tokens: 30, output_tokens: 50, cached_input_tokens: 10, reasoning_tokens: 35 });
    // A 500 is retried once on a provider/model name: one record per attempt, the last one final.
    expect(failed).toMatchObject({ model: 'loop/error-500', status: 502, error_kind: 'upstream', attempt: 2, final: 1 });
    expect(failedFirstAttempt).toMatchObject({ model: 'loop/error-500', status: 502, error_kind: 'upstream', attempt: 1, final: 0, deployment: 'loop/error-500' });
    expect(bad).toMatchObject({ model: marker, status: 400, error_kind: 'bad_request' });
  });
});
