import { HubError } from '../../core/errors.js';
import type { ErrorKind, HubErrorOptions } from '../../core/errors.js';
import type { WireErrorBody } from './wire.js';
import { parseRetryAfter } from '../retry-after.js';
import { toRedactor, upstreamErrorMessage } from '../../core/redact.js';
import type { Redactor } from '../../core/redact.js';

const SECRETISH = /\b(sk|pk|key|ak)-[A-Za-z0-9_\-]{8,}/g;

/** An upstream's mid-stream error (`{"error":{"message"}}` in a 200 stream), its message scrubbed. */
export function streamError(provider: string, error: { message?: unknown } | string | null | undefined, secrets: Redactor | string | undefined): HubError {
  const raw = typeof error === 'string' ? error : typeof error?.message === 'string' && error.message ? error.message : 'unknown error';
  return new HubError('upstream', `Upstream ${provider} failed mid-stream: ${toRedactor(secrets).scrub(raw)}`, { provider });
}

/** Keeps keys out of anything a client or a log line will see (one known key and key-shaped strings; see core/redact.ts for the hub's Redactor). */
export function redact(text: string, secret: string | undefined): string {
  let out = secret && secret.length >= 4 ? text.split(secret).join('***') : text;
  out = out.replace(SECRETISH, (m) => `${m.slice(0, m.indexOf('-') + 1)}***`);
  return out;
}

function kindFor(status: number, message: string, code: string | undefined): ErrorKind {
  // A redirect or any other non-error status where an answer was due: the upstream misbehaved.
  if (status < 400) return 'upstream';
  if (status === 401) return 'authentication';
  if (status === 403) return 'permission';
  if (status === 404) return 'not_found';
  if (status === 413) return 'payload_too_large';
  if (status === 429) return 'rate_limited';
  if (status === 408 || status === 504) return 'timeout';
  if (status === 503 || status === 529) return 'overloaded';
  if (status >= 500) return 'upstream';
  if (code === 'context_length_exceeded' || /context (length|window)|maximum context|too many tokens/i.test(message)) {
    return 'context_length';
  }
  if (code === 'content_filter' || /content (policy|filter)|data_inspection_failed|sensitive/i.test(message)) {
    return 'content_filter';
  }
  return 'bad_request';
}

/** The code of the error an upstream's rejection of the hub's own credential becomes. */
const UPSTREAM_AUTH_CODE = 'upstream_authentication_failed';

/**
 * An upstream rejected the hub's credential for it (HTTP 401, or Gemini's API_KEY_INVALID). That
 * is the operator's configuration at fault, not the client's key: a 401 would make a client (and
 * coding agents, which then ask their user to log in again) believe its own key is bad. So it is a
 * 502 that names the provider, of kind `upstream` so that another deployment or a fallback may
 * still answer. `message` is the provider's own, already redacted.
 */
export function upstreamAuthError(provider: string, status: number, message: string, retryAfter?: number): HubError {
  return new HubError(
    'upstream',
    `The upstream provider '${provider}' rejected the hub's credential for it (HTTP ${status}): check the API key configured for '${provider}' in the hub's configuration. The provider said: ${message}`,
    { provider, status: 502, code: UPSTREAM_AUTH_CODE, ...(retryAfter !== undefined && { retryAfter }) },
  );
}

/** Only a 4xx is the client's to see as it is: a 5xx, and a 1xx/3xx where an answer was due, are the upstream's failure. */
export function clientFault(status: number): boolean {
  return status >= 400 && status < 500;
}

/** Status the client sees for an upstream's own failure: 502, or 504 for a timeout. */
export function serverSideStatus(kind: ErrorKind): number {
  return kind === 'timeout' ? 504 : 502;
}

/**
 * An upstream's 5xx, in every provider format: the upstream failed, not the client, so the hub
 * answers with `serverSideStatus` and says which provider failed with which status.
 */
export function upstreamFailed(provider: string, status: number, kind: ErrorKind, message: string, options: HubErrorOptions): HubError {
  return new HubError(kind, `Upstream ${provider} failed (${status}): ${message}`, { ...options, status: serverSideStatus(kind) });
}

/**
 * Turns an upstream's non-2xx answer into a HubError. 4xx keep their status and the provider's
 * own message (the client did something the provider rejects); 5xx, and anything else that is not
 * an answer (a 3xx: the hub follows no redirects), become 502 from the hub; a
 * 401 is the hub's credential at fault (see `upstreamAuthError`). `secrets` (the hub's Redactor,
 * or this provider's key) are taken out of the message.
 */
export function upstreamError(
  provider: string,
  status: number,
  headers: Record<string, string | string[] | undefined>,
  bodyText: string,
  secrets: Redactor | string | undefined,
): HubError {
  let message: string | undefined;
  let code: string | undefined;
  let param: string | undefined;
  try {
    const body = JSON.parse(bodyText) as WireErrorBody;
    if (typeof body.error === 'string') message = body.error;
    else if (body.error && typeof body.error === 'object') {
      message = body.error.message;
      if (body.error.code !== null && body.error.code !== undefined) code = String(body.error.code);
      if (typeof body.error.param === 'string') param = body.error.param;
    }
    message ??= body.message;
  } catch {
    // Not JSON: an HTML error page or a proxy's plain text.
  }
  message = upstreamErrorMessage(secrets, message, bodyText, status);
  const kind = kindFor(status, message, code);
  const retryAfter = parseRetryAfter(headers['retry-after']);
  if (kind === 'authentication') return upstreamAuthError(provider, status, message, retryAfter);
  const common = { provider, ...(code && { code }), ...(param && { param }), ...(retryAfter !== undefined && { retryAfter }) };
  if (!clientFault(status)) return upstreamFailed(provider, status, kind, message, common);
  return new HubError(kind, message, { ...common, status });
}
