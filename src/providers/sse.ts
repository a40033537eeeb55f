/**
 * Server-sent events, split incrementally. Upstreams cut events at arbitrary byte boundaries;
 * the splitter yields whole event blocks (without the blank line) as soon as they are complete.
 */
export class SSESplitter {
  private buffer = '';

  /** Feeds a decoded chunk; returns the events it completed. */
  push(chunk: string): string[] {
    let text = this.buffer + chunk;
    // A trailing CR may be the first half of a CRLF; keep it for the next chunk.
    let held = '';
    if (text.endsWith('\r')) {
      held = '\r';
      text = text.slice(0, -1);
    }
    if (text.includes('\r')) text = text.replace(/\r\n?/g, '\n');
    const events: string[] = [];
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n\n', start);
      if (end === -1) break;
      if (end > start) events.push(text.slice(start, end));
      start = end + 2;
      while (text.charCodeAt(start) === 10) start++;
    }
    this.buffer = text.slice(start) + held;
    return events;
  }

  /** What is left when the stream ends: an unterminated final event, if any. */
  rest(): string {
    const r = this.buffer.replace(/\r\n?/g, '\n').trim();
    this.buffer = '';
    return r;
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
