import { HubError } from '../../core/errors.js';
import type { PassthroughMeter } from '../../core/model.js';
import type { Usage } from '../../core/types.js';
import { newMeter } from '../passthrough.js';
import type { StreamObserver } from '../passthrough.js';
import { parseSSEEvent } from '../sse.js';

/** Usage in the Responses API's shape. */
interface ResponsesUsage {
  input_tokens?: number;
  output_tokens?: number;
  input_tokens_details?: { cached_tokens?: number };
  output_tokens_details?: { reasoning_tokens?: number };
}

/** Usage in the Responses API's shape → canonical. */
export function usageFromResponses(u: ResponsesUsage | undefined): Usage | undefined {
  if (!u) return undefined;
  return {
    inputTokens: u.input_tokens ?? 0,
    outputTokens: u.output_tokens ?? 0,
    ...(u.input_tokens_details?.cached_tokens !== undefined && { cachedInputTokens: u.input_tokens_details.cached_tokens }),
    ...(u.output_tokens_details?.reasoning_tokens !== undefined && { reasoningTokens: u.output_tokens_details.reasoning_tokens }),
  };
}

/** The events that end a Response, and carry its usage; `failed` means the upstream's own error reached the client. */
const FINAL_TYPES = new Map<string, 'done' | 'failed'>([
  ['response.completed', 'done'],
  ['response.incomplete', 'done'],
  ['response.failed', 'failed'],
]);
/** Deltas of output text, a refusal, reasoning or tool-call arguments: tokens. */
const TOKEN_TYPES = new Set([
  'response.output_text.delta',
  'response.refusal.delta',
  'response.reasoning_text.delta',
  'response.reasoning_summary_text.delta',
  'response.function_call_arguments.delta',
]);

// For a block without an `event:` line first (OpenAI sends one with every Responses event, so
// these only scan the odd block), the same three questions asked of the whole block.
const FINAL_EVENT = /"type"\s*:\s*"(response\.(?:completed|incomplete|failed))"/;
const TOKEN_EVENT = /response\.(?:output_text|refusal|reasoning_text|reasoning_summary_text|function_call_arguments)\.delta\b/;
const ERROR_EVENT = /^event:[ \t]*error\b|"type"\s*:\s*"error"/m;

/** The type named by a block's leading `event:` line, or undefined when it does not start with one. */
function leadingEventType(block: string): string | undefined {
  if (!block.startsWith('event:')) return undefined;
  const end = block.indexOf('\n');
  return block.slice(6, end < 0 ? block.length : end).trim();
}

/**
 * The observer of OpenAI Responses streams relayed as they are (a Responses client talking to a
 * Responses-speaking upstream): every event is passed on as it came; the first token, the final
 * event's usage and completion (response.completed or .incomplete; .failed or an error event
 * means the upstream's own error reached the client) are read on the way. Output text is not
 * gathered: the final event always carries the usage. Each block's type is read from its
 * `event:` line (a slice, a set and a map look-up); only the final event's JSON is parsed.
 */
export class ResponsesObserver implements StreamObserver {
  readonly meter: PassthroughMeter = newMeter();

  readonly onBlock = (block: string): string => {
    const s = this.meter;
    const type = leadingEventType(block);
    let final: 'done' | 'failed' | undefined;
    let error: boolean;
    if (type !== undefined) {
      if (s.firstTokenAt === undefined && TOKEN_TYPES.has(type)) s.firstTokenAt = performance.now();
      final = FINAL_TYPES.get(type);
      error = type === 'error';
    } else {
      if (s.firstTokenAt === undefined && TOKEN_EVENT.test(block)) s.firstTokenAt = performance.now();
      const m = FINAL_EVENT.exec(block);
      final = m ? FINAL_TYPES.get(m[1]!) : undefined;
      error = !final && block.includes('error') && ERROR_EVENT.test(block);
    }
    if (final) {
      if (final === 'failed') s.failed = true;
      else s.done = true;
      try {
        s.usage = usageFromResponses((JSON.parse(parseSSEEvent(block)?.data ?? '{}') as { response?: { usage?: ResponsesUsage } }).response?.usage);
      } catch {
        // forwarded as it came; the client sees the same bytes
      }
    } else if (error) s.failed = true;
    return `${block}\n\n`;
  };
}

/** A whole Response: usage read, bytes untouched. */
export function readResponse(text: string, provider: string): { text: string; usage: Usage | undefined } {
  let doc: { usage?: ResponsesUsage };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`, { provider });
  }
  return { text, usage: usageFromResponses(doc?.usage) };
}
