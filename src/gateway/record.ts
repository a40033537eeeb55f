import type { Principal } from '../tenancy/types.js';
import type { Attempt } from '../routing/router.js';
import type { HubError } from '../core/errors.js';
import { costUsd } from '../usage/cost.js';
import type { UsageRecord } from '../usage/record.js';
import { countTokens } from '../usage/tokens.js';
import type { CallContext, Gateway } from './context.js';
import type { Outcome } from './outcome.js';
import { runPost } from './hooks.js';
import type { CallEnd } from './hooks.js';

/** What a record says about the call beyond its outcome. */
export interface RecordExtras {
  /** performance.now() and Date.now() when the call began. */
  readonly t0: number;
  readonly ts: number;
  readonly endpoint: UsageRecord['endpoint'];
  /**
   * Who called, once known: a call refused at admission (budget, RPM, TPM, model access) has no
   * ticket but is still recorded against its key and team.
   */
  readonly caller: Principal | undefined;
}

/**
 * Settles a finished call and records it: the first-token time goes to the deployment, usage
 * is counted when the upstream reported none, the ticket is settled with the cost (a virtual
 * model's sub-calls settled their own: the record carries their total), and the record is made.
 * The call's post-hooks run (in reverse order) just before the record is made, and may put the
 * bodies on it. With `then`, `then` runs once the record is journaled (see UsageRecorder.record).
 * Returns the call's cost as recorded.
 */
export function recordCall(gw: Gateway, call: CallContext, out: Outcome, x: RecordExtras, then?: () => void): number | undefined {
  const a = out.attempt;
  if (a && out.firstTokenAt !== undefined) a.deployment.observeFirstToken(out.firstTokenAt - x.t0);
  let estimated = false;
  if (a && !out.usage && out.promptText) {
    // The upstream was called but reported no usage (an abandoned stream, a provider that
    // ignores include_usage): count what was sent and received rather than record nothing.
    const model = a.deployment.upstreamModel;
    out.usage = { inputTokens: countTokens(model, out.promptText()).tokens, outputTokens: countTokens(model, out.outputText).tokens };
    estimated = true;
  }
  const price = a && out.usage ? gw.prices.price(a.deployment.provider, a.deployment.upstreamModel) : undefined;
  let cost = price && out.usage ? costUsd(out.usage, price) : undefined;
  const tally = call.parent ? undefined : call.tally;
  if (tally && tally.calls > 0) {
    // Each sub-call settled its own cost and tokens against the key already.
    cost = tally.costUsd;
    out.ticket?.settle(undefined, 0);
  } else out.ticket?.settle(out.usage, cost);
  const caller = x.caller;
  const latencyMs = performance.now() - x.t0;
  const ttftMs = out.firstTokenAt === undefined ? undefined : out.firstTokenAt - x.t0;
  let bodies: UsageRecord['bodies'] | undefined;
  if (out.hooked) {
    // Post-hooks, in reverse order, before the record is journaled: a capture hook puts the bodies on it.
    const end: CallEnd = { info: out.hooked.info, out, error: out.error, costUsd: cost, latencyMs, ttftMs, bodies: undefined };
    runPost(end);
    bodies = end.bodies;
  }
  gw.recorder.record(
    {
      requestId: call.requestId,
      ts: x.ts,
      endpoint: x.endpoint,
      model: out.model,
      provider: a?.deployment.provider,
      upstreamModel: a?.deployment.upstreamModel,
      deployment: a?.deployment.id,
      attempt: a?.number ?? 0,
      final: true,
      fallbackFrom: a?.fallbackFrom,
      keyId: out.ticket ? out.ticket.keyId : caller?.kind === 'key' ? caller.key.id : undefined,
      teamId: out.ticket ? out.ticket.teamId : caller?.kind === 'key' ? caller.team?.id : undefined,
      costUsd: cost,
      usageCounted: estimated,
      ...(out.trace && { trace: out.trace }),
      ...(bodies && { bodies }),
      stream: out.stream,
      status: out.status,
      errorKind: out.errorKind,
      usage: out.usage,
      latencyMs,
      ttftMs,
    },
    then,
  );
  return cost;
}

/** Records one failed attempt of a call (the call's own record follows when it ends). */
export function recordFailedAttempt(
  gw: Gateway,
  requestId: string,
  ts: number,
  endpoint: 'chat' | 'embeddings' | 'rerank',
  out: Outcome,
  r: { readonly attempt: Attempt; readonly error: HubError | undefined; readonly latencyMs: number },
): void {
  gw.recorder.record({
    requestId,
    ts,
    endpoint,
    model: out.model,
    provider: r.attempt.deployment.provider,
    upstreamModel: r.attempt.deployment.upstreamModel,
    deployment: r.attempt.deployment.id,
    attempt: r.attempt.number,
    final: false,
    fallbackFrom: r.attempt.fallbackFrom,
    keyId: out.ticket?.keyId,
    teamId: out.ticket?.teamId,
    stream: out.stream,
    status: r.error?.status ?? 500,
    errorKind: r.error?.kind,
    usage: undefined,
    latencyMs: r.latencyMs,
    ttftMs: undefined,
  });
}
