/**
 * Prices and context windows from `@pydantic/genai-prices`, a maintained data package (MIT) whose
 * price table ships inside it: nothing is downloaded at install or run time (its `updatePrices`
 * auto-update is never called here). The hub's own table (src/catalog/models.ts) adds what the
 * package does not know, chiefly CNY prices of Chinese providers, and config overrides both.
 */
import { calcPrice } from '@pydantic/genai-prices';
import type { ModelPrice } from '@pydantic/genai-prices';
import type { ListedPrice } from './prices.js';

/** Hub preset id → the package's provider id, for the presets the package prices. */
export const PACKAGE_PROVIDERS: Readonly<Record<string, string>> = {
  openai: 'openai',
  anthropic: 'anthropic',
  gemini: 'google',
  deepseek: 'deepseek',
  kimi: 'moonshotai',
  minimax: 'minimax',
  openrouter: 'openrouter',
};

export interface PackageModel {
  readonly price: ListedPrice;
  readonly contextWindow: number | undefined;
  /** The price depends on the time of day (e.g. DeepSeek's off-peak discount): look it up again later. */
  readonly changes: boolean;
}

type Field = ModelPrice[string];

/** The value of a possibly tiered price field for a prompt of more than `above` tokens. */
function at(f: Field, above: number): number | undefined {
  if (f === undefined) return undefined;
  if (typeof f === 'number') return f;
  let v = f.base;
  for (const t of f.tiers) if (above >= t.start) v = t.price;
  return v;
}

function listed(mp: ModelPrice): ListedPrice | undefined {
  const { input_mtok: input, output_mtok: output, cache_read_mtok: cached, cache_write_mtok: write } = mp;
  // Models billed per image, per second or per request only are not token-priced: leave them unpriced.
  if (input === undefined) return undefined;
  const starts = new Set<number>();
  for (const f of [input, output, cached, write]) if (f !== undefined && typeof f !== 'number') for (const t of f.tiers) starts.add(t.start);
  const base = (above: number) => ({
    input: at(input, above) ?? 0,
    output: at(output, above) ?? 0,
    ...(cached !== undefined && { cachedInput: at(cached, above)! }),
    ...(write !== undefined && { cacheWrite: at(write, above)! }),
  });
  const tiers = [...starts].sort((a, b) => a - b).map((s) => ({ above: s, ...base(s) }));
  return { currency: 'USD', ...base(-1), ...(tiers.length > 0 && { tiers }) };
}

/** What the package knows of `model` on the hub's `provider`, at `now`; undefined when it has no token price. */
export function packageModel(provider: string, model: string, now: Date = new Date()): PackageModel | undefined {
  const providerId = PACKAGE_PROVIDERS[provider];
  if (!providerId) return undefined;
  let r: ReturnType<typeof calcPrice>;
  try {
    r = calcPrice({ input_tokens: 0, output_tokens: 0 }, model, { providerId, timestamp: now });
  } catch {
    return undefined;
  }
  if (!r) return undefined;
  const price = listed(r.model_price);
  if (!price) return undefined;
  const changes = Array.isArray(r.model.prices) && r.model.prices.some((c) => c.constraint?.type === 'time_of_date');
  return { price, contextWindow: r.model.context_window, changes };
}
