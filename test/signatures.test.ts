/**
 * Reasoning signatures are opaque data namespaced by the provider family that made them: whatever
 * client format carries them, each goes back byte for byte to its own family and to no other.
 */
import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../src/core/types.js';
import { collectedToResponse } from '../src/protocols/openai-responses/from-canonical.js';
import { responsesRequest } from '../src/protocols/openai-responses/schema.js';
import type { ResponsesRequest } from '../src/protocols/openai-responses/schema.js';
import { responsesRequestToCanonical } from '../src/protocols/openai-responses/to-canonical.js';
import { messagesRequest } from '../src/protocols/anthropic-messages/schema.js';
import { messagesRequestToCanonical } from '../src/protocols/anthropic-messages/to-canonical.js';
import { collectedToMessage } from '../src/protocols/anthropic-messages/from-canonical.js';
import { validate } from '../src/protocols/validate.js';
import { chatRequestToAnthropic } from '../src/providers/anthropic/request.js';
import { AnthropicStreamDecoder } from '../src/providers/anthropic/response.js';
import { SKIP_THOUGHT_SIGNATURE, chatRequestToGemini } from '../src/providers/gemini/request.js';
import { GeminiStreamDecoder } from '../src/providers/gemini/response.js';
import { Collector } from '../src/core/collect.js';

const call = { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' };
const responses = (input: unknown[]): ResponsesRequest => validate(responsesRequest, { model: 'm', input });

/** What an Anthropic upstream and a Gemini upstream would be sent for this canonical history. */
function sentBack(r: ChatRequest): { anthropic: unknown[]; gemini: unknown[] } {
  const ant = chatRequestToAnthropic(r, { defaultMaxTokens: 100 }).messages.flatMap((m) => (Array.isArray(m.content) ? (m.content as { type: string }[]) : []));
  const gem = chatRequestToGemini(r).contents.flatMap((c) => c.parts);
  return {
    anthropic: ant.filter((b) => b.type === 'thinking' || b.type === 'redacted_thinking'),
    // The documented placeholder for a call whose signature is unknown is not a signature.
    gemini: gem.flatMap((p) => (p.thoughtSignature && p.thoughtSignature !== SKIP_THOUGHT_SIGNATURE ? [p.thoughtSignature] : [])),
  };
}

describe('signatures carried by a Responses client', () => {
  it('go only to the family named in them; unwrapped encrypted content is OpenAI’s own and goes to neither', () => {
    const r = responsesRequestToCanonical(
      responses([
        { role: 'user', content: 'q' },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'openai' }], encrypted_content: 'gAAAAB-openai-encrypted' },
        { type: 'reasoning', summary: [{ type: 'summary_text', text: 'claude' }], encrypted_content: 'baimo:anthropic:ErUBCkYIBhgC+/=' },
        { type: 'reasoning', summary: [], encrypted_content: 'baimo:gemini:Q2lJQkFSLi4u' },
        call,
        { type: 'function_call_output', call_id: 'c1', output: 'ok' },
      ]),
      'up',
    );
    expect(sentBack(r)).toEqual({
      anthropic: [{ type: 'thinking', thinking: 'claude', signature: 'ErUBCkYIBhgC+/=' }],
      gemini: ['Q2lJQkFSLi4u'],
    });
  });
});

describe('an upstream’s signature through a client and back', () => {
  const SIG = 'EqQBCkgIARABGAIiQL+/=sig';

  it('Anthropic → Responses client → Anthropic, byte for byte', () => {
    const decoder = new AnthropicStreamDecoder('ant');
    const c = new Collector();
    for (const e of [
      { type: 'message_start', message: { id: 'msg_1', model: 'claude', usage: { input_tokens: 1, output_tokens: 0 } } },
      { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } },
      { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: SIG } },
      { type: 'content_block_stop', index: 0 },
      { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'c1', name: 'f', input: {} } },
      { type: 'content_block_stop', index: 1 },
      { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 3 } },
      { type: 'message_stop' },
    ]) {
      for (const ev of decoder.decode(undefined, e as never)) c.add(ev);
    }
    const body = responses([{ role: 'user', content: 'q' }]);
    const output = collectedToResponse(c.result(), 'resp_1', body, 0).output as Record<string, unknown>[];
    expect(output[0]).toMatchObject({ type: 'reasoning', encrypted_content: `baimo:anthropic:${SIG}` });
    const next = responsesRequestToCanonical(responses([{ role: 'user', content: 'q' }, ...output, { type: 'function_call_output', call_id: 'c1', output: 'ok' }]), 'up');
    expect(sentBack(next)).toEqual({ anthropic: [{ type: 'thinking', thinking: 'hmm', signature: SIG }], gemini: [] });
  });

  it('Gemini → Anthropic client → Gemini, byte for byte, and never to Anthropic', () => {
    const decoder = new GeminiStreamDecoder('gemini-2.5-pro');
    const c = new Collector();
    const chunk = { candidates: [{ index: 0, content: { role: 'model', parts: [{ functionCall: { name: 'f', args: {} }, thoughtSignature: SIG }] }, finishReason: 'STOP' }] };
    for (const ev of decoder.push(chunk as never)) c.add(ev);
    for (const ev of decoder.finish()) c.add(ev);
    const message = collectedToMessage(c.result(), 'msg_1', 'm') as { content: Record<string, unknown>[] };
    expect(message.content[0]).toEqual({ type: 'thinking', thinking: '', signature: `baimo:gemini:${SIG}` });
    const next = messagesRequestToCanonical(
      messagesRequest.parse({
        model: 'm',
        max_tokens: 5,
        messages: [
          { role: 'user', content: 'q' },
          { role: 'assistant', content: message.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: String(message.content[1]!.id), content: 'ok' }] },
        ],
      }),
      'up',
    );
    expect(sentBack(next)).toEqual({ anthropic: [], gemini: [SIG] });
  });
});

describe('a Responses conversation stored by an earlier version', () => {
  it('keeps sending its signatures home: parts with signature/redacted/origin are read as metadata', () => {
    const stored = JSON.parse(
      JSON.stringify([
        { role: 'user', content: [{ type: 'text', text: 'q' }] },
        {
          role: 'assistant',
          content: '',
          reasoning: [
            { type: 'reasoning', text: 'claude', signature: 'A-SIG', origin: 'anthropic' },
            { type: 'reasoning', text: '', redacted: 'A-REDACTED', origin: 'anthropic' },
            { type: 'reasoning', text: 'unnamed', signature: 'U-SIG' },
            { type: 'reasoning', text: '', signature: 'G-SIG', origin: 'gemini' },
            { type: 'reasoning', text: 'plain' },
          ],
          toolCalls: [{ id: 'c1', name: 'f', arguments: '{}' }],
        },
        { role: 'tool', toolCallId: 'c1', content: 'ok' },
      ]),
    );
    const r = responsesRequestToCanonical(responses([{ role: 'user', content: 'next' }]), 'up', stored);
    expect(sentBack(r)).toEqual({
      anthropic: [
        { type: 'thinking', thinking: 'claude', signature: 'A-SIG' },
        { type: 'redacted_thinking', data: 'A-REDACTED' },
        { type: 'thinking', thinking: 'unnamed', signature: 'U-SIG' },
      ],
      gemini: ['G-SIG'],
    });
    expect((r.messages[1] as unknown as { reasoning: unknown[] }).reasoning[4]).toEqual({ type: 'reasoning', text: 'plain' });
    // A history in today's shape is used as it is.
    const current = responsesRequestToCanonical(responses([{ role: 'user', content: 'next' }]), 'up', r.messages);
    expect(current.messages.slice(0, 3)).toEqual(r.messages.slice(0, 3));
    expect(current.messages[1]).toBe(r.messages[1]);
  });
});
