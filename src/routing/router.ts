import { Cancel } from '../core/cancel.js';
import { HubError, isRetryable, toHubError } from '../core/errors.js';
import type { ErrorKind } from '../core/errors.js';
import type { Deployment } from './deployment.js';
import { orderDeployments } from './strategy.js';
import type { Strategy } from './strategy.js';

export interface RetryPolicy {
  /** Attempts per model, the first included, across its deployments. */
  readonly maxAttempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** No new attempt starts after this much time has passed since the request began. */
  readonly budgetMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 3, baseDelayMs: 150, maxDelayMs: 4_000, budgetMs: 30_000 };

export interface Fallback {
  readonly model: string;
  /** Error kinds that send the request on to this model. */
  readonly on: readonly ErrorKind[];
}

export const DEFAULT_FALLBACK_ON: readonly ErrorKind[] = ['rate_limited', 'timeout', 'upstream', 'overloaded', 'context_length', 'content_filter'];

/** A public model name: its deployments and how to use them. */
export interface Route {
  readonly name: string;
  readonly deployments: readonly Deployment[];
  readonly strategy: Strategy;
  readonly retry: RetryPolicy;
  readonly fallbacks: readonly Fallback[];
  /** Longest a whole request (stream included) may take. */
  readonly totalTimeoutMs?: number;
}

export interface Attempt {
  readonly route: Route;
  readonly deployment: Deployment;
  /** 1-based over the whole request, fallbacks included. */
  readonly number: number;
  /** The model name this attempt serves when a fallback was taken. */
  readonly fallbackFrom: string | undefined;
}

export interface AttemptReport {
  readonly attempt: Attempt;
  readonly error: HubError | undefined;
  readonly latencyMs: number;
}

export interface ExecuteOptions {
  /** The request's cancellation; `run` is handed a Cancel either way. */
  readonly signal: Cancel | AbortSignal;
  /** Prompt-token estimate, for TPM caps. */
  readonly estimatedTokens: number;
  readonly routes: (name: string) => Route | undefined;
  /**
   * Called for an attempt that failed, once the next attempt starts. The last attempt is not
   * reported here: the request's own outcome covers it.
   */
  readonly onFailedAttempt?: (r: AttemptReport) => void;
  /** Called as each attempt starts. */
  readonly onAttempt?: (a: Attempt) => void;
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface Executed<T> {
  readonly value: T;
  readonly attempt: Attempt;
}

/**
 * Failures of the deployment itself, the only ones that count toward its circuit: 5xx answers,
 * timeouts, overload, connections refused or cut. A 4xx answer (400, 401, 403, 404, 413, 422…) is
 * about the request or the account, a 429 cools the deployment down instead (see
 * Deployment.coolDown), and an error of the hub's own making (`internal`) says nothing about the
 * upstream at all.
 */
export function blamesDeployment(kind: ErrorKind): boolean {
  return kind === 'upstream' || kind === 'timeout' || kind === 'overloaded';
}

/** The same error with a Retry-After, for a 429 that reaches the client without one. */
function withRetryAfter(e: HubError, seconds: number): HubError {
  return new HubError(e.kind, e.message, {
    status: e.status,
    retryAfter: seconds,
    ...(e.param !== undefined && { param: e.param }),
    ...(e.code !== undefined && { code: e.code }),
    ...(e.provider !== undefined && { provider: e.provider }),
    ...(e.headers !== undefined && { headers: e.headers }),
    ...(e.cause !== undefined && { cause: e.cause }),
  });
}

function sleep(ms: number, cancel: Cancel): Promise<void> {
  return new Promise((resolve, reject) => {
    if (cancel.aborted) return reject(new HubError('canceled', 'Request canceled'));
    const t = setTimeout(() => {
      cancel.removeListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(new HubError('canceled', 'Request canceled'));
    };
    cancel.once('abort', onAbort);
  });
}

/** Exponential backoff with full jitter. */
function backoff(policy: RetryPolicy, retry: number, random: () => number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** retry);
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** Error codes a retry on the same deployment would only repeat. */
const REPEATS_ON_RETRY: ReadonlySet<string> = new Set(['upstream_authentication_failed', 'upstream_response_too_large', 'upstream_event_too_large']);

/**
 * Runs `run` against the route's deployments until one succeeds: in strategy order, steering
 * around open circuits, deployments cooling down after a 429 and those at their caps, retrying
 * retryable failures with backoff (honouring Retry-After when the same deployment must be
 * retried), then following the route's fallbacks for the error kinds they name. When every
 * deployment not at its cap has an open circuit or is cooling down, the request goes through
 * anyway as a probe: an open circuit steers traffic to a healthy alternative, it never refuses
 * the only one. `run` must resolve only once output is assured to start (the first byte or
 * event), so that everything before it can be retried transparently.
 */
export async function execute<T>(start: Route, run: (a: Attempt, cancel: Cancel) => Promise<T>, o: ExecuteOptions): Promise<Executed<T>> {
  const cancel = o.signal instanceof Cancel ? o.signal : new Cancel(o.signal);
  const random = o.random ?? Math.random;
  const now = o.now ?? Date.now;
  const began = now();
  let number = 0;
  let lastError: HubError | undefined;
  let route: Route | undefined = start;
  let fallbackFrom: string | undefined;
  const visited = new Set<string>();
  let pending: AttemptReport | undefined;

  while (route && !visited.has(route.name)) {
    visited.add(route.name);
    const candidates = orderDeployments(route.deployments, route.strategy, random);
    const tried = new Set<Deployment>();
    let routeAttempts = 0;
    let retries = 0;
    let routeError: HubError | undefined;

    while (routeAttempts < route.retry.maxAttempts) {
      // Prefer a healthy deployment not yet tried; once all have been, go round again.
      const healthy = candidates.filter((x) => !x.steerAway() && !x.atCap(o.estimatedTokens));
      let d = healthy.find((x) => !tried.has(x)) ?? healthy[0];
      let probe = false;
      if (!d) {
        // None is healthy: rather than refuse, let the request through as a probe to the one
        // closest to recovering. Only configured RPM/TPM caps refuse.
        const open = candidates.filter((x) => !x.atCap(o.estimatedTokens));
        d = open.filter((x) => !tried.has(x)).sort((a, b) => a.coolingMs() - b.coolingMs())[0] ?? open[0];
        probe = true;
      }
      if (!d) {
        routeError ??= new HubError('overloaded', `No deployment of '${route.name}' can take a request now: all are at their configured rate caps.`, { status: 503 });
        break;
      }
      if (!probe && !d.breaker.tryAcquire()) {
        tried.add(d);
        continue;
      }
      tried.add(d);
      routeAttempts++;
      number++;
      if (pending) o.onFailedAttempt?.(pending);
      pending = undefined;
      const attempt: Attempt = { route, deployment: d, number, fallbackFrom };
      o.onAttempt?.(attempt);
      const t0 = performance.now();
      d.inFlight++;
      d.requests.add(1);
      d.tokens.add(o.estimatedTokens);
      try {
        const value = await run(attempt, cancel);
        d.breaker.onSuccess();
        d.successes++;
        return { value, attempt };
      } catch (err) {
        const e = cancel.aborted ? new HubError('canceled', 'Request canceled') : toHubError(err);
        if (e.kind === 'canceled') {
          if (!probe) d.breaker.release();
          throw e;
        }
        if (blamesDeployment(e.kind)) {
          d.breaker.onFailure();
          d.failures++;
        } else if (e.kind === 'internal') {
          // The hub's own error: no verdict on the deployment either way.
          if (!probe) d.breaker.release();
        } else {
          // The upstream answered (a 4xx, a 429): not its failure, and proof that it is up.
          d.breaker.onAnswered();
          if (e.kind === 'rate_limited') d.coolDown(e.retryAfter);
        }
        pending = { attempt, error: e, latencyMs: performance.now() - t0 };
        routeError = e;
        if (!isRetryable(e.kind) || routeAttempts >= route.retry.maxAttempts) break;
        // Retry-After binds the deployment that said it; another deployment need not wait.
        const next = candidates.find((x) => x !== d && !tried.has(x) && !x.steerAway() && !x.atCap(o.estimatedTokens));
        // Some failures repeat whenever the same deployment is asked again (a refused credential,
        // an answer too large to hold): only another deployment, or a fallback, can help.
        if (!next && e.code !== undefined && REPEATS_ON_RETRY.has(e.code)) break;
        let delay = backoff(route.retry, retries++, random);
        if (!next && e.retryAfter !== undefined) {
          // A wait longer than the policy allows is the client's call: it gets the 429 and Retry-After.
          if (e.retryAfter * 1000 > route.retry.maxDelayMs) break;
          delay = Math.max(delay, e.retryAfter * 1000);
        }
        // A probe that found the deployment still failing is not repeated within the request
        // (letting probes through must not multiply the load on an upstream that is down); a
        // deployment not yet tried may still be probed.
        if (!next && probe && blamesDeployment(e.kind) && !candidates.some((x) => !tried.has(x) && !x.atCap(o.estimatedTokens))) break;
        if (next) delay = Math.min(delay, route.retry.baseDelayMs);
        // The retry budget bounds waiting and going round again; a healthy deployment not yet
        // tried is always tried (within maxAttempts), so that a hang that outlasted the budget
        // still falls back.
        else if (now() - began + delay > route.retry.budgetMs) break;
        await sleep(delay, cancel);
      } finally {
        d.inFlight--;
      }
    }
    lastError = routeError ?? lastError;
    const kind = lastError?.kind;
    const fb: Fallback | undefined = kind === undefined ? undefined : route.fallbacks.find((f) => f.on.includes(kind) && !visited.has(f.model));
    fallbackFrom ??= route.name;
    route = fb ? o.routes(fb.model) : undefined;
  }
  let err = lastError ?? new HubError('overloaded', `No deployment of '${start.name}' is available.`, { status: 503 });
  // A 429 that reaches the client says when to come back, even when the upstream did not.
  if (err.kind === 'rate_limited' && err.retryAfter === undefined && pending?.error === err) {
    const ms = pending.attempt.deployment.coolingMs();
    if (ms > 0) err = withRetryAfter(err, Math.ceil(ms / 1000));
  }
  throw err;
}
