/**
 * Start-up assembly, shared by `baimo serve` and the CLI: from the config file and the
 * environment, the enabled providers (config + presets + env, and Ollama when it answers), their
 * Models, the price book, each configured model's route, the virtual models and the aliases,
 * checked against each other and handed to the Registry as a finished table.
 */
import { CATALOG } from '../catalog/models.js';
import { PROVIDER_PRESETS } from '../catalog/presets.js';
import { PriceBook } from '../catalog/prices.js';
import { detectOllama, resolveProviders } from '../catalog/providers.js';
import type { ProviderSpec } from '../catalog/providers.js';
import { ConfigError } from '../config/load.js';
import type { ConfigFile, ModelConfig } from '../config/schema.js';
import type { Model } from '../core/model.js';
import { Redactor } from '../core/redact.js';
import { bindableVirtualModel, virtualModelMembers } from '../ensemble/index.js';
import { createAnthropicEndpoint, createProvider } from '../providers/create.js';
import { DEFAULT_BREAKER } from '../routing/breaker.js';
import { Deployment } from '../routing/deployment.js';
import { Registry } from '../routing/registry.js';
import type { ModelEntry, Upstream } from '../routing/registry.js';
import { DEFAULT_FALLBACK_ON, DEFAULT_RETRY } from '../routing/router.js';
import type { Route } from '../routing/router.js';

type Env = Readonly<Record<string, string | undefined>>;
type Problem = { path: string; message: string };

/** What start-up builds before anything listens. */
export interface Assembly {
  readonly registry: Registry;
  readonly prices: PriceBook;
  /** The enabled providers. */
  readonly providers: readonly ProviderSpec[];
  /** Every enabled provider's credentials (the registry's too), for logs and stored bodies. */
  readonly redactor: Redactor;
}

export interface AssembleOptions {
  /** Look for Ollama on its default port when no local provider is configured. Default true. */
  readonly detectOllama?: boolean;
}

/** Everything between a loaded config and a Registry; throws ConfigError naming every problem. */
export async function assemble(config: ConfigFile, env: Env, o: AssembleOptions = {}): Promise<Assembly> {
  const specs = resolveProviders(config, env);
  if (o.detectOllama !== false && !specs.has('ollama')) {
    const ollama = await detectOllama(env);
    if (ollama) specs.set('ollama', ollama);
  }
  return assembleFrom(config, specs.values());
}

/** `assemble` for providers already resolved (no environment, no detection). */
export function assembleFrom(config: ConfigFile, specs: Iterable<ProviderSpec>): Assembly {
  const providers = [...specs];
  const prices = new PriceBook(CATALOG, config.pricing?.models ?? {}, config.pricing?.cnyPerUsd, { allowUnpriced: config.pricing?.allowUnpriced ?? false });
  const priceOf = (provider: string, model: string): number | undefined => {
    const p = prices.price(provider, model);
    return p && (p.input + p.output) / 2;
  };
  const redactor = new Redactor();
  const byId = new Map<string, ProviderSpec>();
  const upstreams = new Map<string, Upstream>();
  for (const s of providers) {
    byId.set(s.id, s);
    redactor.addProvider(s);
    upstreams.set(s.id, { model: createProvider(s, {}, redactor), anthropic: createAnthropicEndpoint(s, {}, redactor) });
  }

  const problems: Problem[] = [];
  const routes = new Map<string, Route>();
  for (const [name, m] of Object.entries(config.models ?? {})) {
    const route = buildRoute(name, m, byId, upstreams, redactor, priceOf, problems);
    if (route) routes.set(name, route);
  }
  const virtual = Object.entries(config.virtualModels ?? {});
  // Virtual models call their members through the gateway (routing, limits, accounting): the
  // gateway binds each to the call it serves (see gateway/dispatch.ts).
  for (const [name, v] of virtual) {
    if (routes.has(name)) {
      problems.push({ path: `virtualModels.${name}`, message: 'a model of this name is already configured under models' });
      continue;
    }
    routes.set(name, virtualRoute(name, bindableVirtualModel(v, { name })));
  }
  const aliases = new Map(Object.entries(config.aliases ?? {}));
  const registry = new Registry({
    routes,
    aliases,
    upstreams,
    providerModels: providerModels(providers),
    priced: new Set(Object.keys(config.pricing?.models ?? {})),
    notEnabled: new Map(PROVIDER_PRESETS.map((p) => [p.id, ` Provider '${p.id}' (${p.name}) is not enabled: ${p.kind === 'cloud' ? `set ${p.apiKeyEnv.join(' or ')}` : `set ${p.baseURLEnv}`} and restart the hub.`])),
    redactor,
    hasVirtualModels: virtual.length > 0,
  });

  for (const [alias, target] of aliases) {
    if (!registry.serves(alias)) {
      problems.push({ path: `aliases.${alias}`, message: `target '${target}' is not a model this hub serves (expected a configured model, an alias, or provider/model of an enabled provider)` });
    }
  }
  for (const [name, m] of Object.entries(config.models ?? {})) {
    (m.fallbacks ?? []).forEach((f, i) => {
      const model = typeof f === 'string' ? f : f.model;
      if (!registry.serves(model)) problems.push({ path: `models.${name}.fallbacks[${i}]`, message: `'${model}' is not a model this hub serves` });
    });
  }
  for (const [name, v] of virtual) {
    for (const member of virtualModelMembers(v)) {
      if (!registry.serves(member)) problems.push({ path: `virtualModels.${name}`, message: `member '${member}' is not a model this hub serves` });
    }
  }
  const cycle = findCycle(new Map(virtual.map(([name, v]) => [name, virtualModelMembers(v)])));
  if (cycle) problems.push({ path: `virtualModels.${cycle[0]}`, message: `virtual models call each other in a loop: ${cycle.join(' → ')}` });
  if (problems.length) throw new ConfigError(undefined, problems);
  return { registry, prices, providers, redactor };
}

function unknownProviderMessage(id: string): string {
  return `provider '${id}' is not enabled (set its API key variable, or add it under providers)`;
}

/** A configured model's route over its deployments, or undefined (with the problems) when a provider is not enabled. */
function buildRoute(
  name: string,
  m: ModelConfig,
  specs: ReadonlyMap<string, ProviderSpec>,
  upstreams: ReadonlyMap<string, Upstream>,
  redactor: Redactor,
  priceOf: (provider: string, model: string) => number | undefined,
  problems: Problem[],
): Route | undefined {
  const list = m.deployments ?? [{ provider: m.provider!, model: m.model! }];
  const t = m.timeouts;
  // Timeouts of its own give the model provider instances of its own.
  const own = t && (t.connectMs || t.firstByteMs || t.idleMs) ? { ...(t.connectMs && { connectMs: t.connectMs }), ...(t.firstByteMs && { firstByteMs: t.firstByteMs }), ...(t.idleMs && { idleMs: t.idleMs }) } : undefined;
  const deployments: Deployment[] = [];
  list.forEach((d, i) => {
    const spec = specs.get(d.provider);
    if (!spec) {
      const path = m.deployments ? `models.${name}.deployments[${i}].provider` : `models.${name}.provider`;
      problems.push({ path, message: unknownProviderMessage(d.provider) });
      return;
    }
    const shared = upstreams.get(d.provider)!;
    const cost = priceOf(d.provider, d.model);
    deployments.push(
      new Deployment({
        id: `${d.provider}/${d.model}${list.length > 1 ? `#${i}` : ''}`,
        model: own ? createProvider(spec, own, redactor) : shared.model,
        anthropic: own ? createAnthropicEndpoint(spec, own, redactor) : shared.anthropic,
        upstreamModel: d.model,
        ...('weight' in d && d.weight !== undefined && { weight: d.weight }),
        ...('priority' in d && d.priority !== undefined && { priority: d.priority }),
        ...('rpm' in d && d.rpm !== undefined && { rpm: d.rpm }),
        ...('tpm' in d && d.tpm !== undefined && { tpm: d.tpm }),
        ...(cost !== undefined && { costPerMTokens: cost }),
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

/** A virtual model's route: one deployment, one attempt (a retry would run every member again). */
function virtualRoute(name: string, model: Model): Route {
  return { name, deployments: [new Deployment({ id: name, model, upstreamModel: name })], strategy: 'priority', retry: { ...DEFAULT_RETRY, maxAttempts: 1 }, fallbacks: [] };
}

/** Each provider's own chat and embedding models, then the catalogue's models it serves. */
function providerModels(specs: readonly ProviderSpec[]): ModelEntry[] {
  const out: ModelEntry[] = [];
  for (const s of specs) {
    for (const m of s.models) out.push({ id: `${s.id}/${m}`, ownedBy: s.id, kind: 'chat', upstream: { provider: s.id, model: m } });
    for (const m of s.embeddingModels) out.push({ id: `${s.id}/${m}`, ownedBy: s.id, kind: 'embedding', upstream: { provider: s.id, model: m } });
    for (const e of CATALOG) if (e.providers.includes(s.id)) out.push({ id: `${s.id}/${e.id}`, ownedBy: s.id, kind: 'chat', upstream: { provider: s.id, model: e.id } });
  }
  return out;
}

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
