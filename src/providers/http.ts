import { Agent, errors as undiciErrors } from 'undici';
import type { Dispatcher } from 'undici';
import type { Cancel } from '../core/cancel.js';
import { HubError } from '../core/errors.js';

/**
 * One keep-alive connection pool per upstream origin, shared by every provider: a new TLS
 * handshake per request would cost more than everything else the hub does.
 */
const agents = new Map<number, Agent>();

/** The pool for a given connect timeout; almost every provider shares the default one. */
export function upstreamAgent(connectMs = 10_000): Agent {
  let a = agents.get(connectMs);
  if (!a) {
    a = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connect: { timeout: connectMs } });
    agents.set(connectMs, a);
  }
  return a;
}

export interface Timeouts {
  /** Time to establish a connection; default 10 s. */
  readonly connectMs?: number;
  /**
   * Time until the upstream's response headers arrive. A non-streaming answer sends its headers
   * only once the whole answer is written, so this bounds the whole answer (and any silence in
   * its body); a stream's headers come at once from every real provider, so a stream waits at
   * most `idleMs` for them.
   */
  readonly firstByteMs: number;
  /** Longest silence on a stream (keep-alive comments and pings count as data). */
  readonly idleMs: number;
}

export interface PostOptions {
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly signal: AbortSignal | Cancel;
  readonly timeouts: Timeouts;
  readonly provider: string;
  /** Whether a stream is asked for; guessed from the body or URL when not said. */
  readonly stream?: boolean;
}

/** A stream request in any of the wire formats: `"stream":true` in the body, or Gemini's `alt=sse`. */
function asksForStream(o: PostOptions): boolean {
  return o.stream ?? (o.url.search.includes('alt=sse') || o.body.includes('"stream":true'));
}

/** The undici request for a POST: its origin, path, body and timeouts. */
export function dispatchOptions(o: PostOptions): Dispatcher.DispatchOptions {
  const { firstByteMs, idleMs } = o.timeouts;
  const stream = asksForStream(o);
  return {
    origin: o.url.origin,
    path: o.url.pathname + o.url.search,
    method: 'POST',
    headers: o.headers,
    body: o.body,
    // A stream: silence is silence, before the headers or between chunks. A whole answer: some
    // servers send the headers (or keep-alive newlines) early and the body once it is done.
    headersTimeout: stream ? Math.min(firstByteMs, idleMs) : firstByteMs,
    bodyTimeout: stream ? idleMs : Math.max(firstByteMs, idleMs),
  };
}

/** Errors that a response body (after its headers) failed with: the connection was reached. */
const bodyErrors = new WeakSet<object>();

export async function post(o: PostOptions): Promise<Dispatcher.ResponseData> {
  try {
    // undici takes an EventEmitter-style signal too, which a Cancel is.
    const res = await upstreamAgent(o.timeouts.connectMs).request({ ...dispatchOptions(o), signal: o.signal as AbortSignal });
    // Whoever reads the body maps its failure with transportError: this marks it as one that
    // happened after the upstream answered, so it is not reported as "could not reach".
    res.body.once('error', (err) => {
      if (typeof err === 'object' && err !== null) bodyErrors.add(err);
    });
    return res;
  } catch (err) {
    throw transportError(err, o.provider);
  }
}

/** A whole upstream answer. */
export interface WholeResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
}

/**
 * POSTs and reads the whole answer in one go, for the non-streaming relays: undici's dispatch
 * API with a handler that gathers the chunks, so no body stream is built and the cancellation
 * is a listener on a Cancel rather than an AbortSignal. Timeouts are undici's, as with `post`.
 */
export function postWhole(o: PostOptions): Promise<WholeResponse> {
  return new Promise((resolve, reject) => {
    let controller: Dispatcher.DispatchController | undefined;
    let statusCode = 0;
    let headers: WholeResponse['headers'] = {};
    const chunks: Buffer[] = [];
    let size = 0;
    const abort = () => controller?.abort(new undiciErrors.RequestAbortedError());
    const off = listen(o.signal, abort);
    // Whole answers only: no need to look for `"stream":true` in the body.
    upstreamAgent(o.timeouts.connectMs).dispatch(dispatchOptions(o.stream === undefined ? { ...o, stream: false } : o), {
      onRequestStart(c) {
        controller = c;
        if (o.signal.aborted) abort();
      },
      onResponseStart(_c, status, h) {
        statusCode = status;
        headers = h;
      },
      onResponseData(c, chunk) {
        size += chunk.length;
        if (size > MAX_UPSTREAM_BODY_BYTES) {
          const e = bodyTooLarge(o.provider);
          off();
          c.abort(e);
          reject(e);
          return;
        }
        chunks.push(chunk);
      },
      onResponseEnd() {
        off();
        resolve({ statusCode, headers, text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') });
      },
      onResponseError(_c, err) {
        off();
        reject(transportError(err, o.provider, statusCode ? 'response' : 'request'));
      },
    });
  });
}

/** Listens for a Cancel or an AbortSignal; returns the unlisten function. */
export function listen(signal: AbortSignal | Cancel, fn: () => void): () => void {
  if ('once' in signal) {
    signal.once('abort', fn);
    return () => signal.removeListener('abort', fn);
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

/**
 * Where a transport failure happened: before the upstream answered (`request`: it could not be
 * reached, or never answered), or after its headers, in a whole answer (`response`) or a stream.
 */
export type TransportPhase = 'request' | 'response' | 'stream';

/**
 * Maps a connection-level failure to a HubError; never includes request data. Without a phase,
 * a failure of a body read from `post` is taken for a stream's, anything else for the request's.
 */
export function transportError(err: unknown, provider: string, phase?: TransportPhase): HubError {
  if (err instanceof HubError) return err;
  const at: TransportPhase = phase ?? (typeof err === 'object' && err !== null && bodyErrors.has(err) ? 'stream' : 'request');
  if (err instanceof undiciErrors.HeadersTimeoutError) {
    return new HubError('timeout', `Upstream ${provider} timed out before answering`, { provider, cause: err });
  }
  if (err instanceof undiciErrors.BodyTimeoutError) {
    const where = at === 'stream' ? 'mid-stream' : 'mid-response';
    return new HubError('timeout', `Upstream ${provider} timed out ${where}: no data within the idle timeout`, { provider, cause: err });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return new HubError('timeout', `Timed out connecting to upstream ${provider}`, { provider, cause: err });
  }
  if (err instanceof Error && (err.name === 'AbortError' || err instanceof undiciErrors.RequestAbortedError)) {
    return new HubError('canceled', 'Request canceled', { provider, cause: err });
  }
  const code = (err as { code?: string } | null)?.code;
  const reason = code ? ` (${code})` : '';
  if (at === 'stream') return new HubError('upstream', `Upstream ${provider} connection closed mid-stream${reason}`, { provider, cause: err });
  if (at === 'response') return new HubError('upstream', `Upstream ${provider} connection closed before the response was complete${reason}`, { provider, cause: err });
  return new HubError('upstream', `Could not reach upstream ${provider}${reason}`, { provider, cause: err });
}

/**
 * The most the hub reads of one non-streaming upstream answer. Large embedding batches run to
 * tens of megabytes; past this an answer is an upstream fault, not something to buffer (a
 * JavaScript string cannot hold much more anyway).
 */
export const MAX_UPSTREAM_BODY_BYTES = 256 * 1024 * 1024;

function bodyTooLarge(provider: string): HubError {
  return new HubError('upstream', `Upstream ${provider} answered with more than ${MAX_UPSTREAM_BODY_BYTES / 1048576} MB; the hub reads at most that much of one answer`, {
    provider,
    code: 'upstream_response_too_large',
  });
}

/** Reads a whole response body as text (at most MAX_UPSTREAM_BODY_BYTES), mapping mid-body failures. */
export async function readText(body: Dispatcher.ResponseData['body'], provider: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_UPSTREAM_BODY_BYTES) {
        body.destroy();
        throw bodyTooLarge(provider);
      }
      chunks.push(chunk);
    }
  } catch (err) {
    throw transportError(err, provider, 'response');
  }
  return chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8');
}
