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

/** The events that end a Response, and carry its usage. */
const FINAL_EVENT = /"type"\s*:\s*"response\.(completed|incomplete|failed)"/;
/** A delta of output text, a refusal, reasoning or tool-call arguments: a token. */
const TOKEN_EVENT = /response\.(?:output_text|refusal|reasoning_text|reasoning_summary_text|function_call_arguments)\.delta\b/;
/** An error event (`event: error` or its `type`), passed on as it came. */
const ERROR_EVENT = /^event:[ \t]*error\b|"type"\s*:\s*"error"/m;

/**
 * The observer of OpenAI Responses streams relayed as they are (a Responses client talking to a
 * Responses-speaking upstream): every event is passed on as it came; the first token, the final
 * event's usage and completion (response.completed or .incomplete; .failed or an error event
 * means the upstream's own error reached the client) are read on the way. Output text is not
 * gathered: the final event always carries the usage.
 */
export class ResponsesObserver implements StreamObserver {
  readonly meter: PassthroughMeter = newMeter();

  readonly onBlock = (block: string): string => {
    const s = this.meter;
    if (s.firstTokenAt === undefined && TOKEN_EVENT.test(block)) s.firstTokenAt = performance.now();
    const final = FINAL_EVENT.exec(block);
    if (final) {
      if (final[1] === 'failed') s.failed = true;
      else s.done = true;
      try {
        s.usage = usageFromResponses((JSON.parse(parseSSEEvent(block)?.data ?? '{}') as { response?: { usage?: ResponsesUsage } }).response?.usage);
      } catch {
        // forwarded as it came; the client sees the same bytes
      }
    } else if (block.includes('error') && ERROR_EVENT.test(block)) s.failed = true;
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
