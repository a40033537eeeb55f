import { HubError } from '../../core/errors.js';
import type { ChatRequest, ImagePart, Message, ReasoningPart, TextPart, Tool, ToolCall, ToolChoice } from '../../core/types.js';
import { unwrapSignature } from '../signatures.js';
import type { AnthropicBlock, CountTokensRequest } from './schema.js';

type Block = AnthropicBlock & { type: string; [k: string]: unknown };

function unsupported(param: string, what: string): HubError {
  return new HubError('bad_request', `'${param}': ${what} is not supported by this hub for non-native models`, { param });
}

function blocksOf(content: string | readonly AnthropicBlock[]): Block[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : (content as Block[]);
}

function image(b: Block, param: string): ImagePart {
  const source = b.source as { type: string; media_type?: string; data?: string; url?: string };
  if (source.type === 'base64') return { type: 'image', url: `data:${source.media_type};base64,${source.data}` };
  if (source.type === 'url') return { type: 'image', url: source.url! };
  throw unsupported(`${param}.source.type`, `an image source of type '${source.type}'`);
}

/** A tool result's content as text: what every non-Anthropic upstream can take. */
function toolResultText(content: unknown): string {
  if (content === undefined) return '';
  if (typeof content === 'string') return content;
  return (content as Block[])
    .map((b) => (b.type === 'text' ? String(b.text) : `[${b.type}]`))
    .join('\n');
}

function userMessages(blocks: Block[], param: string): Message[] {
  // Tool results answer the previous assistant turn, so they come first as canonical tool messages.
  const out: Message[] = [];
  const parts: (TextPart | ImagePart)[] = [];
  blocks.forEach((b, i) => {
    const p = `${param}[${i}]`;
    if (b.type === 'tool_result') {
      out.push({
        role: 'tool',
        toolCallId: String(b.tool_use_id),
        content: toolResultText(b.content),
        ...(b.is_error === true && { isError: true }),
      });
    } else if (b.type === 'text') parts.push({ type: 'text', text: String(b.text) });
    else if (b.type === 'image') parts.push(image(b, p));
    else if (b.type === 'document' && (b.source as { type?: string })?.type === 'text') {
      parts.push({ type: 'text', text: String((b.source as { data?: string }).data ?? '') });
    } else throw unsupported(`${p}.type`, `a '${b.type}' block`);
  });
  if (parts.length > 0) out.push({ role: 'user', content: parts });
  return out;
}

function assistantMessage(blocks: Block[], param: string): Message {
  let text = '';
  const reasoning: ReasoningPart[] = [];
  const calls: ToolCall[] = [];
  blocks.forEach((b, i) => {
    if (b.type === 'text') text += String(b.text);
    else if (b.type === 'thinking') {
      const signed = typeof b.signature === 'string' && b.signature !== '';
      reasoning.push({ type: 'reasoning', text: String(b.thinking), ...(signed && { providerMetadata: unwrapSignature(b.signature as string, 'anthropic') }) });
    } else if (b.type === 'redacted_thinking') reasoning.push({ type: 'reasoning', text: '', providerMetadata: unwrapSignature(String(b.data), 'anthropic', 'redacted') });
    else if (b.type === 'tool_use') calls.push({ id: String(b.id), name: String(b.name), arguments: JSON.stringify(b.input ?? {}) });
    else throw unsupported(`${param}[${i}].type`, `a '${b.type}' block`);
  });
  return { role: 'assistant', content: text, ...(reasoning.length && { reasoning }), ...(calls.length && { toolCalls: calls }) };
}

function systemText(system: CountTokensRequest['system']): string | undefined {
  if (system === undefined) return undefined;
  if (typeof system === 'string') return system;
  return system.map((b) => b.text).join('\n\n');
}

function toolChoice(c: NonNullable<CountTokensRequest['tool_choice']>): ToolChoice {
  switch (c.type) {
    case 'auto':
      return 'auto';
    case 'any':
      return 'required';
    case 'none':
      return 'none';
    case 'tool':
      return { name: c.name };
  }
}

/** A validated Anthropic Messages request → canonical. */
export function messagesRequestToCanonical(body: CountTokensRequest, upstreamModel: string): ChatRequest {
  const messages: Message[] = [];
  const systems: string[] = [];
  const top = systemText(body.system);
  if (top) systems.push(top);
  body.messages.forEach((m, i) => {
    const param = `messages[${i}].content`;
    if (m.role === 'system') systems.push(toolResultText(m.content));
    else if (m.role === 'user') messages.push(...userMessages(blocksOf(m.content), param));
    else messages.push(assistantMessage(blocksOf(m.content), param));
  });
  if (systems.length) messages.unshift({ role: 'system', content: systems.join('\n\n') });

  const tools: Tool[] | undefined = body.tools?.map((t, i) => {
    if (t.type !== undefined && t.type !== 'custom') throw unsupported(`tools[${i}].type`, `the server tool '${t.type}'`);
    return {
      name: t.name,
      ...(t.description !== undefined && { description: t.description }),
      parameters: (t.input_schema as Record<string, unknown> | undefined) ?? { type: 'object', properties: {} },
    };
  });
  const choice = body.tool_choice;
  const noParallel = choice && 'disable_parallel_tool_use' in choice && choice.disable_parallel_tool_use === true;
  const thinking = body.thinking;
  return {
    model: upstreamModel,
    messages,
    ...(tools?.length && { tools }),
    ...(choice && { toolChoice: toolChoice(choice) }),
    ...(noParallel && { parallelToolCalls: false }),
    ...(body.max_tokens !== undefined && { maxTokens: body.max_tokens }),
    ...(body.temperature !== undefined && { temperature: body.temperature }),
    ...(body.top_p !== undefined && { topP: body.top_p }),
    ...(body.top_k !== undefined && { topK: body.top_k }),
    ...(body.stop_sequences?.length && { stop: body.stop_sequences }),
    ...(thinking?.type === 'enabled' && { reasoning: { budgetTokens: thinking.budget_tokens } }),
    ...(thinking?.type === 'adaptive' && { reasoning: {} }),
    ...(thinking?.type === 'disabled' && { reasoning: { disabled: true } }),
    ...(body.metadata?.user_id && { user: body.metadata.user_id }),
  };
}
