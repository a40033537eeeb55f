import { StringDecoder } from 'node:string_decoder';
import { HubError } from '../core/errors.js';

/**
 * The largest single stream event the hub will hold (in UTF-16 code units). Real events are
 * kilobytes; an inline image a few megabytes. An upstream that never ends an event would
 * otherwise grow the buffer without bound.
 */
export const MAX_SSE_EVENT_CHARS = 32 * 1024 * 1024;

/**
 * Server-sent events, split incrementally. Upstreams cut events at arbitrary byte boundaries;
 * the splitter yields whole event blocks (without the blank line) as soon as they are complete.
 * Each chunk is searched once: a pending event is kept as parts, so a long event costs time in
 * proportion to its length, not its square, and one over `maxEventChars` is an upstream error.
 */
export class SSESplitter {
  private parts: string[] = [];
  private size = 0;
  /** The pending text ends with a newline (the blank line may complete in the next chunk). */
  private endsWithNewline = false;
  /** A trailing CR held back: it may be the first half of a CRLF. */
  private heldCR = false;

  constructor(
    private readonly provider = 'upstream',
    private readonly maxEventChars = MAX_SSE_EVENT_CHARS,
  ) {}

  /** Decodes byte chunks: a UTF-8 character may be split between two of them. */
  private decoder: StringDecoder | undefined;

  /** Feeds a chunk (bytes, or text already decoded); returns the events it completed. */
  push(input: string | Buffer): string[] {
    let chunk = typeof input === 'string' ? input : (this.decoder ??= new StringDecoder('utf8')).write(input);
    if (this.heldCR) {
      chunk = '\r' + chunk;
      this.heldCR = false;
    }
    if (chunk.endsWith('\r')) {
      this.heldCR = true;
      chunk = chunk.slice(0, -1);
    }
    if (chunk.includes('\r')) chunk = chunk.replace(/\r\n?/g, '\n');
    const events: string[] = [];
    let start = 0;
    // Blank lines after an event are not the start of the next one, whichever chunk they are in.
    if (this.size === 0) while (chunk.charCodeAt(start) === 10) start++;
    if (this.endsWithNewline && chunk.charCodeAt(0) === 10) {
      // The blank line straddles the chunks: the pending text (less its newline) is an event.
      const event = this.take().slice(0, -1);
      if (event) events.push(event);
      start = 1;
      while (chunk.charCodeAt(start) === 10) start++;
    }
    for (;;) {
      const end = chunk.indexOf('\n\n', start);
      if (end === -1) break;
      const event = this.size ? this.take() + chunk.slice(start, end) : chunk.slice(start, end);
      if (event) events.push(event);
      start = end + 2;
      while (chunk.charCodeAt(start) === 10) start++;
    }
    if (start < chunk.length) {
      const rest = start === 0 ? chunk : chunk.slice(start);
      this.parts.push(rest);
      this.size += rest.length;
      this.endsWithNewline = rest.charCodeAt(rest.length - 1) === 10;
      if (this.size > this.maxEventChars) {
        this.take();
        throw new HubError('upstream', `Upstream ${this.provider} sent a stream event larger than ${Math.round(this.maxEventChars / 1048576)} MB without ending it`, {
          provider: this.provider,
          code: 'upstream_event_too_large',
        });
      }
    }
    return events;
  }

  /** What is left when the stream ends: an unterminated final event, if any. */
  rest(): string {
    const r = (this.take() + (this.heldCR ? '\n' : '') + (this.decoder?.end() ?? '')).trim();
    this.heldCR = false;
    return r;
  }

  private take(): string {
    const text = this.parts.length === 1 ? this.parts[0]! : this.parts.join('');
    this.parts = [];
    this.size = 0;
    this.endsWithNewline = false;
    return text;
  }
}

export interface SSEEvent {
  readonly event: string | undefined;
  readonly data: string;
}

/** Parses one event block; returns undefined for comment-only blocks. */
export function parseSSEEvent(block: string): SSEEvent | undefined {
  // Fast path: the overwhelmingly common single `data: ...` line.
  if (block.startsWith('data:') && !block.includes('\n')) {
    return { event: undefined, data: block.charCodeAt(5) === 32 ? block.slice(6) : block.slice(5) };
  }
  let event: string | undefined;
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
    else if (field === 'event') event = value;
  }
  if (data.length === 0 && event === undefined) return undefined;
  return { event, data: data.join('\n') };
}
