import { HubError, toHubError } from '../core/errors.js';
import { storedModelName } from '../core/model-name.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import { estimatePromptTokens, promptText, promptTokenBound } from '../usage/estimate.js';
import { admit } from './admission.js';
import type { CallContext, Gateway } from './context.js';
import { dispatch, firstEvent } from './dispatch.js';
import { newOutcome, noteEvent } from './outcome.js';
import { recordCall } from './record.js';
import { eventTap, hooked, runPre } from './hooks.js';

/**
 * One model call in canonical form, for callers that are not an HTTP route (the CLI, an
 * evaluation run, a test): resolve `model`, admit the call against `ctx.principal` (model access,
 * rpm/tpm, budget), route it with retries and fallbacks, stream its events, and record it with its
 * usage and cost when it ends, however it ends (the caller stopping early included). A virtual
 * model's member calls are sub-calls of `ctx`. Errors are thrown as HubErrors; `ctx.cancel` is
 * finished when the call ends.
 */
export async function* call(gw: Gateway, ctx: CallContext, model: string, request: ChatRequest): AsyncGenerator<ChatEvent, void, undefined> {
  const t0 = performance.now();
  const ts = Date.now();
  const out = newOutcome();
  out.model = storedModelName(model);
  out.stream = true;
  hooked(gw.hooks, out, { call: ctx, endpoint: 'chat', request, rawBody: '', via: 'call' });
  try {
    const target = gw.registry.resolve(model);
    const estimate = estimatePromptTokens(request);
    out.promptText = () => promptText(request);
    out.ticket = admit(gw, ctx.principal, model, target, { estimate, bound: () => promptTokenBound(request) }, request.maxTokens);
    const answer = runPre(out);
    if (answer) {
      // A pre-hook answered (a cache hit): its events, and nothing routed.
      out.firstTokenAt = performance.now();
      for (const e of answer.events ?? []) {
        noteEvent(out, e);
        yield e;
      }
      if (answer.usage) out.usage = answer.usage;
      return;
    }
    const d = await dispatch(gw, ctx, 'chat', target, out, estimate, (a, cancel) => firstEvent(a.deployment.model, { ...request, model: a.deployment.upstreamModel }, cancel.signal));
    let done = false;
    const tap = eventTap(out);
    try {
      for (let next = d.value.first; !next.done; next = await d.value.it.next()) {
        noteEvent(out, next.value);
        if (tap) tap(next.value);
        yield next.value;
      }
      done = true;
    } catch (err) {
      done = true;
      if (d.timedOut()) throw d.timeoutError();
      throw err;
    } finally {
      // The caller stopped early: the model's stream (and its upstream request) ends here too.
      if (!done) await d.value.it.return?.();
    }
  } catch (err) {
    const e = ctx.cancel.aborted ? new HubError('canceled', 'The caller canceled the call') : gw.registry.redactor.error(toHubError(err));
    out.errorKind = e.kind;
    out.error = e;
    out.status = e.status;
    throw e;
  } finally {
    ctx.cancel.finish();
    recordCall(gw, ctx, out, { t0, ts, endpoint: 'chat', caller: ctx.principal });
  }
}
