import { describe, expect, it } from 'vitest';
import { HubError } from '../src/core/errors.js';
import type { Model } from '../src/core/model.js';
import { CircuitBreaker } from '../src/routing/breaker.js';
import { Deployment } from '../src/routing/deployment.js';
import { DEFAULT_RETRY, execute } from '../src/routing/router.js';
import type { Attempt, Route } from '../src/routing/router.js';
import { orderDeployments } from '../src/routing/strategy.js';

const fakeModel = (provider: string): Model => ({ provider, stream: async function* () {} });

function dep(id: string, o: Partial<ConstructorParameters<typeof Deployment>[0]> = {}): Deployment {
  return new Deployment({ id, model: fakeModel(id), upstreamModel: id, ...o });
}

function route(name: string, deployments: Deployment[], extra: Partial<Route> = {}): Route {
  return { name, deployments, strategy: 'priority', retry: { ...DEFAULT_RETRY, baseDelayMs: 1, maxDelayMs: 5 }, fallbacks: [], ...extra };
}

const opts = (routes: Record<string, Route> = {}) => ({ signal: new AbortController().signal, estimatedTokens: 10, routes: (n: string) => routes[n] });

describe('circuit breaker', () => {
  it('opens after consecutive failures, probes once when half-open, closes on success', () => {
    let t = 0;
    const b = new CircuitBreaker({ consecutiveFailures: 3, errorRate: 1, minRequests: 100, window: 100, cooldownMs: 1000 }, () => t);
    for (let i = 0; i < 3; i++) {
      expect(b.tryAcquire()).toBe(true);
      b.onFailure();
    }
    expect(b.state).toBe('open');
    expect(b.tryAcquire()).toBe(false);
    t = 1000;
    expect(b.state).toBe('half_open');
    expect(b.tryAcquire()).toBe(true);
    expect(b.tryAcquire()).toBe(false); // one probe at a time
    b.onFailure();
    expect(b.state).toBe('open');
    t = 2000;
    expect(b.tryAcquire()).toBe(true);
    b.onSuccess();
    expect(b.state).toBe('closed');
  });

  it('opens on the error rate over its window', () => {
    const b = new CircuitBreaker({ consecutiveFailures: 100, errorRate: 0.5, minRequests: 10, window: 10, cooldownMs: 1000 });
    for (let i = 0; i < 10; i++) (i % 2 ? b.onFailure() : b.onSuccess());
    expect(b.state).toBe('open');
  });
});

describe('strategies', () => {
  it('priority tries lower priority first; weighted follows the weights', () => {
    const a = dep('a', { priority: 1 });
    const b = dep('b', { priority: 0 });
    expect(orderDeployments([a, b], 'priority')[0]).toBe(b);
    const heavy = dep('heavy', { weight: 3 });
    const light = dep('light', { weight: 1 });
    let first = 0;
    for (let i = 0; i < 4000; i++) if (orderDeployments([heavy, light], 'weighted')[0] === heavy) first++;
    expect(first / 4000).toBeGreaterThan(0.7);
    expect(first / 4000).toBeLessThan(0.8);
  });

  it('least-latency, least-cost and least-busy pick the best by their measure', () => {
    const fast = dep('fast');
    const slow = dep('slow');
    fast.observeFirstToken(50);
    slow.observeFirstToken(500);
    expect(orderDeployments([slow, fast], 'least-latency')[0]).toBe(fast);
    expect(orderDeployments([dep('dear', { costPerMTokens: 10 }), dep('cheap', { costPerMTokens: 1 })], 'least-cost')[0]!.id).toBe('cheap');
    const busy = dep('busy');
    busy.inFlight = 5;
    expect(orderDeployments([busy, dep('idle')], 'least-busy')[0]!.id).toBe('idle');
  });
});

describe('execute', () => {
  it('falls over to the next deployment on a retryable error and reports the failed attempt', async () => {
    const a = dep('a', { priority: 0 });
    const b = dep('b', { priority: 1 });
    const failed: string[] = [];
    const r = await execute(
      route('chat', [a, b]),
      async (at: Attempt) => {
        if (at.deployment === a) throw new HubError('upstream', 'boom');
        return 'ok';
      },
      { ...opts(), onFailedAttempt: (x) => failed.push(`${x.attempt.deployment.id}:${x.error?.kind}`) },
    );
    expect(r.value).toBe('ok');
    expect(r.attempt).toMatchObject({ deployment: b, number: 2 });
    expect(failed).toEqual(['a:upstream']);
  });

  it('does not retry a client error', async () => {
    let calls = 0;
    await expect(
      execute(route('chat', [dep('a'), dep('b')]), async () => {
        calls++;
        throw new HubError('bad_request', 'nope');
      }, opts()),
    ).rejects.toMatchObject({ kind: 'bad_request' });
    expect(calls).toBe(1);
  });

  it('stops at maxAttempts and throws the last error', async () => {
    let calls = 0;
    const r = route('chat', [dep('a')], { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2, budgetMs: 10_000 } });
    await expect(execute(r, async () => { calls++; throw new HubError('timeout', 't'); }, opts())).rejects.toMatchObject({ kind: 'timeout' });
    expect(calls).toBe(3);
  });

  it('honours Retry-After on the only deployment, within the time budget', async () => {
    const r = route('chat', [dep('a')], { retry: { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 1000, budgetMs: 10_000 } });
    const times: number[] = [];
    const value = await execute(r, async () => {
      times.push(Date.now());
      if (times.length === 1) throw new HubError('rate_limited', 'slow down', { retryAfter: 0.3 });
      return 1;
    }, opts());
    expect(value.value).toBe(1);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(280);
    // A Retry-After beyond what the policy may wait ends the attempts at once.
    const tight = route('c2', [dep('b')], { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 5000, budgetMs: 100_000 } });
    const t0 = Date.now();
    await expect(execute(tight, async () => { throw new HubError('rate_limited', 'x', { retryAfter: 60 }); }, opts())).rejects.toMatchObject({ kind: 'rate_limited' });
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('follows a fallback chain for the error kinds it names, and only those', async () => {
    const strong = route('strong', [dep('s')], { fallbacks: [{ model: 'cheap', on: ['context_length'] }] });
    const cheap = route('cheap', [dep('c')]);
    const r = await execute(strong, async (at) => {
      if (at.route.name === 'strong') throw new HubError('context_length', 'too long');
      return at.route.name;
    }, opts({ cheap }));
    expect(r.value).toBe('cheap');
    expect(r.attempt.fallbackFrom).toBe('strong');
    await expect(execute(strong, async () => { throw new HubError('content_filter', 'no'); }, opts({ cheap }))).rejects.toMatchObject({ kind: 'content_filter' });
  });

  it('skips deployments with open circuits or at their RPM cap', async () => {
    const broken = dep('broken', { priority: 0 });
    for (let i = 0; i < 5; i++) broken.breaker.onFailure();
    const capped = dep('capped', { priority: 1, rpm: 1 });
    capped.requests.add(1);
    const ok = dep('ok', { priority: 2 });
    const r = await execute(route('chat', [broken, capped, ok]), async (at) => at.deployment.id, opts());
    expect(r.value).toBe('ok');
    // With no healthy deployment left, the open circuit gets the request as a probe; only a cap refuses.
    expect((await execute(route('chat', [broken, capped]), async (at) => at.deployment.id, opts())).value).toBe('broken');
    await expect(execute(route('chat', [capped]), async () => 'x', opts())).rejects.toMatchObject({ kind: 'overloaded', status: 503 });
  });

  it('a canceled request stops at once and does not count against the deployment', async () => {
    const d = dep('a');
    const ac = new AbortController();
    const p = execute(route('chat', [d]), async () => {
      ac.abort();
      throw new Error('aborted');
    }, { ...opts(), signal: ac.signal });
    await expect(p).rejects.toMatchObject({ kind: 'canceled' });
    expect(d.failures).toBe(0);
    expect(d.inFlight).toBe(0);
  });
});
