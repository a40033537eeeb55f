import type { Usage } from '../../core/types.js';
import type { AnthropicUsage } from './wire.js';

/**
 * Anthropic usage → canonical. Anthropic's three input counts are disjoint
 * (`total_input_tokens = cache_read_input_tokens + cache_creation_input_tokens + input_tokens`,
 * rate-limits and prompt-caching docs); canonical `inputTokens` is that total, with the cache
 * reads and writes reported again as subsets of it.
 */
export function usageFromAnthropic(u: AnthropicUsage): Usage {
  const plain = u.input_tokens ?? 0;
  const write = u.cache_creation_input_tokens ?? undefined;
  const read = u.cache_read_input_tokens ?? undefined;
  const thinking = u.output_tokens_details?.thinking_tokens ?? undefined;
  return {
    inputTokens: plain + (write ?? 0) + (read ?? 0),
    outputTokens: u.output_tokens ?? 0,
    ...(read !== undefined && { cachedInputTokens: read }),
    ...(write !== undefined && { cacheWriteTokens: write }),
    ...(thinking !== undefined && { reasoningTokens: thinking }),
  };
}

/**
 * Folds a later usage object into an earlier one. message_delta's usage is cumulative
 * (streaming docs) and may repeat the input counts, or leave them null; a null or missing
 * field keeps the earlier value.
 */
export function mergeUsage(base: AnthropicUsage | undefined, next: AnthropicUsage): AnthropicUsage {
  const out: AnthropicUsage = { ...base };
  for (const key of ['input_tokens', 'output_tokens', 'cache_creation_input_tokens', 'cache_read_input_tokens'] as const) {
    const v = next[key];
    if (typeof v === 'number') out[key] = v;
  }
  const thinking = next.output_tokens_details?.thinking_tokens;
  if (typeof thinking === 'number') out.output_tokens_details = { thinking_tokens: thinking };
  return out;
}
