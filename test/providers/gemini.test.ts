import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, Collector } from '../../src/core/collect.js';
import { HubError } from '../../src/core/errors.js';
import type { ChatEvent, ChatRequest, Message } from '../../src/core/types.js';
import { geminiError, parseRetryDelay } from '../../src/providers/gemini/errors.js';
import { GeminiProvider } from '../../src/providers/gemini/provider.js';
import { chatRequestToGemini, countTokensRequest, SKIP_THOUGHT_SIGNATURE } from '../../src/providers/gemini/request.js';
import { GeminiStreamDecoder } from '../../src/providers/gemini/response.js';
import { toGeminiSchema } from '../../src/providers/gemini/schema.js';
import { usageFromGemini } from '../../src/providers/gemini/usage.js';
import type { GeminiResponse } from '../../src/providers/gemini/wire.js';

/** Runs chunks through a decoder with predictable call ids; returns every event, usage last. */
function decode(chunks: GeminiResponse[], model = 'gemini-2.5-flash'): ChatEvent[] {
  let n = 0;
  const d = new GeminiStreamDecoder(model, { newCallId: () => `call_${++n}` });
  const events = chunks.flatMap((c) => d.push(c));
  return [...events, ...d.finish()];
}

function collected(events: ChatEvent[]) {
  const c = new Collector();
  for (const e of events) c.add(e);
  return c.result();
}

function thrown(fn: () => unknown): HubError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(HubError);
    return err as HubError;
  }
  throw new Error('expected a HubError');
}

describe('toGeminiSchema', () => {
  it('cleans an OpenAI-style tool schema without losing meaning', () => {
    const schema = {
      $schema: 'http://json-schema.org/draft-07/schema#',
      $id: 'https://example.com/search.json',
      $comment: 'generated',
      type: 'object',
      additionalProperties: false,
      $defs: {
        Unit: { type: 'string', enum: ['celsius', 'fahrenheit'], description: 'Temperature unit' },
        Point: {
          type: 'object',
          properties: { lat: { type: 'number', minimum: -90, maximum: 90 }, lon: { type: 'number', format: 'double' } },
          required: ['lat', 'lon'],
          additionalProperties: false,
        },
      },
      properties: {
        city: { type: 'string', description: 'City name', minLength: 1, examples: ['Paris'], format: 'hostname' },
        unit: { $ref: '#/$defs/Unit' },
        kind: { const: 'weather' },
        days: { type: ['integer', 'null'], minimum: 1, maximum: 14, default: 3, exclusiveMaximum: 15, format: 'int32' },
        at: { $ref: '#/$defs/Point', description: 'Where exactly' },
        tags: {
          type: 'array',
          items: { type: 'object', properties: { name: { type: 'string' } }, required: ['name', 'ghost'], additionalProperties: { type: 'string' } },
          minItems: 1,
          maxItems: 5,
          uniqueItems: true,
        },
        when: { type: 'string', format: 'date-time', title: 'When' },
      },
      required: ['city', 'unit', 'missing'],
    };
    const before = JSON.stringify(schema);
    expect(toGeminiSchema(schema)).toEqual({
      type: 'OBJECT',
      properties: {
        city: { type: 'STRING', description: 'City name', minLength: 1 },
        unit: { type: 'STRING', enum: ['celsius', 'fahrenheit'], description: 'Temperature unit' },
        kind: { type: 'STRING', enum: ['weather'] },
        days: { type: 'INTEGER', nullable: true, minimum: 1, maximum: 14, default: 3, format: 'int32' },
        at: {
          type: 'OBJECT',
          description: 'Where exactly',
          properties: { lat: { type: 'NUMBER', minimum: -90, maximum: 90 }, lon: { type: 'NUMBER', format: 'double' } },
          required: ['lat', 'lon'],
        },
        tags: {
          type: 'ARRAY',
          items: { type: 'OBJECT', properties: { name: { type: 'STRING' } }, required: ['name'] },
          minItems: 1,
          maxItems: 5,
        },
        when: { type: 'STRING', format: 'date-time', title: 'When' },
      },
      required: ['city', 'unit'],
    });
    expect(JSON.stringify(schema)).toBe(before); // pure
  });

  it('inlines definitions, and breaks cycles with a plain object', () => {
    const tree = {
      definitions: {
        Node: {
          type: 'object',
          properties: { value: { type: 'string' }, children: { type: 'array', items: { $ref: '#/definitions/Node' } } },
        },
      },
      $ref: '#/definitions/Node',
    };
    expect(toGeminiSchema(tree)).toEqual({
      type: 'OBJECT',
      properties: { value: { type: 'STRING' }, children: { type: 'ARRAY', items: { type: 'OBJECT' } } },
    });
    expect(toGeminiSchema({ type: 'object', properties: { name: { type: 'string' }, parent: { $ref: '#', description: 'up' } } })).toEqual({
      type: 'OBJECT',
      properties: { name: { type: 'STRING' }, parent: { type: 'OBJECT', description: 'up' } },
    });
    // A definition used twice (no cycle) is expanded at both places.
    const twice = toGeminiSchema({
      type: 'object',
      $defs: { Id: { type: 'string', pattern: '^[a-z]+$' } },
      properties: { a: { $ref: '#/$defs/Id' }, b: { $ref: '#/$defs/Id' }, c: { $ref: 'https://elsewhere/x.json', description: 'remote' } },
    });
    expect(twice.properties).toEqual({
      a: { type: 'STRING', pattern: '^[a-z]+$' },
      b: { type: 'STRING', pattern: '^[a-z]+$' },
      c: { description: 'remote' },
    });
  });

  it('maps unions: null branches to nullable, oneOf to anyOf, multi-types to branches', () => {
    expect(toGeminiSchema({ anyOf: [{ type: 'string' }, { type: 'null' }], description: 'maybe' })).toEqual({
      type: 'STRING',
      description: 'maybe',
      nullable: true,
    });
    expect(toGeminiSchema({ oneOf: [{ type: 'string' }, { type: 'integer' }] })).toEqual({ anyOf: [{ type: 'STRING' }, { type: 'INTEGER' }] });
    expect(toGeminiSchema({ type: ['string', 'array', 'null'], items: { type: 'string' }, maxLength: 9 })).toEqual({
      anyOf: [{ type: 'STRING', maxLength: 9 }, { type: 'ARRAY', items: { type: 'STRING' } }],
      nullable: true,
    });
    expect(toGeminiSchema({ type: ['object', 'null'], properties: { a: { type: 'boolean' } } })).toEqual({
      type: 'OBJECT',
      properties: { a: { type: 'BOOLEAN' } },
      nullable: true,
    });
    expect(toGeminiSchema({ enum: ['a', 'b', null] })).toEqual({ type: 'STRING', enum: ['a', 'b'], nullable: true });
    expect(toGeminiSchema({ type: 'integer', enum: [1, 2] })).toEqual({ type: 'INTEGER', enum: ['1', '2'], format: 'enum' });
  });

  it('merges simple allOf and infers missing types', () => {
    expect(
      toGeminiSchema({
        description: 'both',
        allOf: [
          { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
          { properties: { b: { type: 'number' } }, required: ['b'] },
        ],
      }),
    ).toEqual({
      description: 'both',
      type: 'OBJECT',
      properties: { a: { type: 'STRING' }, b: { type: 'NUMBER' } },
      required: ['a', 'b'],
    });
    expect(toGeminiSchema({ properties: { x: {} } })).toEqual({ type: 'OBJECT', properties: { x: {} } });
    expect(toGeminiSchema({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }] })).toEqual({
      type: 'ARRAY',
      items: { anyOf: [{ type: 'STRING' }, { type: 'NUMBER' }] },
    });
    // Keywords of another type are dropped: Gemini rejects `properties` outside OBJECT.
    expect(toGeminiSchema({ type: 'string', properties: { a: { type: 'string' } }, required: ['a'] })).toEqual({ type: 'STRING' });
  });
});

const weatherTool = {
  name: 'get_weather',
  description: 'Weather now',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
};

describe('chatRequestToGemini', () => {
  it('puts system messages into systemInstruction and maps images', () => {
    const body = chatRequestToGemini({
      model: 'gemini-2.5-flash',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'system', content: 'Answer in French.' },
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image', url: 'data:image/png;base64,iVBORw0KGgo=' },
            { type: 'image', url: 'https://example.com/photos/cat.JPG?size=large' },
            { type: 'image', url: 'https://example.com/render' },
          ],
        },
      ],
      extra: { safetySettings: [] },
    });
    expect(body).toEqual({
      systemInstruction: { parts: [{ text: 'Be brief.\n\nAnswer in French.' }] },
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'What is in these?' },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/photos/cat.JPG?size=large' } },
            { fileData: { fileUri: 'https://example.com/render' } },
          ],
        },
      ],
    });
  });

  it('converts a multi-turn tool conversation, parallel results in one content', () => {
    const messages: Message[] = [
      { role: 'user', content: [{ type: 'text', text: 'Weather and time in Paris?' }] },
      {
        role: 'assistant',
        content: '',
        reasoning: [{ type: 'reasoning', text: 'I should call both tools.', providerMetadata: { gemini: { signature: 'c2lnLTE=' } } }],
        toolCalls: [
          { id: 'call_w', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
          { id: 'call_t', name: 'get_time', arguments: '' },
        ],
      },
      { role: 'tool', toolCallId: 'call_w', content: '{"temp":18,"sky":"clear"}' },
      { role: 'tool', toolCallId: 'call_t', content: 'timeout talking to the clock', isError: true },
      { role: 'assistant', content: 'It is 18°C.' },
      { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
    ];
    const body = chatRequestToGemini({ model: 'gemini-2.5-flash', messages, tools: [weatherTool, { name: 'get_time', parameters: { type: 'object', properties: {} } }] });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather and time in Paris?' }] },
      {
        role: 'model',
        parts: [
          { functionCall: { id: 'call_w', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: 'c2lnLTE=' },
          { functionCall: { id: 'call_t', name: 'get_time', args: {} } },
        ],
      },
      {
        role: 'user',
        parts: [
          { functionResponse: { id: 'call_w', name: 'get_weather', response: { output: { temp: 18, sky: 'clear' } } } },
          { functionResponse: { id: 'call_t', name: 'get_time', response: { error: 'timeout talking to the clock' } } },
        ],
      },
      { role: 'model', parts: [{ text: 'It is 18°C.' }] },
      { role: 'user', parts: [{ text: 'Thanks' }] },
    ]);
    expect(body.tools).toEqual([
      {
        functionDeclarations: [
          { name: 'get_weather', description: 'Weather now', parameters: { type: 'OBJECT', properties: { city: { type: 'STRING' } }, required: ['city'] } },
          { name: 'get_time' }, // no parameters: left unset, as the API asks
        ],
      },
    ]);
    expect(body.toolConfig).toBeUndefined();
    expect(body.generationConfig).toBeUndefined();
  });

  it('marks unsigned function calls (history from elsewhere) with the documented skip value', () => {
    const body = chatRequestToGemini({
      model: 'gemini-3-pro-preview',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        { role: 'assistant', content: 'Let me look.', toolCalls: [{ id: 'a', name: 'get_weather', arguments: '{"city":"Rome"}' }, { id: 'b', name: 'get_weather', arguments: '{"city":"Oslo"}' }] },
        { role: 'tool', toolCallId: 'a', content: 'sunny' },
        { role: 'tool', toolCallId: 'b', content: '["snow"]' },
      ],
    });
    expect(body.contents[1]).toEqual({
      role: 'model',
      parts: [
        { text: 'Let me look.' },
        { functionCall: { id: 'a', name: 'get_weather', args: { city: 'Rome' } }, thoughtSignature: SKIP_THOUGHT_SIGNATURE },
        { functionCall: { id: 'b', name: 'get_weather', args: { city: 'Oslo' } } },
      ],
    });
    expect(body.contents[2]!.parts.map((p) => p.functionResponse?.response)).toEqual([{ output: 'sunny' }, { output: '["snow"]' }]);
  });

  it('rejects a tool result that answers no earlier call', () => {
    const err = thrown(() =>
      chatRequestToGemini({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }, { role: 'tool', toolCallId: 'nope', content: '1' }] }),
    );
    expect(err.kind).toBe('bad_request');
    expect(err.param).toBe('messages[1]');
  });

  it('maps tool choice', () => {
    const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }], tools: [weatherTool] };
    expect(chatRequestToGemini({ ...base, toolChoice: 'auto' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(chatRequestToGemini({ ...base, toolChoice: 'required' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(chatRequestToGemini({ ...base, toolChoice: 'none' }).toolConfig).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(chatRequestToGemini({ ...base, toolChoice: { name: 'get_weather' } }).toolConfig).toEqual({
      functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['get_weather'] },
    });
    // Without tools there is nothing to configure.
    expect(chatRequestToGemini({ ...base, tools: [], toolChoice: 'required' }).toolConfig).toBeUndefined();
  });

  it('maps sampling, structured output and thinking into generationConfig', () => {
    const base: ChatRequest = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }] };
    expect(
      chatRequestToGemini({
        ...base,
        temperature: 0.2,
        topP: 0.9,
        topK: 40,
        maxTokens: 256,
        stop: ['END'],
        n: 2,
        seed: 7,
        user: 'u1',
        responseFormat: { type: 'json_schema', name: 'answer', schema: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false } },
        reasoning: { effort: 'medium' },
      }).generationConfig,
    ).toEqual({
      stopSequences: ['END'],
      responseMimeType: 'application/json',
      responseSchema: { type: 'OBJECT', properties: { ok: { type: 'BOOLEAN' } }, required: ['ok'] },
      candidateCount: 2,
      maxOutputTokens: 256,
      temperature: 0.2,
      topP: 0.9,
      topK: 40,
      seed: 7,
      thinkingConfig: { includeThoughts: true, thinkingBudget: 8192 },
    });
    expect(chatRequestToGemini({ ...base, responseFormat: { type: 'json_object' } }).generationConfig).toEqual({ responseMimeType: 'application/json' });
    expect(chatRequestToGemini({ ...base, reasoning: { budgetTokens: 3000, effort: 'high' } }).generationConfig).toEqual({
      thinkingConfig: { includeThoughts: true, thinkingBudget: 3000 },
    });
    expect(chatRequestToGemini({ ...base, reasoning: { effort: 'low' } }).generationConfig?.thinkingConfig?.thinkingBudget).toBe(1024);
    expect(chatRequestToGemini({ ...base, reasoning: { effort: 'high' } }).generationConfig?.thinkingConfig?.thinkingBudget).toBe(24576);
    expect(chatRequestToGemini({ ...base, reasoning: {} }).generationConfig).toEqual({ thinkingConfig: { includeThoughts: true } });
  });

  it('builds the countTokens body as a whole generateContentRequest', () => {
    expect(
      countTokensRequest({ model: 'models/gemini-2.5-pro', messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }], maxTokens: 5 }),
    ).toEqual({
      generateContentRequest: {
        model: 'models/gemini-2.5-pro',
        systemInstruction: { parts: [{ text: 's' }] },
        contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
      },
    });
  });
});

// Chunks shaped like the API's streamGenerateContent?alt=sse answers.
const textStream: GeminiResponse[] = [
  {
    candidates: [{ content: { parts: [{ text: 'The capital' }], role: 'model' }, index: 0 }],
    usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 2, totalTokenCount: 10 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'resp-abc',
  },
  {
    candidates: [{ content: { parts: [{ text: ' of France is' }], role: 'model' }, index: 0 }],
    usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 5, totalTokenCount: 13 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'resp-abc',
  },
  {
    candidates: [{ content: { parts: [{ text: ' Paris.' }], role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 7, totalTokenCount: 15 },
    modelVersion: 'gemini-2.5-flash',
    responseId: 'resp-abc',
  },
];

const toolStream: GeminiResponse[] = [
  {
    candidates: [
      {
        content: {
          role: 'model',
          parts: [
            { text: 'Weather first, then time.', thought: true },
            { functionCall: { name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: 'Q2lJQkFSLi4u' },
          ],
        },
        index: 0,
      },
    ],
    usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 10, thoughtsTokenCount: 6, totalTokenCount: 56 },
    modelVersion: 'gemini-3-pro-preview',
    responseId: 'resp-tools',
  },
  {
    candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'get_time', args: { timezone: 'Europe/Paris' } } }] }, finishReason: 'STOP', index: 0 }],
    usageMetadata: { promptTokenCount: 40, candidatesTokenCount: 14, thoughtsTokenCount: 6, totalTokenCount: 60 },
    modelVersion: 'gemini-3-pro-preview',
    responseId: 'resp-tools',
  },
];

describe('GeminiStreamDecoder', () => {
  it('streams text split over chunks, then one usage event', () => {
    const events = decode(textStream);
    expect(events).toEqual([
      { type: 'start', id: 'resp-abc', model: 'gemini-2.5-flash' },
      { type: 'text', choice: 0, text: 'The capital' },
      { type: 'text', choice: 0, text: ' of France is' },
      { type: 'text', choice: 0, text: ' Paris.' },
      { type: 'finish', choice: 0, reason: 'stop' },
      { type: 'usage', usage: { inputTokens: 8, outputTokens: 7 } },
    ]);
  });

  it('falls back to the requested model and an empty id', () => {
    const events = decode([{ candidates: [{ content: { parts: [{ text: 'x' }] }, finishReason: 'MAX_TOKENS' }] }], 'gemini-x');
    expect(events[0]).toEqual({ type: 'start', id: '', model: 'gemini-x' });
    expect(events).toContainEqual({ type: 'finish', choice: 0, reason: 'length' });
    expect(events.some((e) => e.type === 'usage')).toBe(false);
  });

  it('turns thoughts into reasoning and usage into canonical sums', () => {
    const events = decode([
      { candidates: [{ content: { role: 'model', parts: [{ text: 'Let me think step by step.', thought: true }] } }], responseId: 'r', modelVersion: 'gemini-2.5-pro' },
      {
        candidates: [{ content: { role: 'model', parts: [{ text: 'The answer is 42.' }] }, finishReason: 'STOP' }],
        usageMetadata: { promptTokenCount: 30, cachedContentTokenCount: 10, candidatesTokenCount: 15, thoughtsTokenCount: 35, totalTokenCount: 80 },
      },
    ]);
    expect(events.slice(1)).toEqual([
      { type: 'reasoning', choice: 0, text: 'Let me think step by step.' },
      { type: 'text', choice: 0, text: 'The answer is 42.' },
      { type: 'finish', choice: 0, reason: 'stop' },
      { type: 'usage', usage: { inputTokens: 30, outputTokens: 50, cachedInputTokens: 10, reasoningTokens: 35 } },
    ]);
  });

  it('emits each function call whole, indexed per candidate, and finishes with tool_calls', () => {
    const events = decode(toolStream);
    expect(events).toEqual([
      { type: 'start', id: 'resp-tools', model: 'gemini-3-pro-preview' },
      { type: 'reasoning', choice: 0, text: 'Weather first, then time.' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { gemini: { signature: 'Q2lJQkFSLi4u' } } },
      { type: 'tool_call', choice: 0, index: 0, id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris","unit":"celsius"}' },
      { type: 'tool_call', choice: 0, index: 1, id: 'call_2', name: 'get_time', arguments: '{"timezone":"Europe/Paris"}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
      { type: 'usage', usage: { inputTokens: 40, outputTokens: 20, reasoningTokens: 6 } },
    ]);
    expect(events.filter((e) => e.type === 'usage')).toHaveLength(1);
  });

  it("keeps the API's own call ids, and arguments default to {}", () => {
    const events = decode([
      { candidates: [{ content: { parts: [{ functionCall: { id: 'fc-9', name: 'ping' } }] }, finishReason: 'STOP' }] },
    ]);
    expect(events).toContainEqual({ type: 'tool_call', choice: 0, index: 0, id: 'fc-9', name: 'ping', arguments: '{}' });
    const d = new GeminiStreamDecoder('m');
    const [, call] = d.push({ candidates: [{ content: { parts: [{ functionCall: { name: 'ping', args: {} } }] } }] });
    expect(call).toMatchObject({ type: 'tool_call', id: expect.stringMatching(/^call_[A-Za-z0-9_-]{16}$/) });
  });

  it('keeps candidates apart', () => {
    const events = decode([
      {
        candidates: [
          { content: { parts: [{ text: 'A' }] }, finishReason: 'STOP', index: 0 },
          { content: { parts: [{ functionCall: { name: 'f', args: { x: 1 } } }] }, finishReason: 'STOP', index: 1 },
        ],
      },
    ]);
    expect(events.slice(1)).toEqual([
      { type: 'text', choice: 0, text: 'A' },
      { type: 'finish', choice: 0, reason: 'stop' },
      { type: 'tool_call', choice: 1, index: 0, id: 'call_1', name: 'f', arguments: '{"x":1}' },
      { type: 'finish', choice: 1, reason: 'tool_calls' },
    ]);
  });

  it('fails clearly on a blocked prompt', () => {
    const d = new GeminiStreamDecoder('m', { provider: 'gem' });
    const err = thrown(() =>
      d.push({
        promptFeedback: {
          blockReason: 'SAFETY',
          safetyRatings: [
            { category: 'HARM_CATEGORY_DANGEROUS_CONTENT', probability: 'HIGH', blocked: true },
            { category: 'HARM_CATEGORY_HARASSMENT', probability: 'NEGLIGIBLE' },
          ],
        },
        usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 },
      }),
    );
    expect(err.kind).toBe('content_filter');
    expect(err.status).toBe(400);
    expect(err.provider).toBe('gem');
    expect(err.message).toBe('Gemini blocked the prompt (SAFETY) for HARM_CATEGORY_DANGEROUS_CONTENT');
  });

  it('fails clearly when a filter stops the answer before any content', () => {
    const d = new GeminiStreamDecoder('m');
    const err = thrown(() =>
      d.push({
        candidates: [{ finishReason: 'SAFETY', index: 0, safetyRatings: [{ category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', probability: 'MEDIUM', blocked: true }] }],
      }),
    );
    expect(err.kind).toBe('content_filter');
    expect(err.message).toBe('Gemini blocked the answer (SAFETY) for HARM_CATEGORY_SEXUALLY_EXPLICIT');
    // After some content the answer is kept and ends as content_filter.
    expect(decode([textStream[0]!, { candidates: [{ finishReason: 'RECITATION', index: 0 }] }])).toContainEqual({
      type: 'finish',
      choice: 0,
      reason: 'content_filter',
    });
  });

  it('treats a malformed function call with no output as a retryable upstream failure', () => {
    const err = thrown(() => decode([{ candidates: [{ finishReason: 'MALFORMED_FUNCTION_CALL', finishMessage: 'Malformed function call: foo(' }] }]));
    expect(err.kind).toBe('upstream');
    expect(err.message).toContain('MALFORMED_FUNCTION_CALL');
  });
});

describe('thought signatures round trip', () => {
  it('puts a streamed signature back on the part it came with', () => {
    const turn = collected(decode(toolStream));
    const choice = turn.choices[0]!;
    expect(choice.reasoning).toEqual([{ type: 'reasoning', text: 'Weather first, then time.', providerMetadata: { gemini: { signature: 'Q2lJQkFSLi4u' } } }]);
    const next = chatRequestToGemini({
      model: 'gemini-3-pro-preview',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Weather and time in Paris?' }] },
        { role: 'assistant', content: choice.text, reasoning: choice.reasoning, toolCalls: choice.toolCalls },
        { role: 'tool', toolCallId: 'call_1', content: '{"temp":18}' },
        { role: 'tool', toolCallId: 'call_2', content: '{"time":"14:02"}' },
      ],
    });
    expect(next.contents[1]).toEqual({
      role: 'model',
      parts: [
        { functionCall: { id: 'call_1', name: 'get_weather', args: { city: 'Paris', unit: 'celsius' } }, thoughtSignature: 'Q2lJQkFSLi4u' },
        { functionCall: { id: 'call_2', name: 'get_time', args: { timezone: 'Europe/Paris' } } },
      ],
    });
    expect(next.contents[2]).toEqual({
      role: 'user',
      parts: [
        { functionResponse: { id: 'call_1', name: 'get_weather', response: { output: { temp: 18 } } } },
        { functionResponse: { id: 'call_2', name: 'get_time', response: { output: { time: '14:02' } } } },
      ],
    });
  });

  it('gives the signature of an answer without calls back to its text', () => {
    const turn = collected(
      decode([
        { candidates: [{ content: { parts: [{ text: 'Hello' }] } }] },
        { candidates: [{ content: { parts: [{ text: ' there', thoughtSignature: 'U0lH' }] }, finishReason: 'STOP' }] },
      ]),
    ).choices[0]!;
    expect(turn.text).toBe('Hello there');
    const body = chatRequestToGemini({
      model: 'm',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'hi' }] },
        { role: 'assistant', content: turn.text, reasoning: turn.reasoning },
        { role: 'user', content: [{ type: 'text', text: 'and?' }] },
      ],
    });
    expect(body.contents[1]).toEqual({ role: 'model', parts: [{ text: 'Hello there', thoughtSignature: 'U0lH' }] });
  });
});

describe('usageFromGemini', () => {
  it('counts tool-use prompt tokens as input and derives output from the total when needed', () => {
    expect(usageFromGemini({ promptTokenCount: 100, toolUsePromptTokenCount: 20, candidatesTokenCount: 5, totalTokenCount: 125 })).toEqual({
      inputTokens: 120,
      outputTokens: 5,
    });
    expect(usageFromGemini({ promptTokenCount: 10, thoughtsTokenCount: 4, totalTokenCount: 14 })).toEqual({ inputTokens: 10, outputTokens: 4, reasoningTokens: 4 });
  });
});

describe('geminiError', () => {
  const KEY = 'AIzaSyTESTKEY1234567890';

  it('maps 429 RESOURCE_EXHAUSTED with RetryInfo to rate_limited', () => {
    const body = JSON.stringify({
      error: {
        code: 429,
        message: 'You exceeded your current quota, please check your plan and billing details.',
        status: 'RESOURCE_EXHAUSTED',
        details: [
          { '@type': 'type.googleapis.com/google.rpc.QuotaFailure', violations: [{ quotaId: 'GenerateRequestsPerMinutePerProjectPerModel-FreeTier' }] },
          { '@type': 'type.googleapis.com/google.rpc.Help', links: [{ description: 'Learn more', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }] },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' },
        ],
      },
    });
    const err = geminiError('gem', 429, { 'retry-after': '30' }, body, KEY);
    expect(err).toMatchObject({ kind: 'rate_limited', status: 429, retryAfter: 7, code: 'RESOURCE_EXHAUSTED', provider: 'gem' });
    expect(err.message).toBe('You exceeded your current quota, please check your plan and billing details.');
    expect(geminiError('gem', 429, { 'retry-after': '30' }, '{"error":{"code":429,"message":"slow down","status":"RESOURCE_EXHAUSTED"}}', KEY).retryAfter).toBe(30);
    expect(parseRetryDelay('12.771204034s')).toBe(13);
    expect(parseRetryDelay('soon')).toBeUndefined();
  });

  it('keeps 4xx statuses and messages, with the right kinds', () => {
    const e400 = geminiError('gem', 400, {}, '{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \\"foo\\": Cannot find field.","status":"INVALID_ARGUMENT"}}', KEY);
    expect(e400).toMatchObject({ kind: 'bad_request', status: 400, code: 'INVALID_ARGUMENT' });
    expect(e400.message).toContain('Unknown name "foo"');
    const badKey = JSON.stringify({
      error: {
        code: 400,
        message: 'API key not valid. Please pass a valid API key.',
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'API_KEY_INVALID', domain: 'googleapis.com' }],
      },
    });
    // The hub's own key at fault: a 502 naming the provider, not a 401 the client would take for its own (issue 16).
    expect(geminiError('gem', 400, {}, badKey, KEY)).toMatchObject({ kind: 'upstream', status: 502, code: 'upstream_authentication_failed' });
    expect(geminiError('gem', 403, {}, '{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}', KEY)).toMatchObject({ kind: 'permission', status: 403 });
    expect(geminiError('gem', 404, {}, '{"error":{"code":404,"message":"models/nope is not found","status":"NOT_FOUND"}}', KEY)).toMatchObject({
      kind: 'not_found',
      status: 404,
      message: 'models/nope is not found',
    });
    expect(
      geminiError('gem', 400, {}, '{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}', KEY),
    ).toMatchObject({ kind: 'context_length', status: 400 });
  });

  it('turns 5xx into 502 (overloaded for 503) and 504 into a timeout', () => {
    const e500 = geminiError('gem', 500, {}, '{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}', KEY);
    expect(e500).toMatchObject({ kind: 'upstream', status: 502, message: 'Upstream gem failed (500): An internal error has occurred.' });
    expect(geminiError('gem', 503, {}, '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}', KEY)).toMatchObject({
      kind: 'overloaded',
      status: 502,
    });
    expect(geminiError('gem', 504, {}, '{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}', KEY)).toMatchObject({
      kind: 'timeout',
      status: 504,
    });
    expect(geminiError('gem', 502, {}, '<html><body>Bad Gateway</body></html>', KEY)).toMatchObject({ kind: 'upstream', status: 502 });
  });

  it('never shows the API key', () => {
    const err = geminiError('gem', 400, {}, JSON.stringify({ error: { code: 400, message: `bad key ${KEY} given`, status: 'INVALID_ARGUMENT' } }), KEY);
    expect(err.message).toBe('bad key [REDACTED] given');
  });
});

describe('GeminiProvider over HTTP', () => {
  let server: Server;
  let baseURL: string;
  let last: { url: string; headers: IncomingMessage['headers']; body: unknown } | undefined;
  let answer: (res: ServerResponse) => void = () => {};

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (raw += c));
      req.on('end', () => {
        last = { url: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : undefined };
        answer(res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1beta`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const provider = () => new GeminiProvider({ id: 'gem', baseURL: `${baseURL}/`, apiKey: 'AIzaSySECRET', headers: { 'x-extra': '1' }, timeouts: { firstByteMs: 5000, idleMs: 5000 } });
  const request: ChatRequest = { model: 'gemini-2.5-flash', messages: [{ role: 'user', content: [{ type: 'text', text: 'Capital of France?' }] }] };
  const sse = (chunks: unknown[], tail = '') => (res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // CRLF framing and chunk boundaries that cut events, as real streams do.
    const wire = chunks.map((c) => `data: ${JSON.stringify(c)}\r\n\r\n`).join('') + tail;
    res.write(wire.slice(0, 17));
    setTimeout(() => res.end(wire.slice(17)), 5);
  };

  it('posts to streamGenerateContent with the key in a header and decodes the stream', async () => {
    answer = sse(textStream);
    const result = await collect(provider().stream(request, new AbortController().signal));
    expect(last!.url).toBe('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    expect(last!.url).not.toContain('key=');
    expect(last!.headers['x-goog-api-key']).toBe('AIzaSySECRET');
    expect(last!.headers['x-extra']).toBe('1');
    expect(last!.body).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Capital of France?' }] }] });
    expect(result).toMatchObject({
      id: 'resp-abc',
      model: 'gemini-2.5-flash',
      choices: [{ text: 'The capital of France is Paris.', finishReason: 'stop' }],
      usage: { inputTokens: 8, outputTokens: 7 },
    });
  });

  it('fails a stream that ends without a finish reason', async () => {
    answer = sse([textStream[0]]);
    await expect(collect(provider().stream(request, new AbortController().signal))).rejects.toMatchObject({
      kind: 'upstream',
      message: 'Upstream gem ended the stream before it was complete',
    });
  });

  it('fails on a chunk that is not JSON', async () => {
    answer = sse([], 'data: {"candidates": [\n\n');
    await expect(collect(provider().stream(request, new AbortController().signal))).rejects.toMatchObject({
      kind: 'upstream',
      message: 'Upstream gem returned a response that is not valid JSON',
    });
  });

  it('maps an error answer before the stream', async () => {
    answer = (res) => {
      res.writeHead(429, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 429, message: 'Quota exceeded', status: 'RESOURCE_EXHAUSTED', details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '7s' }] } }));
    };
    await expect(collect(provider().stream(request, new AbortController().signal))).rejects.toMatchObject({ kind: 'rate_limited', retryAfter: 7, provider: 'gem' });
  });

  it('counts tokens', async () => {
    answer = (res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"totalTokens": 31}');
    };
    expect(await provider().countTokens(request, new AbortController().signal)).toBe(31);
    expect(last!.url).toBe('/v1beta/models/gemini-2.5-flash:countTokens');
    expect(last!.body).toEqual({
      generateContentRequest: { model: 'models/gemini-2.5-flash', contents: [{ role: 'user', parts: [{ text: 'Capital of France?' }] }] },
    });
  });
});
