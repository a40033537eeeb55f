import type { ServerResponse } from 'node:http';
import { HubError } from '../core/errors.js';
import type { RelayResponse } from '../providers/openai-compatible/provider.js';
import { transportError } from '../providers/http.js';
import { SSESplitter } from '../providers/sse.js';
import { write } from './stream-writer.js';

/**
 * The byte-for-byte SSE relays (OpenAI chat, Anthropic messages, Responses) share their plumbing:
 * read up to the first whole event inside the attempt — so garbage or an in-band error there can
 * still fail over — then pass every later event on, each through the protocol's own `onBlock`,
 * which reads usage and returns the text to send.
 */
export interface RelayedStream {
  readonly it: AsyncIterator<string>;
  readonly splitter: SSESplitter;
  /** What the first event(s) turned into, not yet written. */
  readonly head: string;
  /** The upstream finished before any event. */
  readonly ended: boolean;
}

export async function readFirstEvent(upstream: RelayResponse, provider: string, onBlock: (block: string) => string): Promise<RelayedStream> {
  if (!String(upstream.headers['content-type'] ?? '').includes('text/event-stream')) {
    await upstream.body.dump();
    throw new HubError('upstream', `Upstream ${provider} answered a streaming request without a stream`, { provider });
  }
  upstream.body.setEncoding('utf8');
  const it = (upstream.body as AsyncIterable<string>)[Symbol.asyncIterator]();
  const splitter = new SSESplitter();
  let head = '';
  try {
    for (;;) {
      const next = await it.next();
      if (next.done) return { it, splitter, head, ended: true };
      const blocks = splitter.push(next.value);
      for (const block of blocks) head += onBlock(block);
      if (blocks.length) return { it, splitter, head, ended: false };
    }
  } catch (err) {
    await upstream.body.dump().catch(() => {});
    throw transportError(err, provider);
  }
}

/** Writes the head, then every later event; what came before a bad event is still delivered. */
export async function pumpEvents(
  s: RelayedStream,
  res: ServerResponse,
  provider: string,
  onBlock: (block: string) => string,
  timeout: { timedOut(): boolean; timeoutError(): HubError },
): Promise<void> {
  try {
    if (s.head) await write(res, s.head);
    for (let next = s.ended ? { done: true as const, value: undefined } : await s.it.next(); !next.done; next = await s.it.next()) {
      let text = '';
      for (const block of s.splitter.push(next.value)) {
        try {
          text += onBlock(block);
        } catch (err) {
          if (text) res.write(text);
          throw err;
        }
      }
      if (text) await write(res, text);
    }
    const rest = s.splitter.rest();
    if (rest) await write(res, onBlock(rest));
  } catch (err) {
    if (timeout.timedOut()) throw timeout.timeoutError();
    throw transportError(err, provider);
  }
}
