import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cancel } from '../core/cancel.js';
import { HubError, toHubError } from '../core/errors.js';
import { storedModelName } from '../core/model-name.js';
import { callContext } from '../gateway/context.js';
import type { CallContext } from '../gateway/context.js';
import { newOutcome } from '../gateway/outcome.js';
import type { Outcome } from '../gateway/outcome.js';
import { recordCall } from '../gateway/record.js';
import { hooked } from '../gateway/hooks.js';
import { parseJSONBody } from '../protocols/validate.js';
import type { Principal } from '../tenancy/types.js';
import type { UsageRecord } from '../usage/record.js';
import type { HubContext } from './context.js';
import { readBody } from './http.js';
import { Reply } from './reply.js';

/** How an inbound wire format reports errors to its clients. */
export interface ErrorFormat {
  body(e: HubError, requestId: string): unknown;
  /** The in-band error for a stream whose headers are already sent. */
  streamEvent(e: HubError): string;
}

/**
 * `call.cancel` fires when the client goes away before the response is complete; `call` is the
 * context the handler's model call runs in (gateway/context.ts); `reply` is where everything the
 * client gets is written.
 */
export type Handler = (json: unknown, out: Outcome, call: CallContext, reply: Reply) => Promise<void>;

/**
 * The HTTP side of every model request: authenticate, read and parse the body, run the handler
 * (which calls the gateway: startCall, then renders what started), answer errors in the client's own format
 * (in-band once a stream has started), abort the upstream when the client goes away, and have
 * the gateway record the call no matter what happened, before the response's last byte.
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
  const out = newOutcome();
  // What the hooks see of this call (nothing is made when none is registered).
  const h = hooked(ctx.hooks, out, { call: undefined, endpoint, request: undefined, rawBody: '', via: 'http' });
  let call: CallContext | undefined;
  // Who called, once known: a request refused at admission (budget, RPM, TPM, model access) has
  // no ticket but is still recorded against its key and team.
  let caller: Principal | undefined;
  const cancel = new Cancel();
  res.on('close', () => {
    if (!res.writableFinished) cancel.abort();
  });
  // The record is made (and journaled) just before the response's last byte goes out, so a
  // client never sees a completed request whose record a crash could lose. The post-hooks run
  // inside it (gateway/record.ts), so what they add to the record (bodies) is journaled too.
  let recorded = false;
  const finalize = (then?: () => void): void => {
    if (recorded) return then?.();
    recorded = true;
    recordCall(ctx, call ?? callContext({ kind: 'open' }, requestId, cancel), out, { t0, ts, endpoint, caller }, then);
  };
  const reply = new Reply(res, h && h.hooks.sent.length > 0 ? h : undefined, finalize);
  try {
    // Who is calling is settled before the body is even read.
    const known = ctx.tenancy.authenticateShared(req.headers);
    // A promise only when the cache missed and a store shared with other hubs is asked (a key just made on another).
    const principal = known instanceof Promise ? await known : known;
    caller = principal;
    call = callContext(principal, requestId, cancel);
    if (h) h.info.call = call;
    const rawBody = await readBody(req, ctx.maxBodyBytes);
    // Kept before parsing, so a body that is not JSON is still captured as it came.
    if (h) h.info.rawBody = rawBody;
    const json = parseJSONBody(rawBody);
    if (h) h.info.request = json;
    const model = (json as { model?: unknown } | null)?.model;
    // Recorded before validation, so an over-long name is kept only in part.
    if (typeof model === 'string') out.model = storedModelName(model);
    await handler(json, out, call, reply);
  } catch (err) {
    // Upstream text is scrubbed where it enters the hub; this is the last check on its way out.
    const e = cancel.aborted ? new HubError('canceled', 'Client closed the request') : ctx.registry.redactor.error(toHubError(err));
    out.errorKind = e.kind;
    out.error = e;
    if (!reply.headersSent) {
      out.status = e.status;
      reply.json(e.status, format.body(e, requestId), {
        'x-request-id': requestId,
        ...e.headers,
        ...(e.retryAfter !== undefined && { 'retry-after': String(e.retryAfter) }),
      });
    } else if (!reply.ended) {
      // Headers are gone: tell the client in-band rather than truncating silently.
      reply.end(format.streamEvent(e));
    }
  } finally {
    cancel.finish();
    finalize();
  }
}
