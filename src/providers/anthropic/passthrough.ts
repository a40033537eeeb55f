import { HubError } from '../../core/errors.js';
import type { PassthroughMeter } from '../../core/model.js';
import type { Usage } from '../../core/types.js';
import { newMeter } from '../passthrough.js';
import type { StreamObserver } from '../passthrough.js';
import { parseSSEEvent } from '../sse.js';
import { mergeUsage, usageFromAnthropic } from './usage.js';
import type { AnthropicUsage } from './wire.js';

/**
 * The observer of Anthropic Messages streams relayed as they are (an Anthropic client talking to
 * an Anthropic(-compatible) upstream): events go to the client as they came; usage is read from
 * message_start and message_delta, the first token from the first content_block_delta (text,
 * thinking or tool input), completion from message_stop, an upstream error event from `error`.
 * Only those few events are parsed; output text is not gathered (message_delta carries usage).
 */
export class MessagesObserver implements StreamObserver {
  readonly meter: PassthroughMeter = newMeter();
  private wire: AnthropicUsage | undefined;

  constructor(private readonly provider: string) {}

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
      if (t === 'message_start' && data.message?.usage) this.usage(mergeUsage(undefined, data.message.usage));
      else if (t === 'message_delta' && data.usage) this.usage(mergeUsage(this.wire, data.usage));
      else if (t === 'message_stop') s.done = true;
      else if (t === 'error') s.failed = true;
    } else if (s.firstTokenAt === undefined && type === 'content_block_delta') s.firstTokenAt = performance.now();
    return `${block}\n\n`;
  };

  private usage(u: AnthropicUsage): void {
    this.wire = u;
    this.meter.usage = usageFromAnthropic(u);
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
