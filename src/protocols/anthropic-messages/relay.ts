import { HubError } from '../../core/errors.js';
import type { Usage } from '../../core/types.js';
import { mergeUsage, usageFromAnthropic } from '../../providers/anthropic/usage.js';
import type { AnthropicUsage } from '../../providers/anthropic/wire.js';
import { parseSSEEvent } from '../../providers/sse.js';

/**
 * The same-format fast path for Anthropic clients talking to an Anthropic(-compatible) upstream:
 * events go to the client as they came; usage is read from message_start and message_delta.
 */
export interface AnthropicRelayState {
  readonly provider: string;
  usage: AnthropicUsage | undefined;
  done: boolean;
  failed: boolean;
  firstTokenAt: number | undefined;
}

/** One upstream SSE block → the text to send on. Throws on garbage. */
export function relayAnthropicBlock(block: string, s: AnthropicRelayState): string {
  const ev = parseSSEEvent(block);
  if (!ev) return `${block}\n\n`;
  const type = ev.event;
  if (type === 'message_start' || type === 'message_delta' || type === 'message_stop' || type === 'error' || type === undefined) {
    let data: { type?: string; message?: { usage?: AnthropicUsage }; usage?: AnthropicUsage };
    try {
      data = JSON.parse(ev.data);
    } catch {
      throw new HubError('upstream', `Upstream ${s.provider} sent a stream event that is not valid JSON`, { provider: s.provider });
    }
    const t = type ?? data.type;
    if (t === 'message_start' && data.message?.usage) s.usage = mergeUsage(undefined, data.message.usage);
    else if (t === 'message_delta' && data.usage) s.usage = mergeUsage(s.usage, data.usage);
    else if (t === 'message_stop') s.done = true;
    else if (t === 'error') s.failed = true;
  } else if (s.firstTokenAt === undefined && type === 'content_block_delta') s.firstTokenAt = performance.now();
  return `${block}\n\n`;
}

export function relayedUsage(s: AnthropicRelayState): Usage | undefined {
  return s.usage && usageFromAnthropic(s.usage);
}

/** A whole (non-streaming) message: usage read, bytes untouched. */
export function relayAnthropicMessage(text: string, provider: string): Usage | undefined {
  let doc: { type?: string; usage?: AnthropicUsage };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`, { provider });
  }
  if (doc.type !== 'message') throw new HubError('upstream', `Upstream ${provider} returned something that is not a message`, { provider });
  return doc.usage && usageFromAnthropic(doc.usage);
}
