import { Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { Registry } from '../routing/registry.js';
import type { UsageRecord } from './record.js';

const CIRCUIT = { closed: 0, half_open: 1, open: 2 } as const;

interface Children {
  readonly requests: { inc(n?: number): void };
  readonly latency: { observe(v: number): void };
  readonly ttft: { observe(v: number): void };
  readonly input: { inc(n?: number): void };
  readonly output: { inc(n?: number): void };
  readonly cachedInput: { inc(n?: number): void };
  readonly cacheWrite: { inc(n?: number): void };
  readonly reasoning: { inc(n?: number): void };
  readonly cost: { inc(n?: number): void };
}

/**
 * Prometheus metrics, fed by usage records as they are made and by deployment state when
 * scraped. Labels carry model and provider names only — never a key.
 */
export class Metrics {
  readonly registry = new PromRegistry();
  private readonly requests: Counter<'endpoint' | 'model' | 'provider' | 'status' | 'attempt'>;
  private readonly tokens: Counter<'model' | 'provider' | 'kind'>;
  private readonly cost: Counter<'model' | 'provider'>;
  private readonly latency: Histogram<'endpoint' | 'model'>;
  private readonly ttft: Histogram<'model'>;

  constructor(routes: Registry) {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'baimo_requests_total',
      help: 'Requests (attempt="final") and failed attempts that were retried (attempt="retried").',
      labelNames: ['endpoint', 'model', 'provider', 'status', 'attempt'],
      registers,
    });
    this.tokens = new Counter({ name: 'baimo_tokens_total', help: 'Tokens by kind: input, output, cached_input, cache_write, reasoning.', labelNames: ['model', 'provider', 'kind'], registers });
    this.cost = new Counter({ name: 'baimo_cost_usd_total', help: 'Cost in USD from catalog prices.', labelNames: ['model', 'provider'], registers });
    this.latency = new Histogram({
      name: 'baimo_request_duration_seconds',
      help: 'Time from request to the end of the response.',
      labelNames: ['endpoint', 'model'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    });
    this.ttft = new Histogram({
      name: 'baimo_time_to_first_token_seconds',
      help: 'Time from request to the first token of a stream.',
      labelNames: ['model'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    const deploymentLabels = ['route', 'deployment', 'provider'] as const;
    const each = (set: (g: Gauge<(typeof deploymentLabels)[number]>) => (labels: Record<string, string>, d: ReturnType<Registry['deployments']>[number]['deployment']) => void) =>
      function (this: Gauge<(typeof deploymentLabels)[number]>) {
        this.reset();
        for (const { model, deployment } of routes.deployments()) set(this)({ route: model, deployment: deployment.id, provider: deployment.provider }, deployment);
      };
    new Gauge({
      name: 'baimo_deployment_circuit_state',
      help: 'Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.',
      labelNames: deploymentLabels,
      registers,
      collect: each((g) => (l, d) => g.set(l, CIRCUIT[d.breaker.state])),
    });
    new Gauge({
      name: 'baimo_deployment_in_flight',
      help: 'Requests in flight per deployment.',
      labelNames: deploymentLabels,
      registers,
      collect: each((g) => (l, d) => g.set(l, d.inFlight)),
    });
    new Gauge({
      name: 'baimo_deployment_ttft_seconds',
      help: 'Moving average of time to first token per deployment.',
      labelNames: deploymentLabels,
      registers,
      collect: each((g) => (l, d) => {
        if (d.ttftMs !== undefined) g.set(l, d.ttftMs / 1000);
      }),
    });
  }

  /** The metric children of one label combination, found once (prom-client hashes labels on every call otherwise). */
  private readonly children = new Map<string, Children>();

  private childrenFor(r: UsageRecord): Children {
    const provider = r.provider ?? '';
    const key = `${r.endpoint}\u0000${r.model}\u0000${provider}\u0000${r.status}\u0000${r.final ? 1 : 0}`;
    let c = this.children.get(key);
    if (!c) {
      if (this.children.size > 50_000) this.children.clear();
      const tokens = (kind: string) => this.tokens.labels({ model: r.model, provider, kind });
      c = {
        requests: this.requests.labels({ endpoint: r.endpoint, model: r.model, provider, status: String(r.status), attempt: r.final ? 'final' : 'retried' }),
        latency: this.latency.labels({ endpoint: r.endpoint, model: r.model }),
        ttft: this.ttft.labels({ model: r.model }),
        input: tokens('input'),
        output: tokens('output'),
        cachedInput: tokens('cached_input'),
        cacheWrite: tokens('cache_write'),
        reasoning: tokens('reasoning'),
        cost: this.cost.labels({ model: r.model, provider }),
      };
      this.children.set(key, c);
    }
    return c;
  }

  observe(r: UsageRecord): void {
    const c = this.childrenFor(r);
    c.requests.inc();
    if (!r.final) return;
    c.latency.observe(r.latencyMs / 1000);
    if (r.ttftMs !== undefined && r.stream) c.ttft.observe(r.ttftMs / 1000);
    const u = r.usage;
    if (u) {
      if (u.inputTokens) c.input.inc(u.inputTokens);
      if (u.outputTokens) c.output.inc(u.outputTokens);
      if (u.cachedInputTokens) c.cachedInput.inc(u.cachedInputTokens);
      if (u.cacheWriteTokens) c.cacheWrite.inc(u.cacheWriteTokens);
      if (u.reasoningTokens) c.reasoning.inc(u.reasoningTokens);
    }
    if (r.costUsd) c.cost.inc(r.costUsd);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
