/**
 * The Responses API to every upstream format, driven by the official openai SDK's
 * responses.create / responses.stream: exact text, tool names and argument JSON, usage.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { UPSTREAM_KINDS, startKindUpstreams } from './helpers/upstream-kinds.js';
import type { KindUpstreams } from './helpers/upstream-kinds.js';

let hub: TestHub;
let client: OpenAI;
let upstreams: KindUpstreams;

beforeAll(async () => {
  upstreams = await startKindUpstreams();
  hub = await startTestHub(upstreams.yaml);
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstreams?.close();
});

const TOOLS: OpenAI.Responses.FunctionTool[] = [
  { type: 'function', name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'], additionalProperties: false }, strict: false },
  { type: 'function', name: 'get_time', parameters: { type: 'object', properties: { timezone: { type: 'string' } }, additionalProperties: false }, strict: false },
];

function summary(r: OpenAI.Responses.Response) {
  const calls = r.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
  const reasoning = r.output.filter((o): o is OpenAI.Responses.ResponseReasoningItem => o.type === 'reasoning').flatMap((o) => o.summary.map((s) => s.text)).join('');
  return { text: r.output_text, calls: calls.map((c) => ({ name: c.name, args: JSON.parse(c.arguments), call_id: c.call_id })), reasoning, usage: r.usage, status: r.status };
}

async function run(params: OpenAI.Responses.ResponseCreateParamsNonStreaming, stream: boolean) {
  if (!stream) return summary(await client.responses.create(params));
  const s = client.responses.stream({ ...params, stream: undefined } as Parameters<typeof client.responses.stream>[0]);
  const types: string[] = [];
  s.on('event', (e) => types.push(e.type));
  const r = summary(await s.finalResponse());
  expect(types[0]).toBe('response.created');
  expect(types.at(-1)).toMatch(/^response\.(completed|incomplete)$/);
  return { ...r, types };
}

describe.each(UPSTREAM_KINDS.map((k) => k.kind))('Responses API → %s upstream', (kind) => {
  const m = (name: string) => `${kind}-up/${name}`;

  describe.each([false, true])('stream=%s', (stream) => {
    it('text', async () => {
      const r = await run({ model: m('gpt-test'), input: 'hi there', instructions: 'Be brief.' }, stream);
      expect(r.text).toBe('Hello from gpt-test! You said: hi there');
      expect(r.usage).toMatchObject({ input_tokens: 12, output_tokens: 9, total_tokens: 21 });
    });

    it('parallel tool calls with split arguments, then the tool results via previous_response_id', async () => {
      const first = stream
        ? await client.responses.stream({ model: m('tools'), input: 'Weather and time in Paris?', tools: TOOLS, parallel_tool_calls: true }).finalResponse()
        : await client.responses.create({ model: m('tools'), input: 'Weather and time in Paris?', tools: TOOLS, parallel_tool_calls: true });
      const s = summary(first);
      expect(s.calls.map(({ name, args }) => ({ name, args }))).toEqual([
        { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } },
        { name: 'get_time', args: { timezone: 'Europe/Paris' } },
      ]);
      expect(s.usage).toMatchObject({ input_tokens: 40, output_tokens: 20 });
      const second = await run(
        {
          model: m('tools'),
          previous_response_id: first.id,
          tools: TOOLS,
          input: s.calls.map((c) => ({ type: 'function_call_output' as const, call_id: c.call_id, output: c.name === 'get_weather' ? '{"temp":18}' : '{"time":"12:00"}' })),
        },
        stream,
      );
      expect(second.text).toBe('The weather in Paris is 18°C.');
      expect(second.usage).toMatchObject({ input_tokens: 60, output_tokens: 10 });
    });

    it('reasoning items', async () => {
      const r = await run({ model: m('reasoner'), input: 'What is six times seven?', reasoning: { effort: 'low', summary: 'auto' } }, stream);
      expect(r.reasoning).toBe('Let me think step by step.');
      expect(r.text).toBe('The answer is 42.');
      expect(r.usage).toMatchObject({ input_tokens: 30, output_tokens: 50, input_tokens_details: { cached_tokens: 10 } });
    });
  });

  it('a forced named tool reaches the upstream in its own form', async () => {
    const r = await client.responses.create({ model: m('tools'), input: 'weather?', tools: TOOLS, tool_choice: { type: 'function', name: 'get_weather' } });
    expect(summary(r).calls.length).toBeGreaterThan(0);
    const sent = upstreams.byKind[kind]!.requests.at(-1)!.body;
    if (kind === 'openai') expect(sent.tool_choice).toEqual({ type: 'function', function: { name: 'get_weather' } });
    if (kind === 'anthropic') expect(sent.tool_choice).toMatchObject({ type: 'tool', name: 'get_weather' });
    if (kind === 'gemini') expect(sent.toolConfig.functionCallingConfig).toMatchObject({ mode: 'ANY', allowedFunctionNames: ['get_weather'] });
  });

  it('json_schema output format reaches the upstream', async () => {
    const r = await client.responses.create({
      model: m('json'),
      input: 'who?',
      text: { format: { type: 'json_schema', name: 'person', schema: { type: 'object', properties: { name: { type: 'string' }, born: { type: 'integer' } }, required: ['name', 'born'], additionalProperties: false }, strict: true } },
    });
    const sent = upstreams.byKind[kind]!.requests.at(-1)!.body;
    if (kind === 'openai') {
      expect(JSON.parse(r.output_text)).toEqual({ name: 'Ada Lovelace', born: 1815 });
      expect(sent.response_format.type).toBe('json_schema');
    }
    if (kind === 'gemini') expect(sent.generationConfig.responseMimeType).toBe('application/json');
    if (kind === 'anthropic') expect(r.status).toBe('completed');
  });

  it('errors surface as the SDK error classes', async () => {
    await expect(client.responses.create({ model: m('error-429'), input: 'x' })).rejects.toBeInstanceOf(OpenAI.RateLimitError);
    await expect(client.responses.create({ model: 'nope/x', input: 'x' })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('stored responses', () => {
  it('GET and DELETE /v1/responses/{id}; store: false keeps nothing', async () => {
    const r = await client.responses.create({ model: 'openai-up/gpt-test', input: 'keep me' });
    const again = await client.responses.retrieve(r.id);
    expect(again.output_text).toBe('Hello from gpt-test! You said: keep me');
    await client.responses.delete(r.id);
    await expect(client.responses.retrieve(r.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    const transient = await client.responses.create({ model: 'openai-up/gpt-test', input: 'forget me', store: false });
    await expect(client.responses.retrieve(transient.id)).rejects.toBeInstanceOf(OpenAI.NotFoundError);
    await expect(client.responses.create({ model: 'openai-up/gpt-test', input: 'x', previous_response_id: transient.id })).rejects.toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('a stream that fails mid-way raises in the SDK after the text that arrived', async () => {
    const s = client.responses.stream({ model: 'openai-up/cut', input: 'x' });
    let text = '';
    s.on('response.output_text.delta', (e) => (text += e.delta));
    await expect(s.finalResponse()).rejects.toBeInstanceOf(OpenAI.APIError);
    expect(text).toBe('Partial answer');
  });
});

describe('an upstream that speaks the Responses API itself', () => {
  it('gets Responses requests relayed as they are, stream and not, with its own conversation state', async () => {
    // Another hub stands in for a Responses-native provider such as OpenAI.
    const { startOpenAIUpstream } = await import('./upstreams/openai.js');
    const loop = await startOpenAIUpstream();
    const native = await startTestHub(`providers:\n  loop: { baseURL: ${loop.baseURL} }\n`);
    const front = await startTestHub(`providers:\n  native: { baseURL: ${native.url}/v1, responsesAPI: true }\n`);
    try {
      const c = new OpenAI({ baseURL: `${front.url}/v1`, apiKey: 'x', maxRetries: 0 });
      const r = await c.responses.create({ model: 'native/loop/tools', input: 'weather?', tools: TOOLS });
      const calls = r.output.filter((o): o is OpenAI.Responses.ResponseFunctionToolCall => o.type === 'function_call');
      expect(calls.map((x) => x.name)).toEqual(['get_weather', 'get_time']);
      // The follow-up names a response only the upstream knows: it is passed on untouched.
      const s = c.responses.stream({
        model: 'native/loop/tools',
        previous_response_id: r.id,
        tools: TOOLS,
        input: calls.map((x) => ({ type: 'function_call_output' as const, call_id: x.call_id, output: 'ok' })),
      });
      expect((await s.finalResponse()).output_text).toBe('The weather in Paris is 18°C.');
      expect(loop.requests.map((q) => q.path)).toEqual(['/v1/chat/completions', '/v1/chat/completions']);
      await expect.poll(() => front.store.recentUsage(2).map((u) => u.input_tokens), { timeout: 3000 }).toEqual([60, 40]);
      expect(await front.store.responses.load(r.id)).toBeUndefined(); // the upstream keeps it, not the front hub
      expect(await native.store.responses.load(r.id)).toBeDefined();
      // A relayed stream's headers (sent with its first event) say which deployment answered.
      const { data: events, response } = await c.responses.create({ model: 'native/loop/tools', input: 'weather?', tools: TOOLS, stream: true }).withResponse();
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect([response.headers.get('x-baimo-provider'), response.headers.get('x-baimo-attempts')]).toEqual(['native', '1']);
      const types: string[] = [];
      for await (const e of events) types.push(e.type);
      expect([types[0], types.at(-1)]).toEqual(['response.created', 'response.completed']);
    } finally {
      await front.dispose();
      await native.dispose();
      await loop.close();
    }
  });
});
