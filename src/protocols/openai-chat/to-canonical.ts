import { HubError } from '../../core/errors.js';
import type { ChatRequest, ImagePart, Message, ResponseFormat, TextPart, ToolChoice } from '../../core/types.js';
import type { ChatCompletionRequest } from './schema.js';

type WireMessage = ChatCompletionRequest['messages'][number];
type WireContent = string | readonly { type: string; [k: string]: unknown }[] | null | undefined;

/** Fields the canonical request models; everything else travels in `extra`. */
const KNOWN = new Set([
  'model', 'messages', 'stream', 'stream_options', 'tools', 'tool_choice', 'parallel_tool_calls', 'response_format',
  'n', 'stop', 'seed', 'logprobs', 'top_logprobs', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p',
  'frequency_penalty', 'presence_penalty', 'reasoning_effort', 'user',
]);

function parts(content: WireContent, param: string): (TextPart | ImagePart)[] {
  if (content === null || content === undefined) return [];
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((p, i) => {
    if (p.type === 'text') return { type: 'text', text: String(p.text) };
    if (p.type === 'image_url') {
      const img = p.image_url as string | { url: string; detail?: 'auto' | 'low' | 'high' };
      return typeof img === 'string'
        ? { type: 'image', url: img }
        : { type: 'image', url: img.url, ...(img.detail && { detail: img.detail }) };
    }
    throw new HubError('bad_request', `Invalid request: '${param}[${i}].type': content part '${p.type}' is not supported by this model`, {
      param: `${param}[${i}].type`,
    });
  });
}

function text(content: WireContent, param: string): string {
  return parts(content, param)
    .map((p) => (p.type === 'text' ? p.text : ''))
    .join('');
}

function messageToCanonical(m: WireMessage, i: number): Message {
  const param = `messages[${i}].content`;
  switch (m.role) {
    case 'system':
    case 'developer':
      return { role: 'system', content: text(m.content as WireContent, param) };
    case 'user':
      return { role: 'user', content: parts(m.content as WireContent, param) };
    case 'assistant': {
      const calls = m.tool_calls?.map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments }));
      return {
        role: 'assistant',
        content: text(m.content as WireContent, param),
        ...(m.reasoning_content && { reasoning: [{ type: 'reasoning' as const, text: m.reasoning_content }] }),
        ...(calls?.length && { toolCalls: calls }),
      };
    }
    case 'tool':
      return { role: 'tool', toolCallId: m.tool_call_id, content: text(m.content as WireContent, param) };
    case 'function':
      return { role: 'tool', toolCallId: m.name, content: text(m.content as WireContent, param) };
  }
}

function toolChoice(c: NonNullable<ChatCompletionRequest['tool_choice']>): ToolChoice {
  return typeof c === 'string' ? c : { name: c.function.name };
}

function responseFormat(f: NonNullable<ChatCompletionRequest['response_format']>): ResponseFormat {
  if (f.type === 'json_schema') {
    return {
      type: 'json_schema',
      name: f.json_schema.name,
      schema: f.json_schema.schema ?? {},
      ...(typeof f.json_schema.strict === 'boolean' && { strict: f.json_schema.strict }),
    };
  }
  return { type: f.type };
}

/** OpenAI's `reasoning_effort` → canonical: `none` turns thinking off, `xhigh` is the top level. */
export function reasoningFromEffort(effort: string): ChatRequest['reasoning'] {
  if (effort === 'none') return { disabled: true };
  return { effort: effort === 'xhigh' ? 'high' : (effort as 'minimal' | 'low' | 'medium' | 'high') };
}

/** A validated OpenAI chat request → canonical, for models that do not speak OpenAI's wire format. */
export function chatRequestToCanonical(body: ChatCompletionRequest, upstreamModel: string): ChatRequest {
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) if (!KNOWN.has(k)) extra[k] = v;
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  return {
    model: upstreamModel,
    messages: body.messages.map(messageToCanonical),
    ...(body.tools?.length && {
      tools: body.tools.map((t) => ({
        name: t.function.name,
        ...(t.function.description !== undefined && { description: t.function.description }),
        parameters: t.function.parameters ?? { type: 'object', properties: {} },
        ...(typeof t.function.strict === 'boolean' && { strict: t.function.strict }),
      })),
    }),
    ...(body.tool_choice !== undefined && { toolChoice: toolChoice(body.tool_choice) }),
    ...(body.parallel_tool_calls !== undefined && { parallelToolCalls: body.parallel_tool_calls }),
    ...(maxTokens != null && { maxTokens }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { topP: body.top_p }),
    ...(body.stop != null && { stop: typeof body.stop === 'string' ? [body.stop] : body.stop }),
    ...(body.seed != null && { seed: body.seed }),
    ...(body.n != null && { n: body.n }),
    ...(body.response_format && { responseFormat: responseFormat(body.response_format) }),
    ...(body.logprobs != null && { logprobs: body.logprobs }),
    ...(body.top_logprobs != null && { topLogprobs: body.top_logprobs }),
    ...(body.frequency_penalty != null && { frequencyPenalty: body.frequency_penalty }),
    ...(body.presence_penalty != null && { presencePenalty: body.presence_penalty }),
    ...(body.reasoning_effort != null && { reasoning: reasoningFromEffort(body.reasoning_effort) }),
    ...(body.user !== undefined && { user: body.user }),
    ...(Object.keys(extra).length > 0 && { extra }),
  };
}
