/**
 * Canonical types every folder speaks. Inbound protocols convert client wire formats to these,
 * providers convert these to upstream wire formats. Keep this file small and stable.
 */

export type JSONSchema = Record<string, unknown>;

export interface TextPart {
  readonly type: 'text';
  readonly text: string;
}

export interface ImagePart {
  readonly type: 'image';
  /** https: URL or data: URL (base64). */
  readonly url: string;
  readonly detail?: 'auto' | 'low' | 'high';
}

/** What one provider family attached to a reasoning block, opaque to everyone else. */
export interface OpaqueReasoning {
  /** Signs the block (and ends it, in a stream). */
  readonly signature?: string;
  /** The data of a whole block that has no readable text (a redacted one). */
  readonly redacted?: string;
}

/**
 * Provider-specific opaque data, under the key of the provider family that made it:
 * `{ anthropic: { signature } }`. It must travel back to that family byte for byte, and only to
 * it (another would reject it): each provider reads its own key and ignores the others. The keys
 * mean nothing here.
 */
export type ProviderMetadata = Readonly<Record<string, OpaqueReasoning>>;

/** Reasoning as the model produced it; a signed or redacted block carries its opaque data. */
export interface ReasoningPart {
  readonly type: 'reasoning';
  readonly text: string;
  readonly providerMetadata?: ProviderMetadata;
}

export interface ToolCall {
  readonly id: string;
  readonly name: string;
  /** JSON text exactly as the model produced it. */
  readonly arguments: string;
}

export type Message =
  | { readonly role: 'system'; readonly content: string }
  | { readonly role: 'user'; readonly content: readonly (TextPart | ImagePart)[] }
  | {
      readonly role: 'assistant';
      readonly content: string;
      readonly reasoning?: readonly ReasoningPart[];
      readonly toolCalls?: readonly ToolCall[];
    }
  | { readonly role: 'tool'; readonly toolCallId: string; readonly content: string; readonly isError?: boolean };

export interface Tool {
  readonly name: string;
  readonly description?: string;
  readonly parameters: JSONSchema;
  readonly strict?: boolean;
}

export type ToolChoice = 'auto' | 'none' | 'required' | { readonly name: string };

export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly name: string; readonly schema: JSONSchema; readonly strict?: boolean };

export type ReasoningEffort = 'minimal' | 'low' | 'medium' | 'high';

/** The client asked the model to think. Providers map this to their own switch. */
export interface ReasoningRequest {
  readonly effort?: ReasoningEffort;
  /** Anthropic-style thinking budget in tokens. */
  readonly budgetTokens?: number;
  /** The client asked the model NOT to think (Anthropic `disabled`, OpenAI effort `none`). */
  readonly disabled?: boolean;
}

export interface ChatRequest {
  /** The name the upstream knows the model by (already resolved by routing). */
  readonly model: string;
  readonly messages: readonly Message[];
  readonly tools?: readonly Tool[];
  readonly toolChoice?: ToolChoice;
  readonly parallelToolCalls?: boolean;
  readonly maxTokens?: number;
  readonly temperature?: number;
  readonly topP?: number;
  readonly topK?: number;
  readonly stop?: readonly string[];
  readonly seed?: number;
  /** Number of choices. Events carry a `choice` index. */
  readonly n?: number;
  readonly responseFormat?: ResponseFormat;
  readonly logprobs?: boolean;
  readonly topLogprobs?: number;
  readonly frequencyPenalty?: number;
  readonly presencePenalty?: number;
  /** Present when the client asked for thinking. */
  readonly reasoning?: ReasoningRequest;
  readonly user?: string;
  /** Fields no canonical type covers, passed verbatim to upstreams of the same wire family. */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export interface Usage {
  /** All prompt tokens, cached ones included. */
  readonly inputTokens: number;
  /** All completion tokens, reasoning ones included. */
  readonly outputTokens: number;
  /** Prompt tokens served from the provider's cache (a subset of inputTokens). */
  readonly cachedInputTokens?: number;
  /** Prompt tokens written to the provider's cache (a subset of inputTokens). */
  readonly cacheWriteTokens?: number;
  /** Completion tokens spent on reasoning (a subset of outputTokens). */
  readonly reasoningTokens?: number;
}

export interface TokenLogprob {
  readonly token: string;
  readonly logprob: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** One sub-call of a virtual model, as its trace reports it. */
export interface TraceStep {
  /** e.g. `proposer`, `aggregator`, `sample`, `cascade`, `judge`, `plan`, `subtask:<id>`, `synthesize`. */
  readonly stage: string;
  /** The public model name that was called. */
  readonly model: string;
  /** What it answered (may be shortened). */
  readonly text: string;
  readonly usage?: Usage;
  readonly costUsd?: number;
  readonly latencyMs: number;
  /** Set when the call failed; the step then has no text. */
  readonly error?: string;
  /** Kind-specific facts: the extracted answer, a score, whether a check passed, … */
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** A passage a knowledge-grounded answer was given (OpenAI's file_search result, a rag model's source). */
export interface RetrievedPassage {
  readonly fileId: string;
  readonly filename: string;
  readonly vectorStoreId: string;
  /** 0…1, higher is better. */
  readonly score: number;
  readonly text: string;
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
}

export type ChatEvent =
  | { readonly type: 'start'; readonly id: string; readonly model: string }
  /**
   * What a knowledge-grounded answer searched for and found, sent once before its text. The
   * answer cites passage i (from 0) as `[i+1]` (see core/citations.ts).
   */
  | { readonly type: 'retrieval'; readonly queries: readonly string[]; readonly results: readonly RetrievedPassage[] }
  /** A virtual model's sub-calls, sent once before its final answer finishes. */
  | { readonly type: 'trace'; readonly steps: readonly TraceStep[]; readonly summary?: Readonly<Record<string, unknown>> }
  | {
      readonly type: 'text';
      readonly choice: number;
      readonly text: string;
      /** Token log-probabilities of this text, where the provider returns them (OpenAI `logprobs`). */
      readonly logprobs?: readonly TokenLogprob[];
    }
  | {
      readonly type: 'reasoning';
      readonly choice: number;
      readonly text: string;
      /**
       * Opaque data that closes the current reasoning block (a `signature`), or, with `redacted`,
       * a whole block of its own with no text.
       */
      readonly providerMetadata?: ProviderMetadata;
    }
  | {
      readonly type: 'tool_call';
      readonly choice: number;
      /** Position of the call among the choice's calls; deltas of one call share it. */
      readonly index: number;
      /** Present on the first delta of a call. */
      readonly id?: string;
      readonly name?: string;
      readonly arguments: string;
    }
  | {
      readonly type: 'finish';
      readonly choice: number;
      readonly reason: FinishReason;
      /** The stop sequence that ended the answer, when one did (reason is then 'stop'). */
      readonly stopSequence?: string;
    }
  /** `costUsd`: what a virtual model's sub-call cost, set by the hub's sub-call runner only. */
  | { readonly type: 'usage'; readonly usage: Usage; readonly costUsd?: number };

export interface EmbeddingRequest {
  readonly model: string;
  readonly input: readonly string[];
  readonly dimensions?: number;
  readonly user?: string;
}

export interface EmbeddingResult {
  readonly model: string;
  readonly embeddings: readonly (readonly number[])[];
  readonly usage: Usage;
}

/**
 * Scoring documents against a query (a cross-encoder reranker). The documents are the caller's:
 * a result names its document by index, and whoever shows the text back takes it from there, so
 * no upstream is asked to send the documents back.
 */
export interface RerankRequest {
  readonly model: string;
  readonly query: string;
  readonly documents: readonly string[];
  /** At most this many results, the best first; all documents when undefined. */
  readonly topN?: number;
}

export interface RerankResult {
  readonly model: string;
  /** Best first; `index` is the document's place in the request. */
  readonly results: readonly { readonly index: number; readonly relevanceScore: number }[];
  /** Input tokens as the upstream reported them; undefined when it reported none. */
  readonly usage: Usage | undefined;
}
