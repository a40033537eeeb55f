import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError, toHubError } from '../../core/errors.js';
import type { ErrorKind } from '../../core/errors.js';
import type { Usage } from '../../core/types.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import { embeddingsRequest } from '../../protocols/openai-chat/schema.js';
import { parseJSONBody, validate } from '../../protocols/validate.js';
import { readText } from '../../providers/http.js';
import { OpenAICompatibleProvider } from '../../providers/openai-compatible/provider.js';
import { usageFromWire } from '../../providers/openai-compatible/usage.js';
import type { WireUsage } from '../../providers/openai-compatible/wire.js';
import type { Target } from '../../routing/registry.js';
import type { HubContext } from '../context.js';
import { readBody, sendJSON, sendRaw } from '../http.js';

export async function embeddings(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  const t0 = performance.now();
  const ts = Date.now();
  let model = '';
  let target: Target | undefined;
  let status = 200;
  let errorKind: ErrorKind | undefined;
  let usage: Usage | undefined;
  const abort = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) abort.abort();
  });
  try {
    const json = parseJSONBody(await readBody(req, ctx.maxBodyBytes)) as Record<string, unknown>;
    if (typeof json?.model === 'string') model = json.model;
    validate(embeddingsRequest, json);
    target = ctx.registry.resolve(model);
    if (!(target.model instanceof OpenAICompatibleProvider)) {
      throw new HubError('bad_request', `The model '${model}' does not offer embeddings.`, { param: 'model' });
    }
    const provider = target.model;
    const upstream = await provider.relay('embeddings', JSON.stringify({ ...json, model: target.upstreamModel }), abort.signal);
    const text = await readText(upstream.body, provider.provider);
    let doc: { usage?: WireUsage; data?: unknown };
    try {
      doc = JSON.parse(text);
    } catch {
      throw new HubError('upstream', `Upstream ${provider.provider} returned a response that is not valid JSON`);
    }
    if (!doc || !Array.isArray(doc.data)) throw new HubError('upstream', `Upstream ${provider.provider} returned no embeddings`);
    usage = usageFromWire(doc.usage ?? {});
    sendRaw(res, 200, text, { 'x-request-id': requestId, 'x-baimo-provider': provider.provider });
  } catch (err) {
    const e = toHubError(err);
    errorKind = e.kind;
    status = e.status;
    sendJSON(res, e.status, openAIErrorBody(e), {
      'x-request-id': requestId,
      ...(e.retryAfter !== undefined && { 'retry-after': String(e.retryAfter) }),
    });
  } finally {
    ctx.recorder.record({
      requestId,
      ts,
      endpoint: 'embeddings',
      model,
      provider: target?.model.provider,
      upstreamModel: target?.upstreamModel,
      stream: false,
      status,
      errorKind,
      usage,
      latencyMs: performance.now() - t0,
      ttftMs: undefined,
    });
  }
}
