import { describe, expect, it } from 'vitest';
import { collect } from '../src/core/collect.js';
import type { ChatEvent } from '../src/core/types.js';
import { ChunkRenderer, completionToWire } from '../src/protocols/openai-chat/from-canonical.js';
import { ChatObserver, readCompletion } from '../src/providers/openai-compatible/passthrough.js';
import { chatCompletionRequest } from '../src/protocols/openai-chat/schema.js';
import { chatRequestToCanonical } from '../src/protocols/openai-chat/to-canonical.js';
import { redact } from '../src/providers/openai-compatible/errors.js';
import { chatRequestToWire } from '../src/providers/openai-compatible/request.js';
import { chunkToEvents } from '../src/providers/openai-compatible/response.js';
import { normalizeWireUsage, usageFromWire } from '../src/providers/openai-compatible/usage.js';
import { parseSSEEvent, SSESplitter } from '../src/providers/sse.js';
import { closeMatches } from '../src/routing/suggest.js';

describe('SSE splitting', () => {
  it('yields whole events however the bytes are cut, CRLF included', () => {
    const wire = 'data: {"a":1}\r\n\r\n: keep-alive\n\nevent: x\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n';
    for (let cut = 1; cut < wire.length; cut++) {
      const s = new SSESplitter();
      const blocks = [...s.push(wire.slice(0, cut)), ...s.push(wire.slice(cut))];
      expect(blocks, `cut at ${cut}`).toEqual(['data: {"a":1}', ': keep-alive', 'event: x\ndata: line1\ndata: line2', 'data: [DONE]']);
      expect(s.rest()).toBe('');
    }
  });

  it('parses data, event and comments', () => {
    expect(parseSSEEvent('data: {"x":1}')).toEqual({ event: undefined, data: '{"x":1}' });
    expect(parseSSEEvent('data:{"x":1}')).toEqual({ event: undefined, data: '{"x":1}' });
    expect(parseSSEEvent('event: ping\ndata: a\ndata: b')).toEqual({ event: 'ping', data: 'a\nb' });
    expect(parseSSEEvent(': comment')).toBeUndefined();
  });
});

describe('usage normalization', () => {
  it('reads DeepSeek cache fields, Kimi top-level cached_tokens and OpenAI details alike', () => {
    expect(usageFromWire({ prompt_tokens: 30, completion_tokens: 50, prompt_cache_hit_tokens: 10, prompt_cache_miss_tokens: 20, completion_tokens_details: { reasoning_tokens: 35 } }))
      .toEqual({ inputTokens: 30, outputTokens: 50, cachedInputTokens: 10, reasoningTokens: 35 });
    expect(usageFromWire({ prompt_tokens: 9, completion_tokens: 1, cached_tokens: 4 })).toEqual({ inputTokens: 9, outputTokens: 1, cachedInputTokens: 4 });
    expect(usageFromWire({ prompt_tokens: 9, completion_tokens: 1, prompt_tokens_details: { cached_tokens: 2 } }).cachedInputTokens).toBe(2);
    expect(usageFromWire({ prompt_tokens: 9, total_tokens: 12 }).outputTokens).toBe(3);
  });

  it('puts cached tokens where OpenAI clients look for them', () => {
    const u = normalizeWireUsage({ prompt_tokens: 30, completion_tokens: 50, total_tokens: 80, prompt_cache_hit_tokens: 10, prompt_cache_miss_tokens: 20 });
    expect(u.prompt_tokens_details?.cached_tokens).toBe(10);
    expect(u.total_tokens).toBe(80);
  });
});

describe('the relay fast path', () => {
  const state = (includeUsage: boolean) => new ChatObserver('p', includeUsage);
  const relayBlock = (block: string, s: ChatObserver) => s.onBlock(block);
  const relayCompletion = (text: string, provider: string) => {
    const r = readCompletion(text, provider);
    return { body: r.text, usage: r.usage };
  };

  it('forwards chunks byte for byte and reads usage', () => {
    const s = state(true);
    const chunk = 'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}],"usage":null}';
    expect(relayBlock(chunk, s)).toBe(`${chunk}\n\n`);
    expect(s.meter.firstTokenAt).toBeTypeOf('number');
    const usage = 'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0}}}';
    expect(relayBlock(usage, s)).toBe(`${usage}\n\n`);
    expect(s.meter.usage).toEqual({ inputTokens: 3, outputTokens: 2, cachedInputTokens: 0 });
    expect(relayBlock('data: [DONE]', s)).toBe('data: [DONE]\n\n');
    expect(s.meter.done).toBe(true);
  });

  it('drops the usage-only chunk a client did not ask for but still counts it', () => {
    const s = state(false);
    expect(relayBlock('data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}', s)).toBe('');
    expect(s.meter.usage).toEqual({ inputTokens: 3, outputTokens: 2 });
  });

  it('rewrites only a usage chunk in a non-OpenAI dialect', () => {
    const s = state(true);
    const out = relayBlock('data: {"choices":[],"usage":{"prompt_tokens":30,"completion_tokens":5,"prompt_cache_hit_tokens":10}}', s);
    expect(JSON.parse(out.slice(6)).usage.prompt_tokens_details.cached_tokens).toBe(10);
  });

  it('throws on garbage and on in-band upstream errors', () => {
    expect(() => relayBlock('data: {nope', state(false))).toThrow(/not valid JSON/);
    expect(() => relayBlock('data: {"error":{"message":"overloaded"}}', state(false))).toThrow(/overloaded/);
    expect(() => relayCompletion('<html>', 'p')).toThrow(/not valid JSON/);
    expect(() => relayCompletion('{"object":"x"}', 'p')).toThrow(/without choices/);
  });

  it('keeps a normal completion byte for byte', () => {
    const body = '{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
    expect(relayCompletion(body, 'p')).toEqual({ body, usage: { inputTokens: 1, outputTokens: 1 } });
  });
});

describe('OpenAI wire ↔ canonical', () => {
  const wireRequest = {
    model: 'chat',
    messages: [
      { role: 'system', content: 'be brief' },
      { role: 'user', content: [{ type: 'text', text: 'what is this?' }, { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', detail: 'low' } }] },
      { role: 'assistant', content: null, reasoning_content: 'look it up', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'lookup', arguments: '{"q":"x"}' } }] },
      { role: 'tool', tool_call_id: 'c1', content: 'a cat' },
    ],
    tools: [{ type: 'function', function: { name: 'lookup', description: 'd', parameters: { type: 'object' } } }],
    tool_choice: { type: 'function', function: { name: 'lookup' } },
    parallel_tool_calls: false,
    response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'object' }, strict: true } },
    max_tokens: 10,
    stop: 'END',
    seed: 1,
    temperature: 0.5,
    top_p: 0.9,
    user: 'u',
    reasoning_effort: 'low',
    enable_thinking: true,
  };

  it('round-trips a rich request through canonical form', () => {
    const canonical = chatRequestToCanonical(chatCompletionRequest.parse(wireRequest), 'upstream-model');
    expect(canonical.extra).toEqual({ enable_thinking: true });
    const back = chatRequestToWire(canonical, { maxTokensField: 'max_tokens' });
    expect(back).toMatchObject({
      model: 'upstream-model',
      messages: wireRequest.messages,
      tools: wireRequest.tools,
      tool_choice: wireRequest.tool_choice,
      parallel_tool_calls: false,
      response_format: wireRequest.response_format,
      max_tokens: 10,
      stop: ['END'],
      seed: 1,
      temperature: 0.5,
      top_p: 0.9,
      user: 'u',
      reasoning_effort: 'low',
      enable_thinking: true,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('turns stream chunks into events and renders them back', async () => {
    const chunks = [
      { id: 'x', choices: [{ index: 0, delta: { role: 'assistant', reasoning_content: 'hmm' } }] },
      { id: 'x', choices: [{ index: 0, delta: { content: 'Sure. ', tool_calls: [{ index: 0, id: 'c1', type: 'function' as const, function: { name: 'f', arguments: '{"a"' } }] } }] },
      { id: 'x', choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }, { index: 1, id: 'c2', function: { name: 'g', arguments: '{}' } }] } }] },
      { id: 'x', choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] },
      { id: 'x', choices: [], usage: { prompt_tokens: 5, completion_tokens: 6 } },
    ];
    const events: ChatEvent[] = [{ type: 'start', id: 'x', model: 'm' }, ...chunks.flatMap(chunkToEvents)];
    async function* gen() {
      yield* events;
    }
    const c = await collect(gen());
    expect(c.choices[0]).toMatchObject({
      text: 'Sure. ',
      reasoning: [{ type: 'reasoning', text: 'hmm' }],
      toolCalls: [{ id: 'c1', name: 'f', arguments: '{"a":1}' }, { id: 'c2', name: 'g', arguments: '{}' }],
      finishReason: 'tool_calls',
    });
    expect(completionToWire(c, 'fallback', 'public')).toMatchObject({
      id: 'x',
      model: 'public',
      choices: [{ message: { content: 'Sure. ', reasoning_content: 'hmm', tool_calls: [{ id: 'c1' }, { id: 'c2' }] }, finish_reason: 'tool_calls' }],
      usage: { prompt_tokens: 5, completion_tokens: 6, total_tokens: 11 },
    });

    const r = new ChunkRenderer('id', 'public', false);
    const rendered = events.map((e) => r.render(e)).filter(Boolean) as any[];
    expect(rendered[0].choices[0].delta).toEqual({ role: 'assistant', content: '', reasoning_content: 'hmm' });
    expect(rendered.some((x) => x.choices.length === 0)).toBe(false); // usage dropped: not asked for
    const withUsage = new ChunkRenderer('id', 'public', true);
    const last = events.map((e) => withUsage.render(e)).filter(Boolean).at(-1) as any;
    expect(last).toMatchObject({ choices: [], usage: { prompt_tokens: 5, completion_tokens: 6 } });
  });
});

describe('small helpers', () => {
  it('suggests close model names', () => {
    const names = ['deepseek/deepseek-chat', 'deepseek/deepseek-reasoner', 'qwen/qwen-max', 'chat'];
    expect(closeMatches('deepseek/deepseek-chta', names)[0]).toBe('deepseek/deepseek-chat');
    expect(closeMatches('qwen-max', names)).toContain('qwen/qwen-max');
    expect(closeMatches('zzzzzzzzzz', names)).toEqual([]);
  });

  it('redacts keys from upstream messages', () => {
    expect(redact('Incorrect API key provided: sk-abcdef1234567890', undefined)).toBe('Incorrect API key provided: sk-***');
    expect(redact('bad key mysecretvalue', 'mysecretvalue')).toBe('bad key ***');
  });
});

describe('token counting', () => {
  it('uses the real tokenizer for OpenAI model families and an honest estimate elsewhere', async () => {
    const { countTokens, loadTokenizer } = await import('../src/usage/tokens.js');
    // Tables load off the request path; until then a count is the estimate.
    expect(await loadTokenizer('openai/gpt-4o')).toBe(true);
    expect(await loadTokenizer('gpt-3.5-turbo')).toBe(true);
    expect(countTokens('openai/gpt-4o', 'hello world')).toEqual({ tokens: 2, exact: true });
    expect(countTokens('gpt-3.5-turbo', 'hello world')).toEqual({ tokens: 2, exact: true });
    expect(countTokens('deepseek-chat', 'hello world')).toEqual({ tokens: 3, exact: false });
    expect(countTokens('qwen-max', '你好世界').tokens).toBe(4);
  });
});
