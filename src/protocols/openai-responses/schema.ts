import { z } from 'zod';
import { MAX_MODEL_NAME, MODEL_NAME_TOO_LONG } from '../../core/model-name.js';

/**
 * What the hub checks of an OpenAI Responses `POST /v1/responses` request. Objects are loose:
 * fields the hub does not know (prompt_cache_key, phase, status, …) pass untouched.
 *
 * Item and tool types the canonical layer cannot express (web_search, computer_call_output, …)
 * still validate here, so a native Responses upstream can take them as they are; the conversion
 * to canonical rejects them with a 400 naming the field.
 */

// Content parts of a message (and of a function_call_output given as a list).
const inputText = z.looseObject({ type: z.literal('input_text'), text: z.string() });
const inputImage = z.looseObject({
  type: z.literal('input_image'),
  image_url: z.string().nullable().optional(),
  file_id: z.string().nullable().optional(),
  detail: z.enum(['auto', 'low', 'high', 'original']).nullable().optional(),
});
const outputText = z.looseObject({ type: z.literal('output_text'), text: z.string(), annotations: z.array(z.unknown()).optional() });
const refusal = z.looseObject({ type: z.literal('refusal'), refusal: z.string() });
const PART_TYPES = new Set(['input_text', 'input_image', 'output_text', 'refusal']);
const otherPart = z.looseObject({
  type: z.string().refine((t) => !PART_TYPES.has(t), { message: 'unexpected content part', abort: true }),
});
const part = z.union([z.discriminatedUnion('type', [inputText, inputImage, outputText, refusal]), otherPart]);
export type ResponsesContentPart = z.infer<typeof part>;

const message = z.looseObject({
  type: z.literal('message'),
  role: z.enum(['user', 'assistant', 'system', 'developer']),
  content: z.union([z.string(), z.array(part)]),
});

const functionCall = z.looseObject({
  type: z.literal('function_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  arguments: z.string(),
  id: z.string().nullable().optional(),
});

const functionCallOutput = z.looseObject({
  type: z.literal('function_call_output'),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(part)]),
  id: z.string().nullable().optional(),
});

const reasoning = z.looseObject({
  type: z.literal('reasoning'),
  // The API always returns one; clients such as Codex CLI leave it out when sending items back.
  id: z.string().nullable().optional(),
  summary: z.array(z.looseObject({ type: z.literal('summary_text'), text: z.string() })),
  encrypted_content: z.string().nullable().optional(),
  content: z.array(z.looseObject({ type: z.enum(['reasoning_text', 'text']), text: z.string() })).nullable().optional(),
});

const itemReference = z.looseObject({ type: z.literal('item_reference'), id: z.string().min(1) });

// A call of a `custom` (freeform) tool, and its result: the input and output are plain text.
const customToolCall = z.looseObject({
  type: z.literal('custom_tool_call'),
  call_id: z.string().min(1),
  name: z.string().min(1),
  input: z.string(),
  id: z.string().nullable().optional(),
});

const customToolCallOutput = z.looseObject({
  type: z.literal('custom_tool_call_output'),
  call_id: z.string().min(1),
  output: z.union([z.string(), z.array(part)]),
  id: z.string().nullable().optional(),
});

const ITEM_TYPES = new Set(['message', 'function_call', 'function_call_output', 'reasoning', 'item_reference', 'custom_tool_call', 'custom_tool_call_output']);
const otherItem = z.looseObject({
  type: z.string().refine((t) => !ITEM_TYPES.has(t), { message: 'unexpected item type', abort: true }),
});

/** `type` is optional on messages (`{role, content}`) and on item references (`{id}`). */
function withType(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
  const o = v as Record<string, unknown>;
  if (o.type !== undefined && o.type !== null) return v;
  if ('role' in o) return { ...o, type: 'message' };
  if ('id' in o) return { ...o, type: 'item_reference' };
  return v;
}

const item = z.preprocess(
  withType,
  z.union([z.discriminatedUnion('type', [message, functionCall, functionCallOutput, reasoning, itemReference, customToolCall, customToolCallOutput]), otherItem]),
);
export type ResponsesInputItem = z.infer<typeof item>;
export type ResponsesMessageItem = z.infer<typeof message>;
export type ResponsesFunctionCallItem = z.infer<typeof functionCall>;
export type ResponsesFunctionCallOutputItem = z.infer<typeof functionCallOutput>;
export type ResponsesReasoningItem = z.infer<typeof reasoning>;
export type ResponsesCustomToolCallItem = z.infer<typeof customToolCall>;
export type ResponsesCustomToolCallOutputItem = z.infer<typeof customToolCallOutput>;

const functionTool = z.looseObject({
  type: z.literal('function'),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'expected a function name of letters, digits, _ or -, at most 64 characters'),
  description: z.string().nullable().optional(),
  parameters: z.record(z.string(), z.unknown()).nullable().optional(),
  strict: z.boolean().nullable().optional(),
});
/** A freeform tool: the model's input is text, unconstrained or in a grammar (lark or regex). */
const customTool = z.looseObject({
  type: z.literal('custom'),
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, 'expected a tool name of letters, digits, _ or -, at most 64 characters'),
  description: z.string().nullable().optional(),
  format: z
    .union([
      z.looseObject({ type: z.literal('text') }),
      z.looseObject({ type: z.literal('grammar'), syntax: z.string(), definition: z.string() }),
    ])
    .nullable()
    .optional(),
});
const otherTool = z.looseObject({
  type: z.string().refine((t) => t !== 'function' && t !== 'custom', { message: 'unexpected tool type', abort: true }),
});
const tool = z.union([functionTool, customTool, otherTool]);

const toolChoice = z.union([
  z.enum(['none', 'auto', 'required']),
  z.looseObject({ type: z.literal('function'), name: z.string().min(1) }),
  z.looseObject({ type: z.literal('custom'), name: z.string().min(1) }),
  z.looseObject({ type: z.string().refine((t) => t !== 'function' && t !== 'custom', { message: 'unexpected tool choice', abort: true }) }),
]);

const format = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('text') }),
  z.looseObject({ type: z.literal('json_object') }),
  z.looseObject({
    type: z.literal('json_schema'),
    name: z.string().min(1),
    schema: z.record(z.string(), z.unknown()),
    strict: z.boolean().nullable().optional(),
    description: z.string().optional(),
  }),
]);

export const responsesRequest = z.looseObject({
  model: z.string().min(1, 'expected a model name').max(MAX_MODEL_NAME, MODEL_NAME_TOO_LONG),
  input: z.union([z.string(), z.array(item)]).optional(),
  instructions: z.string().nullable().optional(),
  tools: z.array(tool).optional(),
  tool_choice: toolChoice.optional(),
  text: z
    .looseObject({
      format: format.optional(),
      verbosity: z.enum(['low', 'medium', 'high']).nullable().optional(),
    })
    .optional(),
  reasoning: z
    .looseObject({
      effort: z.enum(['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max']).nullable().optional(),
      summary: z.enum(['auto', 'concise', 'detailed']).nullable().optional(),
    })
    .nullable()
    .optional(),
  max_output_tokens: z.number().int().positive().nullable().optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  previous_response_id: z.string().min(1).nullable().optional(),
  store: z.boolean().nullable().optional(),
  stream: z.boolean().nullable().optional(),
  temperature: z.number().min(0).max(2).nullable().optional(),
  top_p: z.number().min(0).max(1).nullable().optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  user: z.string().optional(),
  truncation: z.enum(['auto', 'disabled']).nullable().optional(),
  include: z.array(z.string()).nullable().optional(),
});

export type ResponsesRequest = z.infer<typeof responsesRequest>;
