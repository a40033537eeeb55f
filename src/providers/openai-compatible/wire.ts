/** The OpenAI chat-completions wire format, as far as the hub reads or writes it. */

export interface WireToolCallDelta {
  index: number;
  id?: string;
  type?: 'function';
  function?: { name?: string; arguments?: string };
}

export interface WireDelta {
  role?: string;
  content?: string | null;
  /** DeepSeek, Qwen, GLM, Kimi and vLLM put chain-of-thought here. */
  reasoning_content?: string | null;
  /** OpenRouter and some vLLM versions use this name instead. */
  reasoning?: string | null;
  /** MiniMax with `reasoning_split`. */
  reasoning_details?: { type?: string; text?: string }[] | null;
  tool_calls?: WireToolCallDelta[];
}

export interface WireUsage {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens?: number; cache_write_tokens?: number } | null;
  completion_tokens_details?: { reasoning_tokens?: number } | null;
  /** DeepSeek's names for cache hits and misses. */
  prompt_cache_hit_tokens?: number;
  prompt_cache_miss_tokens?: number;
  /** Moonshot Kimi reports cache hits at the top level. */
  cached_tokens?: number;
}

export interface WireChunk {
  id?: string;
  object?: string;
  created?: number;
  model?: string;
  choices?: { index?: number; delta?: WireDelta; finish_reason?: string | null; logprobs?: { content?: { token: string; logprob: number }[] | null } | null }[];
  usage?: WireUsage | null;
  error?: { message?: string; type?: string; code?: string | number | null };
}

export interface WireErrorBody {
  error?: { message?: string; type?: string; param?: string | null; code?: string | number | null } | string;
  message?: string;
}
