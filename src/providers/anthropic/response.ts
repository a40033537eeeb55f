import type { ChatEvent, FinishReason } from '../../core/types.js';
import { streamError } from './errors.js';
import type { Redactor } from '../../core/redact.js';
import { mergeUsage, usageFromAnthropic } from './usage.js';
import type { AnthropicContentBlock, AnthropicMessage, AnthropicStreamEvent, AnthropicUsage } from './wire.js';
import { METADATA_KEY } from './wire.js';

/**
 * Anthropic stop reasons → canonical. `pause_turn` (a server tool paused a long turn; the client
 * sends the answer back to continue) has no canonical twin and reads as a normal stop.
 */
export function finishReasonFromAnthropic(r: string): FinishReason {
  switch (r) {
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default: // end_turn, stop_sequence, pause_turn, anything new
      return 'stop';
  }
}

interface BlockState {
  readonly kind: 'text' | 'thinking' | 'redacted' | 'tool' | 'other';
  /** Canonical tool-call index (tool_use blocks only). */
  readonly toolIndex?: number;
  /** Whatever the start event already carried: a tool's input, a thinking block's signature. */
  readonly startInput?: unknown;
  readonly startSignature?: string;
  /** A non-empty input_json_delta / a signature_delta arrived. */
  streamed?: boolean;
}

type ErrorEventData = { type: 'error'; error?: { type?: string; message?: string } };
type Data = Record<string, unknown>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

/**
 * A stateful decoder for one Messages API stream: feed it every parsed server-sent event, in
 * order, and it returns the canonical events each one yields. Everything is choice 0 (the
 * Messages API has no `n`). Tool calls get a canonical `index` counting tool_use blocks only
 * (0, 1, …), never Anthropic's block index, which also counts text and thinking blocks.
 * Usage is emitted exactly once, at message_stop; an `error` event throws a HubError.
 */
export class AnthropicStreamDecoder {
  private readonly blocks = new Map<number, BlockState>();
  private tools = 0;
  private usage: AnthropicUsage | undefined;
  private started = false;
  private finished = false;
  private stopped = false;

  /**
   * @param provider the provider id, for error messages
   * @param fallbackModel the model name to report when message_start names none
   * @param secrets the hub's Redactor (or this provider's key): kept out of any error message
   */
  constructor(
    private readonly provider: string,
    private readonly fallbackModel = '',
    private readonly secrets?: Redactor | string,
  ) {}

  /** Whether message_stop has been seen: the stream is complete. */
  get done(): boolean {
    return this.stopped;
  }

  /**
   * One event → canonical events. `event` is the SSE event name; the JSON `type` wins when both
   * are present. Unknown event and delta types are ignored, as the versioning policy asks.
   */
  decode(event: string | undefined, data: AnthropicStreamEvent | null | undefined): ChatEvent[] {
    const d: Data = data !== null && typeof data === 'object' ? (data as Data) : {};
    const type = str(d.type) ?? event;
    if (type === 'error') throw streamError(this.provider, (d as ErrorEventData).error, this.secrets);
    if (this.stopped) return [];
    const out: ChatEvent[] = [];
    switch (type) {
      case 'message_start': {
        const m = (d.message ?? {}) as AnthropicMessage;
        if (!this.started) {
          this.started = true;
          out.push({ type: 'start', id: str(m.id) ?? '', model: str(m.model) ?? this.fallbackModel });
        }
        if (m.usage && typeof m.usage === 'object') this.usage = mergeUsage(this.usage, m.usage);
        return out;
      }
      case 'content_block_start':
        this.ensureStarted(out);
        this.blockStart(num(d.index) ?? this.blocks.size, (d.content_block ?? {}) as AnthropicContentBlock, out);
        return out;
      case 'content_block_delta':
        this.ensureStarted(out);
        this.blockDelta(num(d.index) ?? this.blocks.size - 1, (d.delta ?? {}) as Data, out);
        return out;
      case 'content_block_stop':
        this.blockStop(num(d.index) ?? this.blocks.size - 1, out);
        return out;
      case 'message_delta': {
        this.ensureStarted(out);
        const usage = d.usage as AnthropicUsage | null | undefined;
        if (usage && typeof usage === 'object') this.usage = mergeUsage(this.usage, usage);
        const delta = (d.delta ?? {}) as Data;
        const reason = str(delta.stop_reason);
        if (reason && !this.finished) {
          this.finished = true;
          const stopSequence = reason === 'stop_sequence' ? str(delta.stop_sequence) : undefined;
          out.push({ type: 'finish', choice: 0, reason: finishReasonFromAnthropic(reason), ...(stopSequence !== undefined && { stopSequence }) });
        }
        return out;
      }
      case 'message_stop':
        this.ensureStarted(out);
        this.stopped = true;
        if (!this.finished) {
          // Anthropic always sends a stop_reason first; a server that does not still ended normally.
          this.finished = true;
          out.push({ type: 'finish', choice: 0, reason: 'stop' });
        }
        if (this.usage) out.push({ type: 'usage', usage: usageFromAnthropic(this.usage) });
        return out;
      default: // ping and anything new
        return out;
    }
  }

  private ensureStarted(out: ChatEvent[]): void {
    if (this.started) return;
    this.started = true;
    out.push({ type: 'start', id: '', model: this.fallbackModel });
  }

  private blockStart(index: number, b: AnthropicContentBlock, out: ChatEvent[]): void {
    const block = b as Data;
    switch (block.type) {
      case 'text': {
        this.blocks.set(index, { kind: 'text' });
        const text = str(block.text);
        if (text) out.push({ type: 'text', choice: 0, text });
        return;
      }
      case 'thinking': {
        const signature = str(block.signature);
        this.blocks.set(index, { kind: 'thinking', ...(signature && { startSignature: signature }) });
        const text = str(block.thinking);
        if (text) out.push({ type: 'reasoning', choice: 0, text });
        return;
      }
      case 'redacted_thinking':
        // Arrives whole in content_block_start, with no deltas.
        this.blocks.set(index, { kind: 'redacted' });
        out.push({ type: 'reasoning', choice: 0, text: '', providerMetadata: { [METADATA_KEY]: { redacted: str(block.data) ?? '' } } });
        return;
      case 'tool_use': {
        const toolIndex = this.tools++;
        this.blocks.set(index, { kind: 'tool', toolIndex, startInput: block.input });
        out.push({ type: 'tool_call', choice: 0, index: toolIndex, id: str(block.id) ?? '', name: str(block.name) ?? '', arguments: '' });
        return;
      }
      default:
        // server_tool_use, web_search_tool_result, …: run by Anthropic, not calls for the client.
        this.blocks.set(index, { kind: 'other' });
    }
  }

  private blockDelta(index: number, delta: Data, out: ChatEvent[]): void {
    const state = this.blocks.get(index);
    switch (delta.type) {
      case 'text_delta': {
        const text = str(delta.text);
        if (text && (state === undefined || state.kind === 'text')) out.push({ type: 'text', choice: 0, text });
        return;
      }
      case 'thinking_delta': {
        const text = str(delta.thinking);
        if (text && (state === undefined || state.kind === 'thinking')) out.push({ type: 'reasoning', choice: 0, text });
        return;
      }
      case 'signature_delta': {
        const signature = str(delta.signature);
        if (signature === undefined || (state !== undefined && state.kind !== 'thinking')) return;
        if (state) state.streamed = true;
        out.push({ type: 'reasoning', choice: 0, text: '', providerMetadata: { [METADATA_KEY]: { signature } } });
        return;
      }
      case 'input_json_delta': {
        const part = str(delta.partial_json);
        if (state?.kind !== 'tool' || !part) return;
        state.streamed = true;
        out.push({ type: 'tool_call', choice: 0, index: state.toolIndex ?? 0, arguments: part });
        return;
      }
      default: // citations_delta and anything new
        return;
    }
  }

  private blockStop(index: number, out: ChatEvent[]): void {
    const state = this.blocks.get(index);
    if (!state || state.streamed) return;
    if (state.kind === 'tool') {
      // No input_json_delta: the input came whole in the start event (or there is none).
      const input = state.startInput;
      const whole = input !== null && typeof input === 'object' && !Array.isArray(input) ? input : {};
      out.push({ type: 'tool_call', choice: 0, index: state.toolIndex ?? 0, arguments: JSON.stringify(whole) });
    } else if (state.kind === 'thinking' && state.startSignature) {
      out.push({ type: 'reasoning', choice: 0, text: '', providerMetadata: { [METADATA_KEY]: { signature: state.startSignature } } });
    }
    state.streamed = true;
  }
}

/**
 * A whole message (an upstream that ignored `stream: true`) → the events a stream of it would
 * have carried, so that one decoder handles both.
 */
export function messageToStreamEvents(m: AnthropicMessage): AnthropicStreamEvent[] {
  const events: AnthropicStreamEvent[] = [{ type: 'message_start', message: { ...m, content: [] } }];
  (m.content ?? []).forEach((block, index) => {
    events.push({ type: 'content_block_start', index, content_block: block });
    events.push({ type: 'content_block_stop', index });
  });
  events.push({ type: 'message_delta', delta: { stop_reason: m.stop_reason ?? null, stop_sequence: m.stop_sequence ?? null } });
  events.push({ type: 'message_stop' });
  return events;
}

/** A whole message → canonical events. */
export function messageToEvents(m: AnthropicMessage, provider: string, fallbackModel = ''): ChatEvent[] {
  const decoder = new AnthropicStreamDecoder(provider, fallbackModel);
  return messageToStreamEvents(m).flatMap((e) => decoder.decode(e.type, e));
}
