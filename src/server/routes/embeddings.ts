import type { IncomingMessage, ServerResponse } from 'node:http';
import { HubError } from '../../core/errors.js';
import { openAIErrorFormat } from '../../protocols/openai-chat/errors.js';
import { embeddingsRequest } from '../../protocols/openai-chat/schema.js';
import { validate } from '../../protocols/validate.js';
import { OpenAICompatibleProvider } from '../../providers/openai-compatible/provider.js';
import { usageFromWire } from '../../providers/openai-compatible/usage.js';
import type { WireUsage } from '../../providers/openai-compatible/wire.js';
import { estimateTextTokens, textTokenBound } from '../../usage/estimate.js';
import type { HubContext } from '../context.js';
import { dispatch } from '../dispatch.js';
import { sendRaw } from '../http.js';
import { admit } from '../admission.js';
import { attemptHeaders, runRequest } from '../lifecycle.js';

/** `POST /v1/embeddings`, relayed to OpenAI-compatible deployments with usage read on the way. */
export function embeddings(ctx: HubContext, req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
  return runRequest(ctx, req, res, requestId, 'embeddings', openAIErrorFormat, async (json, out, client, principal) => {
    const body = validate(embeddingsRequest, json);
    const target = ctx.registry.resolve(body.model);
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    const estimate = inputs.reduce<number>((n, x) => n + (typeof x === 'string' ? estimateTextTokens(x) : Array.isArray(x) ? x.length : 1), 0);
    out.ticket = admit(ctx, principal, body.model, target, { estimate, bound: () => inputs.reduce<number>((n, x) => n + (typeof x === 'string' ? textTokenBound(x) : Array.isArray(x) ? x.length : 1), 0) }, 0);
    const d = await dispatch(ctx, requestId, 'embeddings', target, out, client, estimate, async (attempt, cancel) => {
      const provider = attempt.deployment.model;
      if (!(provider instanceof OpenAICompatibleProvider)) {
        throw new HubError('bad_request', `The model '${body.model}' does not offer embeddings.`, { param: 'model' });
      }
      const text = await provider.relayWhole('embeddings', JSON.stringify({ ...(json as object), model: attempt.deployment.upstreamModel }), cancel);
      let doc: { usage?: WireUsage; data?: unknown };
      try {
        doc = JSON.parse(text);
      } catch {
        throw new HubError('upstream', `Upstream ${provider.provider} returned a response that is not valid JSON`);
      }
      if (!doc || !Array.isArray(doc.data)) throw new HubError('upstream', `Upstream ${provider.provider} returned no embeddings`);
      return { text, usage: usageFromWire(doc.usage ?? {}) };
    });
    out.usage = d.value.usage;
    sendRaw(res, 200, d.value.text, attemptHeaders(requestId, d.attempt, out));
  });
}
