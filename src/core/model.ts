import type { Collected } from './collect.js';
import type { ChatEvent, ChatRequest, EmbeddingRequest, EmbeddingResult } from './types.js';

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
  /**
   * The output-token cap it sends upstream when a request names none (Anthropic's API requires
   * one); absent when it sends none and the upstream's own default applies.
   */
  readonly defaultMaxTokens?: number;
  /**
   * A model made of other models (a virtual model): the same model with its member calls made
   * through `caller`, which the gateway builds for each call from that call's context.
   */
  bind?(caller: ModelCaller): Model;
}

export interface SubCallResult extends Collected {
  /** USD, from catalog prices; undefined when the price is unknown. */
  readonly costUsd: number | undefined;
  readonly latencyMs: number;
}

/**
 * How a virtual model calls other models: through the hub, so that routing, limits, budgets and
 * accounting apply to every sub-call. `request.model` is ignored; `model` is a public name.
 */
export interface ModelCaller {
  complete(model: string, request: ChatRequest, signal: AbortSignal): Promise<SubCallResult>;
  stream(model: string, request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
  /** The most a call can cost in USD, for ceilings; undefined when the price is unknown. */
  worstCaseUsd(model: string, request: ChatRequest): number | undefined;
}

/** Whether a model also embeds text: the `embed` capability, whatever its wire format. */
export function canEmbed(m: Model): m is Model & Required<Pick<Model, 'embed'>> {
  return typeof m.embed === 'function';
}
