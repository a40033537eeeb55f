import type { Usage } from '../core/types.js';

/** USD per million tokens. */
export interface PriceUSD {
  readonly input: number;
  readonly output: number;
  /** Prompt tokens served from cache; default: the input price. */
  readonly cachedInput?: number;
  /** Prompt tokens written to cache; default: the input price. */
  readonly cacheWrite?: number;
}

/**
 * What a response cost. Cached and cache-write tokens are priced at their own rates, never as
 * fresh input; reasoning tokens are output tokens and priced as such.
 */
export function costUsd(u: Usage, p: PriceUSD): number {
  const cached = u.cachedInputTokens ?? 0;
  const written = u.cacheWriteTokens ?? 0;
  const fresh = Math.max(0, u.inputTokens - cached - written);
  return (fresh * p.input + cached * (p.cachedInput ?? p.input) + written * (p.cacheWrite ?? p.input) + u.outputTokens * p.output) / 1e6;
}

/** The most a request can cost: every prompt token fresh, every allowed output token spent. */
export function worstCaseUsd(promptTokens: number, maxOutputTokens: number, p: PriceUSD): number {
  return (promptTokens * Math.max(p.input, p.cacheWrite ?? 0) + maxOutputTokens * p.output) / 1e6;
}
