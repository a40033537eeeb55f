import type { ChatRequest, Message, ToolChoice } from '../../core/types.js';
import type { Dialect } from '../index.js';
import { applyThinking, reasoningField } from './thinking.js';

export interface WireRequestOptions {
  /** OpenAI's own API wants `max_completion_tokens`; most compatible providers want `max_tokens`. */
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** The provider's dialect, for its own thinking switch and reasoning field (see thinking.ts). */
  readonly dialect?: Dialect | undefined;
}

/** An assistant turn's reasoning, in the field this dialect reads back. */
function reasoningToWire(dialect: Dialect | undefined, text: string): Record<string, unknown> {
  switch (reasoningField(dialect)) {
    case undefined:
      return {};
    case 'reasoning':
      return { reasoning: text };
    case 'reasoning_details':
      return { reasoning_details: [{ type: 'reasoning.text', text }] };
    default:
      return { reasoning_content: text };
  }
}

function messageToWire(m: Message, dialect: Dialect | undefined): Record<string, unknown> {
  switch (m.role) {
    case 'system':
      return { role: 'system', content: m.content };
    case 'user': {
      const only = m.content.length === 1 ? m.content[0] : undefined;
      if (only?.type === 'text') return { role: 'user', content: only.text };
      return {
        role: 'user',
        content: m.content.map((p) =>
          p.type === 'text'
            ? { type: 'text', text: p.text }
            : { type: 'image_url', image_url: { url: p.url, ...(p.detail && { detail: p.detail }) } },
        ),
      };
    }
    case 'assistant': {
      const out: Record<string, unknown> = { role: 'assistant', content: m.content === '' && m.toolCalls?.length ? null : m.content };
      // Thinking models (DeepSeek, Kimi, GLM) reject a tool-calling turn whose reasoning was dropped.
      const thought = m.reasoning?.map((r) => r.text).join('');
      if (thought) Object.assign(out, reasoningToWire(dialect, thought));
      if (m.toolCalls?.length) {
        out.tool_calls = m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } }));
      }
      return out;
    }
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
  }
}

function toolChoiceToWire(c: ToolChoice): unknown {
  return typeof c === 'string' ? c : { type: 'function', function: { name: c.name } };
}

/** Canonical request → OpenAI chat-completions body, always streaming with usage. */
export function chatRequestToWire(r: ChatRequest, o: WireRequestOptions): Record<string, unknown> {
  const body: Record<string, unknown> = { ...r.extra, model: r.model, messages: r.messages.map((m) => messageToWire(m, o.dialect)) };
  if (r.tools?.length) {
    body.tools = r.tools.map((t) => ({
      type: 'function',
      function: {
        name: t.name,
        ...(t.description !== undefined && { description: t.description }),
        parameters: t.parameters,
        ...(t.strict !== undefined && { strict: t.strict }),
      },
    }));
  }
  if (r.toolChoice !== undefined) body.tool_choice = toolChoiceToWire(r.toolChoice);
  if (r.parallelToolCalls !== undefined) body.parallel_tool_calls = r.parallelToolCalls;
  if (r.maxTokens !== undefined) body[o.maxTokensField] = r.maxTokens;
  if (r.temperature !== undefined) body.temperature = r.temperature;
  if (r.topP !== undefined) body.top_p = r.topP;
  if (r.stop?.length) body.stop = [...r.stop];
  if (r.seed !== undefined) body.seed = r.seed;
  if (r.n !== undefined) body.n = r.n;
  if (r.logprobs !== undefined) body.logprobs = r.logprobs;
  if (r.topLogprobs !== undefined) body.top_logprobs = r.topLogprobs;
  if (r.frequencyPenalty !== undefined) body.frequency_penalty = r.frequencyPenalty;
  if (r.presencePenalty !== undefined) body.presence_penalty = r.presencePenalty;
  if (r.reasoning?.effort !== undefined) body.reasoning_effort = r.reasoning.effort;
  if (r.user !== undefined) body.user = r.user;
  if (r.responseFormat) {
    const f = r.responseFormat;
    body.response_format =
      f.type === 'json_schema'
        ? { type: 'json_schema', json_schema: { name: f.name, schema: f.schema, ...(f.strict !== undefined && { strict: f.strict }) } }
        : { type: f.type };
  }
  body.stream = true;
  body.stream_options = { include_usage: true };
  return applyThinking(o.dialect, r.model, body, r.reasoning);
}
