import { HubError } from '../../core/errors.js';
import type { PassthroughMeter } from '../../core/model.js';
import type { Usage } from '../../core/types.js';
import { LazyOutputMeter } from '../passthrough.js';
import type { StreamObserver } from '../passthrough.js';
import { parseSSEEvent } from '../sse.js';
import { mergeUsage, usageFromAnthropic } from './usage.js';
import type { AnthropicUsage } from './wire.js';

/**
 * The observer of Anthropic Messages streams relayed as they are (an Anthropic client talking to
 * an Anthropic(-compatible) upstream): events go to the client as they came; usage is read from
 * message_start and message_delta, the first token from the first content_block_delta (text,
 * thinking or tool input), completion from message_stop, an upstream error event from `error`.
 * Only those few events are parsed. message_start's usage is provisional (one output token): it
 * counts only once message_delta or message_stop confirms the answer, so a stream cut before
 * then is counted by the hub like the canonical path's. Until then the content blocks are kept
 * as they passed, unparsed, and read for their text only if no usage comes.
 */
export class MessagesObserver implements StreamObserver {
  readonly meter: PassthroughMeter;
  private wire: AnthropicUsage | undefined;
  /** content_block_start/delta blocks seen while usage is provisional (dropped once it is not). */
  private content: string[] | undefined = [];

  constructor(private readonly provider: string) {
    // The output so far, read only when no usage arrived (a cut stream) and so counted by the hub.
    this.meter = new LazyOutputMeter(() => this.outputText());
  }

  readonly onBlock = (block: string): string => {
    const s = this.meter;
    const ev = parseSSEEvent(block);
    if (!ev) return `${block}\n\n`;
    const type = ev.event;
    if (type === 'message_start' || type === 'message_delta' || type === 'message_stop' || type === 'error' || type === undefined) {
      let data: { type?: string; message?: { usage?: AnthropicUsage }; usage?: AnthropicUsage };
      try {
        data = JSON.parse(ev.data);
      } catch {
        throw new HubError('upstream', `Upstream ${this.provider} sent a stream event that is not valid JSON`, { provider: this.provider });
      }
      const t = type ?? data.type;
      if (t === 'message_start' && data.message?.usage) this.wire = mergeUsage(undefined, data.message.usage);
      else if (t === 'message_delta' && data.usage) this.usage(mergeUsage(this.wire, data.usage));
      else if (t === 'message_stop') {
        s.done = true;
        // A stream that ends without a message_delta's usage: message_start's is all there is.
        if (!s.usage && this.wire) this.usage(this.wire);
      } else if (t === 'error') s.failed = true;
      else if (t === 'content_block_start' || t === 'content_block_delta') this.keep(block);
    } else if (type === 'content_block_delta' || type === 'content_block_start') {
      if (s.firstTokenAt === undefined && type === 'content_block_delta') s.firstTokenAt = performance.now();
      this.keep(block);
    }
    return `${block}\n\n`;
  };

  private keep(block: string): void {
    this.content?.push(block);
  }

  private usage(u: AnthropicUsage): void {
    this.wire = u;
    this.meter.usage = usageFromAnthropic(u);
    this.content = undefined;
  }

  /** Text, thinking and tool calls (name and input) of the kept blocks, in order, as the canonical path gathers them. */
  private outputText(): string {
    if (!this.content) return '';
    let text = '';
    for (const block of this.content) {
      const ev = parseSSEEvent(block);
      if (!ev) continue;
      try {
        const d = JSON.parse(ev.data) as { content_block?: { type?: string; name?: string }; delta?: { text?: string; thinking?: string; partial_json?: string } };
        if (d.content_block?.type === 'tool_use') text += d.content_block.name ?? '';
        else if (d.delta) text += d.delta.text ?? d.delta.thinking ?? d.delta.partial_json ?? '';
      } catch {
        // A block that is not JSON added nothing the client could read as output.
      }
    }
    return text;
  }
}

/** A whole (non-streaming) message: usage read, bytes untouched. */
export function readMessage(text: string, provider: string): { text: string; usage: Usage | undefined } {
  let doc: { type?: string; usage?: AnthropicUsage };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`, { provider });
  }
  if (doc?.type !== 'message') throw new HubError('upstream', `Upstream ${provider} returned something that is not a message`, { provider });
  return { text, usage: doc.usage && usageFromAnthropic(doc.usage) };
}
