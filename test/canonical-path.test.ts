import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../src/core/model.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { readChatStream } from './helpers/chat-stream.js';

/**
 * The same requests as the fast path, but through canonical form both ways: the OpenAI inbound
 * protocol → canonical → OpenAI-compatible provider → canonical → OpenAI chunks. This is the
 * path every non-OpenAI model (Anthropic, Gemini, virtual models) will take.
 */
let upstream: OpenAIUpstream;
let hub: TestHub;
let client: OpenAI;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  hub = await startTestHub(`providers:\n  loop:\n    baseURL: ${upstream.baseURL}\n`);
  const provider = hub.registry.resolve('loop/any').route.deployments[0]!.model;
  // A Model that is not an OpenAICompatibleProvider, so the relay fast path cannot be taken.
  const canonicalOnly: Model = { provider: 'canon', stream: (req, signal) => provider.stream(req, signal) };
  hub.registry.addModel('canon', canonicalOnly);
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

describe('canonical path through the official openai SDK', () => {
  it('plain chat, non-streaming', async () => {
    const r = await client.chat.completions.create({ model: 'canon/gpt-test', messages: [{ role: 'user', content: 'hey' }] });
    expect(r.choices[0]!.message.content).toBe('Hello from gpt-test! You said: hey');
    expect(r.choices[0]!.finish_reason).toBe('stop');
    expect(r.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 9, total_tokens: 21 });
    expect(r.model).toBe('canon/gpt-test');
  });

  it('streams parallel tool calls exactly', async () => {
    const stream = await client.chat.completions.create({
      model: 'canon/tools',
      messages: [{ role: 'user', content: 'go' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
      stream: true,
      stream_options: { include_usage: true },
    });
    const calls: { id: string; name: string; args: string }[] = [];
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const c of stream) {
      for (const t of c.choices[0]?.delta.tool_calls ?? []) {
        calls[t.index] ??= { id: '', name: '', args: '' };
        if (t.id) calls[t.index]!.id = t.id;
        calls[t.index]!.name += t.function?.name ?? '';
        calls[t.index]!.args += t.function?.arguments ?? '';
      }
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    expect(calls).toEqual([
      { id: 'call_weather_1', name: 'get_weather', args: '{"city":"Paris","unit":"celsius"}' },
      { id: 'call_time_2', name: 'get_time', args: '{"timezone":"Europe/Paris"}' },
    ]);
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 40, completion_tokens: 20, total_tokens: 60 });
    const sent = upstream.requests.at(-1)!.body;
    expect(sent.tools[0].function.name).toBe('get_weather');
    expect(sent.stream_options).toEqual({ include_usage: true });
  });

  it('reasoning and normalized usage, non-streaming', async () => {
    const r = await client.chat.completions.create({ model: 'canon/reasoner', messages: [{ role: 'user', content: 'q' }] });
    const msg = r.choices[0]!.message as OpenAI.ChatCompletionMessage & { reasoning_content?: string };
    expect(msg.reasoning_content).toBe('Let me think step by step.');
    expect(msg.content).toBe('The answer is 42.');
    expect(r.usage?.prompt_tokens_details?.cached_tokens).toBe(10);
    expect(r.usage?.completion_tokens_details?.reasoning_tokens).toBe(35);
  });

  it('an upstream error before the first byte keeps its status', async () => {
    const err = await client.chat.completions.create({ model: 'canon/error-429', messages: [{ role: 'user', content: 'x' }], stream: true }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
  });

  it('a stream cut mid-way ends with an error event, not silence', async () => {
    const stream = await client.chat.completions.create({ model: 'canon/cut', messages: [{ role: 'user', content: 'x' }], stream: true });
    const { text, err } = await readChatStream(stream);
    expect(text).toBe('Partial answer');
    expect(err).toBeInstanceOf(OpenAI.APIError);
  });
});
