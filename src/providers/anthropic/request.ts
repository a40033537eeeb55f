import { HubError } from '../../core/errors.js';
import type { ChatRequest, ImagePart, Message, ReasoningEffort, ResponseFormat, TextPart, ToolChoice } from '../../core/types.js';
import type {
  AnthropicAssistantBlock,
  AnthropicCountTokensRequest,
  AnthropicImageBlock,
  AnthropicImageMediaType,
  AnthropicMessageParam,
  AnthropicRequest,
  AnthropicTool,
  AnthropicToolChoice,
  AnthropicUserBlock,
} from './wire.js';
import { METADATA_KEY } from './wire.js';

export interface AnthropicRequestOptions {
  /** `max_tokens` is required by the Messages API; used when the request has no maxTokens. */
  readonly defaultMaxTokens: number;
}

/** The documented minimum thinking budget. */
const MIN_THINKING_BUDGET = 1024;

/**
 * Thinking budgets for OpenAI-style effort levels. Anthropic's `budget_tokens` has no effort
 * scale of its own; these follow its advice (start at the 1,024 minimum, 16k+ for complex tasks,
 * above 32k use batches). A reasoning request with neither effort nor budget (e.g. Anthropic's
 * own `adaptive` arriving through the hub) gets the medium budget.
 */
const THINKING_BUDGET: Readonly<Record<ReasoningEffort, number>> = {
  minimal: MIN_THINKING_BUDGET,
  low: MIN_THINKING_BUDGET,
  medium: 8192,
  high: 24576,
};

const MEDIA_TYPES: ReadonlySet<string> = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/webp']);

function imageBlock(p: ImagePart, param: string): AnthropicImageBlock {
  if (!p.url.startsWith('data:')) return { type: 'image', source: { type: 'url', url: p.url } };
  const m = /^data:([^;,]+)((?:;[^;,]*)*),(.*)$/s.exec(p.url);
  const mediaType = m?.[1]?.toLowerCase();
  const isBase64 = m?.[2]?.split(';').includes('base64') ?? false;
  if (!m || !mediaType || !isBase64) {
    throw new HubError('bad_request', 'Images given as data: URLs must be base64-encoded (data:<media type>;base64,<data>)', { param });
  }
  if (!MEDIA_TYPES.has(mediaType)) {
    throw new HubError('bad_request', `Image type '${mediaType}' is not supported; use image/jpeg, image/png, image/gif or image/webp`, { param });
  }
  return { type: 'image', source: { type: 'base64', media_type: mediaType as AnthropicImageMediaType, data: m[3] ?? '' } };
}

function userBlocks(content: readonly (TextPart | ImagePart)[], param: string): AnthropicUserBlock[] {
  const out: AnthropicUserBlock[] = [];
  content.forEach((p, i) => {
    // Anthropic rejects empty text blocks.
    if (p.type === 'text') {
      if (p.text !== '') out.push({ type: 'text', text: p.text });
    } else out.push(imageBlock(p, `${param}[${i}]`));
  });
  return out;
}

/**
 * Tool-call arguments → `input`, which must be a JSON object. Decision: arguments that are empty,
 * unparsable (typically a call cut off by max_tokens that the client echoes back) or not an
 * object become `{}` instead of failing the whole conversation; the tool result that follows
 * usually tells the model what went wrong.
 */
export function toolInput(args: string): Record<string, unknown> {
  if (args.trim() === '') return {};
  try {
    const v: unknown = JSON.parse(args);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function assistantBlocks(m: Extract<Message, { role: 'assistant' }>): AnthropicAssistantBlock[] {
  const out: AnthropicAssistantBlock[] = [];
  for (const r of m.reasoning ?? []) {
    // Only Anthropic's own opaque data goes back: Anthropic rejects thinking without a valid
    // signature, so unsigned reasoning and another family's are dropped.
    const own = r.providerMetadata?.[METADATA_KEY];
    if (own?.redacted !== undefined) out.push({ type: 'redacted_thinking', data: own.redacted });
    else if (own?.signature) out.push({ type: 'thinking', thinking: r.text, signature: own.signature });
  }
  if (m.content !== '') out.push({ type: 'text', text: m.content });
  for (const c of m.toolCalls ?? []) out.push({ type: 'tool_use', id: c.id, name: c.name, input: toolInput(c.arguments) });
  return out;
}

/**
 * Canonical messages → Anthropic turns. System messages (wherever they appear) are returned
 * apart for the top-level `system`. Consecutive same-role messages merge, so all results of
 * parallel tool calls land in one user message (required for parallel tool use), together with
 * a user message that directly follows them. In every user message tool_result blocks come
 * first, as the tool-use docs require ("tool_result blocks must come BEFORE any text").
 */
function messagesToAnthropic(messages: readonly Message[]): { system: string[]; messages: AnthropicMessageParam[] } {
  const system: string[] = [];
  const out: AnthropicMessageParam[] = [];
  const append = (role: 'user' | 'assistant', blocks: (AnthropicUserBlock | AnthropicAssistantBlock)[]): void => {
    if (blocks.length === 0) return; // Anthropic rejects messages with empty content.
    const last = out[out.length - 1];
    if (last?.role === role) (last.content as (AnthropicUserBlock | AnthropicAssistantBlock)[]).push(...blocks);
    else out.push({ role, content: blocks } as AnthropicMessageParam);
  };
  messages.forEach((m, i) => {
    switch (m.role) {
      case 'system':
        if (m.content !== '') system.push(m.content);
        return;
      case 'user':
        append('user', userBlocks(m.content, `messages[${i}].content`));
        return;
      case 'assistant':
        append('assistant', assistantBlocks(m));
        return;
      case 'tool':
        append('user', [
          {
            type: 'tool_result',
            tool_use_id: m.toolCallId,
            ...(m.content !== '' && { content: m.content }),
            ...(m.isError === true && { is_error: true }),
          },
        ]);
        return;
    }
  });
  for (const m of out) {
    if (m.role !== 'user') continue;
    const results = m.content.filter((b) => b.type === 'tool_result');
    if (results.length > 0 && results.length < m.content.length) {
      m.content = [...results, ...m.content.filter((b) => b.type !== 'tool_result')];
    }
  }
  return { system, messages: out };
}

function toolChoiceToAnthropic(c: ToolChoice | undefined, noParallel: boolean): AnthropicToolChoice | undefined {
  if (c === 'none') return { type: 'none' };
  const parallel = noParallel ? { disable_parallel_tool_use: true } : {};
  if (c === undefined) return noParallel ? { type: 'auto', ...parallel } : undefined;
  if (c === 'auto') return { type: 'auto', ...parallel };
  if (c === 'required') return { type: 'any', ...parallel };
  return { type: 'tool', name: c.name, ...parallel };
}

/**
 * How a response format is honoured. Structured outputs (`output_config.format`) are generally
 * available without a beta header, but only on recent models and only for schemas within their
 * limits (e.g. `additionalProperties: false` on every object) — what an OpenAI client promises
 * with `strict: true`. So: strict json_schema → `output_config.format`; a non-strict schema or
 * json_object → a short system instruction asking for JSON (best effort, like the client asked).
 */
function responseFormatToAnthropic(f: ResponseFormat | undefined): { instruction?: string; outputConfig?: AnthropicRequest['output_config'] } {
  if (!f || f.type === 'text') return {};
  if (f.type === 'json_schema') {
    if (f.strict === true) return { outputConfig: { format: { type: 'json_schema', schema: f.schema } } };
    return {
      instruction: `Respond only with a JSON value that conforms to the following JSON schema (named "${f.name}"), with no other text and no code fences:\n${JSON.stringify(f.schema)}`,
    };
  }
  return { instruction: 'Respond only with a valid JSON object, with no other text and no code fences.' };
}

/** The thinking budget a request asks for, or undefined for no thinking. */
export function thinkingBudget(r: ChatRequest): number | undefined {
  const reasoning = r.reasoning;
  if (!reasoning) return undefined;
  // Thinking is incompatible with forced tool use (tool_choice any/tool returns an error);
  // the client's demand for a tool call wins and thinking is left off.
  const forced = r.toolChoice === 'required' || typeof r.toolChoice === 'object';
  if (forced && r.tools?.length) return undefined;
  if (reasoning.budgetTokens !== undefined) {
    if (reasoning.budgetTokens <= 0) return undefined; // An explicit zero budget means "don't think".
    return Math.max(MIN_THINKING_BUDGET, Math.floor(reasoning.budgetTokens));
  }
  return THINKING_BUDGET[reasoning.effort ?? 'medium'];
}

/**
 * Canonical request → Messages API body, always streaming. Not sent: seed, n, logprobs,
 * frequency/presence penalties (no Anthropic equivalent) and `extra` (OpenAI-family fields).
 */
export function chatRequestToAnthropic(r: ChatRequest, o: AnthropicRequestOptions): AnthropicRequest {
  const { system, messages } = messagesToAnthropic(r.messages);
  const format = responseFormatToAnthropic(r.responseFormat);
  if (format.instruction) system.push(format.instruction);
  const budget = thinkingBudget(r);
  const requested = r.maxTokens ?? o.defaultMaxTokens;
  // max_tokens includes the thinking budget and must exceed it: keep the requested allowance
  // for the answer on top of the budget when it would not.
  const maxTokens = budget !== undefined && requested <= budget ? budget + requested : requested;

  const body: AnthropicRequest = { model: r.model, max_tokens: maxTokens, messages, stream: true };
  if (system.length) body.system = system.join('\n\n');
  if (r.tools?.length) {
    body.tools = r.tools.map((t): AnthropicTool => ({
      name: t.name,
      ...(t.description !== undefined && { description: t.description }),
      input_schema: t.parameters.type === undefined ? { type: 'object', ...t.parameters } : t.parameters,
      ...(t.strict === true && { strict: true }),
    }));
    const choice = toolChoiceToAnthropic(r.toolChoice, r.parallelToolCalls === false);
    if (choice) body.tool_choice = choice;
  }
  if (budget !== undefined) body.thinking = { type: 'enabled', budget_tokens: budget };
  if (format.outputConfig) body.output_config = format.outputConfig;
  if (r.stop?.length) body.stop_sequences = [...r.stop];
  // With thinking on, temperature and top_k may not be changed and top_p must lie in [0.95, 1].
  if (r.temperature !== undefined && budget === undefined) body.temperature = r.temperature;
  if (r.topP !== undefined && (budget === undefined || (r.topP >= 0.95 && r.topP <= 1))) body.top_p = r.topP;
  if (r.topK !== undefined && budget === undefined) body.top_k = r.topK;
  if (r.user !== undefined) body.metadata = { user_id: r.user };
  return body;
}

/**
 * Canonical request → count_tokens body: the same conversion without the fields that endpoint
 * does not take (max_tokens, stream, metadata, stop_sequences, sampling).
 */
export function countTokensRequestToAnthropic(r: ChatRequest, o: AnthropicRequestOptions): AnthropicCountTokensRequest {
  const b = chatRequestToAnthropic(r, o);
  return {
    model: b.model,
    messages: b.messages,
    ...(b.system !== undefined && { system: b.system }),
    ...(b.tools !== undefined && { tools: b.tools }),
    ...(b.tool_choice !== undefined && { tool_choice: b.tool_choice }),
    ...(b.thinking !== undefined && { thinking: b.thinking }),
    ...(b.output_config !== undefined && { output_config: b.output_config }),
  };
}
