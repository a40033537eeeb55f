import { AggregatorRegistry, Counter, Gauge, Histogram, Registry as PromRegistry } from 'prom-client';
import type { Registry } from '../routing/registry.js';
import type { UsageRecord } from './record.js';

const CIRCUIT = { closed: 0, half_open: 1, open: 2 } as const;

/**
 * The one label for every model name the hub does not know by configuration or catalogue
 * (see Registry.isKnown): clients choose model names, and each label lives as long as the process.
 */
export const OTHER_MODEL = '(other)';

/** One process's metrics as prom-client hands them between processes (`Registry.getMetricsAsJSON`). */
export type MetricsJSON = Awaited<ReturnType<PromRegistry['getMetricsAsJSON']>>;

/**
 * The other processes of a group that answers a scrape as one (`baimo serve --workers N`, wired in
 * server/workers.ts). Absent for a hub that is one process: its scrape reads only its own registry.
 */
export interface MetricsGroup {
  /** This process's name among them (the worker's slot), the label of `baimo_worker_requests_total`. */
  readonly member: string;
  /** Answers the others' scrapes with this process's metrics. Called once, by Metrics. */
  serve(local: () => Promise<MetricsJSON>): void;
  /**
   * The other members' metrics, from those that answered in the time allowed (about a second),
   * and how many did not (a member being replaced counts as one that did not).
   */
  others(): Promise<{ readonly metrics: readonly MetricsJSON[]; readonly missing: number }>;
}

/**
 * One label combination's counts since the last scrape. Counting into plain numbers and handing
 * them to prom-client when scraped costs a few additions per request; prom-client itself would
 * rebuild a label hash on every increment.
 */
interface Tally {
  readonly endpoint: string;
  readonly model: string;
  readonly provider: string;
  readonly status: string;
  readonly attempt: 'final' | 'retried';
  readonly latency: { observe(v: number): void };
  readonly ttft: { observe(v: number): void };
  requests: number;
  input: number;
  output: number;
  cachedInput: number;
  cacheWrite: number;
  reasoning: number;
  cost: number;
}

/**
 * Prometheus metrics, fed by usage records as they are made and by deployment state when
 * scraped. Labels carry model and provider names only — never a key — and a model label is a
 * name the hub knows, so the number of series is bounded by the configuration and catalogue.
 */
export class Metrics {
  readonly registry = new PromRegistry();
  private readonly requests: Counter<'endpoint' | 'model' | 'provider' | 'status' | 'attempt'>;
  private readonly tokens: Counter<'model' | 'provider' | 'kind'>;
  private readonly cost: Counter<'model' | 'provider'>;
  private readonly latency: Histogram<'endpoint' | 'model'>;
  private readonly ttft: Histogram<'model'>;

  /** Final requests since the last scrape, for the group's per-worker counter (read only in a group). */
  private answered = 0;

  constructor(
    private readonly routes: Registry,
    private readonly group?: MetricsGroup,
  ) {
    const registers = [this.registry];
    const collect = () => this.drain();
    this.requests = new Counter({
      name: 'baimo_requests_total',
      help: 'Requests (attempt="final") and failed attempts that were retried (attempt="retried").',
      labelNames: ['endpoint', 'model', 'provider', 'status', 'attempt'],
      registers,
      collect,
    });
    this.tokens = new Counter({ name: 'baimo_tokens_total', help: 'Tokens by kind: input, output, cached_input, cache_write, reasoning.', labelNames: ['model', 'provider', 'kind'], registers, collect });
    this.cost = new Counter({ name: 'baimo_cost_usd_total', help: 'Cost in USD from catalog prices.', labelNames: ['model', 'provider'], registers, collect });
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
    type Deployment = ReturnType<Registry['deployments']>[number]['deployment'];
    /**
     * Sets one gauge per deployment of a known route; the direct routes of unknown names are
     * folded into one series per provider (route and deployment `OTHER_MODEL`) by `fold`.
     */
    const each = (value: (d: Deployment) => number | undefined, fold: ((a: number, b: number) => number) | undefined) =>
      function (this: Gauge<(typeof deploymentLabels)[number]>) {
        this.reset();
        const folded = new Map<string, number>();
        for (const { model, deployment: d } of routes.deployments()) {
          const v = value(d);
          if (v === undefined) continue;
          if (routes.isKnown(model)) this.set({ route: model, deployment: d.id, provider: d.provider }, v);
          else if (fold) folded.set(d.provider, folded.has(d.provider) ? fold(folded.get(d.provider)!, v) : v);
        }
        for (const [provider, v] of folded) this.set({ route: OTHER_MODEL, deployment: OTHER_MODEL, provider }, v);
      };
    new Gauge({
      name: 'baimo_deployment_circuit_state',
      help: `Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open (route="${OTHER_MODEL}": the worst of a provider's unlisted model names; under --workers, the worst of the workers').`,
      labelNames: deploymentLabels,
      registers,
      // Across workers: the worst (each keeps its own breaker; one that has opened it is the news).
      aggregator: 'max',
      collect: each((d) => CIRCUIT[d.breaker.state], Math.max),
    });
    new Gauge({
      name: 'baimo_deployment_in_flight',
      help: `Requests in flight per deployment (route="${OTHER_MODEL}": the sum over a provider's unlisted model names).`,
      labelNames: deploymentLabels,
      registers,
      collect: each((d) => d.inFlight, (a, b) => a + b),
    });
    new Gauge({
      name: 'baimo_deployment_ttft_seconds',
      help: 'Moving average of time to first token per deployment (under --workers, the mean of the workers\' averages).',
      labelNames: deploymentLabels,
      registers,
      // Across workers: the mean of the workers that have one (each keeps its own average).
      aggregator: 'average',
      collect: each((d) => (d.ttftMs === undefined ? undefined : d.ttftMs / 1000), undefined),
    });
    // In-flight requests (like the counters and histograms) are summed across workers: prom-client's default.
    if (group) {
      const perWorker = new Counter({
        name: 'baimo_worker_requests_total',
        help: 'Requests answered (attempt="final" above) by each worker of `baimo serve --workers N`: how connections are spread over them.',
        labelNames: ['worker'],
        registers,
        collect: () => {
          perWorker.inc({ worker: group.member }, this.answered);
          this.answered = 0;
        },
      });
      group.serve(() => this.registry.getMetricsAsJSON());
    }
  }

  private readonly tallies = new Map<string, Tally>();

  private tallyFor(r: UsageRecord): Tally {
    const provider = r.provider ?? '';
    const model = this.routes.isKnown(r.model) ? r.model : OTHER_MODEL;
    const key = `${r.endpoint}\u0000${model}\u0000${provider}\u0000${r.status}\u0000${r.final ? 1 : 0}`;
    let t = this.tallies.get(key);
    if (!t) {
      if (this.tallies.size > 50_000) {
        this.drain();
        this.tallies.clear();
      }
      t = {
        endpoint: r.endpoint,
        model,
        provider,
        status: String(r.status),
        attempt: r.final ? 'final' : 'retried',
        latency: this.latency.labels({ endpoint: r.endpoint, model }),
        ttft: this.ttft.labels({ model }),
        requests: 0, input: 0, output: 0, cachedInput: 0, cacheWrite: 0, reasoning: 0, cost: 0,
      };
      this.tallies.set(key, t);
    }
    return t;
  }

  observe(r: UsageRecord): void {
    const t = this.tallyFor(r);
    t.requests++;
    if (!r.final) return;
    this.answered++;
    t.latency.observe(r.latencyMs / 1000);
    if (r.ttftMs !== undefined && r.stream) t.ttft.observe(r.ttftMs / 1000);
    const u = r.usage;
    if (u) {
      t.input += u.inputTokens;
      t.output += u.outputTokens;
      t.cachedInput += u.cachedInputTokens ?? 0;
      t.cacheWrite += u.cacheWriteTokens ?? 0;
      t.reasoning += u.reasoningTokens ?? 0;
    }
    if (r.costUsd) t.cost += r.costUsd;
  }

  /** Moves the tallies into the prom-client counters (on scrape). */
  private drain(): void {
    for (const t of this.tallies.values()) {
      const { model, provider } = t;
      if (t.requests) this.requests.inc({ endpoint: t.endpoint, model, provider, status: t.status, attempt: t.attempt }, t.requests);
      const tokens = (kind: string, n: number) => n && this.tokens.inc({ model, provider, kind }, n);
      tokens('input', t.input);
      tokens('output', t.output);
      tokens('cached_input', t.cachedInput);
      tokens('cache_write', t.cacheWrite);
      tokens('reasoning', t.reasoning);
      if (t.cost) this.cost.inc({ model, provider }, t.cost);
      t.requests = t.input = t.output = t.cachedInput = t.cacheWrite = t.reasoning = t.cost = 0;
    }
  }

  /**
   * The scrape's text. In a group, the sum of every member that answered (counters and
   * histograms added, gauges as their `aggregator` says) and `baimo_metrics_workers_missing`
   * for those that did not; alone, this process's registry, as it always was.
   */
  text(): Promise<string> {
    if (!this.group) return this.registry.metrics();
    // Scrapes that come while one is being put together share it: summing every worker's metrics
    // is the costly part (over a second with 2,000 models), and scrapes may need no key.
    return (this.gathering ??= this.gather(this.group).finally(() => (this.gathering = undefined)));
  }

  private gathering: Promise<string> | undefined;

  private async gather(group: MetricsGroup): Promise<string> {
    const [own, others] = await Promise.all([this.registry.getMetricsAsJSON(), group.others()]);
    const all = AggregatorRegistry.aggregate([own, ...others.metrics]);
    new Gauge({
      name: 'baimo_metrics_workers_missing',
      help: 'Workers whose current metrics this scrape lacks: not answering within a second (their last answer stands in), or being replaced (what the one before counted stays).',
      registers: [all],
    }).set(others.missing);
    return all.metrics();
  }
}
