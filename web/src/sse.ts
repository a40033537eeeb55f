/**
 * Server-sent events from a fetch Response, parsed by hand (EventSource cannot POST or send
 * headers): yields each event's joined `data:` lines, ends at `[DONE]` or the end of the body.
 */
export async function* sseData(res: Response, signal?: AbortSignal): AsyncGenerator<string> {
  if (!res.body) return;
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) !== -1) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const data = dataOf(event);
        if (data === undefined) continue;
        if (data === '[DONE]') return;
        yield data;
      }
    }
    const rest = dataOf(buf + decoder.decode());
    if (rest !== undefined && rest !== '[DONE]') yield rest;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}

function dataOf(event: string): string | undefined {
  const lines: string[] = [];
  for (const line of event.split('\n')) {
    if (line.startsWith('data:')) lines.push(line.slice(line[5] === ' ' ? 6 : 5));
  }
  return lines.length ? lines.join('\n') : undefined;
}

/** Splits a stored SSE transcript into its events' data, for the log viewer. */
export function sseTranscript(text: string): { event?: string; data: string }[] {
  const out: { event?: string; data: string }[] = [];
  for (const block of text.replace(/\r\n?/g, '\n').split('\n\n')) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event:')) event = line.slice(6).trim();
      else if (line.startsWith('data:')) data.push(line.slice(line[5] === ' ' ? 6 : 5));
    }
    if (data.length) out.push({ ...(event !== undefined && { event }), data: data.join('\n') });
  }
  return out;
}
