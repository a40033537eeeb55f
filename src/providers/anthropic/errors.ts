import { HubError } from '../../core/errors.js';
import type { ErrorKind } from '../../core/errors.js';
import { clientFault, serverSideStatus, upstreamAuthError, upstreamFailed } from '../openai-compatible/errors.js';
import { toRedactor, upstreamErrorMessage } from '../../core/redact.js';
import type { Redactor } from '../../core/redact.js';
import type { AnthropicErrorBody, AnthropicErrorObject } from './wire.js';
import { parseRetryAfter } from '../retry-after.js';

export { parseRetryAfter };

/**
 * Anthropic's error types (https://platform.claude.com/docs/en/api/errors): 400
 * invalid_request_error, 401 authentication_error, 402 billing_error, 403 permission_error,
 * 404 not_found_error, 409 conflict_error, 413 request_too_large, 429 rate_limit_error,
 * 500 api_error, 504 timeout_error, 529 overloaded_error. The same types arrive in `error`
 * events mid-stream (e.g. overloaded_error, "which would normally correspond to an HTTP 529").
 */
const KIND_BY_TYPE: Record<string, ErrorKind> = {
  invalid_request_error: 'bad_request',
  authentication_error: 'authentication',
  billing_error: 'permission',
  permission_error: 'permission',
  not_found_error: 'not_found',
  conflict_error: 'bad_request',
  request_too_large: 'payload_too_large',
  rate_limit_error: 'rate_limited',
  api_error: 'upstream',
  timeout_error: 'timeout',
  overloaded_error: 'overloaded',
};

const CONTEXT_LENGTH = /prompt is too long|context (length|window)|maximum context|too many (input )?tokens/i;

function kindForStatus(status: number): ErrorKind {
  if (status < 400) return 'upstream';
  if (status === 401) return 'authentication';
  if (status === 402 || status === 403) return 'permission';
  if (status === 404) return 'not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 503 || status === 529) return 'overloaded';
  if (status >= 500) return 'upstream';
  return 'bad_request';
}

/** The hub's kind for an Anthropic error type, falling back to the HTTP status when the type is unknown. */
export function kindFor(type: string | undefined, status: number | undefined, message: string): ErrorKind {
  let kind = (type !== undefined ? KIND_BY_TYPE[type] : undefined) ?? (status !== undefined ? kindForStatus(status) : 'upstream');
  // A 529 is "overloaded" whatever the body says.
  if (status === 529) kind = 'overloaded';
  if (kind === 'bad_request' && CONTEXT_LENGTH.test(message)) kind = 'context_length';
  return kind;
}

/**
 * Turns a non-2xx answer into a HubError. 4xx keep their status and Anthropic's own message;
 * 5xx and 529 become 502 from the hub (504 for a timeout), 529 and overloaded_error with kind
 * 'overloaded'. A 401 is the hub's credential at fault (see `upstreamAuthError`). The hub's
 * secrets (`secrets`: its Redactor, or this provider's key) never reach the message.
 */
export function upstreamError(
  provider: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodyText: string,
  secrets: Redactor | string | undefined,
): HubError {
  let type: string | undefined;
  let message: string | undefined;
  try {
    const body = JSON.parse(bodyText) as AnthropicErrorBody;
    if (body && typeof body === 'object') {
      if (typeof body.error === 'string') message = body.error;
      else if (body.error && typeof body.error === 'object') {
        if (typeof body.error.type === 'string') type = body.error.type;
        if (typeof body.error.message === 'string') message = body.error.message;
      }
      if (message === undefined && typeof body.message === 'string') message = body.message;
    }
  } catch {
    // Not JSON: a proxy's HTML page or plain text.
  }
  message = upstreamErrorMessage(secrets, message, bodyText, status);
  // A 1xx/3xx is the upstream misbehaving whatever its body says.
  const kind = status < 400 ? 'upstream' : kindFor(type, status, message);
  const retryAfter = parseRetryAfter(headers['retry-after']);
  if (status === 401) return upstreamAuthError(provider, status, message, retryAfter);
  const common = { provider, ...(type && { code: type }), ...(retryAfter !== undefined && { retryAfter }) };
  if (!clientFault(status)) return upstreamFailed(provider, status, kind, message, common);
  return new HubError(kind, message, { ...common, status });
}

/** An `error` event inside a 200 stream, e.g. `{"type":"overloaded_error","message":"Overloaded"}`. */
export function streamError(provider: string, error: AnthropicErrorObject | undefined, secrets?: Redactor | string): HubError {
  const type = typeof error?.type === 'string' ? error.type : undefined;
  const message = toRedactor(secrets).scrub(typeof error?.message === 'string' && error.message ? error.message : type ?? 'unknown error');
  const kind = kindFor(type, undefined, message);
  const upstreamSide = kind === 'upstream' || kind === 'overloaded' || kind === 'timeout';
  return new HubError(kind, `Upstream ${provider} failed mid-stream: ${message}`, {
    provider,
    ...(type && { code: type }),
    ...(upstreamSide && { status: serverSideStatus(kind) }),
  });
}
