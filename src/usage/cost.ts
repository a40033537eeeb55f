import type { Usage } from '../core/types.js';

/** Prices that apply instead of the base ones once a request's prompt is longer than `above` tokens. */
export interface PriceTier {
  readonly above: number;
  readonly input: number;
  readonly output: number;
  readonly cachedInput?: number;
  readonly cacheWrite?: number;
}

/** USD per million tokens. */
export interface PriceUSD {
  readonly input: number;
  readonly output: number;
  /** Prompt tokens served from cache; default: the input price. */
  readonly cachedInput?: number;
  /** Prompt tokens written to cache; default: the input price. */
  readonly cacheWrite?: number;
  /** Long-prompt tiers (e.g. Gemini and Claude above 200k prompt tokens), ascending by `above`. */
  readonly tiers?: readonly PriceTier[];
}

/** The prices that apply to a prompt of `promptTokens` tokens (tiers bill the whole request). */
export function priceAt(p: PriceUSD, promptTokens: number): PriceUSD {
  let at: PriceUSD = p;
  for (const t of p.tiers ?? []) if (promptTokens > t.above) at = t;
  return at;
}

/**
 * What a response cost. Cached and cache-write tokens are priced at their own rates, never as
 * fresh input; reasoning tokens are output tokens and priced as such.
 */
export function costUsd(u: Usage, price: PriceUSD): number {
  const p = priceAt(price, u.inputTokens);
  const cached = u.cachedInputTokens ?? 0;
  const written = u.cacheWriteTokens ?? 0;
  const fresh = Math.max(0, u.inputTokens - cached - written);
  return (fresh * p.input + cached * (p.cachedInput ?? p.input) + written * (p.cacheWrite ?? p.input) + u.outputTokens * p.output) / 1e6;
}

/**
 * The most a request can cost: every prompt token fresh (or written to cache, if dearer), every
 * allowed output token spent, at the tier its prompt bound falls in (tiers only rise).
 */
export function worstCaseUsd(promptTokens: number, maxOutputTokens: number, price: PriceUSD): number {
  const p = priceAt(price, promptTokens);
  return (promptTokens * worstInputPrice(p) + maxOutputTokens * p.output) / 1e6;
}

/** The dearest a prompt token can be at these prices. */
export function worstInputPrice(p: PriceUSD): number {
  return Math.max(p.input, p.cacheWrite ?? 0);
}
