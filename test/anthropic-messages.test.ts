import { describe, expect, it } from 'vitest';
import type { ChatEvent } from '../src/core/types.js';
import { AnthropicStreamRenderer, stopReason, usageToAnthropic } from '../src/protocols/anthropic-messages/from-canonical.js';
import { messagesRequest } from '../src/protocols/anthropic-messages/schema.js';
import { messagesRequestToCanonical } from '../src/protocols/anthropic-messages/to-canonical.js';
import { chunkToEvents } from '../src/providers/openai-compatible/response.js';

function parse(sse: string): { event: string; data: any }[] {
  return sse
    .split('\n\n')
    .filter(Boolean)
    .map((block) => {
      const [ev, data] = block.split('\n');
      return { event: ev!.slice(7), data: JSON.parse(data!.slice(6)) };
    });
}

function render(events: ChatEvent[]): { event: string; data: any }[] {
  const r = new AnthropicStreamRenderer('msg_1', 'm', 5);
  return parse(r.start() + events.map((e) => r.render(e)).join('') + r.end());
}

describe('Anthropic stream rendering regressions', () => {
  it('keeps the tool name when text and a tool call arrive in the same upstream chunk', () => {
    const events = chunkToEvents({
      choices: [{ index: 0, delta: { content: 'Let me check.', tool_calls: [{ index: 0, id: 'call_a', type: 'function', function: { name: 'get_weather', arguments: '{"city":' } }] } }],
    });
    events.push(...chunkToEvents({ choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: '"Paris"}' } }] }, finish_reason: 'tool_calls' }] }));
    const out = render(events);
    const starts = out.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block);
    expect(starts).toEqual([{ type: 'text', text: '' }, { type: 'tool_use', id: 'call_a', name: 'get_weather', input: {} }]);
    const json = out.filter((e) => e.data.delta?.type === 'input_json_delta').map((e) => e.data.delta.partial_json).join('');
    expect(JSON.parse(json)).toEqual({ city: 'Paris' });
    expect(out.find((e) => e.event === 'message_delta')!.data.delta.stop_reason).toBe('tool_use');
  });

  it('gives each parallel call its own block, in order, closing one before opening the next', () => {
    const out = render([
      { type: 'tool_call', choice: 0, index: 0, id: 'a', name: 'one', arguments: '{"x":' },
      { type: 'tool_call', choice: 0, index: 0, arguments: '1}' },
      { type: 'tool_call', choice: 0, index: 1, id: 'b', name: 'two', arguments: '{}' },
      { type: 'finish', choice: 0, reason: 'tool_calls' },
    ]);
    expect(out.map((e) => `${e.event}:${e.data.index ?? ''}`)).toEqual([
      'message_start:', 'ping:', 'content_block_start:0', 'content_block_delta:0', 'content_block_delta:0', 'content_block_stop:0',
      'content_block_start:1', 'content_block_delta:1', 'content_block_stop:1', 'message_delta:', 'message_stop:',
    ]);
  });

  it('renders signed and redacted thinking byte for byte', () => {
    const out = render([
      { type: 'reasoning', choice: 0, text: 'hmm' },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { signature: 'SIG==' } } },
      { type: 'reasoning', choice: 0, text: '', providerMetadata: { anthropic: { redacted: 'OPAQUE' } } },
      { type: 'text', choice: 0, text: 'ok' },
    ]);
    expect(out.filter((e) => e.event === 'content_block_delta').map((e) => e.data.delta)).toEqual([
      { type: 'thinking_delta', thinking: 'hmm' },
      { type: 'signature_delta', signature: 'SIG==' },
      { type: 'text_delta', text: 'ok' },
    ]);
    expect(out.filter((e) => e.event === 'content_block_start').map((e) => e.data.content_block.type)).toEqual(['thinking', 'redacted_thinking', 'text']);
  });

  it('reports usage once, in message_delta, with cached tokens apart from fresh ones', () => {
    const out = render([{ type: 'text', choice: 0, text: 'x' }, { type: 'usage', usage: { inputTokens: 100, outputTokens: 7, cachedInputTokens: 60, cacheWriteTokens: 10 } }]);
    expect(out.filter((e) => e.event === 'message_delta').map((e) => e.data.usage)).toEqual([
      { input_tokens: 30, output_tokens: 7, cache_creation_input_tokens: 10, cache_read_input_tokens: 60 },
    ]);
    expect(usageToAnthropic(undefined)).toEqual({ input_tokens: 0, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 });
  });

  it('maps stop reasons, including stop sequences', () => {
    expect(stopReason('stop', undefined, false)).toBe('end_turn');
    expect(stopReason('stop', 'END', false)).toBe('stop_sequence');
    expect(stopReason('length', undefined, false)).toBe('max_tokens');
    expect(stopReason('stop', undefined, true)).toBe('tool_use');
    expect(stopReason('content_filter', undefined, false)).toBe('refusal');
  });
});

describe('signatures from other model families', () => {
  it('are wrapped for Anthropic clients and unwrapped when they come back, so each goes only to its own family', () => {
    const out = render([
      { type: 'reasoning', choice: 0, text: 'g', providerMetadata: { gemini: { signature: 'GEMINI-SIG' } } },
      { type: 'reasoning', choice: 0, text: 'a', providerMetadata: { anthropic: { signature: 'CLAUDE-SIG' } } },
    ]);
    const sigs = out.filter((e) => e.data.delta?.type === 'signature_delta').map((e) => e.data.delta.signature);
    expect(sigs).toEqual(['baimo:gemini:GEMINI-SIG', 'CLAUDE-SIG']);
    const back = messagesRequestToCanonical(
      messagesRequest.parse({
        model: 'm',
        max_tokens: 5,
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: [{ type: 'thinking', thinking: 'g', signature: sigs[0] }, { type: 'thinking', thinking: 'a', signature: sigs[1] }, { type: 'text', text: 'x' }] },
        ],
      }),
      'up',
    );
    const assistant = back.messages[1] as unknown as { reasoning: unknown[] };
    expect(assistant.reasoning).toEqual([
      { type: 'reasoning', text: 'g', providerMetadata: { gemini: { signature: 'GEMINI-SIG' } } },
      { type: 'reasoning', text: 'a', providerMetadata: { anthropic: { signature: 'CLAUDE-SIG' } } },
    ]);
  });
});

describe('Anthropic request → canonical', () => {
  it('keeps thinking with signatures, tool results first, system folded, tool choice and thinking budget', () => {
    const body = messagesRequest.parse({
      model: 'm',
      max_tokens: 100,
      system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
      thinking: { type: 'enabled', budget_tokens: 2048 },
      tools: [{ name: 'Read', input_schema: { type: 'object', properties: { path: { type: 'string' } } } }],
      messages: [
        { role: 'user', content: 'read it' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'need file', signature: 'S1' }, { type: 'redacted_thinking', data: 'R1' }, { type: 'text', text: 'Reading.' }, { type: 'tool_use', id: 't1', name: 'Read', input: { path: 'a.txt' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: [{ type: 'text', text: 'hello' }], is_error: false }, { type: 'text', text: 'and now?' }] },
        { role: 'system', content: 'Reminder: be careful.' },
      ],
    });
    const r = messagesRequestToCanonical(body, 'up');
    expect(r.messages).toEqual([
      { role: 'system', content: 'You are Claude Code.\n\nReminder: be careful.' },
      { role: 'user', content: [{ type: 'text', text: 'read it' }] },
      {
        role: 'assistant',
        content: 'Reading.',
        reasoning: [
          { type: 'reasoning', text: 'need file', providerMetadata: { anthropic: { signature: 'S1' } } },
          { type: 'reasoning', text: '', providerMetadata: { anthropic: { redacted: 'R1' } } },
        ],
        toolCalls: [{ id: 't1', name: 'Read', arguments: '{"path":"a.txt"}' }],
      },
      { role: 'tool', toolCallId: 't1', content: 'hello' },
      { role: 'user', content: [{ type: 'text', text: 'and now?' }] },
    ]);
    expect(r).toMatchObject({ toolChoice: 'required', parallelToolCalls: false, reasoning: { budgetTokens: 2048 }, maxTokens: 100, model: 'up' });
  });

  it('rejects what it cannot carry with a 400 naming the field', () => {
    const body = messagesRequest.parse({ model: 'm', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'server_thing', x: 1 }] }] });
    expect(() => messagesRequestToCanonical(body, 'up')).toThrow(/messages\[0\]\.content\[0\]\.type/);
  });
});
