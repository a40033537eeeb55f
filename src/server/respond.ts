/**
 * The HTTP side of a started call (gateway/call.ts `Started`): headers that say which deployment
 * answered, a relayed body or stream sent on as it came, a canonical answer rendered by the
 * client's protocol. Routes parse, call `startCall`, and hand the result here with their view.
 */
import type { Collected } from '../core/collect.js';
import { HubError } from '../core/errors.js';
import type { Sink } from '../core/model.js';
import type { ChatEvent } from '../core/types.js';
import type { Started } from '../gateway/call.js';
import type { Answer } from '../gateway/hooks.js';
import type { Outcome } from '../gateway/outcome.js';
import type { Deployment } from '../routing/deployment.js';
import type { Attempt } from '../routing/router.js';
import { headerValue, SSE_HEADERS } from './http.js';
import type { Reply } from './reply.js';

/** How a protocol renders canonical answers to its clients. */
export interface View {
  /** A whole answer as the client's JSON body (the route may store it first). */
  whole?(c: Collected): unknown;
  /** A fresh renderer for a stream. */
  stream?(): StreamView;
}

export interface StreamView {
  /** What goes out before the first event (Anthropic's message_start), if anything. */
  start?(): string;
  /** One canonical event as the client's SSE text ('' or undefined: nothing to send). */
  render(e: ChatEvent): string | undefined;
  /** The stream's tail (the route may store the answer first). */
  end(): string | Promise<string>;
}

type Headers = Record<string, string>;

/** The headers of one deployment, made once per deployment rather than once per response. */
const deploymentHeaders = new WeakMap<Deployment, Headers>();

function headersOf(d: Deployment): Headers {
  let h = deploymentHeaders.get(d);
  if (!h) {
    h = { 'x-baimo-provider': headerValue(d.provider), 'x-baimo-upstream-model': headerValue(d.upstreamModel), 'x-baimo-deployment': headerValue(d.id) };
    deploymentHeaders.set(d, h);
  }
  return h;
}

/**
 * Tells the client what happened: which deployment answered, after how many attempts, via which
 * fallback, and how much of its rate limits is left.
 */
export function attemptHeaders(requestId: string, a: Attempt, out: Outcome, extra?: Headers): Headers {
  return {
    ...out.ticket?.headers,
    'x-request-id': requestId,
    ...headersOf(a.deployment),
    'x-baimo-attempts': String(a.number),
    ...(a.fallbackFrom !== undefined && { 'x-baimo-fallback': headerValue(`${a.fallbackFrom} -> ${a.route.name}`) }),
    ...extra,
  };
}

/** A streamed relay's client side: the SSE headers go out with the first checked event. */
export function sseOpener(reply: Reply, requestId: string, out: Outcome, extra?: Headers): (a: Attempt) => Sink {
  return (a) => {
    reply.head(200, { ...SSE_HEADERS, ...attemptHeaders(requestId, a, out, extra) });
    return reply;
  };
}

/**
 * A pre-hook's answer goes to the client as it is: nothing was routed, and the call is recorded
 * as usual (with the answer's usage, if it gives one).
 */
function sendAnswer(reply: Reply, requestId: string, out: Outcome, a: Answer): void {
  if (a.text === undefined) throw new HubError('internal', `The hook '${a.by}' answered an HTTP request without a body.`);
  out.status = a.status ?? 200;
  reply.raw(out.status, a.text, {
    ...out.ticket?.headers,
    'content-type': a.contentType ?? (out.stream ? 'text/event-stream' : 'application/json'),
    'x-request-id': requestId,
    ...(a.by !== undefined && { 'x-baimo-hook': headerValue(a.by) }),
  });
}

/** Sends what started to the client; resolves when the response has ended. */
export async function respond(reply: Reply, requestId: string, out: Outcome, s: Started, view: View, extra?: Headers): Promise<void> {
  if (s.kind === 'answered') return sendAnswer(reply, requestId, out, s.answer);
  const headers = attemptHeaders(requestId, s.attempt, out, extra);
  switch (s.kind) {
    case 'text':
      return reply.raw(200, s.text, headers);
    case 'whole':
      return reply.json(200, await view.whole!(s.collected), headers);
    case 'relay':
      if (!reply.headersSent) reply.head(200, { ...SSE_HEADERS, ...headers });
      await s.pipe(reply);
      return reply.end();
    case 'events': {
      const r = view.stream!();
      reply.head(200, { ...SSE_HEADERS, ...headers });
      const head = r.start?.();
      if (head) await reply.send(head);
      await s.events.each((e) => {
        const text = r.render(e);
        return text ? reply.send(text) : undefined;
      });
      return reply.end(await r.end());
    }
  }
}
