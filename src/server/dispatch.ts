import { Cancel } from '../core/cancel.js';
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
  client: Cancel,
  estimatedTokens: number,
  run: (attempt: Attempt, cancel: Cancel) => Promise<T>,
): Promise<Dispatched<T>> {
  const total = target.route.totalTimeoutMs;
  // The total timeout covers the stream too: its timer goes when the client's cancellation finishes.
  const cancel = total === undefined ? client : new Cancel(client);
  if (total !== undefined) cancel.timeout(total);
  const timedOut = () => cancel.timedOut && !client.aborted;
  const ts = Date.now();
  const timeoutError = () => new HubError('timeout', `The request exceeded the total timeout of ${total} ms for '${target.route.name}'.`);
  try {
    const { value, attempt } = await execute(target.route, run, {
      signal: cancel,
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
