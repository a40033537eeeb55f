import type { ErrorKind, HubError } from '../../core/errors.js';

/** Anthropic's documented error types, by the kind of failure. */
const TYPE: Record<ErrorKind, string> = {
  bad_request: 'invalid_request_error',
  authentication: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  payload_too_large: 'request_too_large',
  rate_limited: 'rate_limit_error',
  context_length: 'invalid_request_error',
  content_filter: 'invalid_request_error',
  timeout: 'api_error',
  upstream: 'api_error',
  overloaded: 'overloaded_error',
  canceled: 'invalid_request_error',
  internal: 'api_error',
};

/** `{"type":"error","error":{"type","message"},"request_id"}` as Anthropic's API answers. */
export function anthropicErrorBody(e: HubError, requestId?: string): Record<string, unknown> {
  return { type: 'error', error: { type: TYPE[e.kind], message: e.message }, ...(requestId && { request_id: requestId }) };
}

export const anthropicErrorFormat = {
  body: (e: HubError, requestId: string) => anthropicErrorBody(e, requestId),
  streamEvent: (e: HubError) => `event: error\ndata: ${JSON.stringify(anthropicErrorBody(e))}\n\n`,
};
