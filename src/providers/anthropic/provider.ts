import type { Cancel } from '../../core/cancel.js';
import type { Dispatcher } from 'undici';
import { HubError } from '../../core/errors.js';
import type { Model, Passthrough, PassthroughFormat } from '../../core/model.js';
import type { ChatEvent, ChatRequest } from '../../core/types.js';
import { post, postWhole, readText, transportError } from '../http.js';
import { openSSERelay } from '../sse-relay.js';
import type { RelayedStream, Sink } from '../sse-relay.js';
import type { PostOptions, Timeouts } from '../http.js';
import { parseSSEEvent, SSESplitter } from '../sse.js';
import { upstreamError } from './errors.js';
import { Redactor } from '../../core/redact.js';
import { chatRequestToAnthropic, countTokensRequestToAnthropic } from './request.js';
import { AnthropicStreamDecoder, messageToStreamEvents } from './response.js';
import type { AnthropicMessage, AnthropicStreamEvent } from './wire.js';
import { relayStream, relayWhole } from '../passthrough.js';
import { MessagesObserver, readMessage } from './passthrough.js';

export interface AnthropicProviderOptions {
  /** Provider id, the prefix in `provider/model` names. */
  readonly id: string;
  /** Origin (and optional path prefix) without `/v1`, e.g. `https://api.anthropic.com`; no trailing slash. */
  readonly baseURL: string;
  readonly apiKey?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeouts: Timeouts;
  /** The `anthropic-version` header; default 2023-06-01. */
  readonly version?: string;
  /** `max_tokens` when a request sets none (the Messages API requires it); default 4096. */
  readonly defaultMaxTokens?: number;
  /** The hub's upstream secrets, taken out of error text; default: this provider's own key and headers. */
  readonly redactor?: Redactor;
}

const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';
const DEFAULT_MAX_TOKENS = 4096;

const betaHeader = (beta: string | undefined) => (beta ? { 'anthropic-beta': beta } : undefined);

/** Anthropic's Messages API (`POST /v1/messages`, always streaming) as a canonical Model. */
export class AnthropicProvider implements Model {
  readonly provider: string;
  private readonly headers: Record<string, string>;
  private readonly messagesURL: URL;
  private readonly countTokensURL: URL;
  /** Anthropic's API requires `max_tokens`: what is sent when the request names none. */
  readonly defaultMaxTokens: number;
  private readonly redactor: Redactor;
  private readonly messages: Passthrough;

  constructor(private readonly o: AnthropicProviderOptions) {
    this.provider = o.id;
    const base = o.baseURL.replace(/\/+$/, '');
    this.headers = {
      'content-type': 'application/json',
      accept: 'text/event-stream, application/json',
      'anthropic-version': o.version ?? DEFAULT_ANTHROPIC_VERSION,
      ...o.headers,
      ...(o.apiKey && { 'x-api-key': o.apiKey }),
    };
    this.messagesURL = new URL(`${base}/v1/messages`);
    this.countTokensURL = new URL(`${base}/v1/messages/count_tokens`);
    this.defaultMaxTokens = o.defaultMaxTokens ?? DEFAULT_MAX_TOKENS;
    this.redactor = o.redactor ?? Redactor.forProvider(o.apiKey, o.headers, o.baseURL);
    this.messages = {
      whole: (r, signal) => relayWhole(this.relayWhole(JSON.stringify({ ...r.body, model: r.model }), signal, r.beta), readMessage, this.provider),
      stream: (r, signal, open) => {
        const observer = new MessagesObserver(this.provider);
        return relayStream(observer, this.relayStream(JSON.stringify({ ...r.body, model: r.model }), signal, r.beta, observer.onBlock, open));
      },
    };
  }

  /** Anthropic clients are relayed as they are: prompt-caching marks, server tools and betas reach the upstream untouched. */
  passthrough(format: PassthroughFormat): Passthrough | undefined {
    return format === 'anthropic-messages' ? this.messages : undefined;
  }

  /**
   * Sends an Anthropic-format client's body as it is (same-format pass-through): prompt-caching
   * marks, server tools and betas reach the provider untouched. The whole 2xx body as text;
   * anything else becomes a HubError, like `send`.
   */
  async relayWhole(body: string, signal: AbortSignal | Cancel, beta?: string): Promise<string> {
    const res = await postWhole(this.postOptions(this.messagesURL, body, signal, betaHeader(beta)));
    if (res.statusCode >= 200 && res.statusCode < 300) return res.text;
    throw this.failure(res.statusCode, res.headers, res.text);
  }

  /** `relayWhole` for a streaming request: resolves at the first whole event (see sse-relay.ts). */
  relayStream(body: string, signal: AbortSignal | Cancel, beta: string | undefined, onBlock: (block: string) => string, open?: () => Sink): Promise<RelayedStream> {
    const o = this.postOptions(this.messagesURL, body, signal, betaHeader(beta));
    return openSSERelay({ ...o, fail: this.failure, onBlock, redactor: this.redactor, ...(open && { open }) });
  }

  /** Posts a body; resolves only on a 2xx answer, anything else becomes a HubError. */
  private async send(url: URL, body: string, signal: AbortSignal | Cancel, extra?: Record<string, string>): Promise<Dispatcher.ResponseData> {
    const res = await post(this.postOptions(url, body, signal, extra));
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    throw this.failure(res.statusCode, res.headers, await readText(res.body, this.provider).catch(() => ''));
  }

  private postOptions(url: URL, body: string, signal: AbortSignal | Cancel, extra?: Record<string, string>): PostOptions {
    return { url, headers: extra ? { ...this.headers, ...extra } : this.headers, body, signal, timeouts: this.o.timeouts, provider: this.provider };
  }

  /** A non-2xx answer as a HubError carrying the provider's message. */
  private readonly failure = (status: number, headers: Record<string, string | string[] | undefined>, text: string) =>
    upstreamError(this.provider, status, headers, text, this.redactor);

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const body = JSON.stringify(chatRequestToAnthropic(request, { defaultMaxTokens: this.defaultMaxTokens }));
    const res = await this.send(this.messagesURL, body, signal);
    const decoder = new AnthropicStreamDecoder(this.provider, request.model, this.redactor);
    const contentType = String(res.headers['content-type'] ?? '');
    if (!contentType.includes('text/event-stream')) {
      // A server that ignored `stream: true` and answered with one message.
      const message = this.parse<AnthropicMessage>(await readText(res.body, this.provider));
      if ((message as { type?: unknown }).type === 'error') {
        yield* decoder.decode('error', message as AnthropicStreamEvent);
      }
      for (const e of messageToStreamEvents(message)) yield* decoder.decode(e.type, e);
      return;
    }
    const splitter = new SSESplitter(this.provider);
    const handle = (block: string): ChatEvent[] => {
      const ev = parseSSEEvent(block);
      if (!ev || ev.data === '') return [];
      return decoder.decode(ev.event, this.parse<AnthropicStreamEvent>(ev.data));
    };
    try {
      // Read to the end even after message_stop (the decoder ignores anything later), so the
      // keep-alive connection goes back to the pool.
      for await (const text of res.body as AsyncIterable<Buffer>) {
        for (const block of splitter.push(text)) yield* handle(block);
      }
      const rest = splitter.rest();
      if (rest) yield* handle(rest);
    } catch (err) {
      throw transportError(err, this.provider);
    }
    if (!decoder.done) {
      throw new HubError('upstream', `Upstream ${this.provider} ended the stream before it was complete`, { provider: this.provider });
    }
  }

  /** The prompt's size in tokens, from `POST /v1/messages/count_tokens`. */
  async countTokens(request: ChatRequest, signal: AbortSignal): Promise<number> {
    const body = JSON.stringify(countTokensRequestToAnthropic(request, { defaultMaxTokens: this.defaultMaxTokens }));
    const res = await this.send(this.countTokensURL, body, signal);
    const parsed = this.parse<{ input_tokens?: unknown }>(await readText(res.body, this.provider));
    if (typeof parsed.input_tokens !== 'number') {
      throw new HubError('upstream', `Upstream ${this.provider} returned a token count without input_tokens`, { provider: this.provider });
    }
    return parsed.input_tokens;
  }

  private parse<T>(text: string): T {
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      v = undefined;
    }
    if (v === null || typeof v !== 'object') {
      throw new HubError('upstream', `Upstream ${this.provider} returned a response that is not valid JSON`, { provider: this.provider });
    }
    return v as T;
  }
}
