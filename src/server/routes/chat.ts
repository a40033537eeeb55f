import type { IncomingMessage, ServerResponse } from 'node:http';
import { collect } from '../../core/collect.js';
import type { Collected } from '../../core/collect.js';
import { HubError } from '../../core/errors.js';
import type { ChatEvent } from '../../core/types.js';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { ChunkRenderer, completionToWire } from '../../protocols/openai-chat/from-canonical.js';
import { chatCompletionRequest } from '../../protocols/openai-chat/schema.js';
import type { ChatCompletionRequest } from '../../protocols/openai-chat/schema.js';
import { chatRequestToCanonical } from '../../protocols/openai-chat/to-canonical.js';
import { validate } from '../../protocols/validate.js';
import type { PassthroughMeter, PassthroughStream } from '../../core/model.js';
import { estimatePromptTokens, promptText, promptTokenBound } from '../../usage/estimate.js';
import type { HubContext } from '../context.js';
import { dispatch, firstEvent } from '../../gateway/dispatch.js';
import type { Dispatched } from '../../gateway/dispatch.js';
import { sendJSON, sendRaw, SSE_HEADERS } from '../http.js';
import { admit } from '../../gateway/admission.js';
import { noteEvent } from '../../gateway/outcome.js';
import { eventTap, relaySink, relayWhole, tapEvents } from '../../gateway/hooks.js';
import { answeredByHook, attemptHeaders, runRequest } from '../lifecycle.js';
import type { Outcome } from '../../gateway/outcome.js';
import { write } from '../stream-writer.js';

/** What an attempt produced, once output is assured to start. */
type Started =
  | { kind: 'relay-whole'; text: string; meter: PassthroughMeter }
  | { kind: 'relay-stream'; stream: PassthroughStream }
  | { kind: 'canonical-whole'; collected: Collected; firstTokenAt: number }
  | { kind: 'canonical-stream'; it: AsyncIterator<ChatEvent>; first: IteratorResult<ChatEvent> };

export function chatCompletions(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'chat', openAIErrorFormat, async (json, out, call) => {
    const body = validate(chatCompletionRequest, json);
    out.stream = body.stream === true;
    const target = ctx.registry.resolve(body.model);
    const raw = json as Record<string, unknown>;
    // Canonical form, built once: it gives the estimate, and each non-relay attempt's request.
    const base = chatRequestToCanonical(body, '');
    const canonical = (upstreamModel: string) => ({ ...base, model: upstreamModel });
    const estimate = estimatePromptTokens(base);
    out.promptText = () => promptText(base);
    out.ticket = admit(ctx, call.principal, body.model, target, { estimate, bound: () => promptTokenBound(base), choices: body.n }, body.max_completion_tokens ?? body.max_tokens ?? undefined);
    if (answeredByHook(res, requestId, out)) return;
    const d = await dispatch(ctx, call, 'chat', target, out, estimate, async (attempt, cancel): Promise<Started> => {
      const { model, upstreamModel } = attempt.deployment;
      const relay = model.passthrough?.('openai-chat');
      if (relay) {
        const request = { body: raw, model: upstreamModel, includeUsage: body.stream_options?.include_usage === true };
        if (!out.stream) return { kind: 'relay-whole', ...(await relay.whole(request, cancel)) };
        // The first event goes to the client the moment it has been checked.
        const open = () => (res.writeHead(200, { ...SSE_HEADERS, ...attemptHeaders(requestId, attempt, out) }), relaySink(out, res));
        return { kind: 'relay-stream', stream: await relay.stream(request, cancel, open) };
      }
      if (!out.stream) {
        const collected = await collect(tapEvents(out, model.stream(canonical(upstreamModel), cancel.signal)));
        // Not streamed: the first token is the moment the whole answer arrived, as on the relay.
        return { kind: 'canonical-whole', collected, firstTokenAt: performance.now() };
      }
      return { kind: 'canonical-stream', ...(await firstEvent(model, canonical(upstreamModel), cancel.signal)) };
    });
    const headers = attemptHeaders(requestId, d.attempt, out);
    const started = d.value;
    switch (started.kind) {
      case 'relay-whole':
        out.usage = started.meter.usage;
        out.firstTokenAt = started.meter.firstTokenAt;
        relayWhole(out, started.text);
        return sendRaw(res, 200, started.text, headers);
      case 'canonical-whole':
        out.usage = started.collected.usage;
        out.trace = started.collected.trace;
        out.firstTokenAt = started.firstTokenAt;
        return sendJSON(res, 200, completionToWire(started.collected, `chatcmpl-${requestId}`, body.model), headers);
      case 'relay-stream':
        return relayStream(started, res, headers, out, d);
      case 'canonical-stream':
        return canonicalStream(started, body, res, headers, requestId, out, d);
    }
  });
}

/** OpenAI client ← OpenAI-compatible upstream: bytes pass through, usage is read on the way. */
async function relayStream(
  s: Extract<Started, { kind: 'relay-stream' }>,
  res: ServerResponse,
  headers: Record<string, string>,
  out: Outcome,
  d: Dispatched<Started>,
): Promise<void> {
  if (!res.headersSent) res.writeHead(200, { ...SSE_HEADERS, ...headers });
  const { meter } = s.stream;
  try {
    await s.stream.pipe(relaySink(out, res), d);
  } finally {
    out.usage = meter.usage;
    out.firstTokenAt = meter.firstTokenAt;
    out.outputText = meter.output;
  }
  if (!meter.done) throw new HubError('upstream', `Upstream ${d.attempt.deployment.model.provider} ended the stream before it was complete`, { provider: d.attempt.deployment.model.provider });
  res.end();
}

/** Any other Model: its canonical events rendered as OpenAI chunks. */
async function canonicalStream(
  s: Extract<Started, { kind: 'canonical-stream' }>,
  body: ChatCompletionRequest,
  res: ServerResponse,
  headers: Record<string, string>,
  requestId: string,
  out: Outcome,
  d: Dispatched<Started>,
): Promise<void> {
  const renderer = new ChunkRenderer(`chatcmpl-${requestId}`, body.model, body.stream_options?.include_usage === true);
  res.writeHead(200, { ...SSE_HEADERS, ...headers });
  const tap = eventTap(out);
  try {
    for (let next = s.first; !next.done; next = await s.it.next()) {
      const e = next.value;
      noteEvent(out, e);
      if (tap) tap(e);
      const chunk = renderer.render(e);
      if (chunk) await write(res, `data: ${JSON.stringify(chunk)}\n\n`);
    }
  } catch (err) {
    if (d.timedOut()) throw d.timeoutError();
    throw err;
  }
  res.end('data: [DONE]\n\n');
}
