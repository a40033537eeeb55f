import { Cancel } from '../core/cancel.js';
import { HubError } from '../core/errors.js';
import type { Model } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import type { Target } from '../routing/registry.js';
import { execute } from '../routing/router.js';
import type { Attempt } from '../routing/router.js';
import type { CallContext, Gateway } from './context.js';
import type { Outcome } from './outcome.js';
import { recordFailedAttempt } from './record.js';

export interface Dispatched<T> {
  readonly value: T;
  readonly attempt: Attempt;
  /** Whether the route's total timeout (not the client) ended the request. */
  timedOut(): boolean;
  timeoutError(): HubError;
}

/**
 * Runs one call through its route: `run` is tried on deployments until one succeeds (see
 * routing/router.ts). Every failed attempt leaves its own usage record; the call's own record is
 * written when it ends (gateway/record.ts). A route's total timeout covers the whole call, stream
 * included. A virtual model's attempt is run with its model bound to this call (`bind`).
 */
export async function runRoute<T>(
  gw: Gateway,
  call: CallContext,
  endpoint: 'chat' | 'embeddings' | 'rerank',
  target: Target,
  out: Outcome,
  estimatedTokens: number,
  run: (attempt: Attempt, cancel: Cancel) => Promise<T>,
  /** What a virtual model's attempt is run with instead (its model bound to this call). */
  bind: (gw: Gateway, call: CallContext, a: Attempt) => Attempt,
): Promise<Dispatched<T>> {
  const client = call.cancel;
  const total = target.route.totalTimeoutMs;
  // The total timeout covers the stream too: its timer goes when the client's cancellation finishes.
  const cancel = total === undefined ? client : new Cancel(client);
  if (total !== undefined) cancel.timeout(total);
  const timedOut = () => cancel.timedOut && !client.aborted;
  const ts = Date.now();
  const timeoutError = () => new HubError('timeout', `The request exceeded the total timeout of ${total} ms for '${target.route.name}'.`);
  try {
    // Only a hub with virtual models has models to bind (and pays for the wrapper).
    const attemptRun = gw.registry.hasVirtualModels ? (a: Attempt, c: Cancel) => (a.deployment.model.bind ? run(bind(gw, call, a), c) : run(a, c)) : run;
    const { value, attempt } = await execute(target.route, attemptRun, {
      signal: cancel,
      estimatedTokens,
      routes: (name) => gw.registry.route(name),
      onFailedAttempt: (r) => recordFailedAttempt(gw, call.requestId, ts, endpoint, out, r),
      onAttempt: (a) => {
        out.attempt = a;
      },
    });
    out.attempt = attempt;
    return { value, attempt, timedOut, timeoutError };
  } catch (err) {
    if (timedOut()) throw timeoutError();
    throw err;
  }
}

/** Starts a canonical stream and waits for its first event, so a failure before any output can be retried. */
export async function firstEvent(
  model: Model,
  request: ChatRequest,
  signal: AbortSignal,
): Promise<{ it: AsyncIterator<ChatEvent>; first: IteratorResult<ChatEvent> }> {
  const it = model.stream(request, signal)[Symbol.asyncIterator]();
  const first = await it.next();
  return { it, first };
}
