import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError, toHubError } from '../core/errors.js';
import type { ErrorKind } from '../core/errors.js';
import type { Usage } from '../core/types.js';
import { parseJSONBody } from '../protocols/validate.js';
import type { Target } from '../routing/registry.js';
import type { UsageRecord } from '../usage/record.js';
import type { HubContext } from './context.js';
import { readBody, sendJSON } from './http.js';

/** What one request did, filled in by its handler as it goes and recorded whatever happens. */
export interface Outcome {
  model: string;
  target: Target | undefined;
  stream: boolean;
  status: number;
  errorKind: ErrorKind | undefined;
  usage: Usage | undefined;
  /** performance.now() of the first token. */
  firstTokenAt: number | undefined;
}

/** How an inbound wire format reports errors to its clients. */
export interface ErrorFormat {
  body(e: HubError, requestId: string): unknown;
  /** The in-band error for a stream whose headers are already sent. */
  streamEvent(e: HubError): string;
}

export type Handler = (json: unknown, out: Outcome, signal: AbortSignal) => Promise<void>;

/**
 * The life of every model request: read and parse the body, run the handler, answer errors in
 * the client's own format (in-band once a stream has started), abort the upstream when the client
 * goes away, and record usage no matter what happened.
 */
export async function runRequest(
  ctx: HubContext,
  req: IncomingMessage,
  res: ServerResponse,
  requestId: string,
  endpoint: UsageRecord['endpoint'],
  format: ErrorFormat,
  handler: Handler,
): Promise<void> {
  const t0 = performance.now();
  const ts = Date.now();
  const out: Outcome = { model: '', target: undefined, stream: false, status: 200, errorKind: undefined, usage: undefined, firstTokenAt: undefined };
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  try {
    const json = parseJSONBody(await readBody(req, ctx.maxBodyBytes));
    const model = (json as { model?: unknown } | null)?.model;
    if (typeof model === 'string') out.model = model;
    await handler(json, out, abort.signal);
  } catch (err) {
    const e = abort.signal.aborted ? new HubError('canceled', 'Client closed the request') : toHubError(err);
    out.errorKind = e.kind;
    if (!res.headersSent) {
      out.status = e.status;
      sendJSON(res, e.status, format.body(e, requestId), {
        'x-request-id': requestId,
        ...(e.retryAfter !== undefined && { 'retry-after': String(e.retryAfter) }),
      });
    } else if (!res.writableEnded) {
      // Headers are gone: tell the client in-band rather than truncating silently.
      res.end(format.streamEvent(e));
    }
  } finally {
    ctx.recorder.record({
      requestId,
      ts,
      endpoint,
      model: out.model,
      provider: out.target?.model.provider,
      upstreamModel: out.target?.upstreamModel,
      stream: out.stream,
      status: out.status,
      errorKind: out.errorKind,
      usage: out.usage,
      latencyMs: performance.now() - t0,
      ttftMs: out.firstTokenAt === undefined ? undefined : out.firstTokenAt - t0,
    });
  }
}

export function targetHeaders(requestId: string, t: Target): Record<string, string> {
  return { 'x-request-id': requestId, 'x-baimo-provider': t.model.provider, 'x-baimo-upstream-model': t.upstreamModel };
}
