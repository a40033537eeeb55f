import { CATALOG } from '../catalog/models.js';
import { PROVIDER_PRESETS } from '../catalog/presets.js';
import type { ProviderSpec } from '../catalog/providers.js';
import type { ConfigFile, ModelConfig } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { HubError } from '../core/errors.js';
import type { Model } from '../core/model.js';
import { createAnthropicEndpoint, createProvider } from '../providers/create.js';
import { Redactor } from '../core/redact.js';
import { DEFAULT_BREAKER } from './breaker.js';
import { Deployment } from './deployment.js';
import { DEFAULT_FALLBACK_ON, DEFAULT_RETRY } from './router.js';
import type { Route } from './router.js';
import { closeMatches } from './suggest.js';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG, shortName } from '../core/model-name.js';
import { createVirtualModel, virtualModelMembers } from '../ensemble/index.js';
import type { ModelCaller } from '../core/model.js';

/** A loop in the graph of which virtual model calls which, as a path, or undefined. */
function findCycle(graph: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | undefined => {
    if (state.get(n) === 'done' || !graph.has(n)) return undefined;
    if (state.get(n) === 'visiting') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'visiting');
    path.push(n);
    for (const m of graph.get(n)!) {
      const c = visit(m);
      if (c) return c;
    }
    path.pop();
    state.set(n, 'done');
    return undefined;
  };
  for (const n of graph.keys()) {
    const c = visit(n);
    if (c) return c;
  }
  return undefined;
}

/** Where a public model name leads. */
export interface Target {
  /** The name the client asked for. */
  readonly name: string;
  readonly route: Route;
}

export interface ModelEntry {
  readonly id: string;
  readonly ownedBy: string;
  readonly kind: 'chat' | 'embedding';
  /** The provider and upstream model behind it (the first deployment's, for a routed name). */
  readonly upstream?: { readonly provider: string; readonly model: string };
}

type Problem = { path: string; message: string };

const CACHE_LIMIT = 10_000;
/** A `provider/model` name has one deployment: one retry after a transient failure. */
const DIRECT_RETRY = { ...DEFAULT_RETRY, maxAttempts: 2 };

/**
 * Public model names → routes over deployments. `provider/model` always works for an enabled
 * provider; config adds named models (one deployment or several, with a strategy, retries,
 * fallbacks and timeouts) and aliases on top.
 */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

export class Registry {
  private readonly providers = new Map<string, Model>();
  private readonly anthropicEndpoints = new Map<string, Model>();
  private readonly specs = new Map<string, ProviderSpec>();
  private readonly routes = new Map<string, Route>();
  private readonly aliases = new Map<string, string>();
  private readonly direct = new Map<string, Route>();
  /** Every enabled provider's credentials, kept out of upstream error text, stored bodies and logs. */
  readonly redactor = new Redactor();
  /** Every listed name (see `list()`), built on first use; undefined after a provider changes. */
  private listed: ReadonlySet<string> | undefined;
  /** `provider/model` names the config gives a price (pricing.models). */
  private readonly priced: ReadonlySet<string>;

  /**
   * @param priceOf USD per million tokens (input and output averaged) for the least-cost strategy.
   */
  /** Whether any virtual model is configured (their sub-calls need a request scope). */
  readonly hasVirtualModels: boolean;

  constructor(
    specs: Iterable<ProviderSpec>,
    config: ConfigFile = {},
    private readonly priceOf: (provider: string, model: string) => number | undefined = () => undefined,
    /** How virtual models call their members; required when the config has virtual models. */
    caller?: ModelCaller,
  ) {
    for (const s of specs) this.addProvider(s);
    this.priced = new Set(Object.keys(config.pricing?.models ?? {}));
    const problems: Problem[] = [];
    for (const [name, m] of Object.entries(config.models ?? {})) {
      const route = this.buildRoute(name, m, problems);
      if (route) this.routes.set(name, route);
    }
    const virtual = Object.entries(config.virtualModels ?? {});
    this.hasVirtualModels = virtual.length > 0;
    for (const [name, v] of virtual) {
      if (this.routes.has(name)) {
        problems.push({ path: `virtualModels.${name}`, message: 'a model of this name is already configured under models' });
        continue;
      }
      if (!caller) throw new Error('virtual models need a ModelCaller');
      const model = createVirtualModel(v, caller, { name });
      // The whole fan-out is one attempt: a retry would run every member again.
      this.routes.set(name, { name, deployments: [new Deployment({ id: name, model, upstreamModel: name })], strategy: 'priority', retry: { ...DEFAULT_RETRY, maxAttempts: 1 }, fallbacks: [] });
    }
    for (const [alias, target] of Object.entries(config.aliases ?? {})) this.aliases.set(alias, target);
    for (const [alias, target] of this.aliases) {
      if (!this.lookup(alias, 0)) {
        problems.push({ path: `aliases.${alias}`, message: `target '${target}' is not a model this hub serves (expected a configured model, an alias, or provider/model of an enabled provider)` });
      }
    }
    for (const [name, m] of Object.entries(config.models ?? {})) {
      (m.fallbacks ?? []).forEach((f, i) => {
        const model = typeof f === 'string' ? f : f.model;
        if (!this.lookup(model, 0)) problems.push({ path: `models.${name}.fallbacks[${i}]`, message: `'${model}' is not a model this hub serves` });
      });
    }
    for (const [name, v] of virtual) {
      virtualModelMembers(v).forEach((member) => {
        if (!this.lookup(member, 0)) problems.push({ path: `virtualModels.${name}`, message: `member '${member}' is not a model this hub serves` });
      });
    }
    const cycle = findCycle(new Map(virtual.map(([name, v]) => [name, virtualModelMembers(v)])));
    if (cycle) problems.push({ path: `virtualModels.${cycle[0]}`, message: `virtual models call each other in a loop: ${cycle.join(' → ')}` });
    this.direct.clear();
    if (problems.length) throw new ConfigError(undefined, problems);
  }

  private unknownProviderMessage(id: string): string {
    return `provider '${id}' is not enabled (set its API key variable, or add it under providers)`;
  }

  private buildRoute(name: string, m: ModelConfig, problems: Problem[]): Route | undefined {
    const list = m.deployments ?? [{ provider: m.provider!, model: m.model! }];
    const deployments: Deployment[] = [];
    list.forEach((d, i) => {
      const spec = this.specs.get(d.provider);
      if (!spec) {
        const path = m.deployments ? `models.${name}.deployments[${i}].provider` : `models.${name}.provider`;
        problems.push({ path, message: this.unknownProviderMessage(d.provider) });
        return;
      }
      const t = m.timeouts;
      const model = t && (t.connectMs || t.firstByteMs || t.idleMs) ? createProvider(spec, { ...(t.connectMs && { connectMs: t.connectMs }), ...(t.firstByteMs && { firstByteMs: t.firstByteMs }), ...(t.idleMs && { idleMs: t.idleMs }) }, this.redactor) : this.providers.get(d.provider)!;
      deployments.push(
        new Deployment({
          id: `${d.provider}/${d.model}${list.length > 1 ? `#${i}` : ''}`,
          model,
          anthropic: t && (t.connectMs || t.firstByteMs || t.idleMs) ? createAnthropicEndpoint(spec, { ...(t.connectMs && { connectMs: t.connectMs }), ...(t.firstByteMs && { firstByteMs: t.firstByteMs }), ...(t.idleMs && { idleMs: t.idleMs }) }, this.redactor) : this.anthropicEndpoints.get(d.provider),
          upstreamModel: d.model,
          ...('weight' in d && d.weight !== undefined && { weight: d.weight }),
          ...('priority' in d && d.priority !== undefined && { priority: d.priority }),
          ...('rpm' in d && d.rpm !== undefined && { rpm: d.rpm }),
          ...('tpm' in d && d.tpm !== undefined && { tpm: d.tpm }),
          ...(this.priceOf(d.provider, d.model) !== undefined && { costPerMTokens: this.priceOf(d.provider, d.model) }),
          breaker: { ...DEFAULT_BREAKER, ...m.breaker },
        }),
      );
    });
    if (deployments.length !== list.length) return undefined;
    return {
      name,
      deployments,
      strategy: m.strategy ?? 'priority',
      retry: {
        maxAttempts: (m.retries ?? Math.max(DEFAULT_RETRY.maxAttempts - 1, deployments.length - 1)) + 1,
        baseDelayMs: DEFAULT_RETRY.baseDelayMs,
        maxDelayMs: m.maxRetryDelayMs ?? DEFAULT_RETRY.maxDelayMs,
        budgetMs: m.retryBudgetMs ?? DEFAULT_RETRY.budgetMs,
      },
      fallbacks: (m.fallbacks ?? []).map((f) => (typeof f === 'string' ? { model: f, on: DEFAULT_FALLBACK_ON } : { model: f.model, on: f.on ?? DEFAULT_FALLBACK_ON })),
      ...(m.timeouts?.totalMs !== undefined && { totalTimeoutMs: m.timeouts.totalMs }),
    };
  }

  addProvider(s: ProviderSpec): void {
    this.specs.set(s.id, s);
    this.redactor.addProvider(s);
    this.providers.set(s.id, createProvider(s, {}, this.redactor));
    const native = createAnthropicEndpoint(s, {}, this.redactor);
    if (native) this.anthropicEndpoints.set(s.id, native);
    else this.anthropicEndpoints.delete(s.id);
    this.direct.clear();
    this.listed = undefined;
  }

  /** Serves `id/<model>` names from any Model, e.g. a virtual or test model. */
  addModel(id: string, model: Model): void {
    this.providers.set(id, model);
    this.direct.clear();
    this.listed = undefined;
  }

  providerSpecs(): ProviderSpec[] {
    return [...this.specs.values()];
  }

  /**
   * Resolves a public name; throws a 404 HubError naming close matches, or a 400 for a name
   * longer than any model's. An unknown name is repeated only in part.
   */
  resolve(name: string): Target {
    if (name.length > MAX_MODEL_NAME) {
      throw new HubError('bad_request', `Invalid request: 'model': ${MODEL_NAME_TOO_LONG} (got ${name.length}).`, { param: 'model', code: 'invalid_request' });
    }
    if (CONTROL_CHARS.test(name)) {
      // No real model id has them, and they would end up in headers and logs.
      throw new HubError('bad_request', "Invalid request: 'model': a model name may not contain control characters (CR, LF, NUL, …).", { param: 'model', code: 'invalid_request' });
    }
    const route = this.route(name);
    if (route) return { name, route };
    const matches = closeMatches(name, this.listedNames());
    let hint = matches.length ? ` Did you mean ${matches.map((m) => `'${m}'`).join(', ')}?` : '';
    const preset = PROVIDER_PRESETS.find((p) => name.startsWith(`${p.id}/`));
    if (preset && !this.providers.has(preset.id)) {
      const how = preset.kind === 'cloud' ? `set ${preset.apiKeyEnv.join(' or ')}` : `set ${preset.baseURLEnv}`;
      hint += ` Provider '${preset.id}' (${preset.name}) is not enabled: ${how} and restart the hub.`;
    }
    throw new HubError('not_found', `The model '${shortName(name)}' does not exist.${hint} See GET /v1/models for the models this hub serves.`, {
      code: 'model_not_found',
      param: 'model',
    });
  }

  /** The route for a name, or undefined. Used for fallbacks too. */
  route(name: string): Route | undefined {
    return this.lookup(name, 0);
  }

  private lookup(name: string, depth: number): Route | undefined {
    const alias = this.aliases.get(name);
    if (alias !== undefined && depth < 8) return this.lookup(alias, depth + 1);
    const configured = this.routes.get(name);
    if (configured) return configured;
    const cached = this.direct.get(name);
    if (cached) return cached;
    const slash = name.indexOf('/');
    if (slash <= 0 || slash === name.length - 1) return undefined;
    const provider = this.providers.get(name.slice(0, slash));
    if (!provider) return undefined;
    // Direct routes keep their deployment (and so its circuit and latency) across requests.
    const route: Route = {
      name,
      deployments: [new Deployment({ id: name, model: provider, anthropic: this.anthropicEndpoints.get(name.slice(0, slash)), upstreamModel: name.slice(slash + 1) })],
      strategy: 'priority',
      retry: DIRECT_RETRY,
      fallbacks: [],
    };
    if (this.direct.size >= CACHE_LIMIT) this.direct.clear();
    this.direct.set(name, route);
    return route;
  }

  private listedNames(): ReadonlySet<string> {
    return (this.listed ??= new Set(this.list().map((m) => m.id)));
  }

  /**
   * Whether `name` is one this hub knows by configuration or catalogue: a configured or virtual
   * model, an alias, a listed `provider/model` (the provider's and the catalogue's models), or a
   * `provider/model` the config prices. Any other name a client sends (which `provider/anything`
   * resolves) is not: a bounded set, e.g. for metric labels.
   */
  isKnown(name: string): boolean {
    return this.routes.has(name) || this.aliases.has(name) || this.listedNames().has(name) || this.priced.has(name);
  }

  /** Every name listed in /v1/models: named models, aliases, then each provider's known models. */
  list(): ModelEntry[] {
    const out: ModelEntry[] = [];
    const first = (r: Route) => ({ provider: r.deployments[0]!.provider, model: r.deployments[0]!.upstreamModel });
    for (const [name, r] of this.routes) out.push({ id: name, ownedBy: r.deployments[0]!.provider, kind: 'chat', upstream: first(r) });
    for (const [alias] of this.aliases) {
      const r = this.lookup(alias, 0);
      if (r) out.push({ id: alias, ownedBy: r.deployments[0]!.provider, kind: 'chat', upstream: first(r) });
    }
    const seen = new Set(out.map((m) => m.id));
    const add = (e: ModelEntry) => {
      if (!seen.has(e.id)) out.push(e);
      seen.add(e.id);
    };
    for (const s of this.specs.values()) {
      for (const m of s.models) add({ id: `${s.id}/${m}`, ownedBy: s.id, kind: 'chat', upstream: { provider: s.id, model: m } });
      for (const m of s.embeddingModels) add({ id: `${s.id}/${m}`, ownedBy: s.id, kind: 'embedding', upstream: { provider: s.id, model: m } });
      for (const e of CATALOG) if (e.providers.includes(s.id)) add({ id: `${s.id}/${e.id}`, ownedBy: s.id, kind: 'chat', upstream: { provider: s.id, model: e.id } });
    }
    return out;
  }

  /** Every deployment of every configured model, and of direct names used so far, for health reports. */
  deployments(): { model: string; deployment: Deployment }[] {
    const out: { model: string; deployment: Deployment }[] = [];
    for (const [name, r] of this.routes) for (const d of r.deployments) out.push({ model: name, deployment: d });
    for (const [name, r] of this.direct) for (const d of r.deployments) out.push({ model: name, deployment: d });
    return out;
  }
}
