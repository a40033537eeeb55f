import type { IncomingMessage, ServerResponse } from 'node:http';
import { collect } from '../../core/collect.js';
import { HubError } from '../../core/errors.js';
import type { ChatEvent } from '../../core/types.js';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { ChunkRenderer, completionToWire } from '../../protocols/openai-chat/from-canonical.js';
import { relayBlock, relayCompletion } from '../../protocols/openai-chat/relay.js';
import type { RelayState } from '../../protocols/openai-chat/relay.js';
import { chatCompletionRequest } from '../../protocols/openai-chat/schema.js';
import type { ChatCompletionRequest } from '../../protocols/openai-chat/schema.js';
import { chatRequestToCanonical } from '../../protocols/openai-chat/to-canonical.js';
import { validate } from '../../protocols/validate.js';
import { OpenAICompatibleProvider } from '../../providers/openai-compatible/provider.js';
import { readText, transportError } from '../../providers/http.js';
import { SSESplitter } from '../../providers/sse.js';
import type { Target } from '../../routing/registry.js';
import type { HubContext } from '../context.js';
import { sendJSON, sendRaw, SSE_HEADERS } from '../http.js';
import { runRequest, targetHeaders } from '../lifecycle.js';
import type { Outcome } from '../lifecycle.js';
import { write } from '../stream-writer.js';

export function chatCompletions(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'chat', openAIErrorFormat, async (json, out, signal) => {
    const body = validate(chatCompletionRequest, json);
    out.stream = body.stream === true;
    const target = ctx.registry.resolve(body.model);
    out.target = target;
    if (target.model instanceof OpenAICompatibleProvider) {
      await relay(target, target.model, json as Record<string, unknown>, body, res, requestId, signal, out);
    } else {
      await viaCanonical(target, body, res, requestId, signal, out);
    }
  });
}

/** OpenAI client → OpenAI-compatible upstream: bytes pass through, usage is read on the way. */
async function relay(
  target: Target,
  provider: OpenAICompatibleProvider,
  json: Record<string, unknown>,
  body: ChatCompletionRequest,
  res: ServerResponse,
  requestId: string,
  signal: AbortSignal,
  out: Outcome,
): Promise<void> {
  const headers = targetHeaders(requestId, target);
  if (!out.stream) {
    const upstream = await provider.relay('chat', JSON.stringify({ ...json, model: target.upstreamModel }), signal);
    const { body: text, usage } = relayCompletion(await readText(upstream.body, provider.provider), provider.provider);
    out.usage = usage;
    sendRaw(res, 200, text, headers);
    return;
  }
  const upstreamBody = { ...json, model: target.upstreamModel, stream_options: { ...body.stream_options, include_usage: true } };
  const upstream = await provider.relay('chat', JSON.stringify(upstreamBody), signal);
  const contentType = String(upstream.headers['content-type'] ?? '');
  if (!contentType.includes('text/event-stream')) {
    await upstream.body.dump();
    throw new HubError('upstream', `Upstream ${provider.provider} answered a streaming request without a stream`, { provider: provider.provider });
  }
  res.writeHead(200, { ...SSE_HEADERS, ...headers });
  res.flushHeaders();
  const state: RelayState = {
    includeUsage: body.stream_options?.include_usage === true,
    provider: provider.provider,
    usage: undefined,
    done: false,
    firstTokenAt: undefined,
  };
  const splitter = new SSESplitter();
  upstream.body.setEncoding('utf8');
  try {
    for await (const chunk of upstream.body as AsyncIterable<string>) {
      let text = '';
      for (const block of splitter.push(chunk)) {
        try {
          text += relayBlock(block, state);
        } catch (err) {
          if (text) res.write(text); // what came before the bad event is good; deliver it
          throw err;
        }
      }
      if (text) await write(res, text);
    }
  } catch (err) {
    throw transportError(err, provider.provider);
  } finally {
    out.usage = state.usage;
    out.firstTokenAt = state.firstTokenAt;
  }
  const rest = splitter.rest();
  if (rest) await write(res, relayBlock(rest, state));
  out.usage = state.usage;
  if (!state.done) {
    throw new HubError('upstream', `Upstream ${provider.provider} ended the stream before it was complete`, { provider: provider.provider });
  }
  res.end();
}

/** Any other Model: convert to canonical and render its events back as OpenAI chunks. */
async function viaCanonical(
  target: Target,
  body: ChatCompletionRequest,
  res: ServerResponse,
  requestId: string,
  signal: AbortSignal,
  out: Outcome,
): Promise<void> {
  const request = chatRequestToCanonical(body, target.upstreamModel);
  const headers = targetHeaders(requestId, target);
  const events = target.model.stream(request, signal);
  if (!out.stream) {
    const t0 = performance.now();
    const c = await collect(events);
    out.usage = c.usage;
    out.firstTokenAt = t0;
    sendJSON(res, 200, completionToWire(c, `chatcmpl-${requestId}`, body.model), headers);
    return;
  }
  const renderer = new ChunkRenderer(`chatcmpl-${requestId}`, body.model, body.stream_options?.include_usage === true);
  const it = events[Symbol.asyncIterator]();
  // Wait for the first event so that a failure before any output still gets a proper status.
  let next = await it.next();
  res.writeHead(200, { ...SSE_HEADERS, ...headers });
  for (; !next.done; next = await it.next()) {
    const e: ChatEvent = next.value;
    if (e.type === 'usage') out.usage = e.usage;
    else if (out.firstTokenAt === undefined && (e.type === 'text' || e.type === 'reasoning' || e.type === 'tool_call')) {
      out.firstTokenAt = performance.now();
    }
    const chunk = renderer.render(e);
    if (chunk) await write(res, `data: ${JSON.stringify(chunk)}\n\n`);
  }
  res.end('data: [DONE]\n\n');
}
