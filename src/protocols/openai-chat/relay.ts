import { HubError } from '../../core/errors.js';
import type { Usage } from '../../core/types.js';
import { isNormalWireUsage, normalizeWireUsage, usageFromWire } from '../../providers/openai-compatible/usage.js';
import type { WireChunk } from '../../providers/openai-compatible/wire.js';
import { streamError } from '../../providers/openai-compatible/errors.js';
import { parseSSEEvent } from '../../providers/sse.js';

/**
 * The same-format fast path: an OpenAI client talking to an OpenAI-compatible upstream. Upstream
 * bytes go to the client unchanged except where a quirk needs fixing; usage is read on the way.
 */
export interface RelayState {
  /** Whether the client asked for the usage chunk (the hub always asks the upstream for it). */
  readonly includeUsage: boolean;
  readonly provider: string;
  usage: Usage | undefined;
  done: boolean;
  /** performance.now() of the first content, reasoning or tool-call delta. */
  firstTokenAt: number | undefined;
  /** Text relayed so far, kept only until usage arrives (for counting if it never does). */
  output: string;
}

/** Appends the chunk's text to the state; says whether it held any token. */
function take(chunk: WireChunk, s: RelayState): boolean {
  let any = false;
  for (const c of chunk.choices ?? []) {
    const d = c.delta;
    if (!d) continue;
    if (d.content) s.output += d.content;
    if (d.reasoning_content) s.output += d.reasoning_content;
    else if (d.reasoning) s.output += d.reasoning;
    else if (d.reasoning_details) for (const x of d.reasoning_details) s.output += x.text ?? '';
    if (d.tool_calls) for (const t of d.tool_calls) s.output += (t.function?.name ?? '') + (t.function?.arguments ?? '');
    any ||= Boolean(d.content || d.reasoning_content || d.reasoning || d.reasoning_details?.length || d.tool_calls?.length);
  }
  return any;
}

/** One upstream SSE block → the text to send the client ('' to drop it). Throws on upstream garbage or errors. */
export function relayBlock(block: string, s: RelayState): string {
  const ev = parseSSEEvent(block);
  if (!ev) return `${block}\n\n`; // a comment: a keep-alive the client may want too
  if (ev.data === '[DONE]') {
    s.done = true;
    return 'data: [DONE]\n\n';
  }
  let chunk: WireChunk;
  try {
    chunk = JSON.parse(ev.data) as WireChunk;
  } catch {
    throw new HubError('upstream', `Upstream ${s.provider} sent a stream event that is not valid JSON`, { provider: s.provider });
  }
  // Key-shaped strings are scrubbed here; the relay (sse-relay.ts) takes the hub's own secrets out.
  if (chunk.error) throw streamError(s.provider, chunk.error, undefined);
  if (s.usage === undefined && take(chunk, s) && s.firstTokenAt === undefined) s.firstTokenAt = performance.now();
  if (chunk.usage) {
    s.usage = usageFromWire(chunk.usage);
    s.output = '';
    if (!s.includeUsage) return chunk.choices?.length ? `${block}\n\n` : '';
    if (!isNormalWireUsage(chunk.usage)) {
      chunk.usage = normalizeWireUsage(chunk.usage);
      return `data: ${JSON.stringify(chunk)}\n\n`;
    }
  }
  return `${block}\n\n`;
}

/** A whole non-streaming completion: usage read, normalized only when a client could not find it. */
export function relayCompletion(text: string, provider: string): { body: string; usage: Usage | undefined } {
  let doc: WireChunk;
  try {
    doc = JSON.parse(text) as WireChunk;
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`, { provider });
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.choices)) {
    throw new HubError('upstream', `Upstream ${provider} returned a response without choices`, { provider });
  }
  if (!doc.usage) return { body: text, usage: undefined };
  const usage = usageFromWire(doc.usage);
  if (isNormalWireUsage(doc.usage)) return { body: text, usage };
  doc.usage = normalizeWireUsage(doc.usage);
  return { body: JSON.stringify(doc), usage };
}
