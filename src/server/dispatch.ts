import { HubError } from '../core/errors.js';
import type { Model } from '../core/model.js';
import type { ChatEvent, ChatRequest } from '../core/types.js';
import type { Target } from '../routing/registry.js';
import { execute } from '../routing/router.js';
import type { Attempt } from '../routing/router.js';
import type { HubContext } from './context.js';
import type { Outcome } from './lifecycle.js';


export interface Dispatched<T> {
  readonly value: T;
  readonly attempt: Attempt;
  /** Aborts when the client leaves or the route's total timeout passes. */
  readonly signal: AbortSignal;
  /** Whether the route's total timeout (not the client) ended the request. */
  timedOut(): boolean;
  timeoutError(): HubError;
}

/**
 * Runs one request through its route: `run` is tried on deployments until one succeeds (see
 * routing/router.ts). Every failed attempt leaves its own usage record; the request's record is
 * written by the lifecycle. A route's total timeout covers the whole request, stream included.
 */
export async function dispatch<T>(
  ctx: HubContext,
  requestId: string,
  endpoint: 'chat' | 'embeddings',
  target: Target,
  out: Outcome,
  clientSignal: AbortSignal,
  estimatedTokens: number,
  run: (attempt: Attempt, signal: AbortSignal) => Promise<T>,
): Promise<Dispatched<T>> {
  const total = target.route.totalTimeoutMs;
  const timer = total === undefined ? undefined : AbortSignal.timeout(total);
  const signal = timer ? AbortSignal.any([clientSignal, timer]) : clientSignal;
  const ts = Date.now();
  const timeoutError = () => new HubError('timeout', `The request exceeded the total timeout of ${total} ms for '${target.route.name}'.`);
  try {
    const { value, attempt } = await execute(target.route, run, {
      signal,
      estimatedTokens,
      routes: (name) => ctx.registry.route(name),
      onFailedAttempt: (r) => {
        ctx.recorder.record({
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
      },
      onAttempt: (a) => {
        out.attempt = a;
      },
    });
    out.attempt = attempt;
    return { value, attempt, signal, timedOut: () => timer?.aborted === true && !clientSignal.aborted, timeoutError };
  } catch (err) {
    if (timer?.aborted && !clientSignal.aborted) throw timeoutError();
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
