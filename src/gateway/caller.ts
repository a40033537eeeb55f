import { Cancel } from '../core/cancel.js';
import { collect } from '../core/collect.js';
import { toHubError } from '../core/errors.js';
import type { Model, ModelCaller, SubCallResult } from '../core/model.js';
import type { ChatRequest, Usage } from '../core/types.js';
import type { PriceBook } from '../catalog/prices.js';
import { costUsd } from '../usage/cost.js';
import { estimatePromptTokens, promptTokenBound } from '../usage/estimate.js';
import { admit, routeWorstCaseUsd } from './admission.js';
import type { Ticket } from './admission.js';
import { subCallContext } from './context.js';
import type { CallContext, Gateway } from './context.js';
import { firstEvent, runRoute } from './route.js';
import type { Deployment } from '../routing/deployment.js';
import type { Attempt } from '../routing/router.js';
import { newOutcome } from './outcome.js';

type Price = ReturnType<PriceBook['price']>;

/** Starts a sub-call: admission against the caller's key, routing with retries, an id of its own. */
async function start<T>(
  gw: Gateway,
  parent: CallContext,
  model: string,
  request: ChatRequest,
  signal: AbortSignal,
  run: (m: ChatRequest, attemptModel: Model, sig: AbortSignal) => Promise<T>,
): Promise<{ value: T; ticket: Ticket; price: Price; t0: number; call: CallContext }> {
  const target = gw.registry.resolve(model);
  const estimate = estimatePromptTokens(request);
  const call = subCallContext(parent, new Cancel(signal));
  const ticket = admit(gw, call.principal, model, target, { estimate, bound: () => promptTokenBound(request) }, request.maxTokens, { subCall: true });
  const out = newOutcome();
  out.model = model;
  out.ticket = ticket;
  const t0 = performance.now();
  try {
    const d = await runRoute(
      gw,
      call,
      'chat',
      target,
      out,
      estimate,
      (attempt, cancel) => run({ ...request, model: attempt.deployment.upstreamModel }, attempt.deployment.model, cancel.signal),
      boundAttempt,
    );
    return { value: d.value, ticket, price: gw.prices.price(d.attempt.deployment.provider, d.attempt.deployment.upstreamModel), t0, call };
  } catch (err) {
    ticket.settle(undefined, 0);
    throw toHubError(err);
  }
}

function settle(call: CallContext, ticket: Ticket, usage: Usage | undefined, price: Price): number | undefined {
  const cost = usage && price ? costUsd(usage, price) : undefined;
  ticket.settle(usage, cost);
  call.tally!.costUsd += cost ?? 0;
  return cost;
}

/**
 * How a virtual model called within `parent` calls its members: each member call is a sub-call
 * of `parent` (same principal, an id `<top-level id>:<n>`), admitted against the caller's key,
 * routed with retries and fallbacks, and settled with its own cost; the top-level call's record
 * carries the sub-calls' total. Built per call by the gateway (see dispatch.ts).
 */
export function modelCaller(gw: Gateway, parent: CallContext): ModelCaller {
  return {
    async complete(model, request, signal): Promise<SubCallResult> {
      const { value, ticket, price, t0, call } = await start(gw, parent, model, request, signal, (r, m, sig) => collect(m.stream(r, sig)));
      const cost = settle(call, ticket, value.usage, price);
      return { ...value, costUsd: cost, latencyMs: performance.now() - t0 };
    },
    async *stream(model, request, signal) {
      const { value, ticket, price, call } = await start(gw, parent, model, request, signal, (r, m, sig) => firstEvent(m, r, sig));
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
        settle(call, ticket, usage, price);
      }
    },
    worstCaseUsd(model, request) {
      const route = gw.registry.route(model);
      return route ? routeWorstCaseUsd(gw.prices, route, promptTokenBound(request), request.maxTokens) : undefined;
    },
  };
}

/**
 * The attempt as its `run` sees it when the deployment is a virtual model: the deployment's
 * model is the virtual model bound to a caller for this call, so its member calls are sub-calls
 * of `call` (everything else is the deployment's own; its live state stays on the shared
 * deployment, which the outcome keeps).
 */
export function boundAttempt(gw: Gateway, call: CallContext, a: Attempt): Attempt {
  const model = a.deployment.model.bind!(modelCaller(gw, call));
  const deployment = Object.create(a.deployment, { model: { value: model, enumerable: true } }) as Deployment;
  return { ...a, deployment };
}
