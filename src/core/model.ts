import type { Collected } from './collect.js';
import type { Cancel } from './cancel.js';
import type { HubError } from './errors.js';
import type { ChatEvent, ChatRequest, EmbeddingRequest, EmbeddingResult, RerankRequest, RerankResult, RetrievedPassage, Usage } from './types.js';

/**
 * Anything that answers a chat request: a provider deployment, a virtual model made of other
 * models, a knowledge-grounded model. Non-streaming is the collected stream (see collect.ts).
 * Optional members are capabilities some models have.
 */
export interface Model {
  /** The provider (or virtual-model kind) behind it, for records and headers. */
  readonly provider: string;
  stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
  /** Embeds text (see `canEmbed`). */
  embed?(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult>;
  /** Scores documents against a query, best first (see `canRerank`). */
  rerank?(request: RerankRequest, signal: AbortSignal): Promise<RerankResult>;
  /**
   * The output-token cap it sends upstream when a request names none (Anthropic's API requires
   * one); absent when it sends none and the upstream's own default applies.
   */
  readonly defaultMaxTokens?: number;
  /**
   * The same-format relay for clients that speak `format`, when this model's upstream speaks it
   * too: the client's body goes out as sent (but for the model name) and the answer comes back
   * byte for byte, read on the way by the format's observer. Undefined when it cannot relay it.
   */
  passthrough?(format: PassthroughFormat): Passthrough | undefined;
  /**
   * A model made of other models (a virtual model): the same model with its member calls made
   * through `caller`, which the gateway builds for each call from that call's context.
   */
  bind?(caller: ModelCaller): Model;
}

/** The client-facing wire formats a provider may relay as they are. */
export type PassthroughFormat = 'openai-chat' | 'anthropic-messages' | 'openai-responses' | 'openai-embeddings';

/**
 * What a format's observer read from a relayed answer: the one meter of the relay path. Time to
 * first token is the first text, reasoning or tool-call byte of a stream, or the moment the whole
 * body arrived when the answer is not streamed (the canonical path's `noteEvent` reads it the same
 * way).
 */
export interface PassthroughMeter {
  usage: Usage | undefined;
  /** performance.now() of the first token (see above); undefined until it is seen. */
  firstTokenAt: number | undefined;
  /** The answer arrived whole: [DONE], message_stop, response.completed (or a whole body). */
  done: boolean;
  /** The upstream reported an error in-band and that event has reached the client as it came. */
  failed: boolean;
  /** Output text relayed before any usage, for counting when none arrives. */
  output: string;
}

/** A client's body for a same-format relay. */
export interface PassthroughRequest {
  /** The client's JSON body as parsed. */
  readonly body: Record<string, unknown>;
  /** The deployment's upstream model name, put in place of the client's. */
  readonly model: string;
  /** `anthropic-beta`, passed on to an Anthropic upstream. */
  readonly beta?: string | undefined;
  /** Whether the client asked for usage in its stream (`stream_options.include_usage`). */
  readonly includeUsage?: boolean;
}

/** Where a relayed stream's text goes: a ServerResponse, in practice. */
export interface Sink {
  write(text: string): boolean;
  once(event: 'drain', fn: () => void): unknown;
}

/** A relayed stream whose first event has been read and checked. */
export interface PassthroughStream {
  readonly meter: PassthroughMeter;
  /**
   * Sends what the first event(s) turned into, then every later event the moment it arrives;
   * resolves when the upstream ends. A slow sink pauses the upstream (backpressure).
   */
  pipe(sink: Sink, timeout: { timedOut(): boolean; timeoutError(): HubError }): Promise<void>;
}

export interface Passthrough {
  /** A non-streaming request: the whole 2xx body as the client will get it, and its meter. */
  whole(request: PassthroughRequest, signal: Cancel): Promise<{ text: string; meter: PassthroughMeter }>;
  /**
   * A streaming request: resolves once the first whole event has been read (garbage or an error
   * there can still fail over). `open`, called at that moment, gives the sink with its headers
   * sent, so the first bytes go out from the transport's data callback.
   */
  stream(request: PassthroughRequest, signal: Cancel, open?: () => Sink): Promise<PassthroughStream>;
}

export interface SubCallResult extends Collected {
  /** USD, from catalog prices; undefined when the price is unknown. */
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
}

/** What an embeddings call through a caller gave: one vector per input, in order. */
export interface EmbedCallResult {
  readonly vectors: Float32Array[];
  readonly usage: Usage | undefined;
  /** USD, from catalog prices; undefined when the price is unknown. */
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
}

/** What a rerank call through a caller gave: the best first, each naming its document by index. */
export interface RerankCallResult {
  readonly results: { index: number; relevanceScore: number }[];
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
}

/**
 * How a virtual model (or knowledge retrieval) calls other models: through the hub, so that
 * routing, limits, budgets and accounting apply to every call. `request.model` is ignored; `model`
 * is a public name.
 */
export interface ModelCaller {
  complete(model: string, request: ChatRequest, signal: AbortSignal): Promise<SubCallResult>;
  stream(model: string, request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
  /** The most a call can cost in USD, for ceilings; undefined when the price is unknown. */
  worstCaseUsd(model: string, request: ChatRequest): number | undefined;
  /** Embeds texts with an embedding model (the `embed` capability or an OpenAI-compatible relay). */
  embed(model: string, inputs: readonly string[], signal: AbortSignal): Promise<EmbedCallResult>;
  /** Scores documents against a query with a rerank model; `topN` keeps the best ones only. */
  rerank(model: string, query: string, documents: readonly string[], topN: number | undefined, signal: AbortSignal): Promise<RerankCallResult>;
  /**
   * Searches the hub's knowledge bases (a knowledge-grounded model's sources), its embedding and
   * rerank calls made through this same caller, so they are admitted and charged like the rest.
   */
  retrieve(query: RetrievalQuery, signal: AbortSignal): Promise<RetrievedPassage[]>;
}

/**
 * The hub's knowledge bases as the gateway offers them to its callers: a search whose embedding
 * and rerank calls go through `caller` (knowledge/search.ts implements it).
 */
export interface Retriever {
  retrieve(query: RetrievalQuery, caller: ModelCaller, signal: AbortSignal): Promise<RetrievedPassage[]>;
}

/** What a knowledge-grounded model searches for, and where. */
export interface RetrievalQuery {
  readonly vectorStoreIds: readonly string[];
  readonly query: string;
  readonly maxResults: number;
  /** 0…1: passages scoring lower are left out. */
  readonly scoreThreshold?: number;
  /** An OpenAI attribute filter (comparison or compound), as the Vector Stores API takes it. */
  readonly filters?: unknown;
}

/** Whether a model reranks documents: the `rerank` capability. */
export function canRerank(m: Model): m is Model & Required<Pick<Model, 'rerank'>> {
  return typeof m.rerank === 'function';
}

/** Whether a model also embeds text: the `embed` capability, whatever its wire format. */
export function canEmbed(m: Model): m is Model & Required<Pick<Model, 'embed'>> {
  return typeof m.embed === 'function';
}
