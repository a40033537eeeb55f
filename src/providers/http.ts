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
  /** Time until the upstream's response headers arrive. */
  readonly firstByteMs: number;
  /** Longest silence between two body chunks. */
  readonly idleMs: number;
}

export interface PostOptions {
  readonly url: URL;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly signal: AbortSignal | Cancel;
  readonly timeouts: Timeouts;
  readonly provider: string;
}

/** The undici request for a POST: its origin, path, body and timeouts. */
export function dispatchOptions(o: PostOptions): Dispatcher.DispatchOptions {
  return {
    origin: o.url.origin,
    path: o.url.pathname + o.url.search,
    method: 'POST',
    headers: o.headers,
    body: o.body,
    headersTimeout: o.timeouts.firstByteMs,
    bodyTimeout: o.timeouts.idleMs,
  };
}

export async function post(o: PostOptions): Promise<Dispatcher.ResponseData> {
  try {
    // undici takes an EventEmitter-style signal too, which a Cancel is.
    return await upstreamAgent(o.timeouts.connectMs).request({ ...dispatchOptions(o), signal: o.signal as AbortSignal });
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
    const abort = () => controller?.abort(new undiciErrors.RequestAbortedError());
    const off = listen(o.signal, abort);
    upstreamAgent(o.timeouts.connectMs).dispatch(dispatchOptions(o), {
      onRequestStart(c) {
        controller = c;
        if (o.signal.aborted) abort();
      },
      onResponseStart(_c, status, h) {
        statusCode = status;
        headers = h;
      },
      onResponseData(_c, chunk) {
        chunks.push(chunk);
      },
      onResponseEnd() {
        off();
        resolve({ statusCode, headers, text: chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks).toString('utf8') });
      },
      onResponseError(_c, err) {
        off();
        reject(transportError(err, o.provider));
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

/** Maps a connection-level failure to a HubError; never includes request data. */
export function transportError(err: unknown, provider: string): HubError {
  if (err instanceof HubError) return err;
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError) {
    return new HubError('timeout', `Upstream ${provider} timed out`, { provider, cause: err });
  }
  if (err instanceof undiciErrors.ConnectTimeoutError) {
    return new HubError('timeout', `Timed out connecting to upstream ${provider}`, { provider, cause: err });
  }
  if (err instanceof Error && (err.name === 'AbortError' || err instanceof undiciErrors.RequestAbortedError)) {
    return new HubError('canceled', 'Request canceled', { provider, cause: err });
  }
  const code = (err as { code?: string } | null)?.code;
  const reason = code ? ` (${code})` : '';
  return new HubError('upstream', `Could not reach upstream ${provider}${reason}`, { provider, cause: err });
}

/** Reads a whole response body as text, mapping mid-body failures. */
export async function readText(body: Dispatcher.ResponseData['body'], provider: string): Promise<string> {
  try {
    return await body.text();
  } catch (err) {
    throw transportError(err, provider);
  }
}
