import { HubError } from '../../core/errors.js';
import type { ErrorKind } from '../../core/errors.js';
import { clientFault, upstreamAuthError, upstreamFailed } from '../openai-compatible/errors.js';
import { upstreamErrorMessage } from '../../core/redact.js';
import type { Redactor } from '../../core/redact.js';
import type { GeminiErrorBody } from './wire.js';
import { parseRetryAfter } from '../retry-after.js';

type Details = NonNullable<NonNullable<GeminiErrorBody['error']>['details']>;

const CONTEXT_LENGTH = /input token count .*exceeds|exceeds the maximum number of tokens|context (length|window)|too many tokens/i;

function kindFor(status: number, rpcStatus: string | undefined, reason: string | undefined, message: string): ErrorKind {
  if (status === 401 || rpcStatus === 'UNAUTHENTICATED' || reason === 'API_KEY_INVALID') return 'authentication';
  if (status === 403 || rpcStatus === 'PERMISSION_DENIED') return 'permission';
  if (status === 404 || rpcStatus === 'NOT_FOUND') return 'not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 429 || rpcStatus === 'RESOURCE_EXHAUSTED') return 'rate_limited';
  if (status === 408 || status === 504 || rpcStatus === 'DEADLINE_EXCEEDED') return 'timeout';
  if (status === 503 || rpcStatus === 'UNAVAILABLE') return 'overloaded';
  if (status >= 500 || rpcStatus === 'INTERNAL') return 'upstream';
  if (CONTEXT_LENGTH.test(message)) return 'context_length';
  if (status >= 400 && status < 500) return 'bad_request';
  return 'upstream';
}

/** A google.protobuf.Duration in JSON ("7s", "12.771204034s") → whole seconds, rounded up. */
export function parseRetryDelay(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(value.trim());
  return m ? Math.ceil(Number(m[1])) : undefined;
}

function detail(details: Details | undefined, type: string): Details[number] | undefined {
  return details?.find((d) => typeof d['@type'] === 'string' && d['@type'].endsWith(`/google.rpc.${type}`));
}

/**
 * Turns a non-2xx Gemini answer (`{"error":{"code","message","status","details"}}`, google.rpc
 * Status) into a HubError. 4xx keep their status and Google's message; an invalid key, which
 * Google answers with 400 INVALID_ARGUMENT + ErrorInfo API_KEY_INVALID, becomes authentication
 * (401). 429 RESOURCE_EXHAUSTED is rate_limited, retryAfter from the RetryInfo detail's
 * `retryDelay` or else the Retry-After header. 5xx become 502 from the hub (503 UNAVAILABLE as
 * `overloaded`), 504 / DEADLINE_EXCEEDED a 504 timeout. An invalid key is the hub's credential
 * at fault, not the client's: a 502 naming the provider (see `upstreamAuthError`). The hub's
 * secrets (`secrets`: its Redactor, or this provider's key) never reach the message.
 */
export function geminiError(
  provider: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodyText: string,
  secrets: Redactor | string | undefined,
): HubError {
  let error: GeminiErrorBody['error'];
  try {
    const parsed: unknown = JSON.parse(bodyText);
    // Without `alt=sse` the API streams a JSON array; an error then arrives as its one element.
    const body = (Array.isArray(parsed) ? parsed[0] : parsed) as GeminiErrorBody | undefined;
    if (body && typeof body.error === 'object' && body.error !== null) error = body.error;
  } catch {
    // Not JSON: an HTML page from a proxy or load balancer.
  }
  const rpcStatus = typeof error?.status === 'string' ? error.status : undefined;
  const info = detail(error?.details, 'ErrorInfo');
  const reason = typeof info?.reason === 'string' ? info.reason : undefined;
  let message = typeof error?.message === 'string' && error.message !== '' ? error.message : undefined;
  message = upstreamErrorMessage(secrets, message, bodyText, status);

  const kind = kindFor(status, rpcStatus, reason, message);
  const retryAfter = parseRetryDelay(detail(error?.details, 'RetryInfo')?.retryDelay) ?? parseRetryAfter(headers['retry-after']);
  const code = reason ?? rpcStatus;
  if (kind === 'authentication' && status < 500) return upstreamAuthError(provider, status, message, retryAfter);
  const common = { provider, ...(code && { code }), ...(retryAfter !== undefined && { retryAfter }) };
  if (!clientFault(status)) return upstreamFailed(provider, status, kind, message, common);
  return new HubError(kind, message, { ...common, status });
}
