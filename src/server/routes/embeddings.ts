import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError } from '../../core/errors.js';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { embeddingsRequest } from '../../protocols/openai-chat/schema.js';
import { validate } from '../../protocols/validate.js';
import { readText } from '../../providers/http.js';
import { OpenAICompatibleProvider } from '../../providers/openai-compatible/provider.js';
import { usageFromWire } from '../../providers/openai-compatible/usage.js';
import type { WireUsage } from '../../providers/openai-compatible/wire.js';
import type { HubContext } from '../context.js';
import { sendRaw } from '../http.js';
import { runRequest, targetHeaders } from '../lifecycle.js';

export function embeddings(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'embeddings', openAIErrorFormat, async (json, out, signal) => {
    const body = validate(embeddingsRequest, json);
    const target = ctx.registry.resolve(body.model);
    out.target = target;
    if (!(target.model instanceof OpenAICompatibleProvider)) {
      throw new HubError('bad_request', `The model '${body.model}' does not offer embeddings.`, { param: 'model' });
    }
    const provider = target.model;
    const upstream = await provider.relay('embeddings', JSON.stringify({ ...(json as object), model: target.upstreamModel }), signal);
    const text = await readText(upstream.body, provider.provider);
    let doc: { usage?: WireUsage; data?: unknown };
    try {
      doc = JSON.parse(text);
    } catch {
      throw new HubError('upstream', `Upstream ${provider.provider} returned a response that is not valid JSON`);
    }
    if (!doc || !Array.isArray(doc.data)) throw new HubError('upstream', `Upstream ${provider.provider} returned no embeddings`);
    out.usage = usageFromWire(doc.usage ?? {});
    sendRaw(res, 200, text, targetHeaders(requestId, target));
  });
}
