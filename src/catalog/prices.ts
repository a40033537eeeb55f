import type { PriceUSD } from '../usage/cost.js';

export interface ListedPrice {
  readonly currency: 'USD' | 'CNY';
  readonly input: number;
  readonly output: number;
  readonly cachedInput?: number;
  readonly cacheWrite?: number;
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

/**
 * Prices in USD per million tokens for `provider` + upstream model: config overrides first
 * (`provider/model` keys), then the built-in catalog. CNY prices are converted at `cnyPerUsd`.
 * An unknown price is undefined: such requests are recorded with no cost and consume no budget.
 */
export class PriceBook {
  private readonly byKey = new Map<string, { price: PriceUSD; maxOutput: number | undefined }>();

  constructor(
    entries: readonly PricedModel[],
    overrides: Readonly<Record<string, ListedPrice>>,
    private readonly cnyPerUsd: number = DEFAULT_CNY_PER_USD,
  ) {
    for (const e of entries) for (const p of e.providers) this.byKey.set(`${p}/${e.id}`, { price: this.usd(e.price), maxOutput: e.maxOutput });
    for (const [key, price] of Object.entries(overrides)) this.byKey.set(key, { price: this.usd(price), maxOutput: this.byKey.get(key)?.maxOutput });
  }

  private usd(p: ListedPrice): PriceUSD {
    const f = p.currency === 'CNY' ? 1 / this.cnyPerUsd : 1;
    return {
      input: p.input * f,
      output: p.output * f,
      ...(p.cachedInput !== undefined && { cachedInput: p.cachedInput * f }),
      ...(p.cacheWrite !== undefined && { cacheWrite: p.cacheWrite * f }),
    };
  }

  price(provider: string, model: string): PriceUSD | undefined {
    return this.byKey.get(`${provider}/${model}`)?.price;
  }

  maxOutput(provider: string, model: string): number | undefined {
    return this.byKey.get(`${provider}/${model}`)?.maxOutput;
  }
}
