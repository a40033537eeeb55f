/**
 * Issue 16, §3: a circuit breaker steers traffic to a healthy alternative; it never turns a blip
 * into an outage. Only the deployment's own failures count, a 429 cools a deployment down
 * instead of opening its circuit and reaches the client as a 429, and a model whose every
 * deployment is open lets requests through as probes rather than refusing them.
 */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError } from '../src/core/errors.js';
import type { ErrorKind } from '../src/core/errors.js';
import type { Model } from '../src/core/model.js';
import { DEFAULT_COOLDOWN_S, Deployment, MAX_COOLDOWN_S } from '../src/routing/deployment.js';
import { blamesDeployment, execute } from '../src/routing/router.js';
import type { Route } from '../src/routing/router.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startFaultyUpstream } from './upstreams/faulty.js';
import type { FaultyUpstream } from './upstreams/faulty.js';

let flaky: FaultyUpstream;
let other: FaultyUpstream;
let hub: TestHub;
let client: OpenAI;

beforeAll(async () => {
  flaky = await startFaultyUpstream('flaky');
  other = await startFaultyUpstream('other');
  hub = await startTestHub(`providers:
  flaky: { baseURL: ${flaky.baseURL} }
  other: { baseURL: ${other.baseURL} }
models:
  solo: { provider: flaky, model: m }
  solo2: { provider: flaky, model: m2 }
  quad: { provider: flaky, model: q }
  pair:
    deployments: [{ provider: flaky, model: p, priority: 0 }, { provider: other, model: p, priority: 1 }]
`);
  client = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 0 });
});

afterAll(async () => {
  await hub?.dispose();
  await flaky?.close();
  await other?.close();
});

const deployment = (model: string, provider = 'flaky') => hub.registry.deployments().find((x) => x.model === model && x.deployment.provider === provider)!.deployment;
const ask = (model: string, c = client) => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'ping' }] }).withResponse();

describe('the real-client matrix of issue 16', () => {
  it('after a burst of 500s that opens the only deployment’s circuit, the next request reaches the healthy upstream', async () => {
    flaky.failStatus = 500;
    flaky.failRate = 1;
    // An SDK that retries twice, each try retried by the hub: nine 500s in a row.
    const sdk = new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: 'x', maxRetries: 2, timeout: 20_000 });
    const err = await ask('solo', sdk).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(502);
    expect(deployment('solo').health().circuit).toBe('open');

    flaky.failRate = 0;
    const served = flaky.served.ok;
    const { data } = await ask('solo');
    expect(data.choices[0]!.message.content).toBe('served by flaky');
    expect(flaky.served.ok).toBe(served + 1);
    // The probe's success closed the circuit.
    expect(deployment('solo').health().circuit).toBe('closed');
  });

  it('a 429 from the upstream reaches the client as a 429 with Retry-After, even with the circuit open', async () => {
    flaky.failStatus = 500;
    flaky.failRate = 1;
    await ask('solo').catch(() => undefined);
    await ask('solo').catch(() => undefined);
    expect(deployment('solo').health().circuit).toBe('open');

    flaky.failStatus = 429;
    flaky.retryAfter = '30';
    const err = await ask('solo').catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(err.status).toBe(429);
    expect(err.headers.get('retry-after')).toBe('30');
    expect(err.message).not.toMatch(/No deployment/);
  });

  it('a 429 without Retry-After still reaches the client as a 429 that says when to come back', async () => {
    flaky.failStatus = 429;
    flaky.retryAfter = undefined;
    flaky.failRate = 1;
    const err = await ask('solo2').catch((e) => e);
    expect(err.status).toBe(429);
    const s = Number(err.headers.get('retry-after'));
    expect(s).toBeGreaterThanOrEqual(1);
    expect(s).toBeLessThanOrEqual(DEFAULT_COOLDOWN_S);
    flaky.failRate = 0;
  });
});

describe('what counts toward a circuit', () => {
  it('429s never open it: they cool the deployment down and traffic moves to the other one', async () => {
    flaky.failStatus = 429;
    flaky.retryAfter = '30';
    flaky.failRate = 1;
    const d = deployment('pair');
    const failuresBefore = d.failures;
    const { data, response } = await ask('pair');
    expect(data.choices[0]!.message.content).toBe('served by other');
    expect(response.headers.get('x-baimo-attempts')).toBe('2');
    expect(d.health().coolingDownMs).toBeGreaterThan(20_000);
    // While it cools down, requests go straight to the other deployment.
    const hits = flaky.served.failed;
    for (let i = 0; i < 6; i++) expect((await ask('pair')).response.headers.get('x-baimo-attempts')).toBe('1');
    expect(flaky.served.failed).toBe(hits);
    expect(d.health()).toMatchObject({ circuit: 'closed' });
    expect(d.failures).toBe(failuresBefore);
    flaky.failRate = 0;
  });

  it('4xx answers from the upstream (400, 403, 404, 413, 422) never open it', async () => {
    flaky.retryAfter = undefined;
    flaky.failRate = 1;
    const d = deployment('quad');
    for (const status of [400, 404, 413, 422, 403]) {
      flaky.failStatus = status;
      for (let i = 0; i < 3; i++) {
        const err = await ask('quad').catch((e) => e);
        expect(err.status).toBe(status);
      }
    }
    expect(d.health()).toMatchObject({ circuit: 'closed', failures: 0 });
    flaky.failRate = 0;
  });

  it("an upstream 401 (the hub's own credential refused) is the deployment's fault: a 502, asked once, counted", async () => {
    flaky.retryAfter = undefined;
    flaky.failRate = 1;
    flaky.failStatus = 401;
    const d = deployment('quad');
    const before = d.failures;
    const hits = flaky.served.failed;
    const err = await ask('quad').catch((e) => e);
    expect(err.status).toBe(502);
    expect(err.message).toMatch(/rejected the hub's credential/);
    // Never asked again within the request: the same key would be refused again.
    expect(flaky.served.failed - hits).toBe(1);
    expect(d.failures).toBe(before + 1);
    flaky.failRate = 0;
  });

  it('blames the deployment for 5xx, timeouts and overload only', () => {
    const blamed = (['bad_request', 'authentication', 'permission', 'not_found', 'payload_too_large', 'rate_limited', 'context_length', 'content_filter', 'timeout', 'upstream', 'overloaded', 'canceled', 'internal'] as ErrorKind[]).filter(blamesDeployment);
    expect(blamed).toEqual(['timeout', 'upstream', 'overloaded']);
  });
});

describe('routing with open circuits (unit)', () => {
  const dep = (id: string, now: () => number, priority = 0) => new Deployment({ id, model: {} as Model, upstreamModel: id, priority, now });
  const route = (ds: Deployment[]): Route => ({ name: 'r', deployments: ds, strategy: 'priority', retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 1000 }, fallbacks: [] });
  const opts = { signal: new AbortController().signal, estimatedTokens: 1, routes: () => undefined };

  it('an open circuit steers traffic to a healthy alternative but never refuses the only way left', async () => {
    let t = 0;
    const now = () => t;
    const a = dep('a', now, 0);
    const b = dep('b', now, 1);
    for (let i = 0; i < 5; i++) a.breaker.onFailure();
    expect(a.breaker.state).toBe('open');
    // Healthy alternative: a is skipped.
    expect((await execute(route([a, b]), async (at) => at.deployment.id, opts)).value).toBe('b');
    for (let i = 0; i < 5; i++) b.breaker.onFailure();
    // Both open: the request goes through as a probe instead of a 503, and its success closes the circuit.
    const r = await execute(route([a, b]), async (at) => at.deployment.id, opts);
    expect(['a', 'b']).toContain(r.value);
    expect((r.value === 'a' ? a : b).breaker.state).toBe('closed');
  });

  it('an upstream 4xx to a probe shows the deployment answers: the circuit closes', async () => {
    const a = dep('a', Date.now);
    for (let i = 0; i < 5; i++) a.breaker.onFailure();
    await expect(execute(route([a]), async () => { throw new HubError('bad_request', 'no', { status: 400 }); }, opts)).rejects.toMatchObject({ status: 400 });
    expect(a.breaker.state).toBe('closed');
    expect(a.failures).toBe(0);
  });

  it('a cool-down follows Retry-After within bounds', () => {
    let t = 0;
    const d = dep('a', () => t);
    expect(d.coolDown(undefined)).toBe(DEFAULT_COOLDOWN_S);
    expect(d.coolDown(3600)).toBe(MAX_COOLDOWN_S);
    expect(d.steerAway()).toBe(true);
    t += MAX_COOLDOWN_S * 1000;
    expect(d.steerAway()).toBe(false);
    expect(d.breaker.state).toBe('closed');
  });

  it('a probe through an open circuit that fails again keeps it open, is not retried, and does not refuse the next', async () => {
    const a = dep('a', Date.now);
    for (let i = 0; i < 5; i++) a.breaker.onFailure();
    let calls = 0;
    const retrying: Route = { ...route([a]), retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1, budgetMs: 1000 } };
    const fail = async () => {
      calls++;
      throw new HubError('upstream', 'boom', { status: 502 });
    };
    await expect(execute(retrying, fail, opts)).rejects.toMatchObject({ kind: 'upstream' });
    expect(calls).toBe(1);
    expect(a.breaker.state).toBe('open');
    expect((await execute(route([a]), async () => 'ok', opts)).value).toBe('ok');
    expect(a.breaker.state).toBe('closed');
  });
});
