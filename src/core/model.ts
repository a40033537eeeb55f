import type { ChatEvent, ChatRequest, EmbeddingRequest, EmbeddingResult } from './types.js';

/**
 * Anything that answers a chat request: a provider deployment, a virtual model made of other
 * models, a knowledge-grounded model. Non-streaming is the collected stream (see collect.ts).
 */
export interface Model {
  /** The provider (or virtual-model kind) behind it, for records and headers. */
  readonly provider: string;
  stream(request: ChatRequest, signal: AbortSignal): AsyncIterable<ChatEvent>;
}

export interface EmbeddingModel {
  readonly provider: string;
  embed(request: EmbeddingRequest, signal: AbortSignal): Promise<EmbeddingResult>;
}
