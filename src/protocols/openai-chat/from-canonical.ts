import { retrievalExtension } from '../../core/citations.js';
import type { Collected } from '../../core/collect.js';
import type { ChatEvent, TokenLogprob, Usage } from '../../core/types.js';

export interface WireUsageOut {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  completion_tokens_details: { reasoning_tokens: number };
}

export function usageToWire(u: Usage): WireUsageOut {
  return {
    prompt_tokens: u.inputTokens,
    completion_tokens: u.outputTokens,
    total_tokens: u.inputTokens + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cachedInputTokens ?? 0 },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
  };
}

function logprobsToWire(lp: readonly TokenLogprob[] | undefined): { content: unknown[] } | null {
  return lp?.length ? { content: lp.map((t) => ({ token: t.token, logprob: t.logprob, bytes: null, top_logprobs: [] })) } : null;
}

/** Canonical events → `chat.completion.chunk` objects, one per event (usage only if asked for). */
export class ChunkRenderer {
  private readonly greeted = new Set<number>();
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private id: string,
    private model: string,
    private readonly includeUsage: boolean,
  ) {}

  private chunk(choices: unknown[], usage?: WireUsageOut): Record<string, unknown> {
    const c: Record<string, unknown> = { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, choices };
    if (this.includeUsage) c.usage = usage ?? null;
    return c;
  }

  /** The first delta of each choice carries the role, as OpenAI's own streams do. */
  private delta(choice: number, fields: Record<string, unknown>): Record<string, unknown> {
    if (this.greeted.has(choice)) return fields;
    this.greeted.add(choice);
    return { role: 'assistant', ...(fields.content === undefined && !fields.tool_calls && { content: '' }), ...fields };
  }

  render(e: ChatEvent): Record<string, unknown> | undefined {
    switch (e.type) {
      case 'start':
        if (e.id) this.id = e.id;
        return undefined;
      case 'text':
        return this.chunk([{ index: e.choice, delta: this.delta(e.choice, { content: e.text }), logprobs: logprobsToWire(e.logprobs), finish_reason: null }]);
      case 'reasoning':
        if (!e.text) return undefined; // a signature or a redacted block: nothing an OpenAI client can use
        return this.chunk([{ index: e.choice, delta: this.delta(e.choice, { reasoning_content: e.text }), logprobs: null, finish_reason: null }]);
      case 'tool_call': {
        const call: Record<string, unknown> = { index: e.index };
        if (e.id) Object.assign(call, { id: e.id, type: 'function' });
        call.function = { ...(e.name !== undefined && { name: e.name }), arguments: e.arguments };
        return this.chunk([{ index: e.choice, delta: this.delta(e.choice, { tool_calls: [call] }), logprobs: null, finish_reason: null }]);
      }
      case 'finish':
        return this.chunk([{ index: e.choice, delta: this.delta(e.choice, {}), logprobs: null, finish_reason: e.reason }]);
      case 'usage':
        return this.includeUsage ? this.chunk([], usageToWire(e.usage)) : undefined;
      case 'trace':
        // An extension chunk with no choices: clients that do not know it skip it.
        return { ...this.chunk([]), baimo_trace: { steps: e.steps, ...(e.summary && { summary: e.summary }) } };
      case 'retrieval':
        // The passages, before the text that cites them; citations are the text's [n] markers.
        return { ...this.chunk([]), baimo_retrieval: retrievalExtension(e) };
    }
  }
}

/** A collected answer → a `chat.completion` object. */
export function completionToWire(c: Collected, fallbackId: string, model: string): Record<string, unknown> {
  return {
    id: c.id || fallbackId,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: c.choices.map((ch) => ({
      index: ch.index,
      message: {
        role: 'assistant',
        content: ch.text === '' && ch.toolCalls.length > 0 ? null : ch.text,
        ...(ch.reasoning.length > 0 && { reasoning_content: ch.reasoning.map((r) => r.text).join('') }),
        ...(ch.toolCalls.length > 0 && {
          tool_calls: ch.toolCalls.map((t) => ({ id: t.id, type: 'function', function: { name: t.name, arguments: t.arguments } })),
        }),
        refusal: null,
      },
      logprobs: logprobsToWire(ch.logprobs),
      finish_reason: ch.finishReason ?? 'stop',
    })),
    ...(c.usage && { usage: usageToWire(c.usage) }),
    ...(c.trace && { baimo_trace: c.trace }),
    ...(c.retrieval && { baimo_retrieval: retrievalExtension(c.retrieval, c.choices[0]?.text ?? '') }),
  };
}
