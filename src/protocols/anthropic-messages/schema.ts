import { z } from 'zod';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG } from '../../core/model-name.js';

/**
 * What the hub checks of an Anthropic Messages request. Loose objects: unknown fields (cache_control,
 * citations, …) are tolerated so that clients such as Claude Code are never rejected for them.
 */
const cacheControl = z.looseObject({ type: z.string() }).nullable().optional();

const textBlock = z.looseObject({ type: z.literal('text'), text: z.string(), cache_control: cacheControl });
const imageSource = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('base64'), media_type: z.string(), data: z.string() }),
  z.looseObject({ type: z.literal('url'), url: z.string() }),
  z.looseObject({ type: z.literal('file'), file_id: z.string() }),
]);
const imageBlock = z.looseObject({ type: z.literal('image'), source: imageSource, cache_control: cacheControl });
const toolResultBlock = z.looseObject({
  type: z.literal('tool_result'),
  tool_use_id: z.string(),
  content: z.union([z.string(), z.array(z.union([textBlock, imageBlock, z.looseObject({ type: z.string() })]))]).optional(),
  is_error: z.boolean().optional(),
  cache_control: cacheControl,
});
const toolUseBlock = z.looseObject({ type: z.literal('tool_use'), id: z.string(), name: z.string(), input: z.unknown() });
const thinkingBlock = z.looseObject({ type: z.literal('thinking'), thinking: z.string(), signature: z.string().optional() });
const redactedThinkingBlock = z.looseObject({ type: z.literal('redacted_thinking'), data: z.string() });
const otherBlock = z.looseObject({ type: z.string() });

const block = z.union([textBlock, imageBlock, toolResultBlock, toolUseBlock, thinkingBlock, redactedThinkingBlock, otherBlock]);
export type AnthropicBlock = z.infer<typeof block>;

const message = z.looseObject({
  // `system` inside messages is not Anthropic's API, but some agents send it; it is folded into the system prompt.
  role: z.enum(['user', 'assistant', 'system']),
  content: z.union([z.string(), z.array(block)]),
});

const tool = z.looseObject({
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.record(z.string(), z.unknown()).optional(),
  type: z.string().optional(),
});

const toolChoice = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('auto'), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('any'), disable_parallel_tool_use: z.boolean().optional() }),
  z.looseObject({ type: z.literal('none') }),
  z.looseObject({ type: z.literal('tool'), name: z.string(), disable_parallel_tool_use: z.boolean().optional() }),
]);

const thinking = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('enabled'), budget_tokens: z.number().int().min(1) }),
  z.looseObject({ type: z.literal('disabled') }),
  z.looseObject({ type: z.literal('adaptive') }),
]);

export const messagesRequest = z.looseObject({
  model: z.string().min(1, 'expected a model name').max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG),
  max_tokens: z.number().int().min(1),
  messages: z.array(message),
  system: z.union([z.string(), z.array(textBlock)]).optional(),
  stream: z.boolean().optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().min(0).optional(),
  stop_sequences: z.array(z.string()).optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
  thinking: thinking.optional(),
  metadata: z.looseObject({ user_id: z.string().nullable().optional() }).optional(),
});

/** count_tokens takes the same body without max_tokens. */
export const countTokensRequest = messagesRequest.extend({ max_tokens: z.number().int().min(1).optional() });
export type CountTokensRequest = z.infer<typeof countTokensRequest>;
