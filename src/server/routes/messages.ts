import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import { collect } from '../../core/collect.js';
import type { Model } from '../../core/model.js';
import type { ChatRequest } from '../../core/types.js';
import { anthropicErrorFormat } from '../../protocols/anthropic-messages/errors.js';
import { AnthropicStreamRenderer, collectedToMessage } from '../../protocols/anthropic-messages/from-canonical.js';
import { countTokensRequest, messagesRequest } from '../../protocols/anthropic-messages/schema.js';
import { messagesRequestToCanonical } from '../../protocols/anthropic-messages/to-canonical.js';
import { validate } from '../../protocols/validate.js';
import { estimatePromptTokens, promptText, promptTokenBound } from '../../usage/estimate.js';
import type { HubContext } from '../context.js';
import { dispatch, firstEvent } from '../../gateway/dispatch.js';
import { headerValue, sendJSON, sendRaw, SSE_HEADERS } from '../http.js';
import { HubError } from '../../core/errors.js';
import type { Collected } from '../../core/collect.js';
import type { ChatEvent } from '../../core/types.js';
import type { PassthroughMeter, PassthroughStream } from '../../core/model.js';
import type { Dispatched } from '../../gateway/dispatch.js';
import type { Outcome } from '../../gateway/outcome.js';
import { admit } from '../../gateway/admission.js';
import { noteEvent } from '../../gateway/outcome.js';
import { eventTap, relaySink, relayWhole, tapEvents } from '../../gateway/hooks.js';
import { answeredByHook, attemptHeaders, runRequest } from '../lifecycle.js';
import { write } from '../stream-writer.js';

/** A Model that can count prompt tokens itself (Anthropic and Gemini upstreams can). */
interface TokenCounter {
  countTokens(request: ChatRequest, signal: AbortSignal): Promise<number>;
}

function canCount(m: Model): m is Model & TokenCounter {
  return typeof (m as Partial<TokenCounter>).countTokens === 'function';
}

/** `POST /v1/messages`: Anthropic's Messages API in front of any model. */
export function messages(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'chat', anthropicErrorFormat, async (json, out, call) => {
    const body = validate(messagesRequest, json);
    out.stream = body.stream === true;
    const target = ctx.registry.resolve(body.model);
    const base = messagesRequestToCanonical(body, '');
    const estimate = estimatePromptTokens(base);
    out.promptText = () => promptText(base);
    const id = `msg_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    const stream = out.stream;
    out.ticket = admit(ctx, call.principal, body.model, target, { estimate, bound: () => promptTokenBound(base) }, body.max_tokens);
    if (answeredByHook(res, requestId, out)) return;
    const beta = typeof req.headers['anthropic-beta'] === 'string' ? req.headers['anthropic-beta'] : undefined;
    const d = await dispatch(ctx, call, 'chat', target, out, estimate, async (attempt, cancel): Promise<Started> => {
      // A provider with its own Anthropic-compatible endpoint serves Anthropic clients natively.
      const model = attempt.deployment.anthropic ?? attempt.deployment.model;
      const relay = model.passthrough?.('anthropic-messages');
      if (relay) {
        const r = { body: json as Record<string, unknown>, model: attempt.deployment.upstreamModel, beta };
        if (!stream) return { relayed: { kind: 'whole', ...(await relay.whole(r, cancel)) } };
        // The first event goes to the client the moment it has been checked.
        const open = () => (res.writeHead(200, { ...SSE_HEADERS, ...attemptHeaders(requestId, attempt, out), 'request-id': requestId }), relaySink(out, res));
        return { relayed: { kind: 'stream', stream: await relay.stream(r, cancel, open) } };
      }
      const request = { ...base, model: attempt.deployment.upstreamModel };
      if (!stream) return { whole: await collect(tapEvents(out, model.stream(request, cancel.signal))), arrivedAt: performance.now() };
      return { started: await firstEvent(model, request, cancel.signal) };
    });
    const headers = { ...attemptHeaders(requestId, d.attempt, out), 'request-id': requestId };
    if (d.value.relayed) return relayRest(d.value.relayed, res, headers, out, d);
    if (d.value.whole) {
      out.usage = d.value.whole.usage;
      out.trace = d.value.whole.trace;
      // Not streamed: the first token is the moment the whole answer arrived, as on the relay.
      out.firstTokenAt = d.value.arrivedAt;
      sendJSON(res, 200, collectedToMessage(d.value.whole, id, body.model), headers);
      return;
    }
    const { it, first } = d.value.started!;
    const renderer = new AnthropicStreamRenderer(id, body.model, estimate);
    res.writeHead(200, { ...SSE_HEADERS, ...headers });
    await write(res, renderer.start());
    const tap = eventTap(out);
    try {
      for (let next = first; !next.done; next = await it.next()) {
        const e = next.value;
        noteEvent(out, e);
        if (tap) tap(e);
        const text = renderer.render(e);
        if (text) await write(res, text);
      }
    } catch (err) {
      if (d.timedOut()) throw d.timeoutError();
      throw err;
    }
    res.end(renderer.end());
  });
}

type Started =
  | { whole: Collected; arrivedAt: number; started?: undefined; relayed?: undefined }
  | { started: { it: AsyncIterator<ChatEvent>; first: IteratorResult<ChatEvent> }; whole?: undefined; relayed?: undefined }
  | { relayed: Relayed; whole?: undefined; started?: undefined };

type Relayed =
  | { kind: 'whole'; text: string; meter: PassthroughMeter }
  | { kind: 'stream'; stream: PassthroughStream };

async function relayRest(r: Relayed, res: ServerResponse, headers: Record<string, string>, out: Outcome, d: Dispatched<Started>): Promise<void> {
  if (r.kind === 'whole') {
    out.usage = r.meter.usage;
    out.firstTokenAt = r.meter.firstTokenAt;
    relayWhole(out, r.text);
    return sendRaw(res, 200, r.text, headers);
  }
  const state = r.stream.meter;
  const provider = (d.attempt.deployment.anthropic ?? d.attempt.deployment.model).provider;
  if (!res.headersSent) res.writeHead(200, { ...SSE_HEADERS, ...headers });
  try {
    await r.stream.pipe(relaySink(out, res), d);
  } finally {
    out.usage = state.usage;
    out.firstTokenAt = state.firstTokenAt;
  }
  if (state.failed) {
    // The upstream's own error event already reached the client.
    out.errorKind = 'upstream';
    return void res.end();
  }
  if (!state.done) throw new HubError('upstream', `Upstream ${provider} ended the stream before it was complete`, { provider });
  res.end();
}

/** `POST /v1/messages/count_tokens`: the upstream's own count where it has one, else an estimate. */
export function countTokens(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'count_tokens', anthropicErrorFormat, async (json, _out, call) => {
    const body = validate(countTokensRequest, json);
    const target = ctx.registry.resolve(body.model);
    const d = target.route.deployments[0]!;
    const request = messagesRequestToCanonical(body, d.upstreamModel);
    const counter = [d.anthropic, d.model].find((m) => m !== undefined && canCount(m)) as (Model & TokenCounter) | undefined;
    const inputTokens = counter ? await counter.countTokens(request, call.cancel.signal) : estimatePromptTokens(request);
    sendJSON(res, 200, { input_tokens: inputTokens }, { 'x-request-id': requestId, 'request-id': requestId, 'x-baimo-deployment': headerValue(d.id) });
  });
}
