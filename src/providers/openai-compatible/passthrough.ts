import { HubError } from '../../core/errors.js';
import type { PassthroughMeter } from '../../core/model.js';
import type { Usage } from '../../core/types.js';
import { LazyOutputMeter } from '../passthrough.js';
import type { StreamObserver } from '../passthrough.js';
import { parseSSEEvent } from '../sse.js';
import { streamError } from './errors.js';
import { isNormalWireUsage, normalizeWireUsage, usageFromWire } from './usage.js';
import type { WireChunk, WireUsage } from './wire.js';

/** A block that may carry usage (an object, not OpenAI's `"usage":null`) or an in-band error; a quote inside a JSON string is always escaped, so content cannot look like this. */
const USAGE_OR_ERROR = /"usage"\s*:\s*\{|"error"\s*:/;

/**
 * The observer of OpenAI chat completions relayed as they are (an OpenAI client talking to an
 * OpenAI-compatible upstream): upstream bytes go to the client unchanged except where a quirk
 * needs fixing; usage, the first token, [DONE] and the output text are read on the way. Once the
 * first token has been seen, a block that can hold neither usage nor an error is passed on
 * unparsed and kept: its text is read only if the stream ends without usage (a cut stream), when
 * the hub counts the tokens itself.
 */
/** Characters of unparsed blocks one stream keeps before reading them (a few hundred chunks). */
const KEEP_MAX = 64 * 1024;

export class ChatObserver implements StreamObserver {
  readonly meter: PassthroughMeter;
  /** Output text of the chunks parsed so far (before usage). */
  private text = '';
  /** Blocks passed on unparsed since the first token (until usage arrives). */
  private kept: string[] = [];
  /** Their length: past KEEP_MAX they are read into `text`, so a long stream holds its output, not its wire. */
  private keptLength = 0;

  /** `includeUsage`: whether the client asked for the usage chunk (the hub always asks the upstream for it). */
  constructor(
    private readonly provider: string,
    private readonly includeUsage: boolean,
  ) {
    this.meter = new LazyOutputMeter(() => this.output());
  }

  readonly onBlock = (block: string): string => {
    const s = this.meter;
    if (s.firstTokenAt !== undefined && s.usage === undefined && !block.includes('[DONE]') && !USAGE_OR_ERROR.test(block)) {
      this.kept.push(block);
      this.keptLength += block.length;
      if (this.keptLength > KEEP_MAX) this.fold();
      return `${block}\n\n`;
    }
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
    if (!chunk.usage && s.usage === undefined) {
      if (this.kept.length) this.fold();
      const t = take(chunk);
      if (t !== undefined) {
        this.text += t;
        if (s.firstTokenAt === undefined) s.firstTokenAt = performance.now();
      }
    }
    if (chunk.usage) {
      // Usage: the output so far need not be counted, only whether a first token came with it.
      if (s.firstTokenAt === undefined && take(chunk) !== undefined) s.firstTokenAt = performance.now();
      s.usage = usageFromWire(chunk.usage);
      this.text = '';
      this.kept = [];
      this.keptLength = 0;
      if (!this.includeUsage) return chunk.choices?.length ? `${block}\n\n` : '';
      if (!isNormalWireUsage(chunk.usage)) {
        chunk.usage = normalizeWireUsage(chunk.usage);
        return `data: ${JSON.stringify(chunk)}\n\n`;
      }
    }
    return `${block}\n\n`;
  };

  /** The output relayed before any usage: what was parsed, then the kept blocks' text. */
  /** Reads the kept blocks' output into `text` and lets them go. */
  private fold(): void {
    this.text = this.output();
    this.kept = [];
    this.keptLength = 0;
  }

  private output(): string {
    let out = this.text;
    for (const block of this.kept) {
      const ev = parseSSEEvent(block);
      if (!ev) continue;
      try {
        out += take(JSON.parse(ev.data) as WireChunk) ?? '';
      } catch {
        // Not JSON: nothing the client could read as output.
      }
    }
    return out;
  }
}

/** The chunk's output (text, reasoning, tool calls); undefined when it held no token at all. */
function take(chunk: WireChunk): string | undefined {
  let out: string | undefined;
  for (const c of chunk.choices ?? []) {
    const d = c.delta;
    if (!d) continue;
    const any = Boolean(d.content || d.reasoning_content || d.reasoning || d.reasoning_details?.length || d.tool_calls?.length);
    if (!any) continue;
    out ??= '';
    if (d.content) out += d.content;
    if (d.reasoning_content) out += d.reasoning_content;
    else if (d.reasoning) out += d.reasoning;
    else if (d.reasoning_details) for (const x of d.reasoning_details) out += x.text ?? '';
    if (d.tool_calls) for (const t of d.tool_calls) out += (t.function?.name ?? '') + (t.function?.arguments ?? '');
  }
  return out;
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
