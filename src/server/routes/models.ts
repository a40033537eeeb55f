import type { ServerResponse } from 'node:http';
import { HubError } from '../../core/errors.js';
import { openAIErrorBody } from '../../protocols/openai-chat/errors.js';
import { findCatalogEntry } from '../../catalog/models.js';
import type { ModelEntry } from '../../routing/registry.js';
import type { HubContext } from '../context.js';
import { sendJSON } from '../http.js';

/** PriceUSD is already per million tokens; round away float noise from currency conversion. */
const perMillion = (usd: number) => Math.round(usd * 1e6) / 1e6;

/**
 * An OpenAI model object, plus what the catalog knows (as OpenRouter and LiteLLM add): context
 * window, output limit, modalities, tool support, and USD prices per million tokens.
 */
function toWire(ctx: HubContext, m: ModelEntry) {
  const base = { id: m.id, object: 'model', created: ctx.startedAt, owned_by: m.ownedBy };
  if (!m.upstream) return base;
  const entry = findCatalogEntry(m.upstream.provider, m.upstream.model);
  const price = ctx.prices.price(m.upstream.provider, m.upstream.model);
  return {
    ...base,
    ...(entry && {
      context_window: entry.contextWindow,
      max_output_tokens: entry.maxOutput,
      modalities: { input: entry.input, output: entry.output },
      supports_tools: entry.tools,
      supports_reasoning: entry.reasoning,
    }),
    ...(price && {
      pricing: {
        currency: 'USD',
        input_per_million: perMillion(price.input),
        output_per_million: perMillion(price.output),
        ...(price.cachedInput !== undefined && { cached_input_per_million: perMillion(price.cachedInput) }),
        ...(price.cacheWrite !== undefined && { cache_write_per_million: perMillion(price.cacheWrite) }),
      },
    }),
  };
}

export function listModels(ctx: HubContext, res: ServerResponse): void {
  sendJSON(res, 200, { object: 'list', data: ctx.registry.list().map((m) => toWire(ctx, m)) });
}

/** `GET /v1/models/{id}`; ids may contain slashes (`deepseek/deepseek-chat`). */
export function getModel(ctx: HubContext, res: ServerResponse, id: string): void {
  const listed = ctx.registry.list().find((m) => m.id === id);
  if (listed) return sendJSON(res, 200, toWire(ctx, listed));
  try {
    const d = ctx.registry.resolve(id).route.deployments[0]!;
    sendJSON(res, 200, toWire(ctx, { id, ownedBy: d.provider, kind: 'chat', upstream: { provider: d.provider, model: d.upstreamModel } }));
  } catch (err) {
    const e = err instanceof HubError ? err : new HubError('not_found', `The model '${id}' does not exist.`);
    sendJSON(res, e.status, openAIErrorBody(e));
  }
}
