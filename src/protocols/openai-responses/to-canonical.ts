import { unwrapSignature } from '../signatures.js';
import type { Collected } from '../../core/collect.js';
import { HubError } from '../../core/errors.js';
import type {
  ChatRequest,
  ImagePart,
  Message,
  ReasoningEffort,
  ReasoningPart,
  ReasoningRequest,
  ResponseFormat,
  TextPart,
  Tool,
  ToolCall,
  ToolChoice,
} from '../../core/types.js';
import type {
  ResponsesContentPart,
  ResponsesCustomToolCallItem,
  ResponsesCustomToolCallOutputItem,
  ResponsesFunctionCallItem,
  ResponsesFunctionCallOutputItem,
  ResponsesInputItem,
  ResponsesMessageItem,
  ResponsesReasoningItem,
  ResponsesRequest,
} from './schema.js';

/**
 * A redacted reasoning block (Anthropic `redacted_thinking`) has no text, only opaque data. It
 * travels in a reasoning item's `encrypted_content` behind this prefix, which cannot begin a
 * signature (signatures and OpenAI's encrypted content are base64, without `:`).
 */
export const REDACTED_PREFIX = 'baimo-redacted:';

/**
 * The families whose opaque data `encrypted_content` carries as it is (see ../signatures.ts): a
 * signature is OpenAI's own encrypted reasoning unless wrapped; a redacted block is Anthropic's.
 */
export const NATIVE_SIGNATURE = 'openai';
export const NATIVE_REDACTED = 'anthropic';

/** The call id used when an upstream gave a tool call none: stable per response and position. */
export function fallbackCallId(responseId: string, position: number): string {
  return `call_${responseId.replace(/^resp_/, '')}_${position}`;
}

/** System messages made from `instructions`: they are not part of the conversation a response stores. */
const INSTRUCTIONS = new WeakSet<Message>();

type Part = ResponsesContentPart & { type: string; [k: string]: unknown };
type Item = ResponsesInputItem & { type: string; [k: string]: unknown };
type Content = string | readonly Part[];

function bad(param: string, message: string): HubError {
  return new HubError('bad_request', `Invalid request: '${param}': ${message}`, { param, code: 'invalid_request' });
}

function unsupported(param: string, what: string): HubError {
  return new HubError('bad_request', `'${param}': ${what} is not supported by this hub for non-native models`, { param });
}

function image(p: Part, param: string): ImagePart {
  if (typeof p.image_url === 'string' && p.image_url !== '') {
    const detail = p.detail === 'auto' || p.detail === 'low' || p.detail === 'high' ? p.detail : undefined;
    return { type: 'image', url: p.image_url, ...(detail && { detail }) };
  }
  if (typeof p.file_id === 'string') throw unsupported(`${param}.file_id`, 'an image given by file_id (uploaded files)');
  throw bad(param, 'expected image_url or file_id');
}

function userParts(content: Content, param: string): (TextPart | ImagePart)[] {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  return content.map((p, i) => {
    const at = `${param}[${i}]`;
    switch (p.type) {
      case 'input_text':
      case 'output_text':
        return { type: 'text', text: String(p.text) };
      case 'refusal':
        return { type: 'text', text: String(p.refusal) };
      case 'input_image':
        return image(p, at);
      default:
        throw unsupported(`${at}.type`, `a content part of type '${p.type}'`);
    }
  });
}

/** Text of a system, developer or assistant message. */
function textOf(content: Content, param: string): string {
  if (typeof content === 'string') return content;
  return content
    .map((p, i) => {
      if (p.type === 'input_text' || p.type === 'output_text') return String(p.text);
      if (p.type === 'refusal') return String(p.refusal);
      throw unsupported(`${param}[${i}].type`, `a content part of type '${p.type}' in this message`);
    })
    .join('');
}

/** A function's output as text: what every upstream takes for a tool result. */
function outputText(output: Content): string {
  if (typeof output === 'string') return output;
  return output.map((p) => (p.type === 'input_text' || p.type === 'output_text' ? String(p.text) : `[${p.type}]`)).join('\n');
}

function reasoningPart(r: ResponsesReasoningItem): ReasoningPart | undefined {
  const enc = typeof r.encrypted_content === 'string' && r.encrypted_content !== '' ? r.encrypted_content : undefined;
  if (enc?.startsWith(REDACTED_PREFIX)) return { type: 'reasoning', text: '', providerMetadata: unwrapSignature(enc.slice(REDACTED_PREFIX.length), NATIVE_REDACTED, 'redacted') };
  const content = (r.content ?? []).map((c) => c.text).join('');
  const text = content !== '' ? content : r.summary.map((s) => s.text).join('\n\n');
  if (text === '' && enc === undefined) return undefined;
  return { type: 'reasoning', text, ...(enc !== undefined && { providerMetadata: unwrapSignature(enc, NATIVE_SIGNATURE) }) };
}

export interface ResponsesToCanonicalOptions {
  /** Looks up the item an `item_reference` names (a stored response's output or input item). */
  readonly resolveItem?: (id: string) => unknown;
}

/** Folds input items into canonical messages; one assistant turn spans reasoning, message and calls. */
class Conversation {
  readonly messages: Message[] = [];
  private turn: { content: string; reasoning: ReasoningPart[]; calls: ToolCall[] } | undefined;

  private assistant(): { content: string; reasoning: ReasoningPart[]; calls: ToolCall[] } {
    this.turn ??= { content: '', reasoning: [], calls: [] };
    return this.turn;
  }

  /** Ends the assistant turn. Reasoning that no message or call followed has nothing to attach to. */
  flush(): void {
    const t = this.turn;
    this.turn = undefined;
    if (!t || (t.content === '' && t.calls.length === 0)) return;
    this.messages.push({
      role: 'assistant',
      content: t.content,
      ...(t.reasoning.length > 0 && { reasoning: t.reasoning }),
      ...(t.calls.length > 0 && { toolCalls: t.calls }),
    });
  }

  private push(m: Message): void {
    this.flush();
    this.messages.push(m);
  }

  add(it: Item, param: string, options: ResponsesToCanonicalOptions): void {
    switch (it.type) {
      case 'message': {
        const m = it as unknown as ResponsesMessageItem;
        const at = `${param}.content`;
        const content = m.content as Content;
        if (m.role === 'user') this.push({ role: 'user', content: userParts(content, at) });
        else if (m.role === 'system' || m.role === 'developer') this.push({ role: 'system', content: textOf(content, at) });
        else this.assistant().content += textOf(content, at);
        return;
      }
      case 'reasoning': {
        const r = reasoningPart(it as unknown as ResponsesReasoningItem);
        if (r) this.assistant().reasoning.push(r);
        return;
      }
      case 'function_call': {
        const c = it as unknown as ResponsesFunctionCallItem;
        this.assistant().calls.push({ id: c.call_id, name: c.name, arguments: c.arguments });
        return;
      }
      case 'function_call_output': {
        const o = it as unknown as ResponsesFunctionCallOutputItem;
        this.push({ role: 'tool', toolCallId: o.call_id, content: outputText(o.output as Content) });
        return;
      }
      case 'custom_tool_call': {
        const c = it as unknown as ResponsesCustomToolCallItem;
        this.assistant().calls.push({ id: c.call_id, name: c.name, arguments: customArguments(c.input) });
        return;
      }
      case 'custom_tool_call_output': {
        const o = it as unknown as ResponsesCustomToolCallOutputItem;
        this.push({ role: 'tool', toolCallId: o.call_id, content: outputText(o.output as Content) });
        return;
      }
      case 'item_reference': {
        const id = String(it.id);
        const found = options.resolveItem?.(id);
        if (found === undefined || found === null || typeof found !== 'object') {
          throw bad(`${param}.id`, `item_reference '${id.slice(0, 100)}' does not name an item this hub has stored for this key (items are kept for responses created with store: true; send the item itself instead)`);
        }
        const target = found as Record<string, unknown>;
        if (target.type === 'item_reference') throw bad(`${param}.id`, `item_reference '${id}' names another reference`);
        const typed = target.type === undefined || target.type === null ? { ...target, type: 'role' in target ? 'message' : undefined } : target;
        this.add(typed as Item, param, options);
        return;
      }
      default:
        throw unsupported(`${param}.type`, `an input item of type '${it.type}'`);
    }
  }
}

/**
 * The one parameter a `custom` (freeform) tool becomes for a model that only knows functions:
 * the tool's input is that string, and the call goes back to the client as a custom_tool_call.
 */
export const CUSTOM_INPUT = 'input';

/** A custom tool call's text input as function arguments. */
export function customArguments(input: string): string {
  return JSON.stringify({ [CUSTOM_INPUT]: input });
}

/**
 * The text input of a custom tool call back from function arguments: `{"input": "…"}` as the
 * tool was offered, or the arguments as they are when the model wrote something else.
 */
export function customInput(args: string): string {
  try {
    const v = JSON.parse(args) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const input = (v as Record<string, unknown>)[CUSTOM_INPUT];
      if (typeof input === 'string') return input;
    }
  } catch {
    // not JSON: the model wrote the input itself
  }
  return args;
}

/** Names of the request's `custom` tools: their calls are answered as custom_tool_call items. */
export function customToolNames(body: Pick<ResponsesRequest, 'tools'>): ReadonlySet<string> {
  const names = new Set<string>();
  for (const t of body.tools ?? []) if (t.type === 'custom') names.add(String((t as { name: unknown }).name));
  return names;
}

type CustomToolDef = { name: string; description?: string | null; format?: { type: string; syntax?: string; definition?: string } | null };

/** A custom tool as a function of one string parameter; its description says what form the text takes. */
function customTool(t: CustomToolDef): Tool {
  const f = t.format;
  const grammar =
    f?.type === 'grammar'
      ? `The input is free-form text, not JSON, and must match this ${f.syntax ?? ''} grammar exactly:\n${f.definition ?? ''}`
      : 'The input is free-form text, not JSON.';
  return {
    name: t.name,
    description: [t.description, `Put the whole input in the '${CUSTOM_INPUT}' string. ${grammar}`].filter((d) => typeof d === 'string' && d !== '').join('\n\n'),
    parameters: {
      type: 'object',
      properties: { [CUSTOM_INPUT]: { type: 'string', description: `The input for ${t.name}, as free-form text.` } },
      required: [CUSTOM_INPUT],
      additionalProperties: false,
    },
  };
}

/**
 * Function tools pass, and custom (freeform) tools become functions of one string (see
 * `customTool`). The hosted tools an OpenAI-native agent may also offer (web_search, namespaces
 * of sub-agent tools, tool_search, …) cannot run behind another model, so they are left out
 * rather than failing the whole request — the model simply does not see them, as with a
 * provider that lacks them.
 */
function tools(list: NonNullable<ResponsesRequest['tools']>): Tool[] {
  const out: Tool[] = [];
  for (const t of list) {
    if (t.type === 'custom') out.push(customTool(t as unknown as CustomToolDef));
    if (t.type !== 'function') continue;
    const f = t as typeof t & { name: string; description?: string | null; parameters?: Record<string, unknown> | null; strict?: boolean | null };
    out.push({
      name: f.name,
      ...(typeof f.description === 'string' && { description: f.description }),
      parameters: f.parameters ?? { type: 'object', properties: {} },
      ...(typeof f.strict === 'boolean' && { strict: f.strict }),
    });
  }
  return out;
}

function toolChoice(c: NonNullable<ResponsesRequest['tool_choice']>): ToolChoice {
  if (typeof c === 'string') return c;
  if (c.type === 'function' || c.type === 'custom') return { name: String((c as { name: string }).name) };
  throw unsupported('tool_choice.type', `a tool_choice of type '${c.type}'`);
}

function responseFormat(f: NonNullable<NonNullable<ResponsesRequest['text']>['format']>): ResponseFormat {
  if (f.type === 'json_schema') {
    return { type: 'json_schema', name: f.name, schema: f.schema, ...(typeof f.strict === 'boolean' && { strict: f.strict }) };
  }
  return { type: f.type };
}

const EFFORT: Record<string, ReasoningEffort | undefined> = {
  minimal: 'minimal',
  low: 'low',
  medium: 'medium',
  high: 'high',
  xhigh: 'high',
  max: 'high',
};

/**
 * `reasoning.effort` → canonical effort (`xhigh` and `max` count as `high`); `none` asks for no
 * thinking. A summary asked for without an effort still asks the model to think.
 */
function reasoning(r: ResponsesRequest['reasoning']): ReasoningRequest | undefined {
  if (!r || r.effort === 'none') return undefined;
  const effort = r.effort ? EFFORT[r.effort] : undefined;
  if (effort) return { effort };
  return r.summary ? {} : undefined;
}

/**
 * A validated Responses request → canonical. `history` is the stored conversation of
 * `previous_response_id` (see `canonicalConversation`); it comes before the new input.
 * `instructions` become the system message; a previous response's instructions are not carried
 * over, as the API documents.
 */
export function responsesRequestToCanonical(
  body: ResponsesRequest,
  upstreamModel: string,
  history: readonly Message[] = [],
  options: ResponsesToCanonicalOptions = {},
): ChatRequest {
  const conv = new Conversation();
  if (typeof body.input === 'string') conv.add({ type: 'message', role: 'user', content: body.input } as Item, 'input', options);
  else body.input?.forEach((it, i) => conv.add(it as Item, `input[${i}]`, options));
  conv.flush();

  const messages: Message[] = [];
  if (body.instructions) {
    const system: Message = { role: 'system', content: body.instructions };
    INSTRUCTIONS.add(system);
    messages.push(system);
  }
  messages.push(...storedHistory(history), ...conv.messages);

  const r = reasoning(body.reasoning);
  const format = body.text?.format;
  return {
    model: upstreamModel,
    messages,
    ...(body.tools && tools(body.tools).length > 0 && { tools: tools(body.tools) }),
    ...(body.tool_choice !== undefined && { toolChoice: toolChoice(body.tool_choice) }),
    ...(body.parallel_tool_calls != null && { parallelToolCalls: body.parallel_tool_calls }),
    ...(body.max_output_tokens != null && { maxTokens: body.max_output_tokens }),
    ...(body.temperature != null && { temperature: body.temperature }),
    ...(body.top_p != null && { topP: body.top_p }),
    ...(format && { responseFormat: responseFormat(format) }),
    ...(r && { reasoning: r }),
    ...(body.user !== undefined && { user: body.user }),
  };
}

/** The only family an earlier version sent a signature that named no origin to. */
const UNNAMED_ORIGIN = 'anthropic';

/** A reasoning part as histories stored before `providerMetadata` kept it. */
interface StoredReasoning {
  readonly type: 'reasoning';
  readonly text: string;
  readonly signature?: string;
  readonly redacted?: string;
  readonly origin?: string;
}

/**
 * A stored history, with reasoning parts kept by an earlier version (`signature`, `redacted` and
 * `origin` on the part) read as `providerMetadata` of their origin; one that named no origin was
 * sent to Anthropic alone, so it is Anthropic's. The history is returned as it is when it has none.
 */
function storedHistory(history: readonly Message[]): readonly Message[] {
  const legacy = (r: StoredReasoning) => r.signature !== undefined || r.redacted !== undefined;
  if (!history.some((m) => m.role === 'assistant' && m.reasoning?.some((r) => legacy(r as StoredReasoning)))) return history;
  return history.map((m) => {
    if (m.role !== 'assistant' || !m.reasoning) return m;
    const reasoning = m.reasoning.map((part): ReasoningPart => {
      const r = part as StoredReasoning;
      if (!legacy(r)) return part;
      const family = r.origin ?? UNNAMED_ORIGIN;
      const data = r.redacted !== undefined ? { redacted: r.redacted } : { signature: r.signature! };
      return { type: 'reasoning', text: r.text, providerMetadata: { [family]: data } };
    });
    return { ...m, reasoning };
  });
}

/**
 * The conversation a response leaves behind, to store as the history of its id: the request's
 * messages (without the system message made from `instructions`) and the assistant turn the
 * response produced — text, reasoning with signatures and redacted blocks, tool calls. Pass the
 * response id so that calls the upstream gave no id get the same ids the client saw.
 */
export function canonicalConversation(request: ChatRequest, collected: Collected, responseId?: string): Message[] {
  const out = request.messages.filter((m) => !INSTRUCTIONS.has(m));
  const ch = collected.choices[0];
  // As for input items: reasoning that no text or call followed has no turn to attach to.
  if (!ch || (ch.text === '' && ch.toolCalls.length === 0)) return out;
  const calls = ch.toolCalls.map((t, i) => (t.id || responseId === undefined ? t : { ...t, id: fallbackCallId(responseId, i) }));
  out.push({
    role: 'assistant',
    content: ch.text,
    ...(ch.reasoning.length > 0 && { reasoning: ch.reasoning }),
    ...(calls.length > 0 && { toolCalls: calls }),
  });
  return out;
}
