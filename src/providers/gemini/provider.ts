import type { Dispatcher } from 'undici';
import { HubError } from '../../core/errors.js';
import type { Model } from '../../core/model.js';
import type { ChatEvent, ChatRequest, EmbeddingRequest, EmbeddingResult } from '../../core/types.js';
import { estimateTextTokens } from '../../usage/estimate.js';
import { post, readText, transportError } from '../http.js';
import type { Timeouts } from '../http.js';
import { parseSSEEvent, SSESplitter } from '../sse.js';
import { geminiError } from './errors.js';
import { Redactor } from '../../core/redact.js';
import { chatRequestToGemini, countTokensRequest, modelId } from './request.js';
import { GeminiStreamDecoder } from './response.js';
import type { GeminiBatchEmbedResponse, GeminiCountTokensResponse, GeminiResponse } from './wire.js';

const GEMINI_BASE_URL = 'https://generativelanguage.googleapis.com/v1beta';

/** The most requests one batchEmbedContents call takes. */
const EMBED_BATCH = 100;

export interface GeminiOptions {
  /** Provider id, the prefix in `provider/model` names. */
  readonly id: string;
  /** Base URL including the version path, default `https://generativelanguage.googleapis.com/v1beta`. */
  readonly baseURL?: string;
  readonly apiKey?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly timeouts: Timeouts;
  /** The hub's upstream secrets, taken out of error text; default: this provider's own key and headers. */
  readonly redactor?: Redactor;
}

/**
 * The Gemini API (Generative Language API v1beta): `models/{model}:streamGenerateContent?alt=sse`
 * for chat, `models/{model}:countTokens` for counting, `models/{model}:batchEmbedContents` for
 * embeddings. The key travels in the `x-goog-api-key` header, never in the URL, so it cannot end
 * up in a log line.
 */
export class GeminiProvider implements Model {
  readonly provider: string;
  private readonly headers: Record<string, string>;
  private readonly baseURL: string;
  private readonly redactor: Redactor;

  constructor(private readonly o: GeminiOptions) {
    this.provider = o.id;
    this.baseURL = (o.baseURL ?? GEMINI_BASE_URL).replace(/\/+$/, '');
    this.headers = {
      'content-type': 'application/json',
      ...o.headers,
      ...(o.apiKey && { 'x-goog-api-key': o.apiKey }),
    };
    this.redactor = o.redactor ?? Redactor.forProvider(o.apiKey, o.headers, o.baseURL);
  }

  async *stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent> {
    const body = JSON.stringify(chatRequestToGemini(request));
    const res = await this.send(this.url(request.model, 'streamGenerateContent', true), body, signal);
    const decoder = new GeminiStreamDecoder(request.model, { provider: this.provider });
    const contentType = String(res.headers['content-type'] ?? '');
    if (!contentType.includes('text/event-stream')) {
      // Without SSE framing the API answers with one JSON document (or a JSON array of chunks).
      const doc = this.parse(await readText(res.body, this.provider));
      for (const chunk of Array.isArray(doc) ? (doc as GeminiResponse[]) : [doc as GeminiResponse]) {
        yield* decoder.push(this.checked(chunk));
      }
    } else {
      const splitter = new SSESplitter(this.provider);
      try {
        for await (const text of res.body as AsyncIterable<Buffer>) {
          for (const block of splitter.push(text)) yield* this.block(block, decoder);
        }
        const rest = splitter.rest();
        if (rest) yield* this.block(rest, decoder);
      } catch (err) {
        throw transportError(err, this.provider);
      }
    }
    if (!decoder.finished) {
      throw new HubError('upstream', `Upstream ${this.provider} ended the stream before it was complete`, { provider: this.provider });
    }
    yield* decoder.finish();
  }

  /** Prompt tokens of a request (contents, system instruction and tools), as the model counts them. */
  async countTokens(request: ChatRequest, signal: AbortSignal): Promise<number> {
    const body = JSON.stringify(countTokensRequest(request));
    const res = await this.send(this.url(request.model, 'countTokens', false), body, signal);
    const doc = this.parse(await readText(res.body, this.provider)) as GeminiCountTokensResponse;
    if (typeof doc?.totalTokens !== 'number') {
      // The API omits zero-valued fields: an empty prompt counts as `{}`.
      if (doc && typeof doc === 'object' && !Array.isArray(doc)) return 0;
      throw this.garbage();
    }
    return doc.totalTokens;
  }

  /**
   * Embeddings, all inputs in one `batchEmbedContents` call (`dimensions` → each request's
   * `outputDimensionality`). Google reports no token counts for embeddings, so the input is
   * counted here with the hub's estimate.
   */
  async embed(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult> {
    const name = `models/${modelId(request.model)}`;
    const url = this.url(request.model, 'batchEmbedContents', false);
    const embeddings: number[][] = [];
    // The API takes at most 100 requests per batch.
    for (let from = 0; from < request.input.length; from += EMBED_BATCH) {
      const texts = request.input.slice(from, from + EMBED_BATCH);
      const body = JSON.stringify({
        requests: texts.map((text) => ({
          model: name,
          content: { parts: [{ text }] },
          ...(request.dimensions !== undefined && { outputDimensionality: request.dimensions }),
        })),
      });
      const res = await this.send(url, body, signal);
      const doc = this.parse(await readText(res.body, this.provider)) as GeminiBatchEmbedResponse;
      const list = doc && typeof doc === 'object' ? doc.embeddings : undefined;
      if (!Array.isArray(list) || list.length !== texts.length || !list.every((e) => Array.isArray(e?.values))) {
        throw new HubError('upstream', `Upstream ${this.provider} returned ${Array.isArray(list) ? list.length : 'no'} embeddings for ${texts.length} inputs`, { provider: this.provider });
      }
      for (const e of list) embeddings.push(e.values);
    }
    const tokens = request.input.reduce((n, text) => n + estimateTextTokens(text), 0);
    return { model: request.model, embeddings, usage: { inputTokens: tokens, outputTokens: 0 } };
  }

  private url(model: string, method: string, sse: boolean): URL {
    return new URL(`${this.baseURL}/models/${encodeURIComponent(modelId(model))}:${method}${sse ? '?alt=sse' : ''}`);
  }

  /** Resolves only on a 2xx answer; anything else becomes a HubError with Google's message. */
  private async send(url: URL, body: string, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const res = await post({ url, headers: this.headers, body, signal, timeouts: this.o.timeouts, provider: this.provider });
    if (res.statusCode >= 200 && res.statusCode < 300) return res;
    const text = await readText(res.body, this.provider).catch(() => '');
    throw geminiError(this.provider, res.statusCode, res.headers, text, this.redactor);
  }

  private *block(block: string, decoder: GeminiStreamDecoder): Iterable<ChatEvent> {
    const ev = parseSSEEvent(block);
    if (!ev || ev.data === '') return;
    yield* decoder.push(this.checked(this.parse(ev.data) as GeminiResponse));
  }

  /** A chunk that reports an error inside a 200 stream fails the request. */
  private checked(chunk: GeminiResponse): GeminiResponse {
    if (chunk && typeof chunk === 'object' && chunk.error) {
      throw geminiError(this.provider, typeof chunk.error.code === 'number' && chunk.error.code >= 400 ? chunk.error.code : 502, {}, JSON.stringify({ error: chunk.error }), this.redactor);
    }
    if (!chunk || typeof chunk !== 'object') throw this.garbage();
    return chunk;
  }

  private parse(text: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw this.garbage();
    }
  }

  private garbage(): HubError {
    return new HubError('upstream', `Upstream ${this.provider} returned a response that is not valid JSON`, { provider: this.provider });
  }
}
