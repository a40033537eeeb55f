import type { Cancel } from '../core/cancel.js';
import type { Target } from '../routing/registry.js';
import type { Attempt } from '../routing/router.js';
import { boundAttempt } from './caller.js';
import type { CallContext, Gateway } from './context.js';
import type { Outcome } from './outcome.js';
import { runRoute } from './route.js';
import type { Dispatched } from './route.js';

export type { Dispatched } from './route.js';
export { firstEvent } from './route.js';

/**
 * Runs one call through its route (see route.ts): `run` is tried on deployments until one
 * succeeds, every failed attempt is recorded, and a virtual model's attempt runs with the model
 * bound to this call's context, so its member calls are admitted, charged and recorded as
 * sub-calls of `call`.
 */
export function dispatch<T>(
  gw: Gateway,
  call: CallContext,
  endpoint: 'chat' | 'embeddings',
  target: Target,
  out: Outcome,
  estimatedTokens: number,
  run: (attempt: Attempt, cancel: Cancel) => Promise<T>,
): Promise<Dispatched<T>> {
  return runRoute(gw, call, endpoint, target, out, estimatedTokens, run, boundAttempt);
}
