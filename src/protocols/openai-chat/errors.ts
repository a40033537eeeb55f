import type { ErrorKind, HubError } from '../../core/errors.js';

const TYPE: Record<ErrorKind, string> = {
  bad_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'invalid_request_error',
  payload_too_large: 'invalid_request_error',
  rate_limited: 'rate_limit_error',
  context_length: 'invalid_request_error',
  content_filter: 'invalid_request_error',
  timeout: 'timeout_error',
  upstream: 'upstream_error',
  overloaded: 'server_error',
  canceled: 'invalid_request_error',
  internal: 'server_error',
};

/** A HubError in OpenAI's error shape: `{"error":{"message","type","param","code"}}`. */
export function openAIErrorBody(e: HubError): { error: { message: string; type: string; param: string | null; code: string | null } } {
  return {
    error: {
      message: e.message,
      type: TYPE[e.kind],
      param: e.param ?? null,
      code: e.code ?? (e.kind === 'context_length' ? 'context_length_exceeded' : null),
    },
  };
}

/** OpenAI errors as a response body, and in-band for a stream that has already started. */
export const openAIErrorFormat = {
  body: (e: HubError) => openAIErrorBody(e),
  streamEvent: (e: HubError) => `data: ${JSON.stringify(openAIErrorBody(e))}\n\n`,
};
