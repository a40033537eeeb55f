import type { PriceTier, PriceUSD } from '../usage/cost.js';
import { packageModel } from './package.js';

export interface ListedPrice {
  readonly currency: 'USD' | 'CNY';
  readonly input: number;
  readonly output: number;
  readonly cachedInput?: number;
  readonly cacheWrite?: number;
  /** Long-prompt tiers, in the same currency. */
  readonly tiers?: readonly PriceTier[];
}

/** What the price book needs of a catalog entry. */
export interface PricedModel {
  readonly id: string;
  readonly providers: readonly string[];
  readonly price: ListedPrice;
  readonly maxOutput?: number;
  readonly contextWindow?: number;
}

/** The default CNY→USD rate; set `pricing.cnyPerUsd` in the config to follow the market. */
export const DEFAULT_CNY_PER_USD = 7.1;

/** Where a price came from. */
export type PriceSource = 'config' | 'catalog' | 'package';

export interface PriceBookOptions {
  /**
   * Whether a key or team with a budget may call a model that has no known price (it then costs
   * nothing against the budget): `true` for every model, or a list of model names and `prefix/*`
   * patterns. Default: no model.
   */
  readonly allowUnpriced?: boolean | readonly string[];
  /** The maintained data package; off only in tests of the hub's own table. */
  readonly usePackage?: boolean;
  readonly now?: () => number;
}

interface Known {
  readonly price: PriceUSD | undefined;
  readonly source: PriceSource | undefined;
  readonly contextWindow: number | undefined;
  /** Unix ms after which the entry is looked up again (time-of-day prices); Infinity = never. */
  readonly until: number;
}

/** Looked-up names kept at most; names beyond it are looked up each time (they are bounded by the registry anyway). */
const MAX_CACHED = 10_000;

/**
 * Prices in USD per million tokens for `provider` + upstream model, in this order: config
 * overrides (`provider/model` keys), the hub's own CNY prices (Chinese providers bill in CNY,
 * converted at `cnyPerUsd`), the maintained data package `@pydantic/genai-prices`, and last the
 * hub's own USD entries for models the package does not know yet. An unknown price is undefined:
 * a key or team with a budget may not call such a model unless `allowUnpriced` says so.
 */
export class PriceBook {
  private readonly config = new Map<string, PriceUSD>();
  private readonly cny = new Map<string, PriceUSD>();
  private readonly usd = new Map<string, PriceUSD>();
  private readonly limits = new Map<string, { maxOutput: number | undefined; contextWindow: number | undefined }>();
  private readonly known = new Map<string, Known>();
  private readonly allowAll: boolean;
  private readonly allowList: readonly string[];
  private readonly usePackage: boolean;
  private readonly now: () => number;

  constructor(
    entries: readonly PricedModel[],
    overrides: Readonly<Record<string, ListedPrice>>,
    private readonly cnyPerUsd: number = DEFAULT_CNY_PER_USD,
    o: PriceBookOptions = {},
  ) {
    for (const e of entries) {
      for (const p of e.providers) {
        const key = `${p}/${e.id}`;
        (e.price.currency === 'CNY' ? this.cny : this.usd).set(key, this.toUsd(e.price));
        this.limits.set(key, { maxOutput: e.maxOutput, contextWindow: e.contextWindow });
      }
    }
    for (const [key, price] of Object.entries(overrides)) this.config.set(key, this.toUsd(price));
    this.allowAll = o.allowUnpriced === true;
    this.allowList = Array.isArray(o.allowUnpriced) ? o.allowUnpriced : [];
    this.usePackage = o.usePackage ?? true;
    this.now = o.now ?? Date.now;
  }

  private toUsd(p: ListedPrice): PriceUSD {
    const f = p.currency === 'CNY' ? 1 / this.cnyPerUsd : 1;
    const scale = <T extends Omit<PriceUSD, 'tiers'>>(x: T) => ({
      input: x.input * f,
      output: x.output * f,
      ...(x.cachedInput !== undefined && { cachedInput: x.cachedInput * f }),
      ...(x.cacheWrite !== undefined && { cacheWrite: x.cacheWrite * f }),
    });
    return { ...scale(p), ...(p.tiers?.length && { tiers: p.tiers.map((t) => ({ above: t.above, ...scale(t) })) }) };
  }

  private lookup(provider: string, model: string): Known {
    const key = `${provider}/${model}`;
    const now = this.now();
    const hit = this.known.get(key);
    if (hit && hit.until > now) return hit;
    const pkg = this.usePackage && !this.config.has(key) && !this.cny.has(key) ? packageModel(provider, model, new Date(now)) : undefined;
    const [price, source]: [PriceUSD | undefined, PriceSource | undefined] = this.config.has(key)
      ? [this.config.get(key), 'config']
      : this.cny.has(key)
        ? [this.cny.get(key), 'catalog']
        : pkg
          ? [this.toUsd(pkg.price), 'package']
          : this.usd.has(key)
            ? [this.usd.get(key), 'catalog']
            : [undefined, undefined];
    const known: Known = {
      price,
      source,
      contextWindow: this.limits.get(key)?.contextWindow ?? pkg?.contextWindow,
      until: pkg?.changes ? now + 60_000 : Infinity,
    };
    if (this.known.size < MAX_CACHED || this.known.has(key)) this.known.set(key, known);
    return known;
  }

  price(provider: string, model: string): PriceUSD | undefined {
    return this.lookup(provider, model).price;
  }

  /** Where the price of `provider/model` comes from; undefined when it has none. */
  source(provider: string, model: string): PriceSource | undefined {
    return this.lookup(provider, model).source;
  }

  /** The model's output limit, where the hub's catalog records it. */
  maxOutput(provider: string, model: string): number | undefined {
    return this.limits.get(`${provider}/${model}`)?.maxOutput;
  }

  /** The model's context window (prompt + output), from the catalog or the data package. */
  contextWindow(provider: string, model: string): number | undefined {
    return this.lookup(provider, model).contextWindow;
  }

  /** Whether the config lets a budgeted key or team call `model` (the client's name) or `provider/upstream` without a price. */
  unpricedAllowed(model: string, provider: string, upstreamModel: string): boolean {
    if (this.allowAll) return true;
    const names = [model, `${provider}/${upstreamModel}`];
    return this.allowList.some((p) => names.some((n) => (p.endsWith('*') ? n.startsWith(p.slice(0, -1)) : p === n)));
  }
}
