/**
 * How one scrape adds up the workers of `baimo serve --workers N` (usage/metrics.ts with a
 * MetricsGroup): counters and histograms summed, in-flight summed, a circuit the worst of the
 * workers', a TTFT average the mean of those that have one, and the workers that did not answer
 * counted. The workers here are Metrics objects in one process, each with its own deployments,
 * handing their metrics over as JSON, as the IPC channel does; test/workers.test.ts runs the real
 * processes. A hub that is one process shows none of the group's series.
 */
import { describe, expect, it } from 'vitest';
import type { ProviderSpec } from '../src/catalog/providers.js';
import { assembleFrom } from '../src/server/assemble.js';
import { Metrics } from '../src/usage/metrics.js';
import type { MetricsGroup, MetricsJSON } from '../src/usage/metrics.js';
import type { UsageRecord } from '../src/usage/record.js';

const spec: ProviderSpec = {
  id: 'p', type: 'openai', name: 'P', baseURL: 'http://127.0.0.1:9/v1', apiKey: 'sk-upstream-secret-0000', headers: {}, models: ['m'], embeddingModels: [],
  connectTimeoutMs: 1000, firstByteTimeoutMs: 1000, idleTimeoutMs: 1000, maxTokensField: 'max_tokens', source: 'config',
};

const record = (latencyMs: number, final = true): UsageRecord =>
  ({ requestId: 'r', ts: 0, endpoint: 'chat', model: 'p/m', provider: 'p', attempt: 1, final, stream: false, status: 200, latencyMs, usage: { inputTokens: 10, outputTokens: 2 }, costUsd: 0.5 }) as UsageRecord;

/** `n` workers wired to each other in memory; those in `silent` do not answer. */
function workers(n: number, silent = new Set<number>()) {
  const local: (() => Promise<MetricsJSON>)[] = [];
  return Array.from({ length: n }, (_, i) => {
    const { registry } = assembleFrom({}, [spec]);
    const group: MetricsGroup = {
      member: String(i + 1),
      serve: (f) => void (local[i] = f),
      others: async () => {
        const asked = local.filter((_, j) => j !== i && !silent.has(j));
        // Through JSON, as over the IPC channel.
        const metrics = await Promise.all(asked.map(async (f) => JSON.parse(JSON.stringify(await f())) as MetricsJSON));
        return { metrics, missing: n - 1 - metrics.length };
      },
    };
    // The direct route p/m exists once a request has named it.
    const { route } = registry.resolve('p/m');
    return { metrics: new Metrics(registry, group), deployment: route.deployments[0]! };
  });
}

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

describe('a scrape of a group of workers', () => {
  it('sums counters, histograms and in-flight; shows the worst circuit and the mean TTFT; labels requests per worker', async () => {
    const [a, b, c] = workers(3) as [ReturnType<typeof workers>[number], ReturnType<typeof workers>[number], ReturnType<typeof workers>[number]];
    a.metrics.observe(record(30));
    a.metrics.observe(record(30, false));
    a.metrics.observe(record(3000));
    for (let i = 0; i < 3; i++) b.metrics.observe(record(200));
    // Workers 1 and 2 open their breakers (5 failures in a row); worker 3's stays closed.
    for (let i = 0; i < 5; i++) a.deployment.breaker.onFailure();
    for (let i = 0; i < 5; i++) b.deployment.breaker.onFailure();
    a.deployment.inFlight = 2;
    b.deployment.inFlight = 3;
    a.deployment.observeFirstToken(100);
    b.deployment.observeFirstToken(300);

    // Whichever worker is scraped, the answer is the same (worker 3 has no TTFT average yet: not counted in the mean).
    for (const scraped of [a, b, c]) {
      const text = await scraped.metrics.text();
      const labels = '{endpoint="chat",model="p/m",provider="p",status="200"';
      expect(value(text, `baimo_requests_total${labels},attempt="final"}`)).toBe(5);
      expect(value(text, `baimo_requests_total${labels},attempt="retried"}`)).toBe(1);
      expect(value(text, 'baimo_tokens_total{model="p/m",provider="p",kind="input"}')).toBe(50);
      expect(value(text, 'baimo_cost_usd_total{model="p/m",provider="p"}')).toBe(2.5);
      expect(value(text, 'baimo_request_duration_seconds_count{endpoint="chat",model="p/m"}')).toBe(5);
      expect(value(text, 'baimo_request_duration_seconds_bucket{le="0.05",endpoint="chat",model="p/m"}')).toBe(1);
      expect(value(text, 'baimo_request_duration_seconds_bucket{le="0.25",endpoint="chat",model="p/m"}')).toBe(4);
      expect(value(text, 'baimo_request_duration_seconds_bucket{le="+Inf",endpoint="chat",model="p/m"}')).toBe(5);
      expect(value(text, 'baimo_request_duration_seconds_sum{endpoint="chat",model="p/m"}')).toBeCloseTo(3.63, 6);
      const deployment = '{route="p/m",deployment="p/m",provider="p"}';
      expect(value(text, `baimo_deployment_circuit_state${deployment}`)).toBe(2);
      expect(value(text, `baimo_deployment_in_flight${deployment}`)).toBe(5);
      expect(value(text, `baimo_deployment_ttft_seconds${deployment}`)).toBeCloseTo(0.2, 6);
      expect(value(text, 'baimo_worker_requests_total{worker="1"}')).toBe(2);
      expect(value(text, 'baimo_worker_requests_total{worker="2"}')).toBe(3);
      expect(value(text, 'baimo_worker_requests_total{worker="3"}')).toBe(0);
      expect(value(text, 'baimo_metrics_workers_missing')).toBe(0);
      // One HELP and TYPE per family, as Prometheus requires.
      expect(text.match(/^# TYPE baimo_requests_total /gm)).toHaveLength(1);
      expect(text).not.toContain('sk-upstream-secret');
    }
  });

  it('leaves out a worker that does not answer and says how many are missing', async () => {
    const [a, b, c] = workers(3, new Set([1])) as ReturnType<typeof workers>;
    a!.metrics.observe(record(30));
    b!.metrics.observe(record(30));
    c!.metrics.observe(record(30));
    const text = await a!.metrics.text();
    expect(value(text, 'baimo_requests_total{endpoint="chat",model="p/m",provider="p",status="200",attempt="final"}')).toBe(2);
    expect(value(text, 'baimo_worker_requests_total{worker="2"}')).toBeUndefined();
    expect(value(text, 'baimo_metrics_workers_missing')).toBe(1);
  });

  it('a hub that is one process shows only its own metrics, without the group series', async () => {
    const { registry } = assembleFrom({}, [spec]);
    const alone = new Metrics(registry);
    alone.observe(record(30));
    const text = await alone.text();
    expect(value(text, 'baimo_requests_total{endpoint="chat",model="p/m",provider="p",status="200",attempt="final"}')).toBe(1);
    expect(text).not.toContain('baimo_worker_requests_total');
    expect(text).not.toContain('baimo_metrics_workers_missing');
  });
});
