import { retrievalExtension } from '../../core/citations.js';
import type { Collected } from '../../core/collect.js';
import type { ChatEvent, FinishReason, Usage } from '../../core/types.js';
import { opaqueOf, wrapSignature } from '../signatures.js';

export interface AnthropicUsage {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
}

/** Anthropic counts cache reads and writes apart from `input_tokens`; canonical input includes them. */
export function usageToAnthropic(u: Usage | undefined): AnthropicUsage {
  const cached = u?.cachedInputTokens ?? 0;
  const written = u?.cacheWriteTokens ?? 0;
  return {
    input_tokens: Math.max(0, (u?.inputTokens ?? 0) - cached - written),
    output_tokens: u?.outputTokens ?? 0,
    cache_creation_input_tokens: written,
    cache_read_input_tokens: cached,
  };
}

/**
 * Anthropic clients run tools only when stop_reason is `tool_use`; some upstreams say `stop`
 * even when they called tools, so tool calls decide.
 */
export function stopReason(reason: FinishReason | null, stopSequence: string | undefined, calledTools: boolean): string {
  if (calledTools && (reason === 'stop' || reason === null || reason === 'tool_calls')) return 'tool_use';
  switch (reason) {
    case 'length':
      return 'max_tokens';
    case 'tool_calls':
      return 'tool_use';
    case 'content_filter':
      return 'refusal';
    default:
      return stopSequence !== undefined ? 'stop_sequence' : 'end_turn';
  }
}

function parseInput(args: string): unknown {
  if (args.trim() === '') return {};
  try {
    return JSON.parse(args);
  } catch {
    return {};
  }
}

/** The family whose opaque reasoning data this format carries as it is (see ../signatures.ts). */
const NATIVE = 'anthropic';

let counter = 0;
function toolId(): string {
  return `toolu_${Date.now().toString(36)}${(counter++).toString(36).padStart(4, '0')}`;
}

/** A collected answer → an Anthropic `message` object. */
export function collectedToMessage(c: Collected, id: string, model: string): Record<string, unknown> {
  const ch = c.choices[0]!;
  const content: Record<string, unknown>[] = [];
  for (const r of ch.reasoning) {
    const o = opaqueOf(r.providerMetadata);
    if (o?.redacted !== undefined) content.push({ type: 'redacted_thinking', data: wrapSignature(o.family, o.redacted, NATIVE) });
    else if (r.text || o?.signature) content.push({ type: 'thinking', thinking: r.text, signature: o?.signature === undefined ? '' : wrapSignature(o.family, o.signature, NATIVE) });
  }
  if (ch.text) content.push({ type: 'text', text: ch.text });
  for (const t of ch.toolCalls) content.push({ type: 'tool_use', id: t.id || toolId(), name: t.name, input: parseInput(t.arguments) });
  return {
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: stopReason(ch.finishReason, ch.stopSequence, ch.toolCalls.length > 0),
    stop_sequence: ch.stopSequence ?? null,
    usage: usageToAnthropic(c.usage),
    ...(c.trace && { baimo_trace: c.trace }),
    ...(c.retrieval && { baimo_retrieval: retrievalExtension(c.retrieval, ch.text) }),
  };
}

type Open = { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; tool: number };

function sse(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
}

/**
 * Canonical events → Anthropic's streaming events. Blocks open and close in order: one block per
 * thinking run, text run and tool call; a tool call's id and name are in its content_block_start,
 * its arguments follow as input_json_delta.
 */
export class AnthropicStreamRenderer {
  private open: Open | undefined;
  private next = 0;
  private readonly toolBlocks = new Map<number, number>();
  private reason: FinishReason | null = null;
  private stopSequence: string | undefined;
  private usage: Usage | undefined;
  private trace: unknown;
  private retrieval: Extract<ChatEvent, { type: 'retrieval' }> | undefined;
  /** The text so far, for the citations of a grounded answer. */
  private text = '';

  constructor(
    private readonly id: string,
    private readonly model: string,
    private readonly estimatedInputTokens: number,
  ) {}

  start(): string {
    const message = {
      id: this.id,
      type: 'message',
      role: 'assistant',
      model: this.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: this.estimatedInputTokens, output_tokens: 0, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    };
    return sse('message_start', { message }) + sse('ping', {});
  }

  private close(): string {
    if (!this.open) return '';
    const out = sse('content_block_stop', { index: this.open.index });
    this.open = undefined;
    return out;
  }

  private begin(open: Open, block: Record<string, unknown>): string {
    const out = this.close() + sse('content_block_start', { index: open.index, content_block: block });
    this.open = open;
    return out;
  }

  render(e: ChatEvent): string {
    if ('choice' in e && e.choice !== 0) return ''; // Anthropic has one answer per request
    switch (e.type) {
      case 'start':
        return '';
      case 'text': {
        if (!e.text) return '';
        if (this.retrieval) this.text += e.text;
        let out = '';
        if (this.open?.kind !== 'text') out += this.begin({ kind: 'text', index: this.next++ }, { type: 'text', text: '' });
        return out + sse('content_block_delta', { index: this.open!.index, delta: { type: 'text_delta', text: e.text } });
      }
      case 'reasoning': {
        const o = opaqueOf(e.providerMetadata);
        if (o?.redacted !== undefined) {
          return this.begin({ kind: 'thinking', index: this.next++ }, { type: 'redacted_thinking', data: wrapSignature(o.family, o.redacted, NATIVE) }) + this.close();
        }
        let out = '';
        if (this.open?.kind !== 'thinking') {
          out += this.begin({ kind: 'thinking', index: this.next++ }, { type: 'thinking', thinking: '', signature: '' });
        }
        const index = this.open!.index;
        if (e.text) out += sse('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: e.text } });
        if (o?.signature !== undefined) {
          out += sse('content_block_delta', { index, delta: { type: 'signature_delta', signature: wrapSignature(o.family, o.signature, NATIVE) } }) + this.close();
        }
        return out;
      }
      case 'tool_call': {
        let out = '';
        let index = this.toolBlocks.get(e.index);
        if (index === undefined) {
          index = this.next++;
          this.toolBlocks.set(e.index, index);
          out += this.begin({ kind: 'tool', index, tool: e.index }, { type: 'tool_use', id: e.id || toolId(), name: e.name ?? '', input: {} });
        }
        // A late delta for a call whose block already closed still carries its own index, which
        // is how Anthropic clients assemble blocks.
        if (e.arguments) out += sse('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: e.arguments } });
        return out;
      }
      case 'finish':
        this.reason = e.reason;
        this.stopSequence = e.stopSequence;
        return '';
      case 'usage':
        this.usage = e.usage;
        return '';
      case 'trace':
        this.trace = { steps: e.steps, ...(e.summary && { summary: e.summary }) };
        return '';
      case 'retrieval':
        this.retrieval = e;
        return '';
    }
  }

  end(): string {
    const usage = usageToAnthropic(this.usage);
    const delta = { stop_reason: stopReason(this.reason, this.stopSequence, this.toolBlocks.size > 0), stop_sequence: this.stopSequence ?? null };
    // A virtual model's trace rides on message_delta as an extension field clients ignore.
    // So does a grounded answer's retrieval, with the citations its whole text makes.
    const retrieval = this.retrieval && retrievalExtension(this.retrieval, this.text);
    return (
      this.close() +
      sse('message_delta', { delta, usage, ...(this.trace !== undefined && { baimo_trace: this.trace }), ...(retrieval && { baimo_retrieval: retrieval }) }) +
      sse('message_stop', {})
    );
  }

  get outputStarted(): boolean {
    return this.next > 0;
  }
}
