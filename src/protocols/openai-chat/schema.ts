import { z } from 'zod';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG } from '../../core/model-name.js';

/**
 * What the hub checks of an OpenAI chat-completions request before spending money on it. Objects
 * are loose: fields the hub does not know pass through to the upstream untouched.
 */
const textPart = z.looseObject({ type: z.literal('text'), text: z.string() });
const imagePart = z.looseObject({
  type: z.literal('image_url'),
  image_url: z.union([z.string(), z.looseObject({ url: z.string(), detail: z.enum(['auto', 'low', 'high']).optional() })]),
});
const otherPart = z.looseObject({ type: z.string() });
const part = z.union([textPart, imagePart, otherPart]);
const content = z.union([z.string(), z.array(part)]).nullable();

const toolCall = z.looseObject({
  id: z.string(),
  type: z.literal('function').optional(),
  function: z.looseObject({ name: z.string(), arguments: z.string() }),
});

const message = z.discriminatedUnion('role', [
  z.looseObject({ role: z.literal('system'), content: content.unwrap() }),
  z.looseObject({ role: z.literal('developer'), content: content.unwrap() }),
  z.looseObject({ role: z.literal('user'), content: content.unwrap() }),
  z.looseObject({
    role: z.literal('assistant'),
    content: content.optional(),
    reasoning_content: z.string().nullable().optional(),
    tool_calls: z.array(toolCall).optional(),
  }),
  z.looseObject({ role: z.literal('tool'), content: content.unwrap(), tool_call_id: z.string() }),
  z.looseObject({ role: z.literal('function'), content: content, name: z.string() }),
]);

const tool = z.looseObject({
  type: z.literal('function'),
  function: z.looseObject({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'expected a function name of letters, digits, _ or -, at most 64 characters'),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
});

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), function: z.looseObject({ name: z.string() }) }),
]);

const responseFormat = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    json_schema: z.looseObject({
      name: z.string(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
      description: z.string().optional(),
    }),
  }),
]);

const positiveInt = z.number().int().positive();

export const chatCompletionRequest = z.looseObject({
  model: z.string().min(1, 'expected a model name').max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG),
  messages: z.array(message).min(1, 'expected at least one message'),
  stream: z.boolean().nullable().optional(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullable().optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: responseFormat.optional(),
  n: positiveInt.max(128).nullable().optional(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullable().optional(),
  seed: z.number().int().nullable().optional(),
  logprobs: z.boolean().nullable().optional(),
  top_logprobs: z.number().int().min(0).max(20).nullable().optional(),
  max_tokens: positiveInt.nullable().optional(),
  max_completion_tokens: positiveInt.nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  frequency_penalty: z.number().min(-2).max(2).nullable().optional(),
  presence_penalty: z.number().min(-2).max(2).nullable().optional(),
  reasoning_effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh']).nullable().optional(),
  user: z.string().optional(),
});

export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;

export const embeddingsRequest = z.looseObject({
  model: z.string().min(1, 'expected a model name').max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG),
  input: z.union([
    z.string(),
    z.array(z.string()).min(1, 'expected at least one input'),
    z.array(z.number().int()).min(1),
    z.array(z.array(z.number().int())).min(1),
  ]),
  encoding_format: z.enum(['float', 'base64']).optional(),
  dimensions: positiveInt.optional(),
  user: z.string().optional(),
});

