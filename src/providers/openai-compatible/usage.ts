import type { Usage } from '../../core/types.js';
import type { WireUsage } from './wire.js';

/** Reads usage in any OpenAI-compatible dialect into canonical form. */
export function usageFromWire(u: WireUsage): Usage {
  const cached = u.prompt_tokens_details?.cached_tokens ?? u.prompt_cache_hit_tokens ?? u.cached_tokens;
  const cacheWrite = u.prompt_tokens_details?.cache_write_tokens;
  const reasoning = u.completion_tokens_details?.reasoning_tokens;
  const input = u.prompt_tokens ?? (u.prompt_cache_hit_tokens ?? 0) + (u.prompt_cache_miss_tokens ?? 0);
  return {
    inputTokens: input,
    outputTokens: u.completion_tokens ?? Math.max(0, (u.total_tokens ?? 0) - input),
    ...(cached !== undefined && { cachedInputTokens: cached }),
    ...(cacheWrite !== undefined && { cacheWriteTokens: cacheWrite }),
    ...(reasoning !== undefined && { reasoningTokens: reasoning }),
  };
}

/**
 * Whether a usage object already carries its cached and reasoning counts where OpenAI clients
 * look for them, so the hub can forward the upstream's bytes untouched.
 */
export function isNormalWireUsage(u: WireUsage): boolean {
  const cachedElsewhere = u.prompt_cache_hit_tokens !== undefined || u.cached_tokens !== undefined;
  return !cachedElsewhere || u.prompt_tokens_details?.cached_tokens !== undefined;
}

/** Rewrites a usage object so that OpenAI clients find every count in its documented place. */
export function normalizeWireUsage(u: WireUsage): WireUsage {
  const c = usageFromWire(u);
  return {
    ...u,
    prompt_tokens: c.inputTokens,
    completion_tokens: c.outputTokens,
    total_tokens: u.total_tokens ?? c.inputTokens + c.outputTokens,
    prompt_tokens_details: { ...u.prompt_tokens_details, cached_tokens: c.cachedInputTokens ?? 0 },
    ...(c.reasoningTokens !== undefined && {
      completion_tokens_details: { ...u.completion_tokens_details, reasoning_tokens: c.reasoningTokens },
    }),
  };
}
