/**
 * A `ModelCaller` for work a principal has the hub do outside any one call: a vector store's
 * ingestion embedding chunks in the background, a search route embedding its query, an evaluation
 * run. Every call it makes is a top-level call of that principal, exactly as if the principal had
 * made it over HTTP: admitted against its key (model access, rpm/tpm, budget), routed with
 * retries and fallbacks, charged, and recorded on its own (endpoint chat, embeddings or rerank) in
 * the request log. A virtual model it calls makes its member calls as sub-calls of that call.
 */
import { Cancel } from '../core/cancel.js';
import { collect } from '../core/collect.js';
import { HubError, toHubError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import { storedModelName } from '../core/model-name.js';
import type { EmbedCallResult, ModelCaller, RerankCallResult, SubCallResult } from '../core/model.js';
import type { ChatEvent, Usage } from '../core/types.js';
import type { Principal } from '../tenancy/types.js';
import { promptTokenBound } from '../usage/estimate.js';
import { routeWorstCaseUsd } from './admission.js';
import { call, startCall } from './call.js';
import type { CallSpec, Started } from './call.js';
import { callContext } from './context.js';
import type { CallContext, Gateway } from './context.js';
import { embeddingsCall, rerankCall, wholeText } from './embed-rerank.js';
import { hooked } from './hooks.js';
import { newOutcome } from './outcome.js';
import { recordCall } from './record.js';
import { retrieveThrough } from './caller.js';

/**
 * A cancellation that follows `signal` for one call only: the listener goes when the call ends,
 * so a long-lived signal (a background job's) does not gather one per call.
 */
function follow(signal: AbortSignal): { cancel: Cancel; unfollow(): void } {
  const cancel = new Cancel();
  const onAbort = () => cancel.abort(signal.reason);
  if (signal.aborted) cancel.abort(signal.reason);
  else signal.addEventListener('abort', onAbort, { once: true });
  return { cancel, unfollow: () => signal.removeEventListener('abort', onAbort) };
}

/**
 * One whole (not streamed) top-level call: startCall, `read` its answer, and the record with
 * usage and cost, however it ends. Errors are thrown as HubErrors, redacted as over HTTP.
 */
async function wholeCall<T>(gw: Gateway, ctx: CallContext, spec: CallSpec, request: unknown, read: (s: Started) => Promise<T> | T): Promise<{ value: T; usage: Usage | undefined; costUsd: number | undefined; latencyMs: number }> {
  const t0 = performance.now();
  const ts = Date.now();
  const out = newOutcome();
  out.model = storedModelName(spec.model);
  hooked(gw.hooks, out, { call: ctx, endpoint: spec.endpoint, request, rawBody: '', via: 'call' });
  let value: T;
  try {
    value = await read(await startCall(gw, ctx, out, spec));
  } catch (err) {
    const e = ctx.cancel.aborted ? new HubError('canceled', 'The caller canceled the call') : gw.registry.redactor.error(toHubError(err));
    out.errorKind = e.kind;
    out.error = e;
    out.status = e.status;
    ctx.cancel.finish();
    recordCall(gw, ctx, out, { t0, ts, endpoint: spec.endpoint, caller: ctx.principal });
    throw e;
  }
  ctx.cancel.finish();
  const costUsd = recordCall(gw, ctx, out, { t0, ts, endpoint: spec.endpoint, caller: ctx.principal });
  return { value, usage: out.usage, costUsd, latencyMs: performance.now() - t0 };
}

/**
 * The caller (see the file's comment). `via` names what makes the calls (e.g. `kb` for knowledge
 * work): the prefix of their request ids in place of `req`, so the request log shows where a
 * call came from; ids still sort by time within it.
 */
export function principalCaller(gw: Gateway, principal: Principal, o: { readonly via?: string } = {}): ModelCaller {
  const prefix = `${o.via ?? 'req'}_`;
  const run = async <T>(spec: CallSpec, request: unknown, signal: AbortSignal, read: (s: Started) => Promise<T> | T) => {
    const { cancel, unfollow } = follow(signal);
    try {
      return await wholeCall(gw, callContext(principal, timeOrderedId(prefix), cancel), spec, request, read);
    } finally {
      unfollow();
    }
  };
  const caller: ModelCaller = {
    async complete(model, request, signal): Promise<SubCallResult> {
      const r = await run({ endpoint: 'chat', model, stream: false, canonical: request, maxOutput: request.maxTokens }, request, signal, async (s) => {
        if (s.kind === 'whole') return s.collected;
        if (s.kind === 'answered') return collect(ready(s.answer.events));
        throw new HubError('internal', `A whole chat call started as '${s.kind}'`);
      });
      return { ...r.value, costUsd: r.costUsd, latencyMs: r.latencyMs };
    },
    async *stream(model, request, signal) {
      const { cancel, unfollow } = follow(signal);
      try {
        // gateway/call.ts `call` is this already: startCall, its events, the record.
        yield* call(gw, callContext(principal, timeOrderedId(prefix), cancel), model, request);
      } finally {
        unfollow();
      }
    },
    worstCaseUsd(model, request) {
      const route = gw.registry.route(model);
      return route ? routeWorstCaseUsd(gw.prices, route, promptTokenBound(request), request.maxTokens) : undefined;
    },
    async embed(model, inputs, signal): Promise<EmbedCallResult> {
      const c = embeddingsCall(model, inputs);
      const r = await run(c.spec, c.request, signal, (s) => c.vectors(wholeText(s)));
      return { vectors: r.value, usage: r.usage, costUsd: r.costUsd, latencyMs: r.latencyMs };
    },
    async rerank(model, query, documents, topN, signal): Promise<RerankCallResult> {
      const c = rerankCall(model, query, documents, topN);
      const r = await run(c.spec, c.request, signal, () => c.result().results.map((x) => ({ index: x.index, relevanceScore: x.relevanceScore })));
      return { results: r.value, costUsd: r.costUsd, latencyMs: r.latencyMs };
    },
    retrieve: (query, signal) => retrieveThrough(gw, caller, query, signal),
  };
  return caller;
}

/** A pre-hook's answer as the events of a call. */
async function* ready(events: readonly ChatEvent[] | undefined): AsyncGenerator<ChatEvent> {
  for (const e of events ?? []) yield e;
}
