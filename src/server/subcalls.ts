import { AsyncLocalStorage } from 'node:async_hooks';
import { Cancel } from '../core/cancel.js';
import { collect } from '../core/collect.js';
import { toHubError } from '../core/errors.js';
import type { ModelCaller, SubCallResult } from '../core/model.js';
import type { ChatEvent, ChatRequest, Usage } from '../core/types.js';
import type { Registry } from '../routing/registry.js';
import { execute } from '../routing/router.js';
import type { Principal } from '../tenancy/types.js';
import { costUsd } from '../usage/cost.js';
import { estimatePromptTokens, promptTokenBound } from '../usage/estimate.js';
import { admit, routeWorstCaseUsd } from './admission.js';
import type { Ticket } from './admission.js';
import type { HubContext } from './context.js';
import { dispatch } from './dispatch.js';
import { newOutcome } from './lifecycle.js';

/** The request a virtual model's sub-calls belong to. */
export interface SubCallScope {
  readonly ctx: HubContext;
  readonly principal: Principal;
  readonly requestId: string;
  /** Sub-calls made so far; each gets the id `<request id>:<n>`. */
  calls: number;
  /** What the sub-calls cost, charged to the key as each one settles. */
  costUsd: number;
}

/**
 * Virtual models call other models through this, wherever they are nested. The scope travels
 * with the request (AsyncLocalStorage), which the hub enters only when virtual models exist.
 */
export const subCallScope = new AsyncLocalStorage<SubCallScope>();


function worstCase(registry: Registry, prices: HubContext['prices'] | undefined, model: string, request: ChatRequest): number | undefined {
  const route = registry.route(model);
  return prices && route ? routeWorstCaseUsd(prices, route, promptTokenBound(request), request.maxTokens) : undefined;
}

/** Starts a sub-call: admission against the caller's key, routing with retries, an id of its own. */
async function start<T>(
  s: SubCallScope,
  model: string,
  request: ChatRequest,
  signal: AbortSignal,
  run: (m: ChatRequest, attemptModel: import('../core/model.js').Model, sig: AbortSignal) => Promise<T>,
): Promise<{ value: T; ticket: Ticket; price: ReturnType<HubContext['prices']['price']>; t0: number }> {
  const { ctx } = s;
  const target = ctx.registry.resolve(model);
  const estimate = estimatePromptTokens(request);
  const id = `${s.requestId}:${++s.calls}`;
  const ticket = admit(ctx, s.principal, model, target, { estimate, bound: () => promptTokenBound(request) }, request.maxTokens, { subCall: true });
  const out = newOutcome();
  out.model = model;
  out.ticket = ticket;
  const t0 = performance.now();
  try {
    const d = await dispatch(ctx, id, 'chat', target, out, new Cancel(signal), estimate, (attempt, cancel) =>
      run({ ...request, model: attempt.deployment.upstreamModel }, attempt.deployment.model, cancel.signal),
    );
    return { value: d.value, ticket, price: ctx.prices.price(d.attempt.deployment.provider, d.attempt.deployment.upstreamModel), t0 };
  } catch (err) {
    ticket.settle(undefined, 0);
    throw toHubError(err);
  }
}

function settle(s: SubCallScope, ticket: Ticket, usage: Usage | undefined, price: ReturnType<HubContext['prices']['price']>): number | undefined {
  const cost = usage && price ? costUsd(usage, price) : undefined;
  ticket.settle(usage, cost);
  s.costUsd += cost ?? 0;
  return cost;
}

/**
 * Without a scope (the CLI, or a hub with no virtual models in play) sub-calls still route with
 * retries and fallbacks, but nothing is charged or recorded.
 */
async function* unscoped(registry: Registry, model: string, request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
  const route = registry.resolve(model).route;
  const { value } = await execute(route, async (a, cancel) => {
    const it = a.deployment.model.stream({ ...request, model: a.deployment.upstreamModel }, cancel.signal)[Symbol.asyncIterator]();
    return { it, first: await it.next() };
  }, { signal, estimatedTokens: 0, routes: (n) => registry.route(n) });
  for (let next = value.first; !next.done; next = await value.it.next()) yield next.value;
}

export function hubCaller(registry: () => Registry, prices?: () => HubContext['prices']): ModelCaller {
  return {
    async complete(model, request, signal): Promise<SubCallResult> {
      const s = subCallScope.getStore();
      if (!s) {
        const t0 = performance.now();
        const c = await collect(unscoped(registry(), model, request, signal));
        return { ...c, costUsd: undefined, latencyMs: performance.now() - t0 };
      }
      const { value, ticket, price, t0 } = await start(s, model, request, signal, (r, m, sig) => collect(m.stream(r, sig)));
      const cost = settle(s, ticket, value.usage, price);
      return { ...value, costUsd: cost, latencyMs: performance.now() - t0 };
    },
    async *stream(model, request, signal) {
      const s = subCallScope.getStore();
      if (!s) return yield* unscoped(registry(), model, request, signal);
      const { value, ticket, price } = await start(s, model, request, signal, async (r, m, sig) => {
        const it = m.stream(r, sig)[Symbol.asyncIterator]();
        return { it, first: await it.next() };
      });
      let usage: Usage | undefined;
      try {
        for (let next = value.first; !next.done; next = await value.it.next()) {
          const e = next.value;
          if (e.type === 'usage') {
            usage = e.usage;
            // The caller (a virtual model's trace) learns what the streamed call cost.
            const cost = price ? costUsd(e.usage, price) : undefined;
            yield cost === undefined ? e : { ...e, costUsd: cost };
            continue;
          }
          yield e;
        }
      } finally {
        settle(s, ticket, usage, price);
      }
    },
    worstCaseUsd(model, request) {
      return worstCase(registry(), prices?.(), model, request);
    },
  };
}
