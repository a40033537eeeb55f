/**
 * One error type for the whole hub. Inbound protocols render it in the client's own format;
 * `kind` says what went wrong independent of any wire format.
 */
export const ERROR_KINDS = [
  'bad_request',
  'authentication',
  'permission',
  'not_found',
  'payload_too_large',
  'rate_limited',
  'context_length',
  'content_filter',
  'timeout',
  'upstream',
  'overloaded',
  'canceled',
  'internal',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** The HTTP status a client sees for each kind when the hub itself decides it. */
const STATUS: Record<ErrorKind, number> = {
  bad_request: 400,
  authentication: 401,
  permission: 403,
  not_found: 404,
  payload_too_large: 413,
  rate_limited: 429,
  context_length: 400,
  content_filter: 400,
  timeout: 504,
  upstream: 502,
  overloaded: 503,
  canceled: 499,
  internal: 500,
};

export interface HubErrorOptions {
  /** Overrides the kind's default status, e.g. to pass an upstream 4xx through unchanged. */
  readonly status?: number;
  /** The request field at fault, e.g. `messages[0].role`. */
  readonly param?: string;
  /** A machine-readable code, e.g. `model_not_found`. */
  readonly code?: string;
  /** Seconds a client should wait before retrying. */
  readonly retryAfter?: number;
  /** The provider that produced the error, if any. */
  readonly provider?: string;
  /** Extra response headers, e.g. `x-ratelimit-*`. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly cause?: unknown;
}

export class HubError extends Error {
  readonly kind: ErrorKind;
  readonly status: number;
  readonly param: string | undefined;
  readonly code: string | undefined;
  readonly retryAfter: number | undefined;
  readonly provider: string | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;

  constructor(kind: ErrorKind, message: string, options: HubErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'HubError';
    this.kind = kind;
    this.status = options.status ?? STATUS[kind];
    this.param = options.param;
    this.code = options.code;
    this.retryAfter = options.retryAfter;
    this.provider = options.provider;
    this.headers = options.headers;
  }
}

/** Kinds a router may retry on another attempt or deployment. */
export function isRetryable(kind: ErrorKind): boolean {
  return kind === 'rate_limited' || kind === 'timeout' || kind === 'upstream' || kind === 'overloaded';
}

/**
 * Turns anything thrown into a HubError without leaking internals into the message. Anything
 * that is not already a HubError (a TypeError, a RangeError from a stack overflow…) is of the
 * hub's own making: kind `internal`, never `upstream`, so it is not retried and never counts
 * against a deployment's circuit.
 */
export function toHubError(err: unknown): HubError {
  if (err instanceof HubError) return err;
  if (err instanceof Error && err.name === 'AbortError') return new HubError('canceled', 'Request canceled', { cause: err });
  return new HubError('internal', 'Internal error while handling the request', { cause: err });
}
