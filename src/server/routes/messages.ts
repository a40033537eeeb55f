import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Model } from '../../core/model.js';
import type { ChatRequest } from '../../core/types.js';
import { anthropicErrorFormat } from '../../protocols/anthropic-messages/errors.js';
import { AnthropicStreamRenderer, collectedToMessage } from '../../protocols/anthropic-messages/from-canonical.js';
import { countTokensRequest, messagesRequest } from '../../protocols/anthropic-messages/schema.js';
import { messagesRequestToCanonical } from '../../protocols/anthropic-messages/to-canonical.js';
import { validate } from '../../protocols/validate.js';
import { estimatePromptTokens, promptTokenBound } from '../../usage/estimate.js';
import type { HubContext } from '../context.js';
import { startCall } from '../../gateway/call.js';
import { headerValue } from '../http.js';
import { runRequest } from '../lifecycle.js';
import { respond, sseOpener } from '../respond.js';

/** A Model that can count prompt tokens itself (Anthropic and Gemini upstreams can). */
interface TokenCounter {
  countTokens(request: ChatRequest, signal: AbortSignal): Promise<number>;
}

function canCount(m: Model): m is Model & TokenCounter {
  return typeof (m as Partial<TokenCounter>).countTokens === 'function';
}

/** `POST /v1/messages`: Anthropic's Messages API in front of any model. */
export function messages(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'chat', anthropicErrorFormat, async (json, out, call, reply) => {
    const body = validate(messagesRequest, json);
    const canonical = messagesRequestToCanonical(body, '');
    const beta = typeof req.headers['anthropic-beta'] === 'string' ? req.headers['anthropic-beta'] : undefined;
    const extra = { 'request-id': requestId };
    // Measured once: Anthropic's message_start reports it as the prompt's input tokens.
    const estimate = estimatePromptTokens(canonical);
    const started = await startCall(ctx, call, out, {
      endpoint: 'chat',
      model: body.model,
      stream: body.stream === true,
      canonical,
      prompt: { estimate, bound: () => promptTokenBound(canonical) },
      maxOutput: body.max_tokens,
      relay: { format: 'anthropic-messages', request: { body: json as Record<string, unknown>, beta }, open: sseOpener(reply, requestId, out, extra) },
      // A provider with its own Anthropic-compatible endpoint serves Anthropic clients natively.
      pick: (d) => d.anthropic ?? d.model,
    });
    const id = `msg_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
    await respond(
      reply,
      requestId,
      out,
      started,
      {
        whole: (c) => collectedToMessage(c, id, body.model),
        stream: () => {
          const renderer = new AnthropicStreamRenderer(id, body.model, estimate);
          return { start: () => renderer.start(), render: (e) => renderer.render(e), end: () => renderer.end() };
        },
      },
      extra,
    );
  });
}

/** `POST /v1/messages/count_tokens`: the upstream's own count where it has one, else an estimate. */
export function countTokens(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'count_tokens', anthropicErrorFormat, async (json, _out, call, reply) => {
    const body = validate(countTokensRequest, json);
    const target = ctx.registry.resolve(body.model);
    const d = target.route.deployments[0]!;
    const request = messagesRequestToCanonical(body, d.upstreamModel);
    const counter = [d.anthropic, d.model].find((m) => m !== undefined && canCount(m)) as (Model & TokenCounter) | undefined;
    const inputTokens = counter ? await counter.countTokens(request, call.cancel.signal) : estimatePromptTokens(request);
    reply.json(200, { input_tokens: inputTokens }, { 'x-request-id': requestId, 'request-id': requestId, 'x-baimo-deployment': headerValue(d.id) });
  });
}
