import type { Usage } from '../../core/types.js';
import type { GeminiUsageMetadata } from './wire.js';

/**
 * Gemini usageMetadata → canonical usage. Per the API reference: `promptTokenCount` already
 * includes `cachedContentTokenCount`; `candidatesTokenCount` excludes `thoughtsTokenCount`;
 * `toolUsePromptTokenCount` counts built-in tool results given back to the model as input; and
 * `totalTokenCount` is the sum of prompt, candidates, tool-use prompt and thoughts. So input is
 * prompt + tool-use prompt, output is candidates + thoughts, reasoning is thoughts.
 */
export function usageFromGemini(u: GeminiUsageMetadata): Usage {
  const input = (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0);
  const thoughts = u.thoughtsTokenCount;
  const output =
    u.candidatesTokenCount === undefined && u.totalTokenCount !== undefined
      ? Math.max(0, u.totalTokenCount - input)
      : (u.candidatesTokenCount ?? 0) + (thoughts ?? 0);
  return {
    inputTokens: input,
    outputTokens: output,
    ...(u.cachedContentTokenCount !== undefined && { cachedInputTokens: u.cachedContentTokenCount }),
    ...(thoughts !== undefined && { reasoningTokens: thoughts }),
  };
}
