import type { Dispatcher } from 'undici';
import type { Cancel } from '../../core/cancel.js';
import { HubError } from '../../core/errors.js';
import type { Model, Passthrough, PassthroughFormat } from '../../core/model.js';
import type { ChatEvent, ChatRequest, RerankRequest, RerankResult } from '../../core/types.js';
import { post, postWhole, readText, transportError } from '../http.js';
import type { PostOptions, Timeouts } from '../http.js';
import { parseSSEEvent, SSESplitter } from '../sse.js';
import { openSSERelay } from '../sse-relay.js';
import type { RelayedStream, Sink } from '../sse-relay.js';
import { streamError, upstreamError } from './errors.js';
import { Redactor } from '../../core/redact.js';
import { chatRequestToWire } from './request.js';
import { applyThinking, reasoningField } from './thinking.js';
import { chunkToEvents } from './response.js';
import type { Dialect } from '../index.js';
import type { WireChunk, WireDelta, WireUsage } from './wire.js';
import { relayStream, relayWhole } from '../passthrough.js';
import { ChatObserver, readCompletion, readEmbeddings } from './passthrough.js';
import { readResponse, ResponsesObserver } from './responses-passthrough.js';
import { rerankRequestToWire, rerankResponseFromWire, rerankURL } from './rerank.js';

export interface OpenAICompatibleOptions {
  /** Provider id, the prefix in `provider/model` names. */
  readonly id: string;
  /** Base URL including the version path, no trailing slash. */
  readonly baseURL: string;
  readonly apiKey?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeouts: Timeouts;
  readonly maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** How it switches thinking and reads reasoning back (thinking.ts); none: bodies go as sent. */
  readonly dialect?: Dialect | undefined;
  /** The server also speaks OpenAI's Responses API (`POST {baseURL}/responses`). */
  readonly responsesAPI?: boolean;
  /** The hub's upstream secrets, taken out of error text; default: this provider's own key and headers. */
  readonly redactor?: Redactor;
}

type Endpoint = 'chat' | 'embeddings' | 'responses' | 'rerank';

/** An `"error": {…}` object (not `"error": null`, which every Response carries). */
const ERROR_OBJECT = /"error"\s*:\s*\{/;

/**
 * Any server that speaks OpenAI chat completions (and embeddings, and Responses where it offers
 * them). It is a Model (canonical in and out) and relays clients that speak the same format
 * (`passthrough`: chat completions, embeddings, and Responses where the server offers them):
 * embeddings only ever go that way.
 */
export class OpenAICompatibleProvider implements Model {
  readonly provider: string;
  private readonly headers: Record<string, string>;
  private readonly chatURL: URL;
  private readonly embeddingsURL: URL;
  private readonly responsesURL: URL;
  private readonly rerankURL: URL;
  /** Whether Responses requests may be relayed to this server as they are. */
  readonly speaksResponses: boolean;
  private readonly redactor: Redactor;
  private readonly chat: Passthrough;
  private readonly embeddings: Passthrough;
  private readonly responses: Passthrough | undefined;

  constructor(private readonly o: OpenAICompatibleOptions) {
    this.provider = o.id;
    this.headers = {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...o.headers,
      ...(o.apiKey && { authorization: `Bearer ${o.apiKey}` }),
    };
    this.chatURL = new URL(`${o.baseURL}/chat/completions`);
    this.embeddingsURL = new URL(`${o.baseURL}/embeddings`);
    this.responsesURL = new URL(`${o.baseURL}/responses`);
    this.rerankURL = new URL(rerankURL(o.baseURL, o.dialect));
    this.speaksResponses = o.responsesAPI === true;
    this.redactor = o.redactor ?? Redactor.forProvider(o.apiKey, o.headers, o.baseURL);
    const p = this.provider;
    this.chat = {
      whole: (r, signal) => relayWhole(this.relayWhole('chat', JSON.stringify(this.relayBody(r.model, r.body)), signal), readCompletion, p),
      stream: (r, signal, open) => {
        const body = { ...this.relayBody(r.model, r.body), stream_options: { ...(r.body.stream_options as object | null | undefined), include_usage: true } };
        const observer = new ChatObserver(p, r.includeUsage === true);
        return relayStream(observer, this.relayStream('chat', JSON.stringify(body), signal, observer.onBlock, open));
      },
    };
    this.embeddings = {
      whole: (r, signal) => relayWhole(this.relayWhole('embeddings', JSON.stringify({ ...r.body, model: r.model }), signal), readEmbeddings, p),
      stream: () => Promise.reject(new HubError('bad_request', 'Embeddings do not stream.')),
    };
    this.responses = this.speaksResponses
      ? {
          whole: (r, signal) => relayWhole(this.relayWhole('responses', JSON.stringify({ ...r.body, model: r.model }), signal), readResponse, p),
          stream: (r, signal, open) => {
            const observer = new ResponsesObserver();
            return relayStream(observer, this.relayStream('responses', JSON.stringify({ ...r.body, model: r.model }), signal, observer.onBlock, open));
          },
        }
      : undefined;
  }

  /** The same-format relays it offers: chat completions and embeddings always, Responses where the server speaks them. */
  passthrough(format: PassthroughFormat): Passthrough | undefined {
    return format === 'openai-chat' ? this.chat : format === 'openai-embeddings' ? this.embeddings : format === 'openai-responses' ? this.responses : undefined;
  }

  /**
   * Sends a wire-format body as is. Resolves only on a 2xx answer; anything else becomes a
   * HubError carrying the provider's message.
   */
  private async relay(endpoint: Endpoint, body: string, signal: AbortSignal | Cancel): Promise<Dispatcher.ResponseData> {
    const res = await post(this.postOptions(endpoint, body, signal));
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    throw this.failure(res.statusCode, res.headers, await readText(res.body, this.provider).catch(() => ''));
  }

  /** `relay` for a non-streaming request: the whole 2xx body as text. */
  async relayWhole(endpoint: Endpoint, body: string, signal: AbortSignal | Cancel): Promise<string> {
    const res = await postWhole(this.postOptions(endpoint, body, signal));
    // A 2xx body that reports an error (a failed Response, a gateway's `{"error":{…}}`) is passed
    // on as it came, so the hub's secrets are taken out of it; a normal body is not scanned.
    if (res.statusCode >= 200 && res.statusCode < 300) return ERROR_OBJECT.test(res.text) ? this.redactor.redact(res.text) : res.text;
    throw this.failure(res.statusCode, res.headers, res.text);
  }

  /** `relay` for a streaming request: resolves at the first whole event (see sse-relay.ts). */
  relayStream(endpoint: 'chat' | 'responses', body: string, signal: AbortSignal | Cancel, onBlock: (block: string) => string, open?: () => Sink): Promise<RelayedStream> {
    return openSSERelay({ ...this.postOptions(endpoint, body, signal), fail: this.failure, onBlock, redactor: this.redactor, ...(open && { open }) });
  }

  private postOptions(endpoint: Endpoint, body: string, signal: AbortSignal | Cancel): PostOptions {
    const url = endpoint === 'chat' ? this.chatURL : endpoint === 'embeddings' ? this.embeddingsURL : endpoint === 'rerank' ? this.rerankURL : this.responsesURL;
    return { url, headers: this.headers, body, signal, timeouts: this.o.timeouts, provider: this.provider };
  }

  /** A non-2xx answer as a HubError carrying the provider's message. */
  private readonly failure = (status: number, headers: Record<string, string | string[] | undefined>, text: string) =>
    upstreamError(this.provider, status, headers, text, this.redactor);

  /**
   * A client's chat-completions body, ready for this provider: the upstream model name, its
   * dialect's thinking switch for `reasoning_effort`, and reasoning sent back in the field it
   * reads. Untouched otherwise, so the relay stays byte-for-byte where it can.
   */
  relayBody(upstreamModel: string, json: Record<string, unknown>): Record<string, unknown> {
    let body: Record<string, unknown> = { ...json, model: upstreamModel };
    const effort = json.reasoning_effort;
    if (typeof effort === 'string') body = applyThinking(this.o.dialect, upstreamModel, body, { effort });
    const field = reasoningField(this.o.dialect);
    if (field !== 'reasoning_content' && Array.isArray(body.messages) && body.messages.some((m) => (m as { reasoning_content?: unknown }).reasoning_content)) {
      body.messages = (body.messages as Record<string, unknown>[]).map((m) => {
        if (typeof m.reasoning_content !== 'string') return m;
        const { reasoning_content, ...rest } = m;
        if (field === 'reasoning') return { ...rest, reasoning: reasoning_content };
        if (field === 'reasoning_details') return { ...rest, reasoning_details: [{ type: 'reasoning.text', text: reasoning_content }] };
        return rest;
      });
    }
    return body;
  }

  /**
   * Reranks through the server's Jina/Cohere-shaped rerank endpoint (rerank.ts). Offered by every
   * OpenAI-compatible provider: whether a model reranks is the server's to say, and its refusal
   * (a 404 for the path, a 400 for the model) comes back as its other errors do.
   */
  async rerank(request: RerankRequest, signal: AbortSignal): Promise<RerankResult> {
    const text = await this.relayWhole('rerank', JSON.stringify(rerankRequestToWire(request)), signal);
    return rerankResponseFromWire(this.provider, text, request);
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const body = JSON.stringify(chatRequestToWire(request, { maxTokensField: this.o.maxTokensField, dialect: this.o.dialect }));
    const res = await this.relay('chat', body, signal);
    const contentType = String(res.headers['content-type'] ?? '');
    if (!contentType.includes('text/event-stream')) {
      // Some servers ignore `stream: true` and answer with one JSON document.
      yield* this.wholeBodyEvents(await readText(res.body, this.provider));
      return;
    }
    const splitter = new SSESplitter(this.provider);
    let started = false;
    let done = false;
    try {
      for await (const text of res.body as AsyncIterable<Buffer>) {
        for (const block of splitter.push(text)) {
          const ev = parseSSEEvent(block);
          if (!ev) continue;
          if (ev.data === '[DONE]') {
            done = true;
            continue;
          }
          const chunk = this.parseChunk(ev.data);
          if (!started) {
            started = true;
            yield { type: 'start', id: chunk.id ?? '', model: chunk.model ?? request.model };
          }
          yield* chunkToEvents(chunk);
        }
      }
    } catch (err) {
      throw transportError(err, this.provider);
    }
    if (!done) {
      throw new HubError('upstream', `Upstream ${this.provider} ended the stream before it was complete`, {
        provider: this.provider,
      });
    }
  }

  private parseChunk(data: string): WireChunk {
    let chunk: WireChunk;
    try {
      chunk = JSON.parse(data) as WireChunk;
    } catch {
      throw this.garbage();
    }
    if (chunk.error) throw streamError(this.provider, chunk.error, this.redactor);
    return chunk;
  }

  private *wholeBodyEvents(text: string): Iterable<ChatEvent> {
    let doc: { id?: string; model?: string; choices?: { index?: number; message?: WireDelta; finish_reason?: string | null }[]; usage?: WireUsage };
    try {
      doc = JSON.parse(text);
    } catch {
      throw this.garbage();
    }
    yield { type: 'start', id: doc.id ?? '', model: doc.model ?? '' };
    yield* chunkToEvents({
      choices: (doc.choices ?? []).map((c) => ({ index: c.index ?? 0, delta: c.message ?? {}, finish_reason: c.finish_reason ?? null })),
      usage: doc.usage ?? null,
    });
  }

  private garbage(): HubError {
    return new HubError('upstream', `Upstream ${this.provider} returned a response that is not valid JSON`, {
      provider: this.provider,
    });
  }
}
