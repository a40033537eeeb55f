import { randomUUID } from 'node:crypto';
import { opaqueOf, wrapSignature } from '../signatures.js';
import { findCitations } from '../../core/citations.js';
import type { Collected } from '../../core/collect.js';
import type { HubError } from '../../core/errors.js';
import type { ChatEvent, FinishReason, ProviderMetadata, RetrievedPassage, Usage } from '../../core/types.js';
import { responseFailure, responsesErrorEventData } from './errors.js';
import type { ResponsesRequest } from './schema.js';
import { CUSTOM_INPUT, NATIVE_REDACTED, NATIVE_SIGNATURE, REDACTED_PREFIX, customInput, customToolNames, fallbackCallId } from './to-canonical.js';

type Json = Record<string, unknown>;
export type ResponseStatus = 'in_progress' | 'completed' | 'incomplete' | 'failed';
type ItemStatus = 'in_progress' | 'completed' | 'incomplete';
export type ItemPrefix = 'rs' | 'msg' | 'fc' | 'ctc' | 'fs';

export interface ResponsesUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number; cache_write_tokens?: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** Canonical usage → the Responses `usage` object (input includes cached tokens in both). */
export function usageToResponses(u: Usage | undefined): ResponsesUsage {
  const input = u?.inputTokens ?? 0;
  const output = u?.outputTokens ?? 0;
  return {
    input_tokens: input,
    input_tokens_details: {
      cached_tokens: u?.cachedInputTokens ?? 0,
      ...(u?.cacheWriteTokens !== undefined && { cache_write_tokens: u.cacheWriteTokens }),
    },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: u?.reasoningTokens ?? 0 },
    total_tokens: input + output,
  };
}

/** A new output item id: `rs_…`, `msg_…` or `fc_…`. */
export function newItemId(prefix: ItemPrefix): string {
  return `${prefix}_${randomUUID().replace(/-/g, '')}`;
}

function echoTool(t: NonNullable<ResponsesRequest['tools']>[number]): Json {
  if (t.type !== 'function') return { ...t };
  const f = t as Json;
  return { type: 'function', name: f.name, description: f.description ?? null, parameters: f.parameters ?? null, strict: f.strict ?? null };
}

/**
 * The response object as the API returns it, before its output: the request's parameters echoed
 * (`model` is the name the client asked for), `output` empty, `usage` null.
 */
export function responseObject(id: string, body: ResponsesRequest, createdAt: number, status: ResponseStatus): Json {
  return {
    id,
    object: 'response',
    created_at: createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    metadata: body.metadata ?? {},
    model: body.model,
    output: [],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: body.previous_response_id ?? null,
    reasoning: { effort: body.reasoning?.effort ?? null, summary: body.reasoning?.summary ?? null },
    store: body.store ?? true,
    temperature: body.temperature ?? null,
    text: { ...body.text, format: body.text?.format ?? { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: (body.tools ?? []).map(echoTool),
    top_p: body.top_p ?? null,
    truncation: body.truncation ?? 'disabled',
    usage: null,
    ...(body.user !== undefined && { user: body.user }),
  };
}

/** How a finish reason ends a response: `length` and `content_filter` leave it incomplete. */
function ending(reason: FinishReason | null): { status: 'completed' | 'incomplete'; incompleteDetails: Json | null } {
  if (reason === 'length') return { status: 'incomplete', incompleteDetails: { reason: 'max_output_tokens' } };
  if (reason === 'content_filter') return { status: 'incomplete', incompleteDetails: { reason: 'content_filter' } };
  return { status: 'completed', incompleteDetails: null };
}

function textPart(text: string, annotations: Json[] = []): Json {
  return { type: 'output_text', text, annotations, logprobs: [] };
}

/** The `file_citation` annotations for the passage markers in `text` (see core/citations.ts). */
function fileCitations(text: string, sources: readonly RetrievedPassage[]): Json[] {
  if (sources.length === 0) return [];
  return findCitations(text, sources.length).map((c) => {
    const p = sources[c.passage]!;
    return { type: 'file_citation', index: c.index, file_id: p.fileId, filename: p.filename };
  });
}

/**
 * The file_search_call item of a grounded answer. Its results are there only when the request
 * asked for them (`include: ["file_search_call.results"]`), as in OpenAI's API.
 */
function fileSearchItem(id: string, queries: readonly string[], results: readonly RetrievedPassage[] | undefined, status: 'in_progress' | 'completed'): Json {
  return {
    id,
    type: 'file_search_call',
    status,
    queries: [...queries],
    results:
      results?.map((r) => ({ file_id: r.fileId, filename: r.filename, score: r.score, text: r.text, attributes: r.attributes ?? {} })) ?? null,
  };
}

/** Whether the request asked for file search results in its output. */
function includesResults(body: ResponsesRequest): boolean {
  return body.include?.includes('file_search_call.results') ?? false;
}

function summaryPart(text: string): Json {
  return { type: 'summary_text', text };
}

/**
 * A reasoning part's opaque data as `encrypted_content`: its signature byte for byte (wrapped when
 * another family made it), or a redacted block behind `REDACTED_PREFIX`, so a client that sends
 * the item back — statelessly, as Codex CLI does with `store: false` — hands the provider what it
 * signed.
 */
function encryptedContent(meta: ProviderMetadata | undefined): { redacted: boolean; value: string } | undefined {
  const o = opaqueOf(meta);
  if (o?.redacted !== undefined) return { redacted: true, value: REDACTED_PREFIX + wrapSignature(o.family, o.redacted, NATIVE_REDACTED) };
  if (o?.signature !== undefined) return { redacted: false, value: wrapSignature(o.family, o.signature, NATIVE_SIGNATURE) };
  return undefined;
}

/** A reasoning item; `encrypted` from `encryptedContent`. */
function reasoningItem(id: string, text: string, encrypted: string | undefined, status?: ItemStatus): Json {
  return {
    id,
    type: 'reasoning',
    summary: text === '' ? [] : [summaryPart(text)],
    ...(encrypted !== undefined && { encrypted_content: encrypted }),
    ...(status === 'incomplete' && { status }),
  };
}

function messageItem(id: string, text: string, status: ItemStatus, annotations: Json[] = []): Json {
  return { id, type: 'message', status, role: 'assistant', content: [textPart(text, annotations)] };
}

function callItem(id: string, callId: string, name: string, args: string, status: ItemStatus): Json {
  return { id, type: 'function_call', status, arguments: args, call_id: callId, name };
}

function customCallItem(id: string, callId: string, name: string, input: string, status: ItemStatus): Json {
  return { id, type: 'custom_tool_call', status, call_id: callId, name, input };
}

/**
 * The text of a custom tool call's input as it streams in, from the function arguments the model
 * writes (`{"input": "…"}`): each push returns the newly decoded characters of the string. When
 * the arguments do not begin that way, it returns nothing and the whole input comes at the end.
 */
export class CustomInputDecoder {
  private raw = '';
  private at = 0;
  private state: 'head' | 'string' | 'end' | 'other' = 'head';
  private static readonly HEAD = new RegExp(`^\\s*\\{\\s*"${CUSTOM_INPUT}"\\s*:\\s*"`);
  private static readonly ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

  push(chunk: string): string {
    this.raw += chunk;
    if (this.state === 'head') {
      const m = CustomInputDecoder.HEAD.exec(this.raw);
      if (m) {
        this.state = 'string';
        this.at = m[0].length;
      } else if (!/^\s*(\{\s*("(i(n(p(u(t("\s*(:\s*)?)?)?)?)?)?)?)?)?$/.test(this.raw)) {
        this.state = 'other';
      }
    }
    if (this.state !== 'string') return '';
    let out = '';
    const raw = this.raw;
    let i = this.at;
    while (i < raw.length) {
      const c = raw[i]!;
      if (c === '"') {
        this.state = 'end';
        i++;
        break;
      }
      if (c !== '\\') {
        const next = raw.indexOf('"', i);
        const slash = raw.indexOf('\\', i);
        const stop = Math.min(next === -1 ? raw.length : next, slash === -1 ? raw.length : slash);
        out += raw.slice(i, stop);
        i = stop;
        continue;
      }
      if (i + 1 >= raw.length) break;
      const e = raw[i + 1]!;
      if (e === 'u') {
        if (i + 6 > raw.length) break;
        const hex = raw.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          this.state = 'other';
          return out;
        }
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
        continue;
      }
      const ch = CustomInputDecoder.ESCAPES[e];
      if (ch === undefined) {
        this.state = 'other';
        return out;
      }
      out += ch;
      i += 2;
    }
    this.at = i;
    return out;
  }
}

function completedAt(createdAt: number, now: () => number): number {
  return Math.max(createdAt, Math.floor(now() / 1000));
}

export interface ResponsesRenderOptions {
  /** Item ids; random `rs_`/`msg_`/`fc_` ids by default. */
  readonly newId?: (prefix: ItemPrefix) => string;
  /** Milliseconds since the epoch, for `completed_at`. */
  readonly now?: () => number;
}

/**
 * A collected answer → the response object of a non-streaming request: output items in order
 * (reasoning, message, function calls), the last one `incomplete` when the answer was cut short.
 */
export function collectedToResponse(c: Collected, id: string, body: ResponsesRequest, createdAt: number, options: ResponsesRenderOptions = {}): Json {
  const newId = options.newId ?? newItemId;
  const ch = c.choices[0];
  const output: Json[] = [];
  const sources = c.retrieval?.results ?? [];
  if (c.retrieval) output.push(fileSearchItem(newId('fs'), c.retrieval.queries, includesResults(body) ? sources : undefined, 'completed'));
  for (const r of ch?.reasoning ?? []) {
    const enc = encryptedContent(r.providerMetadata);
    if (enc?.redacted) output.push(reasoningItem(newId('rs'), '', enc.value));
    else if (r.text !== '' || enc !== undefined) output.push(reasoningItem(newId('rs'), r.text, enc?.value));
  }
  if (ch && ch.text !== '') output.push(messageItem(newId('msg'), ch.text, 'completed', fileCitations(ch.text, sources)));
  const custom = customToolNames(body);
  ch?.toolCalls.forEach((t, i) => {
    const callId = t.id || fallbackCallId(id, i);
    if (custom.has(t.name)) output.push(customCallItem(newId('ctc'), callId, t.name, customInput(t.arguments), 'completed'));
    else output.push(callItem(newId('fc'), callId, t.name, t.arguments, 'completed'));
  });
  const { status, incompleteDetails } = ending(ch?.finishReason ?? null);
  const last = output[output.length - 1];
  if (status === 'incomplete' && last && last.type !== 'reasoning') last.status = 'incomplete';
  return {
    ...responseObject(id, body, createdAt, status),
    incomplete_details: incompleteDetails,
    output,
    usage: usageToResponses(c.usage),
    ...(status === 'completed' && { completed_at: completedAt(createdAt, options.now ?? Date.now) }),
  };
}

interface OpenReasoning {
  readonly kind: 'reasoning';
  readonly index: number;
  readonly id: string;
  text: string;
  partOpen: boolean;
}
interface OpenMessage {
  readonly kind: 'message';
  readonly index: number;
  readonly id: string;
  text: string;
}
interface Call {
  readonly kind: 'call';
  readonly index: number;
  readonly id: string;
  callId: string;
  /** The call id is ours, because the upstream gave none (yet). */
  ownId: boolean;
  name: string;
  args: string;
  done: boolean;
  /** A call of a custom tool: streamed and returned as a custom_tool_call item. */
  custom?: { decoder: CustomInputDecoder; streamed: string };
}

/**
 * Canonical events → the Responses API's streaming events. `start()` sends response.created and
 * response.in_progress; then one output item at a time, in order: a reasoning item per reasoning
 * block (its summary streamed as one summary part), a message item per run of text, a
 * function_call item per tool call (never merged; a call closes when the next item begins, as
 * the API streams them); `end()` closes the open item and sends response.completed, or
 * response.incomplete when the answer was cut short. Every event carries `type` and the next
 * `sequence_number`.
 */
export class ResponsesStreamRenderer {
  private seq = 0;
  private started = false;
  private final: Json | undefined;
  /** Each output item's latest state, by output_index. */
  private readonly output: Json[] = [];
  private open: OpenReasoning | OpenMessage | Call | undefined;
  /** Tool calls by their canonical index. */
  private readonly calls = new Map<number, Call>();
  private reason: FinishReason | null = null;
  private usage: Usage | undefined;
  /** The passages a grounded answer cites by number. */
  private sources: readonly RetrievedPassage[] = [];
  private readonly newId: (prefix: ItemPrefix) => string;
  private readonly now: () => number;
  private readonly custom: ReadonlySet<string>;

  constructor(
    private readonly id: string,
    private readonly body: ResponsesRequest,
    private readonly createdAt: number,
    options: ResponsesRenderOptions = {},
  ) {
    this.newId = options.newId ?? newItemId;
    this.now = options.now ?? Date.now;
    this.custom = customToolNames(body);
  }

  /** A tool call's item as it stands: a function_call, or a custom_tool_call. */
  private callItemOf(c: Call, status: ItemStatus, input?: string): Json {
    if (c.custom) return customCallItem(c.id, c.callId, c.name, input ?? customInput(c.args), status);
    return callItem(c.id, c.callId, c.name, c.args, status);
  }

  private event(type: string, data: Json): string {
    return `event: ${type}\ndata: ${JSON.stringify({ type, ...data, sequence_number: this.seq++ })}\n\n`;
  }

  /** response.created and response.in_progress: the response in progress, with no output yet. */
  start(): string {
    if (this.started) return '';
    this.started = true;
    const response = responseObject(this.id, this.body, this.createdAt, 'in_progress');
    return this.event('response.created', { response }) + this.event('response.in_progress', { response });
  }

  private add(item: Json): string {
    const index = this.output.length;
    this.output.push(item);
    return this.event('response.output_item.added', { output_index: index, item });
  }

  private done(index: number, item: Json): string {
    this.output[index] = item;
    return this.event('response.output_item.done', { output_index: index, item });
  }

  private openMessage(): string {
    const id = this.newId('msg');
    const index = this.output.length;
    const out =
      this.add({ id, type: 'message', status: 'in_progress', role: 'assistant', content: [] }) +
      this.event('response.content_part.added', { item_id: id, output_index: index, content_index: 0, part: textPart('') });
    this.open = { kind: 'message', index, id, text: '' };
    return out;
  }

  private openReasoning(): OpenReasoning {
    const r: OpenReasoning = { kind: 'reasoning', index: this.output.length, id: this.newId('rs'), text: '', partOpen: false };
    this.open = r;
    return r;
  }

  /** Closes the open item with every `.done` event it needs. */
  private close(status: ItemStatus = 'completed', signature?: string): string {
    const o = this.open;
    if (!o) return '';
    this.open = undefined;
    const at = { item_id: o.id, output_index: o.index };
    switch (o.kind) {
      case 'message': {
        // A grounded answer's citations are known once its text is whole: announced before it is done.
        const annotations = fileCitations(o.text, this.sources);
        let out = '';
        annotations.forEach((annotation, i) => {
          out += this.event('response.output_text.annotation.added', { ...at, content_index: 0, annotation_index: i, annotation });
        });
        return (
          out +
          this.event('response.output_text.done', { ...at, content_index: 0, text: o.text, logprobs: [] }) +
          this.event('response.content_part.done', { ...at, content_index: 0, part: textPart(o.text, annotations) }) +
          this.done(o.index, messageItem(o.id, o.text, status, annotations))
        );
      }
      case 'reasoning': {
        let out = '';
        if (o.partOpen) {
          out +=
            this.event('response.reasoning_summary_text.done', { ...at, summary_index: 0, text: o.text }) +
            this.event('response.reasoning_summary_part.done', { ...at, summary_index: 0, part: summaryPart(o.text) });
        }
        return out + this.done(o.index, reasoningItem(o.id, o.text, signature, status));
      }
      case 'call': {
        o.done = true;
        if (!o.custom) {
          return (
            this.event('response.function_call_arguments.done', { ...at, name: o.name, arguments: o.args }) +
            this.done(o.index, callItem(o.id, o.callId, o.name, o.args, status))
          );
        }
        // The input as the arguments say it; what the deltas have not carried yet goes in a last one.
        const input = customInput(o.args);
        const streamed = o.custom.streamed;
        const rest = input.startsWith(streamed) ? input.slice(streamed.length) : '';
        return (
          (rest !== '' ? this.event('response.custom_tool_call_input.delta', { ...at, delta: rest }) : '') +
          this.event('response.custom_tool_call_input.done', { ...at, input }) +
          this.done(o.index, this.callItemOf(o, status, input))
        );
      }
    }
  }

  render(e: ChatEvent): string {
    if (this.final || ('choice' in e && e.choice !== 0)) return ''; // the Responses API has one answer per request
    let out = this.start();
    switch (e.type) {
      case 'text':
        if (!e.text) return out;
        if (this.open?.kind !== 'message') out += this.close() + this.openMessage();
        const m = this.open as OpenMessage;
        m.text += e.text;
        return out + this.event('response.output_text.delta', { item_id: m.id, output_index: m.index, content_index: 0, delta: e.text, logprobs: [] });
      case 'reasoning': {
        const enc = encryptedContent(e.providerMetadata);
        if (enc?.redacted) {
          out += this.close();
          const r = this.openReasoning();
          this.open = undefined;
          return out + this.add({ id: r.id, type: 'reasoning', summary: [] }) + this.done(r.index, reasoningItem(r.id, '', enc.value));
        }
        if (!e.text && enc === undefined) return out;
        let r: OpenReasoning;
        if (this.open?.kind === 'reasoning') r = this.open;
        else {
          out += this.close();
          r = this.openReasoning();
          out += this.add({ id: r.id, type: 'reasoning', summary: [] });
        }
        if (e.text) {
          const at = { item_id: r.id, output_index: r.index, summary_index: 0 };
          if (!r.partOpen) {
            r.partOpen = true;
            out += this.event('response.reasoning_summary_part.added', { ...at, part: summaryPart('') });
          }
          r.text += e.text;
          out += this.event('response.reasoning_summary_text.delta', { ...at, delta: e.text });
        }
        // A signature ends the block, as it does in the Collector.
        if (enc !== undefined) out += this.close('completed', enc.value);
        return out;
      }
      case 'tool_call': {
        let c = this.calls.get(e.index);
        if (!c) {
          out += this.close();
          const position = this.calls.size;
          const custom = this.custom.has(e.name ?? '');
          c = {
            kind: 'call',
            index: this.output.length,
            id: this.newId(custom ? 'ctc' : 'fc'),
            callId: e.id || fallbackCallId(this.id, position),
            ownId: !e.id,
            name: e.name ?? '',
            args: '',
            done: false,
            ...(custom && { custom: { decoder: new CustomInputDecoder(), streamed: '' } }),
          };
          this.calls.set(e.index, c);
          this.open = c;
          out += this.add(this.callItemOf(c, 'in_progress', ''));
        } else {
          if (e.id && c.ownId) {
            c.callId = e.id;
            c.ownId = false;
          }
          if (e.name) c.name += e.name;
        }
        if (e.arguments) {
          c.args += e.arguments;
          if (!c.custom) out += this.event('response.function_call_arguments.delta', { item_id: c.id, output_index: c.index, delta: e.arguments });
          else if (!c.done) {
            const delta = c.custom.decoder.push(e.arguments);
            if (delta !== '') {
              c.custom.streamed += delta;
              out += this.event('response.custom_tool_call_input.delta', { item_id: c.id, output_index: c.index, delta });
            }
          }
        }
        // A late delta for a call already closed (upstreams that interleave calls): its done events
        // are gone, but the final response still gets the call whole.
        if (c.done) this.output[c.index] = this.callItemOf(c, 'completed');
        return out;
      }
      case 'finish':
        this.reason = e.reason;
        return out;
      case 'usage':
        this.usage = e.usage;
        return out;
      case 'retrieval': {
        out += this.close();
        this.sources = e.results;
        const id = this.newId('fs');
        const index = this.output.length;
        const at = { item_id: id, output_index: index };
        return (
          out +
          this.add(fileSearchItem(id, e.queries, undefined, 'in_progress')) +
          this.event('response.file_search_call.in_progress', at) +
          this.event('response.file_search_call.searching', at) +
          this.event('response.file_search_call.completed', at) +
          this.done(index, fileSearchItem(id, e.queries, includesResults(this.body) ? e.results : undefined, 'completed'))
        );
      }
      case 'start':
      case 'trace':
        return out;
    }
  }

  /** Closes the open item and sends response.completed (or response.incomplete) with the whole response. */
  end(): string {
    if (this.final) return '';
    let out = this.start();
    const { status, incompleteDetails } = ending(this.reason);
    out += this.close(status);
    this.final = {
      ...responseObject(this.id, this.body, this.createdAt, status),
      incomplete_details: incompleteDetails,
      output: [...this.output],
      usage: usageToResponses(this.usage),
      ...(status === 'completed' && { completed_at: completedAt(this.createdAt, this.now) }),
    };
    return out + this.event(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: this.final });
  }

  /**
   * A failure after the stream began: `response.failed` (the response, status `failed`, with
   * `error` {code, message} and the output so far), then the `error` event. The official SDK
   * raises an APIError on the `error` event only; `response.failed` alone ends its stream with a
   * failed response and no exception.
   */
  fail(e: HubError): string {
    if (this.final) return '';
    let out = this.start();
    const o = this.open;
    if (o) {
      this.open = undefined;
      if (o.kind === 'message') this.output[o.index] = messageItem(o.id, o.text, 'incomplete', fileCitations(o.text, this.sources));
      else if (o.kind === 'reasoning') this.output[o.index] = reasoningItem(o.id, o.text, undefined, 'incomplete');
      else this.output[o.index] = this.callItemOf(o, 'incomplete', o.custom?.streamed);
    }
    this.final = {
      ...responseObject(this.id, this.body, this.createdAt, 'failed'),
      error: responseFailure(e),
      output: [...this.output],
      usage: this.usage ? usageToResponses(this.usage) : null,
    };
    out += this.event('response.failed', { response: this.final });
    return out + this.errorEvent(e);
  }

  /** The standalone `error` event, numbered in this stream. */
  errorEvent(e: HubError): string {
    return `event: error\ndata: ${JSON.stringify(responsesErrorEventData(e, this.seq++))}\n\n`;
  }

  /** Whether any output item has been sent. */
  get outputStarted(): boolean {
    return this.output.length > 0;
  }

  /** The final response object (after `end()` or `fail()`), for storing and `GET /v1/responses/{id}`. */
  get response(): Json | undefined {
    return this.final;
  }
}
