import { PROVIDER_PRESETS } from '../catalog/presets.js';
import type { ProviderSpec } from '../catalog/providers.js';
import type { ConfigFile } from '../config/schema.js';
import { ConfigError } from '../config/load.js';
import { HubError } from '../core/errors.js';
import type { Model } from '../core/model.js';
import { OpenAICompatibleProvider } from '../providers/openai-compatible/provider.js';
import { closeMatches } from './suggest.js';

/** Where a public model name leads. */
export interface Target {
  /** The name the client asked for. */
  readonly name: string;
  /** What answers: a provider (its `provider` is the id) or any other Model. */
  readonly model: Model;
  /** The upstream's own name for the model. */
  readonly upstreamModel: string;
}

export interface ModelEntry {
  readonly id: string;
  readonly ownedBy: string;
  readonly kind: 'chat' | 'embedding';
}

const CACHE_LIMIT = 10_000;

/**
 * Public model names → provider and upstream model. `provider/model` always works for an enabled
 * provider; config adds named models and aliases on top.
 */
export class Registry {
  private readonly providers = new Map<string, Model>();
  private readonly specs = new Map<string, ProviderSpec>();
  private readonly named = new Map<string, { provider: string; model: string }>();
  private readonly aliases = new Map<string, string>();
  private readonly cache = new Map<string, Target>();

  constructor(specs: Iterable<ProviderSpec>, config: ConfigFile = {}) {
    for (const s of specs) this.addProvider(s);
    const problems: { path: string; message: string }[] = [];
    for (const [name, m] of Object.entries(config.models ?? {})) {
      if (!this.providers.has(m.provider)) {
        problems.push({ path: `models.${name}.provider`, message: this.unknownProviderMessage(m.provider) });
      }
      this.named.set(name, m);
    }
    for (const [alias, target] of Object.entries(config.aliases ?? {})) this.aliases.set(alias, target);
    for (const [alias, target] of this.aliases) {
      if (!this.lookup(alias, 0)) {
        problems.push({ path: `aliases.${alias}`, message: `target '${target}' is not a model this hub serves (expected a configured model, an alias, or provider/model of an enabled provider)` });
      }
    }
    this.cache.clear();
    if (problems.length) throw new ConfigError(undefined, problems);
  }

  private unknownProviderMessage(id: string): string {
    return `provider '${id}' is not enabled (set its API key variable, or add it under providers)`;
  }

  addProvider(s: ProviderSpec): void {
    this.specs.set(s.id, s);
    this.providers.set(
      s.id,
      new OpenAICompatibleProvider({
        id: s.id,
        baseURL: s.baseURL,
        ...(s.apiKey !== undefined && { apiKey: s.apiKey }),
        headers: s.headers,
        timeouts: { firstByteMs: s.firstByteTimeoutMs, idleMs: s.idleTimeoutMs },
        maxTokensField: s.maxTokensField,
      }),
    );
    this.cache.clear();
  }

  /** Serves `id/<model>` names from any Model, e.g. a virtual or test model. */
  addModel(id: string, model: Model): void {
    this.providers.set(id, model);
    this.cache.clear();
  }

  providerSpecs(): ProviderSpec[] {
    return [...this.specs.values()];
  }

  /** Resolves a public name; throws a 404 HubError naming close matches. */
  resolve(name: string): Target {
    const hit = this.cache.get(name);
    if (hit) return hit;
    const target = this.lookup(name, 0);
    if (!target) {
      const matches = closeMatches(name, this.list().map((m) => m.id));
      let hint = matches.length ? ` Did you mean ${matches.map((m) => `'${m}'`).join(', ')}?` : '';
      const preset = PROVIDER_PRESETS.find((p) => name.startsWith(`${p.id}/`));
      if (preset && !this.providers.has(preset.id)) {
        const how = preset.kind === 'cloud' ? `set ${preset.apiKeyEnv.join(' or ')}` : `set ${preset.baseURLEnv}`;
        hint += ` Provider '${preset.id}' (${preset.name}) is not enabled: ${how} and restart the hub.`;
      }
      throw new HubError('not_found', `The model '${name}' does not exist.${hint} See GET /v1/models for the models this hub serves.`, {
        code: 'model_not_found',
        param: 'model',
      });
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(name, target);
    return target;
  }

  private lookup(name: string, depth: number): Target | undefined {
    const alias = this.aliases.get(name);
    if (alias !== undefined && depth < 8) {
      const t = this.lookup(alias, depth + 1);
      return t && { ...t, name };
    }
    const named = this.named.get(name);
    if (named) {
      const provider = this.providers.get(named.provider);
      return provider && { name, model: provider, upstreamModel: named.model };
    }
    const slash = name.indexOf('/');
    if (slash > 0 && slash < name.length - 1) {
      const provider = this.providers.get(name.slice(0, slash));
      if (provider) return { name, model: provider, upstreamModel: name.slice(slash + 1) };
    }
    return undefined;
  }

  /** Every name listed in /v1/models: named models, aliases, then each provider's known models. */
  list(): ModelEntry[] {
    const out: ModelEntry[] = [];
    for (const [name, m] of this.named) out.push({ id: name, ownedBy: m.provider, kind: 'chat' });
    for (const [alias] of this.aliases) {
      const t = this.lookup(alias, 0);
      if (t) out.push({ id: alias, ownedBy: t.model.provider, kind: 'chat' });
    }
    for (const s of this.specs.values()) {
      for (const m of s.models) out.push({ id: `${s.id}/${m}`, ownedBy: s.id, kind: 'chat' });
      for (const m of s.embeddingModels) out.push({ id: `${s.id}/${m}`, ownedBy: s.id, kind: 'embedding' });
    }
    return out;
  }
}
