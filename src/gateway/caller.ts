import { Cancel } from '../core/cancel.js';
import { collect } from '../core/collect.js';
import type { Collected } from '../core/collect.js';
import { HubError, toHubError } from '../core/errors.js';
import type { EmbedCallResult, ModelCaller, RerankCallResult, RetrievalQuery, SubCallResult } from '../core/model.js';
import type { ChatEvent, ChatRequest, RetrievedPassage } from '../core/types.js';
import { costUsd } from '../usage/cost.js';
import { promptTokenBound } from '../usage/estimate.js';
import { routeWorstCaseUsd } from './admission.js';
// Types only: call.ts hands its startCall in, so the pipeline has no import circle.
import type { CallSpec, StartCall, Started } from './call.js';
import { embeddingsCall, rerankCall, wholeText } from './embed-rerank.js';
import { subCallContext } from './context.js';
import type { CallContext, Gateway } from './context.js';
import { hooked, runPost } from './hooks.js';
import type { Deployment } from '../routing/deployment.js';
import type { Attempt } from '../routing/router.js';
import { newOutcome } from './outcome.js';
import type { Outcome } from './outcome.js';

/** A sub-call under way: its outcome, context and start. */
interface SubCall {
  readonly started: Started;
  readonly out: Outcome;
  readonly call: CallContext;
  readonly t0: number;
}

/**
 * Starts a sub-call through the gateway: admitted against the caller's key, hooked, routed with
 * retries, an id of its own. `request` is what the hooks see of it.
 */
async function start(gw: Gateway, startCall: StartCall, parent: CallContext, spec: CallSpec, request: unknown, signal: AbortSignal): Promise<SubCall> {
  const call = subCallContext(parent, new Cancel(signal));
  const out = newOutcome();
  out.model = spec.model;
  hooked(gw.hooks, out, { call, endpoint: spec.endpoint, request, rawBody: '', via: 'sub-call' });
  const t0 = performance.now();
  try {
    const started = await startCall(gw, call, out, { ...spec, subCall: true });
    return { started, out, call, t0 };
  } catch (err) {
    finish(gw, { out, call, t0 }, err);
    throw toHubError(err);
  }
}

/** A member's chat call. */
const chatSpec = (model: string, request: ChatRequest, stream: boolean): CallSpec => ({ endpoint: 'chat', model, stream, canonical: request, maxOutput: request.maxTokens });

/** Runs a whole (not streamed) sub-call to its end and settles it: `read` turns its answer into the caller's result. */
function whole<T>(gw: Gateway, sc: SubCall, read: (s: Started) => T): { value: T; costUsd: number | undefined; latencyMs: number } {
  let value: T;
  try {
    value = read(sc.started);
  } catch (err) {
    finish(gw, sc, err);
    throw err;
  }
  const costUsd = finish(gw, sc);
  return { value, costUsd, latencyMs: performance.now() - sc.t0 };
}

/**
 * Settles a sub-call once it has ended: its cost is charged to the key and added to the
 * top-level call's tally (whose record carries the total), the deployment learns its
 * first-token time, and the post-hooks see it. Returns its cost.
 */
function finish(gw: Gateway, sc: Pick<SubCall, 'out' | 'call' | 't0'>, err?: unknown): number | undefined {
  const { out, call, t0 } = sc;
  if (err !== undefined) {
    const e = toHubError(err);
    out.error = e;
    out.errorKind = e.kind;
    out.status = e.status;
  }
  const a = out.attempt;
  if (a && out.firstTokenAt !== undefined) a.deployment.observeFirstToken(out.firstTokenAt - t0);
  const price = a && out.usage ? gw.prices.price(a.deployment.provider, a.deployment.upstreamModel) : undefined;
  const cost = out.usage && price ? costUsd(out.usage, price) : undefined;
  out.ticket?.settle(out.usage, cost);
  call.tally!.costUsd += cost ?? 0;
  if (out.hooked) {
    const latencyMs = performance.now() - t0;
    runPost({ info: out.hooked.info, out, error: out.error, costUsd: cost, latencyMs, ttftMs: out.firstTokenAt === undefined ? undefined : out.firstTokenAt - t0, bodies: undefined });
  }
  return cost;
}

/** A pre-hook's answer as the events of a call. */
async function* answered(events: readonly ChatEvent[] | undefined): AsyncGenerator<ChatEvent> {
  yield* events ?? [];
}

/**
 * How a virtual model called within `parent` calls its members (chat, embeddings, rerank): each
 * member call is a sub-call of `parent` (same principal, an id `<top-level id>:<n>`) through the gateway's one pipeline
 * (gateway/call.ts startCall): admitted against the caller's key, run through the hooks, routed
 * with retries and fallbacks, and settled with its own cost; the top-level call's record carries
 * the sub-calls' total. Built per call by the gateway (see call.ts).
 */
export function modelCaller(gw: Gateway, parent: CallContext, startCall: StartCall): ModelCaller {
  const caller: ModelCaller = {
    async complete(model, request, signal): Promise<SubCallResult> {
      const sc = await start(gw, startCall, parent, chatSpec(model, request, false), request, signal);
      const s = sc.started;
      let value: Collected;
      try {
        if (s.kind === 'whole') value = s.collected;
        else if (s.kind === 'answered') value = await collect(answered(s.answer.events));
        else throw new HubError('internal', `A member call started as '${s.kind}'`);
      } catch (err) {
        finish(gw, sc, err);
        throw err;
      }
      if (s.kind === 'answered') sc.out.usage ??= value.usage;
      const cost = finish(gw, sc);
      return { ...value, costUsd: cost, latencyMs: performance.now() - sc.t0 };
    },
    async *stream(model, request, signal) {
      const sc = await start(gw, startCall, parent, chatSpec(model, request, true), request, signal);
      const s = sc.started;
      const { out } = sc;
      const price = () => (out.attempt ? gw.prices.price(out.attempt.deployment.provider, out.attempt.deployment.upstreamModel) : undefined);
      let failed: unknown;
      try {
        const events = s.kind === 'events' ? s.events : s.kind === 'answered' ? answered(s.answer.events) : undefined;
        if (!events) throw new HubError('internal', `A member call started as '${s.kind}'`);
        for await (const e of events) {
          if (e.type === 'usage') {
            if (s.kind === 'answered') out.usage = e.usage;
            // The caller (a virtual model's trace) learns what the streamed call cost.
            const p = price();
            const cost = p ? costUsd(e.usage, p) : undefined;
            yield cost === undefined ? e : { ...e, costUsd: cost };
            continue;
          }
          yield e;
        }
      } catch (err) {
        failed = err;
        throw err;
      } finally {
        finish(gw, sc, failed);
      }
    },
    worstCaseUsd(model, request) {
      const route = gw.registry.route(model);
      return route ? routeWorstCaseUsd(gw.prices, route, promptTokenBound(request), request.maxTokens) : undefined;
    },
    async embed(model, inputs, signal): Promise<EmbedCallResult> {
      const c = embeddingsCall(model, inputs);
      const sc = await start(gw, startCall, parent, c.spec, c.request, signal);
      const r = whole(gw, sc, (s) => c.vectors(wholeText(s)));
      return { vectors: r.value, usage: sc.out.usage, costUsd: r.costUsd, latencyMs: r.latencyMs };
    },
    async rerank(model, query, documents, topN, signal): Promise<RerankCallResult> {
      const c = rerankCall(model, query, documents, topN);
      const sc = await start(gw, startCall, parent, c.spec, c.request, signal);
      const r = whole(gw, sc, () => c.result().results.map((x) => ({ index: x.index, relevanceScore: x.relevanceScore })));
      return { results: r.value, costUsd: r.costUsd, latencyMs: r.latencyMs };
    },
    retrieve: (query, signal) => retrieveThrough(gw, caller, query, signal),
  };
  return caller;
}

/** A knowledge search whose embedding and rerank calls go through `caller`. */
export function retrieveThrough(gw: Gateway, caller: ModelCaller, query: RetrievalQuery, signal: AbortSignal): Promise<RetrievedPassage[]> {
  if (!gw.knowledge) return Promise.reject(new HubError('bad_request', 'Knowledge bases are not available here: run the model on the hub (baimo serve).'));
  return gw.knowledge.retrieve(query, caller, signal);
}

/**
 * The attempt as its `run` sees it when the deployment is a virtual model: the deployment's
 * model is the virtual model bound to a caller for this call, so its member calls are sub-calls
 * of `call` (everything else is the deployment's own; its live state stays on the shared
 * deployment, which the outcome keeps).
 */
export function boundAttempt(gw: Gateway, call: CallContext, a: Attempt, startCall: StartCall): Attempt {
  const model = a.deployment.model.bind!(modelCaller(gw, call, startCall));
  const deployment = Object.create(a.deployment, { model: { value: model, enumerable: true } }) as Deployment;
  return { ...a, deployment };
}
