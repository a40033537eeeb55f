/**
 * The Gemini API (Generative Language API v1beta) wire format, as far as the hub reads or writes
 * it: `models/{model}:streamGenerateContent?alt=sse` and `models/{model}:countTokens`.
 * Field names and enum values follow the v1beta reference (Content, Part, Tool, GenerationConfig,
 * GenerateContentResponse, UsageMetadata); JSON uses the proto3 lowerCamelCase names.
 */

/**
 * The key of Gemini's opaque data (thought signatures) in canonical `providerMetadata`: only
 * what is under it is sent back to Gemini.
 */
export const METADATA_KEY = 'gemini';

/** The OpenAPI 3.0 subset Gemini accepts in `parameters` and `responseSchema`. */
export type GeminiType = 'STRING' | 'NUMBER' | 'INTEGER' | 'BOOLEAN' | 'ARRAY' | 'OBJECT' | 'NULL';

/** Counts are int64: proto3 JSON accepts them as numbers (or decimal strings). */
export interface GeminiSchema {
  type?: GeminiType;
  format?: string;
  title?: string;
  description?: string;
  nullable?: boolean;
  enum?: string[];
  default?: unknown;
  items?: GeminiSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, GeminiSchema>;
  required?: string[];
  propertyOrdering?: string[];
  minProperties?: number;
  maxProperties?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  anyOf?: GeminiSchema[];
}

export interface GeminiFunctionCall {
  /** Present on some responses; when present it must come back on the matching functionResponse. */
  id?: string;
  name: string;
  args?: Record<string, unknown>;
}

export interface GeminiFunctionResponse {
  id?: string;
  name: string;
  /** A JSON object. The API reads an `output` key as the result and an `error` key as a failure. */
  response: Record<string, unknown>;
}

/** Exactly one data field is set per part; `thought` and `thoughtSignature` may accompany it. */
export interface GeminiPart {
  text?: string;
  /** The part is a thought (summary) of the model, not answer text. */
  thought?: boolean;
  /** Opaque, base64: must be sent back on the same part in later turns. */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: GeminiFunctionCall;
  functionResponse?: GeminiFunctionResponse;
  /** Parts the hub never produces but may receive (code execution tool). */
  executableCode?: { language?: string; code?: string };
  codeExecutionResult?: { outcome?: string; output?: string };
}

export interface GeminiContent {
  role?: 'user' | 'model';
  parts: GeminiPart[];
}

export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: GeminiSchema;
}

export interface GeminiTool {
  functionDeclarations?: GeminiFunctionDeclaration[];
}

export interface GeminiToolConfig {
  functionCallingConfig: {
    mode: 'AUTO' | 'ANY' | 'NONE';
    allowedFunctionNames?: string[];
  };
}

export interface GeminiThinkingConfig {
  includeThoughts?: boolean;
  /** Tokens; 0 turns thinking off where a model allows it, -1 lets the model decide. */
  thinkingBudget?: number;
}

export interface GeminiGenerationConfig {
  stopSequences?: string[];
  responseMimeType?: string;
  responseSchema?: GeminiSchema;
  candidateCount?: number;
  maxOutputTokens?: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: number;
  thinkingConfig?: GeminiThinkingConfig;
}

export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: GeminiContent;
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  generationConfig?: GeminiGenerationConfig;
}

export interface GeminiSafetyRating {
  category?: string;
  probability?: string;
  blocked?: boolean;
}

export interface GeminiCandidate {
  content?: { role?: string; parts?: GeminiPart[] };
  /** STOP, MAX_TOKENS, SAFETY, RECITATION, LANGUAGE, OTHER, BLOCKLIST, PROHIBITED_CONTENT, SPII,
   *  MALFORMED_FUNCTION_CALL, IMAGE_SAFETY, UNEXPECTED_TOOL_CALL, … Absent until the candidate ends. */
  finishReason?: string;
  finishMessage?: string;
  safetyRatings?: GeminiSafetyRating[];
  /** Omitted for candidate 0 (proto3 default). */
  index?: number;
}

export interface GeminiUsageMetadata {
  /** The whole prompt, cached content included. */
  promptTokenCount?: number;
  /** The part of the prompt served from the context cache. */
  cachedContentTokenCount?: number;
  /** Answer tokens across all candidates, thoughts excluded. */
  candidatesTokenCount?: number;
  /** Results of built-in tool executions fed back to the model as input. */
  toolUsePromptTokenCount?: number;
  /** Thinking tokens (billed as output). */
  thoughtsTokenCount?: number;
  /** prompt + candidates + toolUsePrompt + thoughts. */
  totalTokenCount?: number;
}

export interface GeminiResponse {
  candidates?: GeminiCandidate[];
  /** Sent only in the first stream chunk, and only when the prompt was blocked. */
  promptFeedback?: { blockReason?: string; blockReasonMessage?: string; safetyRatings?: GeminiSafetyRating[] };
  /** Cumulative on every chunk that carries it. */
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
  /** A failure reported inside a 200 stream. */
  error?: GeminiErrorBody['error'];
}

export interface GeminiCountTokensRequest {
  generateContentRequest: GeminiRequest & { model: string };
}

export interface GeminiCountTokensResponse {
  totalTokens?: number;
  cachedContentTokenCount?: number;
}

/** google.rpc.Status as the REST API renders it. */
export interface GeminiErrorBody {
  error?: {
    code?: number;
    message?: string;
    /** The canonical code name: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, … */
    status?: string;
    /** google.rpc error details, each tagged by `@type` (RetryInfo, ErrorInfo, QuotaFailure, Help, …). */
    details?: ({ '@type'?: string; retryDelay?: string; reason?: string } & Record<string, unknown>)[];
  };
}

/** `models/{model}:batchEmbedContents` answers one embedding per request, in order. */
export interface GeminiBatchEmbedResponse {
  embeddings?: { values: number[] }[];
}
