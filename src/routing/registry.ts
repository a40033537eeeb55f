import { HubError } from '../core/errors.js';
import type { Model } from '../core/model.js';
import type { Redactor } from '../core/redact.js';
import { Deployment } from './deployment.js';
import { DEFAULT_RETRY } from './router.js';
import type { Route } from './router.js';
import { closeMatches } from './suggest.js';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG, shortName } from '../core/model-name.js';

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

/** What serves a provider's `provider/<model>` names: its Model, and its Anthropic-format endpoint if it has one. */
export interface Upstream {
  readonly model: Model;
  readonly anthropic?: Model | undefined;
}

/** Everything a Registry serves, built by `server/assemble.ts`. */
export interface RouteTable {
  /** Configured and virtual models by name, in config order. */
  readonly routes: ReadonlyMap<string, Route>;
  /** Alias → target name (a model, another alias or `provider/model`). */
  readonly aliases: ReadonlyMap<string, string>;
  /** Enabled providers by id: each serves `id/<any model>` on demand. */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** The providers' own and catalogued models, listed after named models and aliases. */
  readonly providerModels: readonly ModelEntry[];
  /** `provider/model` names the config gives a price (pricing.models). */
  readonly priced: ReadonlySet<string>;
  /**
   * For a name under a provider that is not enabled (`<prefix>/…`, in this order), what to add to
   * the not-found message: how to enable it.
   */
  readonly notEnabled: ReadonlyMap<string, string>;
  /** Every enabled provider's credentials, kept out of upstream error text, stored bodies and logs. */
  readonly redactor: Redactor;
  /** Whether any virtual model is configured (their sub-calls need a request scope). */
  readonly hasVirtualModels: boolean;
}

const CACHE_LIMIT = 10_000;
/** A `provider/model` name has one deployment: one retry after a transient failure. */
const DIRECT_RETRY = { ...DEFAULT_RETRY, maxAttempts: 2 };

const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Public model names → routes over deployments: a plain table, built elsewhere (server/assemble.ts).
 * `provider/model` always works for an enabled provider (its route is made on first use and kept);
 * named models (one deployment or several, with a strategy, retries, fallbacks and timeouts),
 * virtual models and aliases come from the table.
 */
export class Registry {
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly aliases: ReadonlyMap<string, string>;
  private readonly upstreams: Map<string, Upstream>;
  private readonly providerModels: readonly ModelEntry[];
  private readonly priced: ReadonlySet<string>;
  private readonly notEnabled: ReadonlyMap<string, string>;
  private readonly direct = new Map<string, Route>();
  /** Every listed name (see `list()`), built on first use; undefined after a provider changes. */
  private listed: ReadonlySet<string> | undefined;
  /** Every enabled provider's credentials, kept out of upstream error text, stored bodies and logs. */
  readonly redactor: Redactor;
  /** Whether any virtual model is configured (their sub-calls need a request scope). */
  readonly hasVirtualModels: boolean;

  constructor(table: RouteTable) {
    this.routes = table.routes;
    this.aliases = table.aliases;
    this.upstreams = new Map(table.upstreams);
    this.providerModels = table.providerModels;
    this.priced = table.priced;
    this.notEnabled = table.notEnabled;
    this.redactor = table.redactor;
    this.hasVirtualModels = table.hasVirtualModels;
  }

  /** Serves `id/<model>` names from any Model, e.g. a virtual or test model. */
  addModel(id: string, model: Model): void {
    this.upstreams.set(id, { model, anthropic: this.upstreams.get(id)?.anthropic });
    this.direct.clear();
    this.listed = undefined;
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
    for (const [id, how] of this.notEnabled) {
      if (!name.startsWith(`${id}/`)) continue;
      if (!this.upstreams.has(id)) hint += how;
      break;
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

  /** Whether `route(name)` would find a route, without making or keeping a direct route for it. */
  serves(name: string): boolean {
    return this.leadsSomewhere(name, 0);
  }

  private leadsSomewhere(name: string, depth: number): boolean {
    const alias = this.aliases.get(name);
    if (alias !== undefined && depth < 8) return this.leadsSomewhere(alias, depth + 1);
    if (this.routes.has(name) || this.direct.has(name)) return true;
    const slash = name.indexOf('/');
    return slash > 0 && slash < name.length - 1 && this.upstreams.has(name.slice(0, slash));
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
    const upstream = this.upstreams.get(name.slice(0, slash));
    if (!upstream) return undefined;
    // Direct routes keep their deployment (and so its circuit and latency) across requests.
    const route: Route = {
      name,
      deployments: [new Deployment({ id: name, model: upstream.model, anthropic: upstream.anthropic, upstreamModel: name.slice(slash + 1) })],
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
    for (const e of this.providerModels) {
      if (!seen.has(e.id)) out.push(e);
      seen.add(e.id);
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
