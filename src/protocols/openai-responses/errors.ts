import type { HubError } from '../../core/errors.js';
import { openAIErrorBody } from '../openai-chat/errors.js';

/**
 * The Responses API answers HTTP errors in OpenAI's common shape, the same as chat completions:
 * `{"error":{"message","type","param","code"}}`.
 */
export function responsesErrorBody(e: HubError): ReturnType<typeof openAIErrorBody> {
  return openAIErrorBody(e);
}

/**
 * The data of a streamed `error` event. The API reference documents the fields flat
 * (`code`, `message`, `param`); the live API nests them under `error`, and the official SDKs raise
 * an `APIError` only for a data object with an `error` field (openai-node's `Stream` throws on
 * `data.error`). Both are sent so that SDKs raise and clients reading the documented shape see it.
 */
export function responsesErrorEventData(e: HubError, sequenceNumber: number): Record<string, unknown> {
  const { error } = openAIErrorBody(e);
  return {
    type: 'error',
    code: error.code,
    message: error.message,
    param: error.param,
    error: { type: error.type, code: error.code, message: error.message, param: error.param },
    sequence_number: sequenceNumber,
  };
}

/** The `error` SSE event, rendered. */
export function responsesErrorEvent(e: HubError, sequenceNumber: number): string {
  return `event: error\ndata: ${JSON.stringify(responsesErrorEventData(e, sequenceNumber))}\n\n`;
}

/**
 * `response.error` of a failed response (`{code, message}`). The SDK types `code` as an enum
 * (`server_error`, `rate_limit_exceeded`, …); agents such as Codex CLI also read
 * `context_length_exceeded` there to tell a full context window apart.
 */
export function responseFailure(e: HubError): { code: string; message: string } {
  const code = e.kind === 'rate_limited' ? 'rate_limit_exceeded' : e.kind === 'context_length' ? 'context_length_exceeded' : 'server_error';
  return { code, message: e.message };
}

/**
 * Responses errors as a response body, and in-band for a stream that has already started. The
 * stateless `streamEvent` can only number its event 0; a route that holds a
 * `ResponsesStreamRenderer` should use `responsesStreamErrorFormat` so the failure carries the
 * stream's next sequence number and a `response.failed` too.
 */
export const responsesErrorFormat = {
  body: (e: HubError, _requestId: string) => responsesErrorBody(e),
  streamEvent: (e: HubError) => responsesErrorEvent(e, 0),
};

/**
 * The error format for a streaming route: in-band failures go through the renderer in use
 * (`response.failed`, then the `error` event that makes the SDK throw).
 */
export function responsesStreamErrorFormat(current: () => { fail(e: HubError): string } | undefined): typeof responsesErrorFormat {
  return {
    body: responsesErrorFormat.body,
    streamEvent: (e: HubError) => current()?.fail(e) ?? responsesErrorEvent(e, 0),
  };
}
