/**
 * The Anthropic Messages API wire format, as far as the hub reads or writes it.
 * Reference: https://platform.claude.com/docs/en/api/messages (request and response shapes),
 * https://platform.claude.com/docs/en/build-with-claude/streaming (events).
 */

/**
 * The key of Anthropic's opaque data (thinking signatures, redacted thinking) in canonical
 * `providerMetadata`: only what is under it is sent back to Anthropic.
 */
export const METADATA_KEY = 'anthropic';

// ---------------------------------------------------------------- request --

export interface AnthropicTextBlock {
  type: 'text';
  text: string;
}

/** Supported image media types (vision guide): jpeg, png, gif, webp. */
export type AnthropicImageMediaType = 'image/jpeg' | 'image/png' | 'image/gif' | 'image/webp';

export interface AnthropicImageBlock {
  type: 'image';
  source: { type: 'base64'; media_type: AnthropicImageMediaType; data: string } | { type: 'url'; url: string };
}

export interface AnthropicThinkingBlock {
  type: 'thinking';
  thinking: string;
  /** Opaque; must travel back byte for byte. */
  signature: string;
}

export interface AnthropicRedactedThinkingBlock {
  type: 'redacted_thinking';
  /** Opaque, encrypted; must travel back byte for byte. */
  data: string;
}

export interface AnthropicToolUseBlock {
  type: 'tool_use';
  id: string;
  name: string;
  /** Always an object on the wire. */
  input: Record<string, unknown>;
}

export interface AnthropicToolResultBlock {
  type: 'tool_result';
  tool_use_id: string;
  content?: string;
  is_error?: boolean;
}

export type AnthropicUserBlock = AnthropicTextBlock | AnthropicImageBlock | AnthropicToolResultBlock;
export type AnthropicAssistantBlock = AnthropicThinkingBlock | AnthropicRedactedThinkingBlock | AnthropicTextBlock | AnthropicToolUseBlock;

export type AnthropicMessageParam =
  | { role: 'user'; content: AnthropicUserBlock[] }
  | { role: 'assistant'; content: AnthropicAssistantBlock[] };

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
  strict?: boolean;
}

/** `disable_parallel_tool_use` lives on the tool_choice object (not on `none`). */
export type AnthropicToolChoice =
  | { type: 'auto'; disable_parallel_tool_use?: boolean }
  | { type: 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export interface AnthropicThinkingConfig {
  type: 'enabled';
  /** ≥ 1024 and less than max_tokens. */
  budget_tokens: number;
}

export interface AnthropicOutputConfig {
  /** Structured outputs (GA, no beta header): the answer's text is JSON matching the schema. */
  format?: { type: 'json_schema'; schema: Record<string, unknown> };
}

/** The body of `POST /v1/messages` as the hub sends it. */
export interface AnthropicRequest {
  model: string;
  max_tokens: number;
  messages: AnthropicMessageParam[];
  system?: string;
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  thinking?: AnthropicThinkingConfig;
  output_config?: AnthropicOutputConfig;
  stop_sequences?: string[];
  temperature?: number;
  top_p?: number;
  top_k?: number;
  metadata?: { user_id: string };
  stream: true;
}

/** The body of `POST /v1/messages/count_tokens`: no max_tokens, stream, metadata, sampling or stops. */
export type AnthropicCountTokensRequest = Pick<AnthropicRequest, 'model' | 'messages' | 'system' | 'tools' | 'tool_choice' | 'thinking' | 'output_config'>;

// --------------------------------------------------------------- response --

export interface AnthropicUsage {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  /** Breakdown of output tokens; on streams it arrives with the final message_delta only. */
  output_tokens_details?: { thinking_tokens?: number | null } | null;
}

/** A content block in a response, or the `content_block` of a content_block_start event. */
export type AnthropicContentBlock =
  | { type: 'text'; text?: string }
  | { type: 'thinking'; thinking?: string; signature?: string }
  | { type: 'redacted_thinking'; data?: string }
  | { type: 'tool_use'; id?: string; name?: string; input?: unknown }
  | { type: string; [k: string]: unknown };

export type AnthropicStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

/** A whole (non-streamed) message. */
export interface AnthropicMessage {
  id?: string;
  type?: 'message';
  role?: 'assistant';
  model?: string;
  content?: AnthropicContentBlock[];
  stop_reason?: AnthropicStopReason | string | null;
  stop_sequence?: string | null;
  usage?: AnthropicUsage | null;
}

export interface AnthropicErrorObject {
  type?: string;
  message?: string;
}

export type AnthropicDelta =
  | { type: 'text_delta'; text?: string }
  | { type: 'thinking_delta'; thinking?: string }
  | { type: 'signature_delta'; signature?: string }
  | { type: 'input_json_delta'; partial_json?: string }
  | { type: string; [k: string]: unknown };

/** The JSON `data` of one server-sent event. Unknown types must be ignored (versioning policy). */
export type AnthropicStreamEvent =
  | { type: 'message_start'; message?: AnthropicMessage }
  | { type: 'content_block_start'; index?: number; content_block?: AnthropicContentBlock }
  | { type: 'content_block_delta'; index?: number; delta?: AnthropicDelta }
  | { type: 'content_block_stop'; index?: number }
  | {
      type: 'message_delta';
      delta?: { stop_reason?: AnthropicStopReason | string | null; stop_sequence?: string | null };
      usage?: AnthropicUsage | null;
    }
  | { type: 'message_stop' }
  | { type: 'ping' }
  | { type: 'error'; error?: AnthropicErrorObject }
  | { type: string; [k: string]: unknown };

/** `{"type":"error","error":{"type","message"},"request_id"}` */
export interface AnthropicErrorBody {
  type?: string;
  error?: AnthropicErrorObject | string;
  message?: string;
  request_id?: string;
}
