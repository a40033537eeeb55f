import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, Collector } from '../../src/core/collect.js';
import { HubError } from '../../src/core/errors.js';
import type { ChatEvent, ChatRequest, Message } from '../../src/core/types.js';
import { streamError, upstreamError } from '../../src/providers/anthropic/errors.js';
import { upstreamError as openAIUpstreamError } from '../../src/providers/openai-compatible/errors.js';
import { geminiError as geminiUpstreamError } from '../../src/providers/gemini/errors.js';
import { AnthropicProvider } from '../../src/providers/anthropic/provider.js';
import { chatRequestToAnthropic, countTokensRequestToAnthropic, toolInput } from '../../src/providers/anthropic/request.js';
import { AnthropicStreamDecoder, finishReasonFromAnthropic, messageToEvents } from '../../src/providers/anthropic/response.js';
import { usageFromAnthropic } from '../../src/providers/anthropic/usage.js';
import type { AnthropicStreamEvent } from '../../src/providers/anthropic/wire.js';
import { parseSSEEvent, SSESplitter } from '../../src/providers/sse.js';

/*
 * Wire examples below are taken from Anthropic's documentation:
 *  - streaming guide (https://platform.claude.com/docs/en/build-with-claude/streaming): the basic
 *    "Hello!" stream, the get_weather tool-use stream (toolu_01T1x1fJ34qAmk2tNTrN7Up6 and its
 *    input_json_delta chunks), the GCD extended-thinking stream with its signature_delta, and the
 *    overloaded_error event;
 *  - extended thinking guide: the thinking signature and the redacted_thinking `data`;
 *  - vision guide: the Camponotus ant image URL;
 *  - errors guide: the error body shape and types.
 */
const SIGNATURE = 'EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds...';
const THINKING_SIGNATURE = 'WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL....';
const REDACTED =
  'EmwKAhgBEgy3va3pzix/LafPsn4aDFIT2Xlxh0L5L8rLVyIwxtE3rAFBa8cr3qpPkNRj2YfWXGmKDxH4mPnZ5sQ7vB9URj2pLmN3kF8/dW5hR7xJ0aP1oLs9yTcMnKVf2wRpEGjH9XZaBt4UvDcPrQ...';
const ANT_URL = 'https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg';
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Get the current weather in a given location',
  parameters: {
    type: 'object',
    properties: { location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' } },
    required: ['location'],
  },
};

const opts = { defaultMaxTokens: 4096 };
const req = (messages: Message[], rest: Partial<ChatRequest> = {}): ChatRequest => ({ model: 'claude-opus-4-8', messages, ...rest });
const user = (text: string): Message => ({ role: 'user', content: [{ type: 'text', text }] });

// ---------------------------------------------------------------- request --

describe('request conversion', () => {
  it('lifts every system message, early or late, into one top-level system and always streams', () => {
    const body = chatRequestToAnthropic(
      req([
        { role: 'system', content: 'You are a helpful assistant.' },
        { role: 'system', content: 'Answer in French.' },
        user('Hello'),
        { role: 'assistant', content: 'Bonjour !' },
        { role: 'system', content: 'Be brief.' },
        user('Ça va ?'),
      ], { extra: { logit_bias: { 1: 2 } }, seed: 7 }),
      opts,
    );
    expect(body).toEqual({
      model: 'claude-opus-4-8',
      max_tokens: 4096,
      system: 'You are a helpful assistant.\n\nAnswer in French.\n\nBe brief.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hello' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Bonjour !' }] },
        { role: 'user', content: [{ type: 'text', text: 'Ça va ?' }] },
      ],
      stream: true,
    });
  });

  it('sends images as base64 (data: URL) or url sources', () => {
    const body = chatRequestToAnthropic(
      req([
        {
          role: 'user',
          content: [
            { type: 'image', url: 'data:image/jpeg;base64,/9j/4AAQSkZJRg==' },
            { type: 'image', url: ANT_URL, detail: 'high' },
            { type: 'text', text: 'What is in the above image?' },
          ],
        },
      ]),
      opts,
    );
    expect(body.messages[0]!.content).toEqual([
      { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQSkZJRg==' } },
      { type: 'image', source: { type: 'url', url: ANT_URL } },
      { type: 'text', text: 'What is in the above image?' },
    ]);
  });

  it('rejects data: URLs that are not base64 or not a supported image type', () => {
    const bad = (url: string) => () => chatRequestToAnthropic(req([{ role: 'user', content: [{ type: 'image', url }] }]), opts);
    expect(bad('data:image/png,rawbytes')).toThrow(HubError);
    expect(bad('data:image/tiff;base64,AAAA')).toThrow(/image\/tiff/);
    let err: unknown;
    try {
      bad('data:image/bmp;base64,AAAA')();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ kind: 'bad_request', status: 400, param: 'messages[0].content[0]' });
  });

  it('replays a thinking + tool_use turn in order and merges both tool results into one user message', () => {
    const body = chatRequestToAnthropic(
      req(
        [
          user('What is the weather like in San Francisco and in Paris?'),
          {
            role: 'assistant',
            content: "Okay, let's check the weather for San Francisco, CA:",
            reasoning: [{ type: 'reasoning', text: 'Let me analyze this step by step...', providerMetadata: { anthropic: { signature: THINKING_SIGNATURE } } }],
            toolCalls: [
              { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' },
              { id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', arguments: '{"location": "Paris, France"}' },
            ],
          },
          { role: 'tool', toolCallId: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', content: '15 degrees' },
          { role: 'tool', toolCallId: 'toolu_01A09q90qw90lq917835lq9', content: 'ConnectionError: the weather service API is not available (HTTP 500)', isError: true },
          user('And what should I wear?'),
        ],
        { tools: [WEATHER_TOOL] },
      ),
      opts,
    );
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'What is the weather like in San Francisco and in Paris?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Let me analyze this step by step...', signature: THINKING_SIGNATURE },
          { type: 'text', text: "Okay, let's check the weather for San Francisco, CA:" },
          { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco, CA' } },
          { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_weather', input: { location: 'Paris, France' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', content: '15 degrees' },
          {
            type: 'tool_result',
            tool_use_id: 'toolu_01A09q90qw90lq917835lq9',
            content: 'ConnectionError: the weather service API is not available (HTTP 500)',
            is_error: true,
          },
          { type: 'text', text: 'And what should I wear?' },
        ],
      },
    ]);
    expect(body.tools).toEqual([
      {
        name: 'get_weather',
        description: 'Get the current weather in a given location',
        input_schema: WEATHER_TOOL.parameters,
      },
    ]);
  });

  it('keeps tool_result blocks ahead of text when a user message precedes the results', () => {
    const body = chatRequestToAnthropic(
      req([
        user('go'),
        { role: 'assistant', content: '', toolCalls: [{ id: 'toolu_1', name: 'f', arguments: '{}' }] },
        user('note'),
        { role: 'tool', toolCallId: 'toolu_1', content: 'done' },
      ]),
      opts,
    );
    expect(body.messages[2]).toEqual({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'done' }, { type: 'text', text: 'note' }],
    });
    // An assistant turn with only tool calls has no empty text block.
    expect(body.messages[1]!.content).toEqual([{ type: 'tool_use', id: 'toolu_1', name: 'f', input: {} }]);
  });

  it('drops unsigned reasoning from other providers and keeps redacted thinking byte for byte', () => {
    const body = chatRequestToAnthropic(
      req([
        user('hi'),
        {
          role: 'assistant',
          content: 'Based on my analysis...',
          reasoning: [
            { type: 'reasoning', text: 'DeepSeek thought this, unsigned.' },
            { type: 'reasoning', text: 'Let me analyze this step by step...', providerMetadata: { anthropic: { signature: THINKING_SIGNATURE } } },
            { type: 'reasoning', text: '', providerMetadata: { anthropic: { redacted: REDACTED } } },
            { type: 'reasoning', text: 'empty signature is no signature', providerMetadata: { anthropic: { signature: '' } } },
          ],
        },
        { role: 'assistant', content: '', reasoning: [{ type: 'reasoning', text: 'only unsigned' }] },
        user('next'),
      ]),
      opts,
    );
    expect(body.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'hi' }] },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'Let me analyze this step by step...', signature: THINKING_SIGNATURE },
          { type: 'redacted_thinking', data: REDACTED },
          { type: 'text', text: 'Based on my analysis...' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'next' }] },
    ]);
    expect(JSON.stringify(body)).toContain(JSON.stringify(REDACTED));
  });

  it('turns unparsable or non-object tool arguments into {} instead of failing', () => {
    expect(toolInput('{"location": "San Fra')).toEqual({});
    expect(toolInput('')).toEqual({});
    expect(toolInput('[1,2]')).toEqual({});
    expect(toolInput('"x"')).toEqual({});
    expect(toolInput('{"a":{"b":[1]}}')).toEqual({ a: { b: [1] } });
  });

  it('maps tool_choice variants, with disable_parallel_tool_use on the choice object', () => {
    const choice = (c: Partial<ChatRequest>) => chatRequestToAnthropic(req([user('x')], { tools: [WEATHER_TOOL], ...c }), opts).tool_choice;
    expect(choice({})).toBeUndefined();
    expect(choice({ toolChoice: 'auto' })).toEqual({ type: 'auto' });
    expect(choice({ toolChoice: 'required' })).toEqual({ type: 'any' });
    expect(choice({ toolChoice: 'none' })).toEqual({ type: 'none' });
    expect(choice({ toolChoice: { name: 'get_weather' } })).toEqual({ type: 'tool', name: 'get_weather' });
    expect(choice({ parallelToolCalls: false })).toEqual({ type: 'auto', disable_parallel_tool_use: true });
    expect(choice({ toolChoice: 'required', parallelToolCalls: false })).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(choice({ toolChoice: { name: 'get_weather' }, parallelToolCalls: false })).toEqual({
      type: 'tool',
      name: 'get_weather',
      disable_parallel_tool_use: true,
    });
    expect(choice({ toolChoice: 'none', parallelToolCalls: false })).toEqual({ type: 'none' });
    expect(choice({ parallelToolCalls: true })).toBeUndefined();
    // No tools, no tool_choice.
    expect(chatRequestToAnthropic(req([user('x')], { toolChoice: 'required' }), opts).tool_choice).toBeUndefined();
    // A schema without a type becomes an object schema; strict travels when asked for.
    const tools = chatRequestToAnthropic(req([user('x')], { tools: [{ name: 'noop', parameters: {}, strict: true }] }), opts).tools;
    expect(tools).toEqual([{ name: 'noop', input_schema: { type: 'object' }, strict: true }]);
  });

  it('maps sampling, stops and user', () => {
    const body = chatRequestToAnthropic(
      req([user('x')], { maxTokens: 256, temperature: 0.2, topP: 0.9, topK: 40, stop: ['\n\nHuman:'], user: 'user-7f3a' }),
      opts,
    );
    expect(body).toMatchObject({ max_tokens: 256, temperature: 0.2, top_p: 0.9, top_k: 40, stop_sequences: ['\n\nHuman:'], metadata: { user_id: 'user-7f3a' } });
  });

  it('enables thinking with the requested budget or the effort mapping, keeping max_tokens above it', () => {
    const think = (r: Partial<ChatRequest>) => chatRequestToAnthropic(req([user('What is the greatest common divisor of 1071 and 462?')], r), opts);
    expect(think({ maxTokens: 16000, reasoning: { budgetTokens: 10000 } })).toMatchObject({ max_tokens: 16000, thinking: { type: 'enabled', budget_tokens: 10000 } });
    expect(think({ reasoning: { effort: 'low' } })).toMatchObject({ max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 1024 } });
    expect(think({ reasoning: { effort: 'minimal' } }).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    // medium 8192 > default 4096: max_tokens grows so the answer keeps its allowance.
    expect(think({ reasoning: { effort: 'medium' } })).toMatchObject({ max_tokens: 8192 + 4096, thinking: { budget_tokens: 8192 } });
    expect(think({ maxTokens: 1000, reasoning: { effort: 'high' } })).toMatchObject({ max_tokens: 24576 + 1000, thinking: { budget_tokens: 24576 } });
    expect(think({ reasoning: {} }).thinking).toEqual({ type: 'enabled', budget_tokens: 8192 });
    // Below the documented 1,024 minimum it is raised; zero means no thinking.
    expect(think({ reasoning: { budgetTokens: 100 } }).thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(think({ reasoning: { budgetTokens: 0 } }).thinking).toBeUndefined();
    for (const b of [think({ reasoning: { budgetTokens: 4096 } }), think({ maxTokens: 2000, reasoning: { budgetTokens: 30000 } })]) {
      expect(b.max_tokens).toBeGreaterThan(b.thinking!.budget_tokens);
    }
  });

  it('drops temperature and top_k with thinking on, and top_p outside [0.95, 1]', () => {
    const body = chatRequestToAnthropic(req([user('x')], { reasoning: { effort: 'low' }, temperature: 0.3, topK: 5, topP: 0.5 }), opts);
    expect(body.thinking).toBeDefined();
    expect(body).not.toHaveProperty('temperature');
    expect(body).not.toHaveProperty('top_k');
    expect(body).not.toHaveProperty('top_p');
    expect(chatRequestToAnthropic(req([user('x')], { reasoning: { effort: 'low' }, topP: 0.95 }), opts).top_p).toBe(0.95);
  });

  it('leaves thinking off when a tool call is forced (forced tool use is incompatible with thinking)', () => {
    const body = chatRequestToAnthropic(req([user('x')], { reasoning: { effort: 'high' }, tools: [WEATHER_TOOL], toolChoice: 'required', temperature: 0.1 }), opts);
    expect(body.thinking).toBeUndefined();
    expect(body.tool_choice).toEqual({ type: 'any' });
    expect(body.temperature).toBe(0.1);
    expect(chatRequestToAnthropic(req([user('x')], { reasoning: { effort: 'low' }, tools: [WEATHER_TOOL], toolChoice: 'auto' }), opts).thinking).toBeDefined();
  });

  it('uses structured outputs for strict json_schema and a system instruction otherwise', () => {
    const schema = { type: 'object', properties: { answer: { type: 'integer' } }, required: ['answer'], additionalProperties: false };
    const strict = chatRequestToAnthropic(req([user('x')], { responseFormat: { type: 'json_schema', name: 'gcd', schema, strict: true } }), opts);
    expect(strict.output_config).toEqual({ format: { type: 'json_schema', schema } });
    expect(strict.system).toBeUndefined();
    const loose = chatRequestToAnthropic(
      req([{ role: 'system', content: 'Be exact.' }, user('x')], { responseFormat: { type: 'json_schema', name: 'gcd', schema } }),
      opts,
    );
    expect(loose.output_config).toBeUndefined();
    expect(loose.system).toMatch(/^Be exact\.\n\nRespond only with a JSON value/);
    expect(loose.system).toContain(JSON.stringify(schema));
    const object = chatRequestToAnthropic(req([user('x')], { responseFormat: { type: 'json_object' } }), opts);
    expect(object.system).toMatch(/valid JSON object/);
    expect(chatRequestToAnthropic(req([user('x')], { responseFormat: { type: 'text' } }), opts).system).toBeUndefined();
  });

  it('builds a count_tokens body without max_tokens, stream or sampling fields', () => {
    const body = countTokensRequestToAnthropic(
      req([{ role: 'system', content: 'sys' }, user('x')], { tools: [WEATHER_TOOL], toolChoice: 'auto', temperature: 1, stop: ['x'], user: 'u', maxTokens: 9 }),
      opts,
    );
    expect(body).toEqual({
      model: 'claude-opus-4-8',
      system: 'sys',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
      tools: [{ name: 'get_weather', description: 'Get the current weather in a given location', input_schema: WEATHER_TOOL.parameters }],
      tool_choice: { type: 'auto' },
    });
  });
});

// --------------------------------------------------------------- response --

/** Runs SSE text through the shared splitter and the decoder, cut at every `cut` characters. */
function decodeSSE(wire: string, cut = wire.length): ChatEvent[] {
  const splitter = new SSESplitter();
  const decoder = new AnthropicStreamDecoder('anthropic', 'fallback-model');
  const out: ChatEvent[] = [];
  for (let i = 0; i < wire.length; i += cut) {
    for (const block of splitter.push(wire.slice(i, i + cut))) {
      const ev = parseSSEEvent(block);
      if (ev) out.push(...decoder.decode(ev.event, JSON.parse(ev.data) as AnthropicStreamEvent));
    }
  }
  expect(decoder.done).toBe(true);
  return out;
}

const sse = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

// The documented GCD thinking stream, the documented get_weather tool stream, and a second
// tool_use block, in one message; usage as prompt caching reports it.
const MIXED_STREAM = [
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-8","stop_sequence":null,"usage":{"input_tokens":472,"cache_creation_input_tokens":1200,"cache_read_input_tokens":100000,"output_tokens":2},"content":[],"stop_reason":null}}\n\n',
  'event: content_block_start\ndata: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}\n\n',
  'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\\n\\n1071 = 2 × 462 + 147"}}\n\n',
  'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "\\n462 = 3 × 147 + 21"}}\n\n',
  `event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "${SIGNATURE}"}}\n\n`,
  'event: content_block_stop\ndata: {"type": "content_block_stop", "index": 0}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}\n\n',
  'event: ping\ndata: {"type": "ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Okay"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":", let\'s check the weather for San Francisco, CA:"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":""}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\":"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" \\"San"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" Francisc"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"o,"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":" CA\\"}"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":2}\n\n',
  'event: content_block_start\ndata: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_time","input":{}}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{\\"timezone\\": \\"Amer"}}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"ica/Los_Angeles\\"}"}}\n\n',
  'event: content_block_stop\ndata: {"type":"content_block_stop","index":3}\n\n',
  'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":472,"cache_creation_input_tokens":1200,"cache_read_input_tokens":100000,"output_tokens":89,"output_tokens_details":{"thinking_tokens":41}}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

describe('stream decoding', () => {
  it('decodes the documented basic stream', () => {
    const wire = readFileSync(new URL('../fixtures/anthropic-messages/docs-basic.sse', import.meta.url), 'utf8');
    expect(decodeSSE(wire)).toEqual([
      { type: 'start', id: 'msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY', model: 'claude-opus-4-8' },
      { type: 'text', choice: 0, text: 'Hello' },
      { type: 'text', choice: 0, text: '!' },
      { type: 'finish', choice: 0, reason: 'stop' },
      { type: 'usage', usage: { inputTokens: 25, outputTokens: 15 } },
    ]);
  });

  it('decodes thinking with its signature, text, and two tool_use blocks with canonical indexes 0 and 1', () => {
    const events = decodeSSE(MIXED_STREAM);
    expect(events[0]).toEqual({ type: 'start', id: 'msg_014p7gG3wDgGV9EUtLvnow3U', model: 'claude-opus-4-8' });
    expect(events.filter((e) => e.type === 'reasoning')).toEqual([
      { type: 'reasoning', choice: 0, text: 'I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 × 462 + 147' },
      { type: 'reasoning', choice: 0, text: '\n462 = 3 × 147 + 21' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { signature: SIGNATURE } } },
    ]);
    const calls = events.filter((e) => e.type === 'tool_call');
    expect(calls[0]).toEqual({ type: 'tool_call', choice: 0, index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '' });
    expect(calls.filter((c) => c.index === 0).map((c) => c.arguments).join('')).toBe('{"location": "San Francisco, CA"}');
    expect(calls.find((c) => c.index === 1 && c.id)).toEqual({ type: 'tool_call', choice: 0, index: 1, id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_time', arguments: '' });
    expect(calls.filter((c) => c.index === 1).map((c) => c.arguments).join('')).toBe('{"timezone": "America/Los_Angeles"}');
    expect(new Set(calls.map((c) => c.index))).toEqual(new Set([0, 1]));
    expect(events.filter((e) => e.type === 'finish')).toEqual([{ type: 'finish', choice: 0, reason: 'tool_calls' }]);

    const c = new Collector();
    for (const e of events) c.add(e);
    const r = c.result();
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0]!.text).toBe("Okay, let's check the weather for San Francisco, CA:");
    expect(r.choices[0]!.reasoning).toEqual([
      {
        type: 'reasoning',
        text: 'I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 × 462 + 147\n462 = 3 × 147 + 21',
        providerMetadata: { anthropic: { signature: SIGNATURE } },
      },
    ]);
    expect(r.choices[0]!.toolCalls).toEqual([
      { id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '{"location": "San Francisco, CA"}' },
      { id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_time', arguments: '{"timezone": "America/Los_Angeles"}' },
    ]);
  });

  it('gives the same events however the bytes are cut', () => {
    const whole = decodeSSE(MIXED_STREAM);
    for (const cut of [1, 7, 64, 333]) expect(decodeSSE(MIXED_STREAM, cut)).toEqual(whole);
  });

  it('emits usage exactly once, with cache reads and writes counted into input', () => {
    const usage = decodeSSE(MIXED_STREAM).filter((e) => e.type === 'usage');
    expect(usage).toEqual([
      {
        type: 'usage',
        usage: { inputTokens: 472 + 1200 + 100000, outputTokens: 89, cachedInputTokens: 100000, cacheWriteTokens: 1200, reasoningTokens: 41 },
      },
    ]);
    expect(decodeSSE(MIXED_STREAM).at(-1)!.type).toBe('usage');
  });

  it('keeps message_start input counts when message_delta carries only output_tokens', () => {
    const wire =
      sse('message_start', { type: 'message_start', message: { id: 'm', model: 'x', usage: { input_tokens: 50, cache_creation_input_tokens: 0, cache_read_input_tokens: 100000, output_tokens: 1 } } }) +
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 500 } }) +
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: null }, usage: { input_tokens: null, output_tokens: 503 } }) +
      sse('message_stop', { type: 'message_stop' });
    expect(decodeSSE(wire).filter((e) => e.type === 'usage' || e.type === 'finish')).toEqual([
      { type: 'finish', choice: 0, reason: 'stop' },
      { type: 'usage', usage: { inputTokens: 100050, outputTokens: 503, cachedInputTokens: 100000, cacheWriteTokens: 0 } },
    ]);
  });

  it('reports the stop sequence that ended the answer', () => {
    const wire =
      sse('message_start', { type: 'message_start', message: { id: 'msg_stop', type: 'message', role: 'assistant', content: [], model: 'claude-opus-4-8', usage: { input_tokens: 12, output_tokens: 1 } } }) +
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
      sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '1, 2, 3' } }) +
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'stop_sequence', stop_sequence: '4' }, usage: { output_tokens: 7 } }) +
      sse('message_stop', { type: 'message_stop' });
    expect(decodeSSE(wire).find((e) => e.type === 'finish')).toEqual({ type: 'finish', choice: 0, reason: 'stop', stopSequence: '4' });
  });

  it('maps every stop reason', () => {
    expect(finishReasonFromAnthropic('end_turn')).toBe('stop');
    expect(finishReasonFromAnthropic('stop_sequence')).toBe('stop');
    expect(finishReasonFromAnthropic('max_tokens')).toBe('length');
    expect(finishReasonFromAnthropic('model_context_window_exceeded')).toBe('length');
    expect(finishReasonFromAnthropic('tool_use')).toBe('tool_calls');
    expect(finishReasonFromAnthropic('refusal')).toBe('content_filter');
    expect(finishReasonFromAnthropic('pause_turn')).toBe('stop');
  });

  it('passes a redacted_thinking block through whole and ignores server tool blocks', () => {
    const wire =
      sse('message_start', { type: 'message_start', message: { id: 'm', model: 'claude-3-7-sonnet-20250219', content: [] } }) +
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'redacted_thinking', data: REDACTED } }) +
      sse('content_block_stop', { type: 'content_block_stop', index: 0 }) +
      sse('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'server_tool_use', id: 'srvtoolu_014hJH82Qum7Td6UV8gDXThB', name: 'web_search', input: {} } }) +
      sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"query": "weather NYC today"}' } }) +
      sse('content_block_stop', { type: 'content_block_stop', index: 1 }) +
      sse('content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_014hJH82Qum7Td6UV8gDXThB', content: [] } }) +
      sse('content_block_stop', { type: 'content_block_stop', index: 2 }) +
      sse('content_block_start', { type: 'content_block_start', index: 3, content_block: { type: 'text', text: '' } }) +
      sse('content_block_delta', { type: 'content_block_delta', index: 3, delta: { type: 'text_delta', text: 'Sunny.' } }) +
      sse('content_block_stop', { type: 'content_block_stop', index: 3 }) +
      sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null } }) +
      sse('message_stop', { type: 'message_stop' });
    const events = decodeSSE(wire);
    expect(events).toEqual([
      { type: 'start', id: 'm', model: 'claude-3-7-sonnet-20250219' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { redacted: REDACTED } } },
      { type: 'text', choice: 0, text: 'Sunny.' },
      { type: 'finish', choice: 0, reason: 'stop' },
    ]);
  });

  it('round-trips thinking, redacted thinking and tool calls back into the next request unchanged', async () => {
    const wire = MIXED_STREAM.replace(
      'event: content_block_start\ndata: {"type":"content_block_start","index":1',
      `${sse('content_block_start', { type: 'content_block_start', index: 9, content_block: { type: 'redacted_thinking', data: REDACTED } })}event: content_block_start\ndata: {"type":"content_block_start","index":1`,
    );
    const c = await collect((async function* () { yield* decodeSSE(wire); })());
    const choice = c.choices[0]!;
    const body = chatRequestToAnthropic(
      req([user('q'), { role: 'assistant', content: choice.text, reasoning: choice.reasoning, toolCalls: choice.toolCalls }]),
      opts,
    );
    expect(body.messages[1]!.content.slice(0, 2)).toEqual([
      {
        type: 'thinking',
        thinking: 'I need to find the GCD of 1071 and 462 using the Euclidean algorithm.\n\n1071 = 2 × 462 + 147\n462 = 3 × 147 + 21',
        signature: SIGNATURE,
      },
      { type: 'redacted_thinking', data: REDACTED },
    ]);
    expect(body.messages[1]!.content.slice(3)).toEqual([
      { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco, CA' } },
      { type: 'tool_use', id: 'toolu_01A09q90qw90lq917835lq9', name: 'get_time', input: { timezone: 'America/Los_Angeles' } },
    ]);
  });

  it('throws the documented mid-stream overloaded_error as an overloaded HubError', () => {
    const decoder = new AnthropicStreamDecoder('anthropic');
    decoder.decode('message_start', { type: 'message_start', message: { id: 'm', model: 'x', usage: { input_tokens: 1, output_tokens: 1 } } });
    decoder.decode('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    const ev = parseSSEEvent('event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}')!;
    let err: unknown;
    try {
      decoder.decode(ev.event, JSON.parse(ev.data) as AnthropicStreamEvent);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HubError);
    expect(err).toMatchObject({ kind: 'overloaded', status: 502, code: 'overloaded_error', provider: 'anthropic' });
    expect((err as HubError).message).toBe('Upstream anthropic failed mid-stream: Overloaded');
    expect(decoder.done).toBe(false);
  });

  it('maps other mid-stream error types', () => {
    expect(streamError('a', { type: 'api_error', message: 'Internal server error' })).toMatchObject({ kind: 'upstream', status: 502 });
    expect(streamError('a', { type: 'timeout_error', message: 't' })).toMatchObject({ kind: 'timeout', status: 504 });
    expect(streamError('a', { type: 'rate_limit_error', message: 'r' })).toMatchObject({ kind: 'rate_limited', status: 429 });
    expect(streamError('a', { type: 'invalid_request_error', message: 'prompt is too long: 220000 tokens > 200000 maximum' })).toMatchObject({ kind: 'context_length' });
    expect(streamError('a', undefined)).toMatchObject({ kind: 'upstream', status: 502 });
  });

  it('converts a whole (non-streamed) message, as the documented response shows it', () => {
    const events = messageToEvents(
      {
        id: 'msg_01XFDUDYJgAACzvnptvVoYEL',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-20250514',
        content: [
          { type: 'thinking', thinking: 'Let me analyze this step by step...', signature: THINKING_SIGNATURE },
          { type: 'redacted_thinking', data: REDACTED },
          { type: 'text', text: "Based on my analysis, here's the solution..." },
          { type: 'tool_use', id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', input: { location: 'San Francisco' } },
        ],
        stop_reason: 'tool_use',
        stop_sequence: null,
        usage: { input_tokens: 270, output_tokens: 156, cache_read_input_tokens: 100 },
      },
      'anthropic',
    );
    expect(events).toEqual([
      { type: 'start', id: 'msg_01XFDUDYJgAACzvnptvVoYEL', model: 'claude-sonnet-4-20250514' },
      { type: 'reasoning', choice: 0, text: 'Let me analyze this step by step...' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { signature: THINKING_SIGNATURE } } },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { redacted: REDACTED } } },
      { type: 'text', choice: 0, text: "Based on my analysis, here's the solution..." },
      { type: 'tool_call', choice: 0, index: 0, id: 'toolu_01T1x1fJ34qAmk2tNTrN7Up6', name: 'get_weather', arguments: '' },
      { type: 'tool_call', choice: 0, index: 0, arguments: '{"location":"San Francisco"}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
      { type: 'usage', usage: { inputTokens: 370, outputTokens: 156, cachedInputTokens: 100 } },
    ]);
  });

  it('reads usage fields into canonical form', () => {
    expect(usageFromAnthropic({ input_tokens: 50, cache_creation_input_tokens: 2000, cache_read_input_tokens: 100000, output_tokens: 500 })).toEqual({
      inputTokens: 102050,
      outputTokens: 500,
      cachedInputTokens: 100000,
      cacheWriteTokens: 2000,
    });
    expect(usageFromAnthropic({ input_tokens: 25, output_tokens: 348, output_tokens_details: { thinking_tokens: 312 } })).toEqual({
      inputTokens: 25,
      outputTokens: 348,
      reasoningTokens: 312,
    });
  });
});

// ----------------------------------------------------------------- errors --

describe('error bodies', () => {
  const body = (type: string, message: string) => JSON.stringify({ type: 'error', error: { type, message }, request_id: 'req_011CSHoEeqs5C35K2UUqR7Fy' });

  it('keeps 4xx status and message', () => {
    const e = upstreamError('anthropic', 404, {}, body('not_found_error', 'The requested resource could not be found.'), 'sk-ant-secret-0000');
    expect(e).toMatchObject({ kind: 'not_found', status: 404, code: 'not_found_error', message: 'The requested resource could not be found.', provider: 'anthropic' });
    expect(upstreamError('a', 400, {}, body('invalid_request_error', 'max_tokens: Field required'), undefined)).toMatchObject({ kind: 'bad_request', status: 400 });
    expect(upstreamError('a', 400, {}, body('invalid_request_error', 'prompt is too long: 220000 tokens > 200000 maximum'), undefined)).toMatchObject({
      kind: 'context_length',
      status: 400,
    });
    expect(upstreamError('a', 403, {}, body('permission_error', 'no'), undefined)).toMatchObject({ kind: 'permission', status: 403 });
    expect(upstreamError('a', 402, {}, body('billing_error', 'credit'), undefined)).toMatchObject({ kind: 'permission', status: 402 });
    expect(upstreamError('a', 413, {}, body('request_too_large', 'big'), undefined)).toMatchObject({ kind: 'payload_too_large', status: 413 });
  });

  it('keeps retry-after on 429', () => {
    const e = upstreamError('a', 429, { 'retry-after': '30' }, body('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit'), undefined);
    expect(e).toMatchObject({ kind: 'rate_limited', status: 429, retryAfter: 30 });
  });

  it('turns 5xx and 529 into 502 (504 for timeouts)', () => {
    expect(upstreamError('a', 529, {}, body('overloaded_error', 'Overloaded'), undefined)).toMatchObject({
      kind: 'overloaded',
      status: 502,
      message: 'Upstream a failed (529): Overloaded',
    });
    expect(upstreamError('a', 500, {}, body('api_error', 'Internal server error'), undefined)).toMatchObject({ kind: 'upstream', status: 502 });
    expect(upstreamError('a', 504, {}, body('timeout_error', 'Request timed out'), undefined)).toMatchObject({ kind: 'timeout', status: 504 });
    expect(upstreamError('a', 503, {}, '<html>Service Unavailable</html>', undefined)).toMatchObject({ kind: 'overloaded', status: 502 });
    expect(upstreamError('a', 502, {}, '', undefined).message).toBe('Upstream a failed (502): HTTP 502');
  });

  it('a redirect or other non-answer is the upstream failing: 502, never passed on as it is', () => {
    expect(upstreamError('a', 302, { location: 'https://elsewhere.example/' }, '<html>Moved</html>', undefined)).toMatchObject({ kind: 'upstream', status: 502 });
    expect(upstreamError('a', 307, {}, body('invalid_request_error', 'moved'), undefined)).toMatchObject({ kind: 'upstream', status: 502 });
    expect(openAIUpstreamError('o', 302, {}, '<html>Moved</html>', undefined)).toMatchObject({ kind: 'upstream', status: 502, message: 'Upstream o failed (302): <html>Moved</html>' });
    expect(openAIUpstreamError('o', 404, {}, '{"error":{"message":"no such model"}}', undefined)).toMatchObject({ kind: 'not_found', status: 404 });
    expect(geminiUpstreamError('g', 301, {}, '', undefined)).toMatchObject({ kind: 'upstream', status: 502 });
  });

  it('never leaks the API key', () => {
    const key = 'sk-ant-api03-abcdefghijklmnop';
    const e = upstreamError('a', 401, {}, body('authentication_error', `invalid x-api-key ${key}`), key);
    // The hub's own key at fault: a 502 naming the provider, not a 401 the client would take for its own (issue 16).
    expect(e.kind).toBe('upstream');
    expect(e.status).toBe(502);
    expect(e.message).toContain("provider 'a' rejected the hub's credential");
    expect(e.message).not.toContain('abcdefghijklmnop');
  });
});

// --------------------------------------------------------------- provider --

interface Seen {
  url: string;
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

describe('AnthropicProvider over HTTP', () => {
  let server: Server;
  let baseURL: string;
  const seen: Seen[] = [];
  let reply: (res: ServerResponse, body: Record<string, unknown>) => void = () => {};

  beforeAll(async () => {
    server = createServer((rq, res) => {
      let text = '';
      rq.setEncoding('utf8');
      rq.on('data', (c: string) => (text += c));
      rq.on('end', () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        seen.push({ url: rq.url ?? '', headers: rq.headers, body });
        reply(res, body);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  const provider = (extra: Partial<ConstructorParameters<typeof AnthropicProvider>[0]> = {}) =>
    new AnthropicProvider({ id: 'anthropic', baseURL, apiKey: 'sk-ant-test-key-123456', timeouts: { firstByteMs: 5000, idleMs: 5000 }, ...extra });
  const run = async (p: AnthropicProvider, r: ChatRequest): Promise<ChatEvent[]> => {
    const out: ChatEvent[] = [];
    for await (const e of p.stream(r, new AbortController().signal)) out.push(e);
    return out;
  };

  it('posts to /v1/messages with the documented headers and decodes the stream', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // Send in small pieces to exercise the splitter over a real socket.
      for (let i = 0; i < MIXED_STREAM.length; i += 97) res.write(MIXED_STREAM.slice(i, i + 97));
      res.end();
    };
    const events = await run(provider({ headers: { 'anthropic-beta': 'x' } }), req([user('hi')]));
    const last = seen.at(-1)!;
    expect(last.url).toBe('/v1/messages');
    expect(last.headers['x-api-key']).toBe('sk-ant-test-key-123456');
    expect(last.headers['anthropic-version']).toBe('2023-06-01');
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers['anthropic-beta']).toBe('x');
    expect(last.body).toMatchObject({ model: 'claude-opus-4-8', max_tokens: 4096, stream: true });
    expect(events).toEqual(decodeSSE(MIXED_STREAM));
  });

  it('honours version and defaultMaxTokens options', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(sse('message_start', { type: 'message_start', message: { id: 'm', model: 'x' } }) + sse('message_stop', { type: 'message_stop' }));
    };
    await run(provider({ version: '2099-01-01', defaultMaxTokens: 333 }), req([user('hi')]));
    expect(seen.at(-1)!.headers['anthropic-version']).toBe('2099-01-01');
    expect(seen.at(-1)!.body.max_tokens).toBe(333);
  });

  it('fails a stream that ends without message_stop', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(MIXED_STREAM.slice(0, MIXED_STREAM.indexOf('event: message_delta')));
    };
    await expect(run(provider(), req([user('hi')]))).rejects.toMatchObject({
      kind: 'upstream',
      message: 'Upstream anthropic ended the stream before it was complete',
    });
  });

  it('accepts a final message_stop without the trailing blank line', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(MIXED_STREAM.trimEnd());
    };
    expect((await run(provider(), req([user('hi')]))).at(-1)!.type).toBe('usage');
  });

  it('fails on an event that is not JSON', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end('event: message_start\ndata: {"type": "message_st\n\n');
    };
    await expect(run(provider(), req([user('hi')]))).rejects.toMatchObject({ kind: 'upstream', message: expect.stringMatching(/not valid JSON/) });
  });

  it('throws the error event of a 200 stream', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        MIXED_STREAM.slice(0, MIXED_STREAM.indexOf('event: content_block_stop')) +
          'event: error\ndata: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}\n\n',
      );
    };
    const seenEvents: ChatEvent[] = [];
    await expect(
      (async () => {
        for await (const e of provider().stream(req([user('hi')]), new AbortController().signal)) seenEvents.push(e);
      })(),
    ).rejects.toMatchObject({ kind: 'overloaded', status: 502 });
    expect(seenEvents[0]!.type).toBe('start');
  });

  it('converts a whole JSON message when the server does not stream', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'msg_0195XjbG2FGZfN7Dqkd9kyyW',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-20250514',
          content: [
            { type: 'text', text: 'Let me help you check the weather in Beijing.' },
            { type: 'tool_use', id: 'toolu_012f3meaYuYj9yPPuyuRVw9U', name: 'get_weather', input: { location: 'Beijing' } },
          ],
          stop_reason: 'tool_use',
          stop_sequence: null,
          usage: { cache_creation_input_tokens: 0, cache_read_input_tokens: 0, input_tokens: 478, output_tokens: 71 },
        }),
      );
    };
    const c = await collect(provider().stream(req([user('hi')]), new AbortController().signal));
    expect(c.id).toBe('msg_0195XjbG2FGZfN7Dqkd9kyyW');
    expect(c.choices[0]).toMatchObject({
      text: 'Let me help you check the weather in Beijing.',
      toolCalls: [{ id: 'toolu_012f3meaYuYj9yPPuyuRVw9U', name: 'get_weather', arguments: '{"location":"Beijing"}' }],
      finishReason: 'tool_calls',
    });
    expect(c.usage).toEqual({ inputTokens: 478, outputTokens: 71, cachedInputTokens: 0, cacheWriteTokens: 0 });
  });

  it('maps a non-2xx answer through the error body', async () => {
    reply = (res) => {
      res.writeHead(529, { 'content-type': 'application/json', 'retry-after': '3' });
      res.end(JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }));
    };
    await expect(run(provider(), req([user('hi')]))).rejects.toMatchObject({ kind: 'overloaded', status: 502, retryAfter: 3 });
  });

  it('counts tokens at /v1/messages/count_tokens', async () => {
    reply = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ input_tokens: 2095 }));
    };
    const n = await provider().countTokens(req([{ role: 'system', content: 'You are a scientist' }, user('Hello, Claude')], { maxTokens: 10 }), new AbortController().signal);
    expect(n).toBe(2095);
    const last = seen.at(-1)!;
    expect(last.url).toBe('/v1/messages/count_tokens');
    expect(last.headers['x-api-key']).toBe('sk-ant-test-key-123456');
    expect(last.body).toEqual({ model: 'claude-opus-4-8', system: 'You are a scientist', messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello, Claude' }] }] });
  });
});
