/**
 * Every client format × every upstream format × stream or not × each kind of exchange. Each cell
 * asserts the exact text, tool names and argument JSON, the finish reason and the usage numbers,
 * which the loopback upstreams script identically (test/upstreams/SCENARIOS.md).
 */
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import { UPSTREAM_KINDS, startKindUpstreams } from './helpers/upstream-kinds.js';
import type { KindUpstreams } from './helpers/upstream-kinds.js';

type Case = 'text' | 'tools' | 'tool-result' | 'reasoning' | 'image';
const CASES: Case[] = ['text', 'tools', 'tool-result', 'reasoning', 'image'];

/** What a client saw, in terms both SDKs can be reduced to. */
interface Seen {
  text: string;
  reasoning: string;
  calls: { name: string; args: unknown }[];
  finish: 'stop' | 'tool_calls' | string;
  usage: { input: number; output: number; cached: number };
}

const PNG_1PX = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const TOOL_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  type: 'object',
  properties: { city: { type: 'string', description: 'City name' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
  required: ['city'],
  additionalProperties: false,
};
const TIME_SCHEMA = { type: 'object', properties: { timezone: { type: 'string' } }, required: ['timezone'], additionalProperties: false };

const EXPECTED: Record<Case, Omit<Seen, 'reasoning'> & { reasoning?: string }> = {
  text: { text: 'Hello from gpt-test! You said: hi there', calls: [], finish: 'stop', usage: { input: 12, output: 9, cached: 0 } },
  tools: {
    text: '',
    calls: [
      { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } },
      { name: 'get_time', args: { timezone: 'Europe/Paris' } },
    ],
    finish: 'tool_calls',
    usage: { input: 40, output: 20, cached: 0 },
  },
  'tool-result': { text: 'The weather in Paris is 18°C.', calls: [], finish: 'stop', usage: { input: 60, output: 10, cached: 0 } },
  reasoning: { text: 'The answer is 42.', reasoning: 'Let me think step by step.', calls: [], finish: 'stop', usage: { input: 30, output: 50, cached: 10 } },
  image: { text: 'I see 1 image(s).', calls: [], finish: 'stop', usage: { input: 12, output: 9, cached: 0 } },
};

// ---------------------------------------------------------------- openai SDK client ---

function openAIRequest(c: Case, model: string): OpenAI.ChatCompletionCreateParamsNonStreaming {
  const tools: OpenAI.ChatCompletionTool[] = [
    { type: 'function', function: { name: 'get_weather', description: 'Weather for a city', parameters: TOOL_SCHEMA } },
    { type: 'function', function: { name: 'get_time', parameters: TIME_SCHEMA } },
  ];
  switch (c) {
    case 'text':
      return { model: `${model}/gpt-test`, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi there' }] };
    case 'tools':
      return { model: `${model}/tools`, messages: [{ role: 'user', content: 'Weather and time in Paris?' }], tools, parallel_tool_calls: true };
    case 'tool-result':
      return {
        model: `${model}/tools`,
        tools,
        messages: [
          { role: 'user', content: 'Weather and time in Paris?' },
          {
            role: 'assistant',
            content: null,
            reasoning_content: 'I need both tools.',
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' } },
              { id: 'call_2', type: 'function', function: { name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' } },
            ],
          } as OpenAI.ChatCompletionAssistantMessageParam,
          { role: 'tool', tool_call_id: 'call_1', content: '{"temperature":18}' },
          { role: 'tool', tool_call_id: 'call_2', content: '{"time":"12:00"}' },
        ],
      };
    case 'reasoning':
      return { model: `${model}/reasoner`, messages: [{ role: 'user', content: 'What is six times seven?' }], reasoning_effort: 'low' };
    case 'image':
      return {
        model: `${model}/vision`,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG_1PX}` } }] }],
      };
  }
}

async function viaOpenAI(client: OpenAI, c: Case, model: string, stream: boolean): Promise<Seen> {
  const params = openAIRequest(c, model);
  if (!stream) {
    const r = await client.chat.completions.create(params);
    const m = r.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    return {
      text: m.content ?? '',
      reasoning: m.reasoning_content ?? '',
      calls: (m.tool_calls ?? []).map((t) => (t.type === 'function' ? { name: t.function.name, args: JSON.parse(t.function.arguments) } : { name: '?', args: null })),
      finish: r.choices[0]!.finish_reason,
      usage: { input: r.usage!.prompt_tokens, output: r.usage!.completion_tokens, cached: r.usage!.prompt_tokens_details?.cached_tokens ?? 0 },
    };
  }
  const s = await client.chat.completions.create({ ...params, stream: true, stream_options: { include_usage: true } });
  const seen: Seen = { text: '', reasoning: '', calls: [], finish: '', usage: { input: -1, output: -1, cached: 0 } };
  const raw: { name: string; args: string }[] = [];
  let usageChunks = 0;
  for await (const chunk of s) {
    const ch = chunk.choices[0];
    if (ch) {
      const d = ch.delta as typeof ch.delta & { reasoning_content?: string | null };
      seen.text += d.content ?? '';
      seen.reasoning += d.reasoning_content ?? '';
      for (const t of d.tool_calls ?? []) {
        raw[t.index] ??= { name: '', args: '' };
        raw[t.index]!.name += t.function?.name ?? '';
        raw[t.index]!.args += t.function?.arguments ?? '';
      }
      if (ch.finish_reason) seen.finish = ch.finish_reason;
    }
    if (chunk.usage) {
      usageChunks++;
      seen.usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens, cached: chunk.usage.prompt_tokens_details?.cached_tokens ?? 0 };
    }
  }
  expect(usageChunks, 'exactly one usage chunk').toBe(1);
  seen.calls = raw.map((r) => ({ name: r.name, args: JSON.parse(r.args) }));
  return seen;
}

// ------------------------------------------------------------- anthropic SDK client ---

function anthropicRequest(c: Case, model: string): Anthropic.MessageCreateParamsNonStreaming {
  const tools: Anthropic.Tool[] = [
    { name: 'get_weather', description: 'Weather for a city', input_schema: TOOL_SCHEMA as Anthropic.Tool.InputSchema },
    { name: 'get_time', input_schema: TIME_SCHEMA as Anthropic.Tool.InputSchema },
  ];
  const base = { max_tokens: 1024 };
  switch (c) {
    case 'text':
      return { ...base, model: `${model}/gpt-test`, system: 'Be brief.', messages: [{ role: 'user', content: 'hi there' }] };
    case 'tools':
      return { ...base, model: `${model}/tools`, tools, messages: [{ role: 'user', content: 'Weather and time in Paris?' }] };
    case 'tool-result':
      return {
        ...base,
        model: `${model}/tools`,
        tools,
        messages: [
          { role: 'user', content: 'Weather and time in Paris?' },
          {
            role: 'assistant',
            content: [
              { type: 'thinking', thinking: 'I need both tools.', signature: 'sig-client-1' },
              { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
              { type: 'tool_use', id: 'toolu_2', name: 'get_time', input: { timezone: 'Europe/Paris' } },
            ],
          },
          {
            role: 'user',
            content: [
              { type: 'tool_result', tool_use_id: 'toolu_1', content: '{"temperature":18}' },
              { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: '{"time":"12:00"}' }] },
            ],
          },
        ],
      };
    case 'reasoning':
      return { max_tokens: 4096, model: `${model}/reasoner`, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'What is six times seven?' }] };
    case 'image':
      return {
        ...base,
        model: `${model}/vision`,
        messages: [{ role: 'user', content: [{ type: 'text', text: 'What is this?' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG_1PX } }] }],
      };
  }
}

function fromMessage(m: Anthropic.Message): Seen {
  let text = '';
  let reasoning = '';
  const calls: Seen['calls'] = [];
  for (const b of m.content) {
    if (b.type === 'text') text += b.text;
    else if (b.type === 'thinking') reasoning += b.thinking;
    else if (b.type === 'tool_use') calls.push({ name: b.name, args: b.input });
  }
  const u = m.usage;
  return {
    text,
    reasoning,
    calls,
    finish: m.stop_reason === 'end_turn' ? 'stop' : m.stop_reason === 'tool_use' ? 'tool_calls' : String(m.stop_reason),
    usage: { input: u.input_tokens + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0), output: u.output_tokens, cached: u.cache_read_input_tokens ?? 0 },
  };
}

async function viaAnthropic(client: Anthropic, c: Case, model: string, stream: boolean): Promise<Seen> {
  const params = anthropicRequest(c, model);
  if (!stream) return fromMessage(await client.messages.create(params));
  const s = client.messages.stream(params);
  const events: Anthropic.RawMessageStreamEvent[] = [];
  s.on('streamEvent', (e) => events.push(e));
  const seen = fromMessage(await s.finalMessage());
  // The wire shape Anthropic clients rely on: one block per tool call, opened with id and name,
  // arguments only as input_json_delta, blocks in order and closed before the next opens.
  expect(events[0]?.type).toBe('message_start');
  expect(events.at(-1)?.type).toBe('message_stop');
  const starts = events.filter((e): e is Anthropic.RawContentBlockStartEvent => e.type === 'content_block_start');
  starts.forEach((e, i) => expect(e.index).toBe(i));
  const toolStarts = starts.filter((e) => e.content_block.type === 'tool_use');
  expect(toolStarts.map((e) => (e.content_block as Anthropic.ToolUseBlock).name)).toEqual(seen.calls.map((x) => x.name));
  for (const t of toolStarts) expect((t.content_block as Anthropic.ToolUseBlock).id).toMatch(/\S/);
  let open = -1;
  for (const e of events) {
    if (e.type === 'content_block_start') {
      expect(open, 'a block opened before the previous one closed').toBe(-1);
      open = e.index;
    } else if (e.type === 'content_block_stop') {
      expect(e.index).toBe(open);
      open = -1;
    } else if (e.type === 'content_block_delta') expect(e.index).toBe(open);
  }
  expect(events.filter((e) => e.type === 'message_delta')).toHaveLength(1);
  return seen;
}

// ------------------------------------------------------------------------- matrix ---

let hub: TestHub;
let upstreams: KindUpstreams;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  upstreams = await startKindUpstreams();
  hub = await startTestHub(upstreams.yaml);
  openai = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: hub.url, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstreams?.close();
});

const CLIENTS = { openai: viaOpenAI, anthropic: viaAnthropic } as const;

describe.each(Object.keys(CLIENTS) as (keyof typeof CLIENTS)[])('%s SDK', (clientName) => {
  describe.each(UPSTREAM_KINDS.map((k) => k.kind))('→ %s upstream', (kind) => {
    describe.each(['non-stream', 'stream'])('%s', (mode) => {
      it.each(CASES)('%s', async (c) => {
        const run = CLIENTS[clientName] as (client: OpenAI | Anthropic, c: Case, model: string, stream: boolean) => Promise<Seen>;
        const seen = await run(clientName === 'openai' ? openai : anthropic, c, `${kind}-up`, mode === 'stream');
        const want = EXPECTED[c];
        expect(seen.text).toBe(want.text);
        expect(seen.calls).toEqual(want.calls);
        expect(seen.finish).toBe(want.finish);
        expect(seen.usage).toEqual(want.usage);
        if (want.reasoning) expect(seen.reasoning).toBe(want.reasoning);
        if (c === 'tool-result') {
          const sent = upstreams.byKind[kind]!.requests.at(-1)!.body;
          UPSTREAM_KINDS.find((k) => k.kind === kind)!.checkReasoningSentBack(sent, clientName);
        }
      });
    });
  });
});
