import type { IncomingMessage, ServerResponse } from 'node:http';
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
  // `kind` ('chat' | 'embedding') tells clients such as the console's playground which models chat.
  const base = { id: m.id, object: 'model', created: ctx.startedAt, owned_by: m.ownedBy, kind: m.kind };
  if (!m.upstream) return base;
  const entry = findCatalogEntry(m.upstream.provider, m.upstream.model);
  const price = ctx.prices.price(m.upstream.provider, m.upstream.model);
  const contextWindow = entry ? undefined : ctx.prices.contextWindow(m.upstream.provider, m.upstream.model);
  return {
    ...base,
    ...(contextWindow !== undefined && { context_window: contextWindow }),
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

/** Anthropic's model object: what Anthropic clients (Claude Code among them) expect. */
function toAnthropic(ctx: HubContext, m: ModelEntry) {
  return { type: 'model', id: m.id, display_name: m.id, created_at: new Date(ctx.startedAt * 1000).toISOString() };
}

/** Anthropic SDKs always send `anthropic-version`; they get Anthropic's list shape. */
export function wantsAnthropic(req: IncomingMessage): boolean {
  return req.headers['anthropic-version'] !== undefined;
}

export function listModels(ctx: HubContext, req: IncomingMessage, res: ServerResponse): void {
  const list = ctx.registry.list();
  if (wantsAnthropic(req)) {
    const data = list.map((m) => toAnthropic(ctx, m));
    return sendJSON(res, 200, { data, has_more: false, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null });
  }
  sendJSON(res, 200, { object: 'list', data: list.map((m) => toWire(ctx, m)) });
}

/** `GET /v1/models/{id}`; ids may contain slashes (`deepseek/deepseek-chat`). */
export function getModel(ctx: HubContext, req: IncomingMessage, res: ServerResponse, id: string): void {
  const listed = ctx.registry.list().find((m) => m.id === id);
  if (listed) return sendJSON(res, 200, wantsAnthropic(req) ? toAnthropic(ctx, listed) : toWire(ctx, listed));
  try {
    const d = ctx.registry.resolve(id).route.deployments[0]!;
    const entry: ModelEntry = { id, ownedBy: d.provider, kind: 'chat', upstream: { provider: d.provider, model: d.upstreamModel } };
    sendJSON(res, 200, wantsAnthropic(req) ? toAnthropic(ctx, entry) : toWire(ctx, entry));
  } catch (err) {
    const e = err instanceof HubError ? err : new HubError('not_found', `The model '${id}' does not exist.`);
    sendJSON(res, e.status, openAIErrorBody(e));
  }
}
