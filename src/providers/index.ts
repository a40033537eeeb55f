/**
 * What the rest of the hub knows about provider families: the wire formats they speak and the
 * dialects of the OpenAI-compatible ones. Every other place imports these names from here.
 */

/** The wire formats an upstream can speak; one folder under `providers/` each. */
export const WIRE_FORMATS = ['openai', 'anthropic', 'gemini'] as const;
/** `openai`: chat completions (and embeddings, Responses where offered); `anthropic`: Messages; `gemini`: generateContent. */
export type WireFormat = (typeof WIRE_FORMATS)[number];

/**
 * Dialects of the OpenAI-compatible wire format: how a provider family turns thinking on and off,
 * and which field carries reasoning sent back (see `openai-compatible/thinking.ts`). A provider
 * has the dialect of the preset it extends, or the one its config names, or the one of the preset
 * whose host its base URL points at; a provider with none gets the body as the client sent it.
 */
export const DIALECTS = ['openai', 'deepseek', 'qwen', 'glm', 'kimi', 'doubao', 'minimax', 'siliconflow', 'openrouter', 'ollama', 'vllm'] as const;
export type Dialect = (typeof DIALECTS)[number];
