import type { IncomingMessage, ServerResponse } from 'node:http';
import { Cancel } from '../core/cancel.js';
import { HubError, toHubError } from '../core/errors.js';
import type { ErrorKind } from '../core/errors.js';
import { storedModelName } from '../core/model-name.js';
import type { ChatEvent, Usage } from '../core/types.js';
import { parseJSONBody } from '../protocols/validate.js';
import type { Attempt } from '../routing/router.js';
import type { Principal } from '../tenancy/types.js';
import { costUsd } from '../usage/cost.js';
import { redactBody, truncate } from '../usage/redact.js';
import { countTokens } from '../usage/tokens.js';
import type { Collected } from '../core/collect.js';
import type { Ticket } from './admission.js';
import { subCallScope } from './subcalls.js';
import type { SubCallScope } from './subcalls.js';
import type { UsageRecord } from '../usage/record.js';
import type { HubContext } from './context.js';
import { headerValue, readBody, sendJSON } from './http.js';

/** What one request did, filled in by its handler as it goes and recorded whatever happens. */
export interface Outcome {
  model: string;
  /** The attempt that answered (or failed last). */
  attempt: Attempt | undefined;
  stream: boolean;
  status: number;
  errorKind: ErrorKind | undefined;
  usage: Usage | undefined;
  /** performance.now() of the first token. */
  firstTokenAt: number | undefined;
  /** Set once the request was admitted against its key's limits. */
  ticket: Ticket | undefined;
  /** The prompt as text, for counting tokens when an upstream reports no usage. */
  promptText: (() => string) | undefined;
  /** Output the client received, collected only for counting when no usage arrives. */
  outputText: string;
  /** A virtual model's sub-calls. */
  trace: Collected['trace'];
}

export function newOutcome(): Outcome {
  return { model: '', attempt: undefined, stream: false, status: 200, errorKind: undefined, usage: undefined, firstTokenAt: undefined, ticket: undefined, promptText: undefined, outputText: '', trace: undefined };
}

/** How an inbound wire format reports errors to its clients. */
export interface ErrorFormat {
  body(e: HubError, requestId: string): unknown;
  /** The in-band error for a stream whose headers are already sent. */
  streamEvent(e: HubError): string;
}

/** `cancel` fires when the client goes away before the response is complete. */
export type Handler = (json: unknown, out: Outcome, cancel: Cancel, principal: Principal) => Promise<void>;

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
  const out = newOutcome();
  let scope: SubCallScope | undefined;
  // Who called, once known: a request refused at admission (budget, RPM, TPM, model access) has
  // no ticket but is still recorded against its key and team.
  let caller: Principal | undefined;
  const cancel = new Cancel();
  res.on('close', () => {
    if (!res.writableFinished) cancel.abort();
  });
  // The record is made (and journaled) just before the response's last byte goes out, so a
  // client never sees a completed request whose record a crash could lose.
  let recorded = false;
  const finalize = (then?: () => void): void => {
    if (recorded) return then?.();
    recorded = true;
      const a = out.attempt;
      if (a && out.firstTokenAt !== undefined) a.deployment.observeFirstToken(out.firstTokenAt - t0);
      let estimated = false;
      if (a && !out.usage && out.promptText) {
        // The upstream was called but reported no usage (an abandoned stream, a provider that
        // ignores include_usage): count what was sent and received rather than record nothing.
        const model = a.deployment.upstreamModel;
        out.usage = { inputTokens: countTokens(model, out.promptText()).tokens, outputTokens: countTokens(model, out.outputText).tokens };
        estimated = true;
      }
      const price = a && out.usage ? ctx.prices.price(a.deployment.provider, a.deployment.upstreamModel) : undefined;
      let cost = price && out.usage ? costUsd(out.usage, price) : undefined;
      if (scope && scope.calls > 0) {
        // Each sub-call settled its own cost and tokens against the key already.
        cost = scope.costUsd;
        out.ticket?.settle(undefined, 0);
      } else out.ticket?.settle(out.usage, cost);
      ctx.recorder.record(
      {
        requestId,
        ts,
        endpoint,
        model: out.model,
        provider: a?.deployment.provider,
        upstreamModel: a?.deployment.upstreamModel,
        deployment: a?.deployment.id,
        attempt: a?.number ?? 0,
        final: true,
        fallbackFrom: a?.fallbackFrom,
        keyId: out.ticket ? out.ticket.keyId : caller?.kind === 'key' ? caller.key.id : undefined,
        teamId: out.ticket ? out.ticket.teamId : caller?.kind === 'key' ? caller.team?.id : undefined,
        costUsd: cost,
        usageCounted: estimated,
        ...(out.trace && { trace: out.trace }),
        ...(capture && {
          bodies: { request: keep(rawBody), response: keep(capture()) },
        }),
        stream: out.stream,
        status: out.status,
        errorKind: out.errorKind,
        usage: out.usage,
        latencyMs: performance.now() - t0,
        ttftMs: out.firstTokenAt === undefined ? undefined : out.firstTokenAt - t0,
        },
      then,
    );
  };
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  let ending = false;
  (res as { end: unknown }).end = (...args: unknown[]) => {
    if (ending) return res;
    ending = true;
    // The last byte goes out once the record is journaled (within this turn of the event loop).
    finalize(() => end(...args));
    return res;
  };
  const capture = ctx.captureBodies ? teeResponse(res, ctx.captureBodies.maxBytes) : undefined;
  /** A body as stored: secret-looking fields and the hub's upstream secrets out, then cut to size. */
  const keep = (text: string) => truncate(ctx.registry.redactor.redact(redactBody(text)), ctx.captureBodies!.maxBytes);
  let rawBody = '';
  try {
    // Who is calling is settled before the body is even read.
    const principal = ctx.tenancy.authenticate(req.headers);
    caller = principal;
    rawBody = await readBody(req, ctx.maxBodyBytes);
    const json = parseJSONBody(rawBody);
    const model = (json as { model?: unknown } | null)?.model;
    // Recorded before validation, so an over-long name is kept only in part.
    if (typeof model === 'string') out.model = storedModelName(model);
    if (ctx.registry.hasVirtualModels) {
      // Virtual models charge their sub-calls to this request's key, wherever they are nested.
      scope = { ctx, principal, requestId, calls: 0, costUsd: 0 };
      await subCallScope.run(scope, () => handler(json, out, cancel, principal));
    } else await handler(json, out, cancel, principal);
  } catch (err) {
    // Upstream text is scrubbed where it enters the hub; this is the last check on its way out.
    const e = cancel.aborted ? new HubError('canceled', 'Client closed the request') : ctx.registry.redactor.error(toHubError(err));
    out.errorKind = e.kind;
    if (!res.headersSent) {
      out.status = e.status;
      sendJSON(res, e.status, format.body(e, requestId), {
        'x-request-id': requestId,
        ...e.headers,
        ...(e.retryAfter !== undefined && { 'retry-after': String(e.retryAfter) }),
      });
    } else if (!res.writableEnded) {
      // Headers are gone: tell the client in-band rather than truncating silently.
      res.end(format.streamEvent(e));
    }
  } finally {
    cancel.finish();
    finalize();
  }
}

/**
 * Tells the client what happened: which deployment answered, after how many attempts, via which
 * fallback, and how much of its rate limits is left.
 */
export function attemptHeaders(requestId: string, a: Attempt, out?: Outcome): Record<string, string> {
  return {
    ...out?.ticket?.headers,
    'x-request-id': requestId,
    'x-baimo-provider': headerValue(a.deployment.provider),
    'x-baimo-upstream-model': headerValue(a.deployment.upstreamModel),
    'x-baimo-deployment': headerValue(a.deployment.id),
    'x-baimo-attempts': String(a.number),
    ...(a.fallbackFrom !== undefined && { 'x-baimo-fallback': headerValue(`${a.fallbackFrom} -> ${a.route.name}`) }),
  };
}

/** Keeps the outcome current as a canonical stream goes by: usage, first token, text for counting. */
export function noteEvent(out: Outcome, e: ChatEvent): void {
  switch (e.type) {
    case 'usage':
      out.usage = e.usage;
      out.outputText = '';
      return;
    case 'text':
    case 'reasoning':
      if (out.firstTokenAt === undefined) out.firstTokenAt = performance.now();
      if (!out.usage) out.outputText += e.text;
      return;
    case 'tool_call':
      if (out.firstTokenAt === undefined) out.firstTokenAt = performance.now();
      if (!out.usage) out.outputText += (e.name ?? '') + e.arguments;
      return;
    case 'trace':
      out.trace = { steps: e.steps, ...(e.summary && { summary: e.summary }) };
      return;
    default:
      return;
  }
}

/** Keeps a copy of what the response sends, up to `max` bytes, for body capture. */
function teeResponse(res: ServerResponse, max: number): () => string {
  const parts: string[] = [];
  let size = 0;
  const keep = (chunk: unknown) => {
    if (size > max || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : '';
    size += text.length;
    parts.push(text);
  };
  const write = res.write.bind(res) as (...a: unknown[]) => boolean;
  const end = res.end.bind(res) as (...a: unknown[]) => ServerResponse;
  (res as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
    keep(chunk);
    return write(chunk, ...rest);
  };
  (res as { end: unknown }).end = (chunk?: unknown, ...rest: unknown[]) => {
    keep(chunk);
    return end(chunk, ...rest);
  };
  return () => parts.join('');
}
