import type { ChatEvent, FinishReason } from '../../core/types.js';
import { usageFromWire } from './usage.js';
import type { WireChunk } from './wire.js';

function finishReasonFromWire(r: string): FinishReason {
  switch (r) {
    case 'length':
      return 'length';
    case 'tool_calls':
    case 'function_call':
      return 'tool_calls';
    case 'content_filter':
    case 'sensitive':
      return 'content_filter';
    default:
      return 'stop';
  }
}

/** One streamed chunk → canonical events, in the order a client must see them. */
export function chunkToEvents(chunk: WireChunk): ChatEvent[] {
  const events: ChatEvent[] = [];
  for (const c of chunk.choices ?? []) {
    const choice = c.index ?? 0;
    const d = c.delta;
    if (d) {
      const reasoning = d.reasoning_content ?? d.reasoning ?? d.reasoning_details?.map((x) => x.text ?? '').join('');
      if (reasoning) events.push({ type: 'reasoning', choice, text: reasoning });
      const lp = c.logprobs?.content;
      if (d.content) events.push({ type: 'text', choice, text: d.content, ...(lp?.length && { logprobs: lp.map((t) => ({ token: t.token, logprob: t.logprob })) }) });
      for (const t of d.tool_calls ?? []) {
        events.push({
          type: 'tool_call',
          choice,
          index: t.index,
          ...(t.id && { id: t.id }),
          ...(t.function?.name && { name: t.function.name }),
          arguments: t.function?.arguments ?? '',
        });
      }
    }
    if (c.finish_reason) events.push({ type: 'finish', choice, reason: finishReasonFromWire(c.finish_reason) });
  }
  if (chunk.usage) events.push({ type: 'usage', usage: usageFromWire(chunk.usage) });
  return events;
}
