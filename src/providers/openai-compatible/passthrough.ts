import { HubError } from '../../core/errors.js';
import type { PassthroughMeter } from '../../core/model.js';
import type { Usage } from '../../core/types.js';
import { newMeter } from '../passthrough.js';
import type { StreamObserver } from '../passthrough.js';
import { parseSSEEvent } from '../sse.js';
import { streamError } from './errors.js';
import { isNormalWireUsage, normalizeWireUsage, usageFromWire } from './usage.js';
import type { WireChunk, WireUsage } from './wire.js';

/**
 * The observer of OpenAI chat completions relayed as they are (an OpenAI client talking to an
 * OpenAI-compatible upstream): upstream bytes go to the client unchanged except where a quirk
 * needs fixing; usage, the first token, [DONE] and the output text are read on the way.
 */
export class ChatObserver implements StreamObserver {
  readonly meter: PassthroughMeter = newMeter();

  /** `includeUsage`: whether the client asked for the usage chunk (the hub always asks the upstream for it). */
  constructor(
    private readonly provider: string,
    private readonly includeUsage: boolean,
  ) {}

  readonly onBlock = (block: string): string => {
    const s = this.meter;
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
      throw new HubError('upstream', `Upstream ${this.provider} sent a stream event that is not valid JSON`, { provider: this.provider });
    }
    // Key-shaped strings are scrubbed here; the relay (sse-relay.ts) takes the hub's own secrets out.
    if (chunk.error) throw streamError(this.provider, chunk.error, undefined);
    if (s.usage === undefined && take(chunk, s) && s.firstTokenAt === undefined) s.firstTokenAt = performance.now();
    if (chunk.usage) {
      s.usage = usageFromWire(chunk.usage);
      s.output = '';
      if (!this.includeUsage) return chunk.choices?.length ? `${block}\n\n` : '';
      if (!isNormalWireUsage(chunk.usage)) {
        chunk.usage = normalizeWireUsage(chunk.usage);
        return `data: ${JSON.stringify(chunk)}\n\n`;
      }
    }
    return `${block}\n\n`;
  };
}

/** Appends the chunk's text to the meter; says whether it held any token (text, reasoning or a tool call). */
function take(chunk: WireChunk, s: PassthroughMeter): boolean {
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

/** A whole non-streaming completion: usage read, the body normalized only when a client could not find it. */
export function readCompletion(text: string, provider: string): { text: string; usage: Usage | undefined } {
  let doc: WireChunk;
  try {
    doc = JSON.parse(text) as WireChunk;
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`, { provider });
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.choices)) {
    throw new HubError('upstream', `Upstream ${provider} returned a response without choices`, { provider });
  }
  if (!doc.usage) return { text, usage: undefined };
  const usage = usageFromWire(doc.usage);
  if (isNormalWireUsage(doc.usage)) return { text, usage };
  doc.usage = normalizeWireUsage(doc.usage);
  return { text: JSON.stringify(doc), usage };
}

/** A whole embeddings answer: usage read, bytes untouched. */
export function readEmbeddings(text: string, provider: string): { text: string; usage: Usage } {
  let doc: { usage?: WireUsage; data?: unknown };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new HubError('upstream', `Upstream ${provider} returned a response that is not valid JSON`);
  }
  if (!doc || !Array.isArray(doc.data)) throw new HubError('upstream', `Upstream ${provider} returned no embeddings`);
  return { text, usage: usageFromWire(doc.usage ?? {}) };
}
