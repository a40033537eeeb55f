import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { Collector } from '../src/core/collect.js';
import type { Collected } from '../src/core/collect.js';
import { HubError } from '../src/core/errors.js';
import type { ChatEvent, Message } from '../src/core/types.js';
import { responsesErrorBody, responsesErrorFormat, responsesStreamErrorFormat } from '../src/protocols/openai-responses/errors.js';
import { ResponsesStreamRenderer, collectedToResponse } from '../src/protocols/openai-responses/from-canonical.js';
import type { ItemPrefix } from '../src/protocols/openai-responses/from-canonical.js';
import { responsesRequest } from '../src/protocols/openai-responses/schema.js';
import type { ResponsesRequest } from '../src/protocols/openai-responses/schema.js';
import {
  REDACTED_PREFIX,
  canonicalConversation,
  responsesRequestToCanonical,
} from '../src/protocols/openai-responses/to-canonical.js';
import { validate } from '../src/protocols/validate.js';
import { chunkToEvents } from '../src/providers/openai-compatible/response.js';

const RESP_ID = 'resp_0123456789abcdef';
const CREATED = 1_760_000_000;
const NOW = () => (CREATED + 5) * 1000;

function req(body: Record<string, unknown>): ResponsesRequest {
  return validate(responsesRequest, { model: 'my-model', ...body });
}

function ids(): (prefix: ItemPrefix) => string {
  let n = 0;
  return (prefix) => `${prefix}_${n++}`;
}

function collectedOf(events: ChatEvent[]): Collected {
  const c = new Collector();
  for (const e of events) c.add(e);
  return c.result();
}

// ---------------------------------------------------------------------------------------------
// Request conversion

describe('Responses request → canonical', () => {
  it('turns a string input into one user message and maps the parameters', () => {
    const r = responsesRequestToCanonical(
      req({ input: 'Hello', instructions: 'Be brief.', max_output_tokens: 64, temperature: 0.3, top_p: 0.9, user: 'u1', store: false, include: ['reasoning.encrypted_content'] }),
      'upstream-model',
    );
    expect(r).toEqual({
      model: 'upstream-model',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
      ],
      maxTokens: 64,
      temperature: 0.3,
      topP: 0.9,
      user: 'u1',
    });
    // Responses-only fields never leak into `extra` (which OpenAI-compatible upstreams would receive).
    expect(r.extra).toBeUndefined();
  });

  it('folds parallel function calls, their reasoning and their outputs into canonical turns', () => {
    const body = req({
      instructions: 'You are a weather bot.',
      input: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'Two cities: ' }, { type: 'summary_text', text: 'call twice.' }], encrypted_content: 'EqQBCkgIARABGAIiQ+sig==' },
        { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
        { type: 'function_call', call_id: 'call_b', name: 'get_weather', arguments: '{"city":"Rome"}', status: 'completed' },
        { type: 'function_call_output', call_id: 'call_a', output: '18C' },
        { type: 'function_call_output', call_id: 'call_b', output: [{ type: 'input_text', text: '21C' }, { type: 'input_text', text: 'sunny' }] },
      ],
      tools: [{ type: 'function', name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true }],
      parallel_tool_calls: true,
    });
    const r = responsesRequestToCanonical(body, 'up');
    expect(r.messages).toEqual<Message[]>([
      { role: 'system', content: 'You are a weather bot.' },
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: '',
        reasoning: [{ type: 'reasoning', text: 'Two cities: \n\ncall twice.', providerMetadata: { openai: { signature: 'EqQBCkgIARABGAIiQ+sig==' } } }],
        toolCalls: [
          { id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { id: 'call_b', name: 'get_weather', arguments: '{"city":"Rome"}' },
        ],
      },
      { role: 'tool', toolCallId: 'call_a', content: '18C' },
      { role: 'tool', toolCallId: 'call_b', content: '21C\nsunny' },
    ]);
    expect(r.tools).toEqual([{ name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true }]);
    expect(r.parallelToolCalls).toBe(true);
  });

  it('attaches reasoning and an assistant message to the same turn as the calls that follow', () => {
    const r = responsesRequestToCanonical(
      req({
        input: [
          { type: 'message', role: 'developer', content: [{ type: 'input_text', text: 'Use tools.' }] },
          { role: 'user', content: [{ type: 'input_text', text: 'Look at this' }, { type: 'input_image', image_url: 'https://x/y.png', detail: 'low' }] },
          { type: 'reasoning', summary: [], content: [{ type: 'reasoning_text', text: 'raw chain' }], encrypted_content: null },
          { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.', annotations: [] }] },
          { type: 'function_call', call_id: 'c1', name: 'look', arguments: '{}' },
          { type: 'function_call_output', call_id: 'c1', output: 'ok' },
          { type: 'reasoning', summary: [{ type: 'summary_text', text: 'dangling' }] },
          { role: 'user', content: 'next' },
        ],
      }),
      'up',
    );
    expect(r.messages).toEqual<Message[]>([
      { role: 'system', content: 'Use tools.' },
      { role: 'user', content: [{ type: 'text', text: 'Look at this' }, { type: 'image', url: 'https://x/y.png', detail: 'low' }] },
      { role: 'assistant', content: 'Checking.', reasoning: [{ type: 'reasoning', text: 'raw chain' }], toolCalls: [{ id: 'c1', name: 'look', arguments: '{}' }] },
      { role: 'tool', toolCallId: 'c1', content: 'ok' },
      { role: 'user', content: [{ type: 'text', text: 'next' }] },
    ]);
  });

  it('maps a named tool choice, json_schema output and reasoning effort', () => {
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    const r = responsesRequestToCanonical(
      req({
        input: 'q',
        tools: [{ type: 'function', name: 'lookup', parameters: { type: 'object', properties: {} } }],
        tool_choice: { type: 'function', name: 'lookup' },
        text: { format: { type: 'json_schema', name: 'answer', schema, strict: true }, verbosity: 'low' },
        reasoning: { effort: 'high', summary: 'auto' },
      }),
      'up',
    );
    expect(r.toolChoice).toEqual({ name: 'lookup' });
    expect(r.tools).toEqual([{ name: 'lookup', parameters: { type: 'object', properties: {} } }]);
    expect(r.responseFormat).toEqual({ type: 'json_schema', name: 'answer', schema, strict: true });
    expect(r.reasoning).toEqual({ effort: 'high' });

    expect(responsesRequestToCanonical(req({ input: 'q', tool_choice: 'required' }), 'up').toolChoice).toBe('required');
    expect(responsesRequestToCanonical(req({ input: 'q', reasoning: { effort: 'xhigh' } }), 'up').reasoning).toEqual({ effort: 'high' });
    expect(responsesRequestToCanonical(req({ input: 'q', reasoning: { effort: 'none', summary: 'auto' } }), 'up').reasoning).toBeUndefined();
    expect(responsesRequestToCanonical(req({ input: 'q', reasoning: { summary: 'auto' } }), 'up').reasoning).toEqual({});
    expect(responsesRequestToCanonical(req({ input: 'q', text: { format: { type: 'json_object' } } }), 'up').responseFormat).toEqual({ type: 'json_object' });
  });

  it('prepends the previous response as history and drops its instructions', () => {
    const first = req({ instructions: 'Old instructions', input: 'Weather in Paris?', tools: [{ type: 'function', name: 'get_weather', parameters: {} }] });
    const firstCanon = responsesRequestToCanonical(first, 'up');
    const collected = collectedOf([
      { type: 'start', id: 'up-1', model: 'up' },
      { type: 'reasoning', choice: 0, text: 'Need the tool.' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { signature: 'sig-1' } } },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { redacted: 'opaque-bytes' } } },
      { type: 'tool_call', choice: 0, index: 0, id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
    ]);
    const history = canonicalConversation(firstCanon, collected, RESP_ID);
    expect(history).toEqual<Message[]>([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        content: '',
        reasoning: [
          { type: 'reasoning', text: 'Need the tool.', providerMetadata: { anthropic: { signature: 'sig-1' } } },
          { type: 'reasoning', text: '', providerMetadata: { anthropic: { redacted: 'opaque-bytes' } } },
        ],
        toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }],
      },
    ]);

    const second = req({
      previous_response_id: RESP_ID,
      instructions: 'New instructions',
      input: [{ type: 'function_call_output', call_id: 'call_1', output: '{"temp":18}' }],
    });
    const r = responsesRequestToCanonical(second, 'up', history);
    expect(r.messages).toEqual<Message[]>([{ role: 'system', content: 'New instructions' }, ...history, { role: 'tool', toolCallId: 'call_1', content: '{"temp":18}' }]);
    expect(JSON.stringify(r.messages)).not.toContain('Old instructions');
    // The second turn's own conversation keeps the whole chain, still without instructions.
    const after = canonicalConversation(r, collectedOf([{ type: 'text', choice: 0, text: '18C' }]));
    expect(after).toEqual<Message[]>([...history, { role: 'tool', toolCallId: 'call_1', content: '{"temp":18}' }, { role: 'assistant', content: '18C' }]);
  });

  it('carries signatures and redacted blocks back byte for byte through reasoning items', () => {
    const r = responsesRequestToCanonical(
      req({
        input: [
          { type: 'reasoning', summary: [{ type: 'summary_text', text: 'Thinking…' }], encrypted_content: 'ErUBCkYIBhgCIkB/+=' },
          { type: 'reasoning', summary: [], encrypted_content: `${REDACTED_PREFIX}EmwKAhgBEgy3va3pzix/LafPsn4a` },
          { type: 'function_call', call_id: 'toolu_1', name: 'f', arguments: '{}' },
        ],
      }),
      'up',
    );
    expect(r.messages).toEqual<Message[]>([
      {
        role: 'assistant',
        content: '',
        reasoning: [
          { type: 'reasoning', text: 'Thinking…', providerMetadata: { openai: { signature: 'ErUBCkYIBhgCIkB/+=' } } },
          { type: 'reasoning', text: '', providerMetadata: { anthropic: { redacted: 'EmwKAhgBEgy3va3pzix/LafPsn4a' } } },
        ],
        toolCalls: [{ id: 'toolu_1', name: 'f', arguments: '{}' }],
      },
    ]);
  });

  it('resolves item references through the caller, and refuses them otherwise', () => {
    const stored: Record<string, unknown> = { msg_9: { id: 'msg_9', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Earlier answer', annotations: [] }] } };
    const body = req({ input: [{ type: 'item_reference', id: 'msg_9' }, { role: 'user', content: 'and now?' }] });
    expect(responsesRequestToCanonical(body, 'up', [], { resolveItem: (id) => stored[id] }).messages).toEqual<Message[]>([
      { role: 'assistant', content: 'Earlier answer' },
      { role: 'user', content: [{ type: 'text', text: 'and now?' }] },
    ]);
    expect(() => responsesRequestToCanonical(req({ input: [{ id: 'msg_x' }] }), 'up')).toThrow(/input\[0\]\.id.*msg_x/);
  });

  it('leaves out hosted tools a non-native model cannot run, and rejects input it cannot take with a 400 naming the field', () => {
    // Coding agents such as Codex offer web_search and sub-agent namespaces next to their function tools.
    const body = req({ input: 'q', tools: [{ type: 'function', name: 'f', parameters: {} }, { type: 'web_search' }, { type: 'namespace', name: 'multi_agent_v1', tools: [] }] });
    expect(responsesRequestToCanonical(body, 'up').tools?.map((t) => t.name)).toEqual(['f']);
    expect(responsesRequestToCanonical(req({ input: 'q', tools: [{ type: 'file_search', vector_store_ids: ['v'] }] }), 'up').tools).toBeUndefined();
    expect(() => responsesRequestToCanonical(req({ input: [{ type: 'computer_call_output', call_id: 'c', output: {} }] }), 'up')).toThrow(/input\[0\]\.type/);
    expect(() => responsesRequestToCanonical(req({ input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'f' }] }] }), 'up')).toThrow(
      /input\[0\]\.content\[0\]\.type/,
    );
    expect(() => responsesRequestToCanonical(req({ input: 'q', tool_choice: { type: 'web_search_preview' } }), 'up')).toThrow(/tool_choice\.type/);
  });

  it('validates the request shape', () => {
    const fails = (body: Record<string, unknown>): HubError => {
      try {
        req(body);
      } catch (e) {
        return e as HubError;
      }
      throw new Error('expected a validation error');
    };
    expect(fails({ input: [{ type: 'function_call', name: 'f', arguments: '{}' }] }).param).toBe('input[0].call_id');
    expect(fails({ input: [{ type: 'function_call_output', call_id: 'c' }] }).param).toBe('input[0].output');
    expect(fails({ input: [{ role: 'robot', content: 'x' }] }).param).toBe('input[0].role');
    expect(fails({ input: 'q', text: { format: { type: 'json_schema', schema: {} } } }).param).toBe('text.format.name');
    expect(fails({ input: 'q', tools: [{ type: 'function', name: 'bad name!' }] }).param).toBe('tools[0].name');
    expect(fails({ input: 'q', reasoning: { effort: 'extreme' } }).param).toBe('reasoning.effort');
    expect(fails({ input: 'q', max_output_tokens: 0 }).param).toBe('max_output_tokens');
    expect(fails({ input: [{ role: 'user', content: [{ type: 'input_text' }] }] }).param).toBe('input[0].content[0].text');
    expect(fails({ input: [{ type: 'reasoning', summary: [{ type: 'summary_text' }] }] }).param).toBe('input[0].summary[0].text');
    expect(fails({ input: 'q', tools: [{ type: 'function' }] }).param).toBe('tools[0].name');
    expect(fails({ input: 'q', tool_choice: { type: 'function' } }).param).toBe('tool_choice.name');
    expect(fails({ input: 'q', tool_choice: 'sometimes' }).param).toBe('tool_choice');
    // Loose: fields the hub does not model pass validation.
    expect(req({ input: 'q', prompt_cache_key: 'k', stream_options: { include_obfuscation: false } }).prompt_cache_key).toBe('k');
  });
});

// ---------------------------------------------------------------------------------------------
// Stream rendering

interface WireEvent {
  event: string;
  data: Record<string, any>;
}

function parse(sse: string): WireEvent[] {
  expect(sse.endsWith('\n\n')).toBe(true);
  return sse
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const lines = block.split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]!.startsWith('event: ')).toBe(true);
      expect(lines[1]!.startsWith('data: ')).toBe(true);
      return { event: lines[0]!.slice(7), data: JSON.parse(lines[1]!.slice(6)) };
    });
}

/** Checks what every client relies on: names, numbering, and item ids that match their indexes. */
function checkConsistency(events: WireEvent[]): void {
  const itemIds: string[] = [];
  const open = new Set<number>();
  events.forEach((e, i) => {
    expect(e.data.type).toBe(e.event);
    expect(e.data.sequence_number).toBe(i);
    const d = e.data;
    if (e.event === 'response.output_item.added') {
      expect(d.output_index).toBe(itemIds.length);
      itemIds.push(d.item.id);
      open.add(d.output_index);
    } else if (e.event === 'response.output_item.done') {
      expect(d.item.id).toBe(itemIds[d.output_index]);
      expect(open.delete(d.output_index)).toBe(true);
    } else if ('item_id' in d) {
      expect(d.item_id).toBe(itemIds[d.output_index]);
      expect(open.has(d.output_index)).toBe(true);
      if ('content_index' in d) expect(d.content_index).toBe(0);
      if ('summary_index' in d) expect(d.summary_index).toBe(0);
    }
  });
  expect(open.size).toBe(0);
  const last = events[events.length - 1]!;
  expect(last.data.response.output.map((o: any) => o.id)).toEqual(itemIds);
}

function renderer(body: ResponsesRequest): ResponsesStreamRenderer {
  return new ResponsesStreamRenderer(RESP_ID, body, CREATED, { newId: ids(), now: NOW });
}

function renderAll(events: ChatEvent[], body: ResponsesRequest = req({ input: 'hi' })): { sse: string; wire: WireEvent[]; r: ResponsesStreamRenderer } {
  const r = renderer(body);
  const sse = r.start() + events.map((e) => r.render(e)).join('') + r.end();
  const wire = parse(sse);
  checkConsistency(wire);
  return { sse, wire, r };
}

/** Feeds SSE text through the official SDK, as a client of the hub would receive it. */
function sdk(sse: string, contentType = 'text/event-stream'): OpenAI {
  return new OpenAI({
    apiKey: 'test',
    baseURL: 'http://hub.invalid/v1',
    maxRetries: 0,
    fetch: async () => new Response(sse, { status: 200, headers: { 'content-type': contentType } }),
  });
}

async function sdkStream(sse: string, params: Record<string, unknown> = { model: 'my-model', input: 'hi' }) {
  const stream = sdk(sse).responses.stream(params as never);
  const types: string[] = [];
  stream.on('event', (e) => types.push(e.type));
  const final = await stream.finalResponse();
  return { final, types };
}

const USAGE = { type: 'usage', usage: { inputTokens: 120, outputTokens: 40, cachedInputTokens: 100, reasoningTokens: 25 } } as const;

describe('ResponsesStreamRenderer', () => {
  it('streams text as one message item, in the documented order', async () => {
    const { sse, wire } = renderAll([
      { type: 'start', id: 'up', model: 'up-model' },
      { type: 'text', choice: 0, text: 'Hello' },
      { type: 'text', choice: 0, text: ' world' },
      { type: 'finish', choice: 0, reason: 'stop' },
      USAGE,
    ]);
    expect(wire.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const created = wire[0]!.data.response;
    expect(created).toMatchObject({ id: RESP_ID, object: 'response', status: 'in_progress', model: 'my-model', output: [], created_at: CREATED, usage: null });
    expect(wire[2]!.data.item).toEqual({ id: 'msg_0', type: 'message', status: 'in_progress', role: 'assistant', content: [] });
    expect(wire[3]!.data.part).toEqual({ type: 'output_text', text: '', annotations: [], logprobs: [] });
    expect(wire[4]!.data).toEqual({ type: 'response.output_text.delta', item_id: 'msg_0', output_index: 0, content_index: 0, delta: 'Hello', logprobs: [], sequence_number: 4 });
    expect(wire[6]!.data.text).toBe('Hello world');
    const completed = wire[9]!.data.response;
    expect(completed.status).toBe('completed');
    expect(completed.completed_at).toBe(CREATED + 5);
    expect(completed.output).toEqual([
      { id: 'msg_0', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hello world', annotations: [], logprobs: [] }] },
    ]);
    expect(completed.usage).toEqual({
      input_tokens: 120,
      input_tokens_details: { cached_tokens: 100 },
      output_tokens: 40,
      output_tokens_details: { reasoning_tokens: 25 },
      total_tokens: 160,
    });

    const { final, types } = await sdkStream(sse);
    expect(types).toEqual(wire.map((e) => e.event));
    expect(final.output_text).toBe('Hello world');
    expect(final.status).toBe('completed');
    expect(final.id).toBe(RESP_ID);
    expect(final.usage?.input_tokens_details.cached_tokens).toBe(100);
    expect(final.usage?.output_tokens_details.reasoning_tokens).toBe(25);
  });

  it('keeps text and a tool call that arrive in the same upstream chunk as two items', async () => {
    const events = [
      ...chunkToEvents({
        choices: [{ index: 0, delta: { content: 'Let me check.', tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] } }],
      }),
      ...chunkToEvents({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: 'tool_calls' }] }),
    ];
    const { sse, wire } = renderAll(events);
    expect(wire.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(wire[8]!.data.item).toEqual({ id: 'fc_1', type: 'function_call', status: 'in_progress', arguments: '', call_id: 'call_a', name: 'get_weather' });
    expect(wire[11]!.data).toMatchObject({ item_id: 'fc_1', output_index: 1, name: 'get_weather', arguments: '{"city":"Paris"}' });

    const { final } = await sdkStream(sse);
    expect(final.output_text).toBe('Let me check.');
    expect(final.output.map((o) => o.type)).toEqual(['message', 'function_call']);
    expect(final.output[1]).toMatchObject({ type: 'function_call', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' });
  });

  it('renders two parallel calls with split argument deltas as two function_call items, in order', async () => {
    const events: ChatEvent[] = [
      { type: 'tool_call', choice: 0, index: 0, id: 'call_1', name: 'get_weather', arguments: '' },
      { type: 'tool_call', choice: 0, index: 0, arguments: '{"ci' },
      { type: 'tool_call', choice: 0, index: 0, arguments: 'ty":"Paris"}' },
      { type: 'tool_call', choice: 0, index: 1, id: 'call_2', name: 'get_time', arguments: '{"tz":' },
      { type: 'tool_call', choice: 0, index: 1, arguments: '"CET"}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
      USAGE,
    ];
    const { sse, wire, r } = renderAll(events);
    expect(wire.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const deltas = wire.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => [e.data.output_index, e.data.item_id, e.data.delta]);
    expect(deltas).toEqual([
      [0, 'fc_0', '{"ci'],
      [0, 'fc_0', 'ty":"Paris"}'],
      [1, 'fc_1', '{"tz":'],
      [1, 'fc_1', '"CET"}'],
    ]);
    const expectedOutput = [
      { id: 'fc_0', type: 'function_call', status: 'completed', arguments: '{"city":"Paris"}', call_id: 'call_1', name: 'get_weather' },
      { id: 'fc_1', type: 'function_call', status: 'completed', arguments: '{"tz":"CET"}', call_id: 'call_2', name: 'get_time' },
    ];
    expect(r.response?.output).toEqual(expectedOutput);

    const { final } = await sdkStream(sse);
    expect(final.output).toEqual(expectedOutput.map((o) => ({ ...o, parsed_arguments: null })));
    expect(final.output_text).toBe('');

    // The non-streaming answer is the same response object, item for item.
    const whole = collectedToResponse(collectedOf(events), RESP_ID, req({ input: 'hi' }), CREATED, { newId: ids(), now: NOW });
    expect(whole).toEqual(r.response);
  });

  it('gives id-less calls the ids the stored history uses, and keeps late deltas in the final response', async () => {
    const events: ChatEvent[] = [
      { type: 'tool_call', choice: 0, index: 0, name: 'a', arguments: '{"x":' },
      { type: 'tool_call', choice: 0, index: 1, name: 'b', arguments: '{}' },
      { type: 'tool_call', choice: 0, index: 0, arguments: '1}' }, // an upstream that interleaves calls
      { type: 'finish', choice: 0, reason: 'tool_calls' },
    ];
    const r = renderer(req({ input: 'hi' }));
    const sse = r.start() + events.map((e) => r.render(e)).join('') + r.end();
    const late = parse(sse).filter((e) => e.event === 'response.function_call_arguments.delta').pop()!;
    expect(late.data).toMatchObject({ item_id: 'fc_0', output_index: 0, delta: '1}' });
    const expected = [
      { id: 'fc_0', type: 'function_call', status: 'completed', arguments: '{"x":1}', call_id: 'call_0123456789abcdef_0', name: 'a' },
      { id: 'fc_1', type: 'function_call', status: 'completed', arguments: '{}', call_id: 'call_0123456789abcdef_1', name: 'b' },
    ];
    expect(r.response?.output).toEqual(expected);
    expect((await sdkStream(sse)).final.output).toEqual(expected.map((o) => ({ ...o, parsed_arguments: null })));
    const history = canonicalConversation(responsesRequestToCanonical(req({ input: 'hi' }), 'up'), collectedOf(events), RESP_ID);
    expect(history[1]).toEqual({
      role: 'assistant',
      content: '',
      toolCalls: [
        { id: 'call_0123456789abcdef_0', name: 'a', arguments: '{"x":1}' },
        { id: 'call_0123456789abcdef_1', name: 'b', arguments: '{}' },
      ],
    });
  });

  it('streams reasoning as a summary, with the signature as encrypted_content, before the answer', async () => {
    const events: ChatEvent[] = [
      { type: 'reasoning', choice: 0, text: 'The user ' },
      { type: 'reasoning', choice: 0, text: 'greets me.' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { openai: { signature: 'EqQBCkgIAR+/==' } } },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { redacted: 'opaque' } } },
      { type: 'text', choice: 0, text: 'Hi!' },
      { type: 'finish', choice: 0, reason: 'stop' },
      USAGE,
    ];
    const body = req({ input: 'hi', reasoning: { effort: 'low', summary: 'auto' }, include: ['reasoning.encrypted_content'] });
    const { sse, wire, r } = renderAll(events, body);
    expect(wire.map((e) => e.event)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.reasoning_summary_part.added',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.delta',
      'response.reasoning_summary_text.done',
      'response.reasoning_summary_part.done',
      'response.output_item.done',
      'response.output_item.added',
      'response.output_item.done',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(wire[2]!.data.item).toEqual({ id: 'rs_0', type: 'reasoning', summary: [] });
    expect(wire[3]!.data).toMatchObject({ item_id: 'rs_0', output_index: 0, summary_index: 0, part: { type: 'summary_text', text: '' } });
    expect(wire[6]!.data.text).toBe('The user greets me.');
    const output = [
      { id: 'rs_0', type: 'reasoning', summary: [{ type: 'summary_text', text: 'The user greets me.' }], encrypted_content: 'EqQBCkgIAR+/==' },
      { id: 'rs_1', type: 'reasoning', summary: [], encrypted_content: `${REDACTED_PREFIX}opaque` },
      { id: 'msg_2', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi!', annotations: [], logprobs: [] }] },
    ];
    expect(r.response?.output).toEqual(output);
    expect(r.response?.reasoning).toEqual({ effort: 'low', summary: 'auto' });

    const { final } = await sdkStream(sse);
    expect(final.output_text).toBe('Hi!');
    expect(final.output[0]).toEqual(output[0]);
    expect(final.output[1]).toEqual(output[1]);

    // Sending the output back as input restores the canonical reasoning exactly.
    const next = responsesRequestToCanonical(req({ input: [...(r.response!.output as never[]), { role: 'user', content: 'again' }] }), 'up');
    expect(next.messages[0]).toEqual({
      role: 'assistant',
      content: 'Hi!',
      reasoning: [
        { type: 'reasoning', text: 'The user greets me.', providerMetadata: { openai: { signature: 'EqQBCkgIAR+/==' } } },
        { type: 'reasoning', text: '', providerMetadata: { anthropic: { redacted: 'opaque' } } },
      ],
    });
    expect(collectedToResponse(collectedOf(events), RESP_ID, body, CREATED, { newId: ids(), now: NOW })).toEqual(r.response);
  });

  it('echoes the request parameters in the response object', () => {
    const body = req({
      input: 'q',
      instructions: 'Sys',
      tools: [{ type: 'function', name: 'f', parameters: { type: 'object', properties: {} }, description: 'F' }],
      tool_choice: { type: 'function', name: 'f' },
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
      temperature: 0.2,
      top_p: 0.5,
      parallel_tool_calls: false,
      max_output_tokens: 99,
      previous_response_id: 'resp_prev',
      store: false,
      metadata: { k: 'v' },
      user: 'me',
    });
    const { wire } = renderAll([{ type: 'text', choice: 0, text: '{}' }], body);
    const resp = wire[wire.length - 1]!.data.response;
    expect(resp).toMatchObject({
      model: 'my-model',
      instructions: 'Sys',
      tools: [{ type: 'function', name: 'f', description: 'F', parameters: { type: 'object', properties: {} }, strict: null }],
      tool_choice: { type: 'function', name: 'f' },
      text: { format: { type: 'json_schema', name: 'out', schema: { type: 'object' }, strict: true } },
      temperature: 0.2,
      top_p: 0.5,
      parallel_tool_calls: false,
      max_output_tokens: 99,
      previous_response_id: 'resp_prev',
      reasoning: { effort: null, summary: null },
      store: false,
      metadata: { k: 'v' },
      user: 'me',
      error: null,
      incomplete_details: null,
    });
    const defaults = renderAll([{ type: 'text', choice: 0, text: 'x' }]).wire[0]!.data.response;
    expect(defaults).toMatchObject({ instructions: null, tools: [], tool_choice: 'auto', text: { format: { type: 'text' } }, parallel_tool_calls: true, store: true, metadata: {}, temperature: null, top_p: null });
  });

  it('ends with response.incomplete when the answer hit max_output_tokens', async () => {
    const { sse, wire } = renderAll([
      { type: 'text', choice: 0, text: 'Once upon' },
      { type: 'finish', choice: 0, reason: 'length' },
      { type: 'usage', usage: { inputTokens: 5, outputTokens: 2 } },
    ]);
    const last = wire[wire.length - 1]!;
    expect(last.event).toBe('response.incomplete');
    expect(last.data.response).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    expect(last.data.response.completed_at).toBeUndefined();
    expect(last.data.response.output[0].status).toBe('incomplete');
    const { final } = await sdkStream(sse);
    expect(final.status).toBe('incomplete');
    expect(final.output_text).toBe('Once upon');
  });

  it('ignores other choices and renders nothing after the end', () => {
    const r = renderer(req({ input: 'hi' }));
    expect(r.start()).toContain('response.created');
    expect(r.start()).toBe('');
    expect(r.render({ type: 'text', choice: 1, text: 'other' })).toBe('');
    expect(r.outputStarted).toBe(false);
    r.render({ type: 'text', choice: 0, text: 'x' });
    expect(r.outputStarted).toBe(true);
    expect(r.end()).toContain('response.completed');
    expect(r.render({ type: 'text', choice: 0, text: 'late' })).toBe('');
    expect(r.end()).toBe('');
  });
});

describe('Responses errors', () => {
  it('answers HTTP errors in the OpenAI error shape', () => {
    const e = new HubError('bad_request', "Invalid request: 'input': bad", { param: 'input', code: 'invalid_request' });
    expect(responsesErrorBody(e)).toEqual({ error: { message: "Invalid request: 'input': bad", type: 'invalid_request_error', param: 'input', code: 'invalid_request' } });
    expect(responsesErrorFormat.body(e, 'req_1')).toEqual(responsesErrorBody(e));
  });

  it('fails mid-stream with response.failed and an error event that makes the SDK throw', async () => {
    const r = renderer(req({ input: 'hi' }));
    const format = responsesStreamErrorFormat(() => r);
    const e = new HubError('upstream', 'Upstream loop failed mid-stream: boom', { provider: 'loop' });
    const sse = r.start() + r.render({ type: 'text', choice: 0, text: 'Partial' }) + format.streamEvent(e);
    const wire = parse(sse);
    wire.forEach((w, i) => expect(w.data.sequence_number).toBe(i));
    expect(wire.map((w) => w.event).slice(-2)).toEqual(['response.failed', 'error']);
    const failed = wire[wire.length - 2]!.data.response;
    expect(failed).toMatchObject({ id: RESP_ID, status: 'failed', error: { code: 'server_error', message: 'Upstream loop failed mid-stream: boom' } });
    expect(failed.output).toEqual([
      { id: 'msg_0', type: 'message', status: 'incomplete', role: 'assistant', content: [{ type: 'output_text', text: 'Partial', annotations: [], logprobs: [] }] },
    ]);
    expect(wire[wire.length - 1]!.data).toMatchObject({
      type: 'error',
      code: null,
      message: 'Upstream loop failed mid-stream: boom',
      param: null,
      error: { type: 'upstream_error', code: null, message: 'Upstream loop failed mid-stream: boom', param: null },
    });
    expect(r.response?.status).toBe('failed');
    expect(r.end()).toBe('');

    // responses.stream(): the helper rejects with the APIError.
    await expect(sdkStream(sse)).rejects.toMatchObject({ constructor: OpenAI.APIError, message: 'Upstream loop failed mid-stream: boom' });
    // responses.create({stream: true}): iteration yields the events, then throws.
    const seen: string[] = [];
    const iterate = async () => {
      for await (const ev of await sdk(sse).responses.create({ model: 'my-model', input: 'hi', stream: true })) seen.push(ev.type);
    };
    await expect(iterate()).rejects.toBeInstanceOf(OpenAI.APIError);
    expect(seen[seen.length - 1]).toBe('response.failed');

    // response.failed alone does not raise in the SDK: it ends the stream with a failed response.
    const onlyFailed = sse.slice(0, sse.lastIndexOf('event: error'));
    expect((await sdkStream(onlyFailed)).final.status).toBe('failed');
  });

  it('maps rate limits and full context windows to the codes agents check', () => {
    const r = renderer(req({ input: 'hi' }));
    const wire = parse(r.fail(new HubError('context_length', 'Too long')));
    expect(wire.map((w) => w.event)).toEqual(['response.created', 'response.in_progress', 'response.failed', 'error']);
    expect(wire[2]!.data.response.error).toEqual({ code: 'context_length_exceeded', message: 'Too long' });
    expect(wire[3]!.data.error.code).toBe('context_length_exceeded');
    const r2 = renderer(req({ input: 'hi' }));
    expect(parse(r2.fail(new HubError('rate_limited', 'Slow down')))[2]!.data.response.error.code).toBe('rate_limit_exceeded');
  });

  it('the stateless stream event alone also makes the SDK throw', async () => {
    const r = renderer(req({ input: 'hi' }));
    const sse = r.start() + responsesErrorFormat.streamEvent(new HubError('overloaded', 'Busy'));
    await expect(sdkStream(sse)).rejects.toMatchObject({ message: 'Busy', type: 'server_error' });
  });
});

describe('collectedToResponse', () => {
  it('builds the non-streaming response the SDK reads', async () => {
    const collected = collectedOf([
      { type: 'reasoning', choice: 0, text: 'hmm', providerMetadata: { openai: { signature: 's' } } },
      { type: 'text', choice: 0, text: 'Calling.' },
      { type: 'tool_call', choice: 0, index: 0, name: 'f', arguments: '{"a":1}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
      USAGE,
    ]);
    const body = req({ input: 'hi', tools: [{ type: 'function', name: 'f', parameters: {} }] });
    const resp = collectedToResponse(collected, RESP_ID, body, CREATED, { newId: ids(), now: NOW });
    expect(resp.output).toEqual([
      { id: 'rs_0', type: 'reasoning', summary: [{ type: 'summary_text', text: 'hmm' }], encrypted_content: 's' },
      { id: 'msg_1', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Calling.', annotations: [], logprobs: [] }] },
      // The upstream gave no call id: one derived from the response id, the same the history stores.
      { id: 'fc_2', type: 'function_call', status: 'completed', arguments: '{"a":1}', call_id: 'call_0123456789abcdef_0', name: 'f' },
    ]);
    expect(resp).toMatchObject({ id: RESP_ID, object: 'response', status: 'completed', completed_at: CREATED + 5, model: 'my-model' });
    const history = canonicalConversation(responsesRequestToCanonical(body, 'up'), collected, RESP_ID);
    expect(history[1]).toMatchObject({ role: 'assistant', toolCalls: [{ id: 'call_0123456789abcdef_0' }] });

    const viaSdk = await sdk(JSON.stringify(resp), 'application/json').responses.create({ model: 'my-model', input: 'hi' });
    expect(viaSdk.output_text).toBe('Calling.');
    expect(viaSdk.usage?.total_tokens).toBe(160);
  });
});
