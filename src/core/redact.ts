import { HubError } from './errors.js';

/** What a secret is replaced with. */
export const REDACTED = '[REDACTED]';

/** Shorter values are not secrets worth the false positives (and are not treated as such). */
export const MIN_SECRET_LENGTH = 8;

/**
 * Strings shaped like credentials, redacted wherever upstream error text goes even when no
 * configured value matches: OpenAI-style `sk-…` keys (and `pk-`, `rk-`, `ak-`, `key-`), bearer
 * tokens, Google API keys, JWTs.
 */
const KEY_SHAPED = /\b(?:sk|pk|rk|ak|key)-[A-Za-z0-9_-]{12,}|\bBearer\s+[A-Za-z0-9._~+/=-]{12,}|\bAIza[0-9A-Za-z_-]{20,}|\bey[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g;

/** Header names whose values are configuration, not credentials. */
const PLAIN_HEADERS = new Set([
  'accept',
  'accept-language',
  'anthropic-beta',
  'anthropic-version',
  'content-type',
  'http-referer',
  'openai-beta',
  'referer',
  'user-agent',
  'x-title',
]);

/**
 * The base64 text that `bytes` turn into wherever they sit in a longer encoded string: for each
 * of the three byte alignments, the characters that depend on these bytes only (a partial group
 * at either end also holds bits of its neighbours and is left out). So one needle catches
 * `base64(secret)`, `base64(":" + secret)` and `base64(user + ":" + secret)` (HTTP Basic) alike.
 */
function base64Cores(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let skip = 0; skip < 3; skip++) {
    // Bytes before the first whole 3-byte group that starts inside the secret.
    const start = (3 - skip) % 3;
    const whole = Math.floor((bytes.length - start) / 3) * 3;
    if (whole <= 0) continue;
    out.push(bytes.subarray(start, start + whole).toString('base64'));
  }
  return out;
}

/** Every form a secret may take in upstream text: as is, and in the encodings it commonly travels in. */
function variants(secret: string): string[] {
  const out = new Set<string>([secret]);
  out.add(JSON.stringify(secret).slice(1, -1));
  out.add(JSON.stringify(secret).slice(1, -1).replaceAll('/', '\\/'));
  out.add(encodeURIComponent(secret));
  out.add(encodeURIComponent(secret).replaceAll('%20', '+'));
  const hex = Buffer.from(secret, 'utf8').toString('hex');
  out.add(hex);
  out.add(hex.toUpperCase());
  for (const core of base64Cores(Buffer.from(secret, 'utf8'))) {
    out.add(core);
    out.add(core.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...out].filter((v) => v.length >= MIN_SECRET_LENGTH);
}

/**
 * Takes the hub's upstream credentials out of text that came from an upstream, by exact value and
 * in their common encodings (JSON-escaped, URL-encoded, hex, base64 and base64url of the value alone or
 * inside `user:value` as HTTP Basic carries it). Built once at start-up from every configured
 * provider's API key and credential headers; values shorter than 8 characters are ignored.
 *
 * It is applied where upstream text enters the hub (a provider's error mapping and its stream error
 * parsing, relayed error events) and again where text leaves it for storage or a log, as defence
 * in depth. Each needle is one `String.prototype.includes`, so text without a secret costs a few
 * fast scans; callers on a hot path apply it only to error text.
 */
export class Redactor {
  private readonly secrets = new Set<string>();
  /** Every variant of every secret, longest first (so a longer form is replaced before a part of it). */
  private needles: string[] = [];

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const s of secrets) this.add(s);
  }

  /** A Redactor for one provider's key and headers, for a provider built without a shared one. */
  static forProvider(apiKey: string | undefined, headers?: Readonly<Record<string, string>>, baseURL?: string): Redactor {
    const r = new Redactor();
    r.addProvider({ apiKey, headers, baseURL });
    return r;
  }

  /** Whether there is anything to redact. */
  get empty(): boolean {
    return this.needles.length === 0;
  }

  /** Adds one secret value (ignored when shorter than 8 characters). */
  add(secret: string | undefined): void {
    if (secret === undefined) return;
    const s = secret.trim();
    if (s.length < MIN_SECRET_LENGTH || this.secrets.has(s)) return;
    this.secrets.add(s);
    const all = new Set([...this.needles, ...variants(s)]);
    this.needles = [...all].sort((a, b) => b.length - a.length);
  }

  /**
   * Adds a provider's credentials: its API key, the values of its configured headers (other than
   * plain ones such as `anthropic-version`; for `Bearer x` / `Basic x` also `x`, and a Basic
   * credential's decoded `user:password` and password), and any password or query value in its base URL.
   */
  addProvider(p: { readonly apiKey?: string | undefined; readonly headers?: Readonly<Record<string, string>> | undefined; readonly baseURL?: string | undefined }): void {
    this.add(p.apiKey);
    for (const [name, value] of Object.entries(p.headers ?? {})) {
      if (PLAIN_HEADERS.has(name.toLowerCase()) || typeof value !== 'string') continue;
      this.add(value);
      const m = /^\s*([A-Za-z][\w-]*)\s+(\S+)\s*$/.exec(value);
      if (!m) continue;
      this.add(m[2]);
      if (m[1]!.toLowerCase() === 'basic') {
        const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
        this.add(decoded);
        const colon = decoded.indexOf(':');
        if (colon !== -1) this.add(decoded.slice(colon + 1));
      }
    }
    if (p.baseURL) {
      try {
        const url = new URL(p.baseURL);
        this.add(decodeURIComponent(url.password));
        for (const v of url.searchParams.values()) this.add(v);
      } catch {
        // not a URL: nothing in it to take
      }
    }
  }

  /** `text` with every configured secret (in any of its forms) replaced by `[REDACTED]`. */
  redact(text: string): string {
    for (const n of this.needles) if (text.includes(n)) text = text.replaceAll(n, REDACTED);
    return text;
  }

  /** `redact`, then anything shaped like a key or token: for upstream error text, which no client needs verbatim. */
  scrub(text: string): string {
    return this.redact(text).replace(KEY_SHAPED, REDACTED);
  }

  /** The same error with its message scrubbed; the error itself when there was nothing to take out. */
  error(e: HubError): HubError {
    const message = this.scrub(e.message);
    if (message === e.message) return e;
    return new HubError(e.kind, message, {
      status: e.status,
      ...(e.param !== undefined && { param: e.param }),
      ...(e.code !== undefined && { code: e.code }),
      ...(e.retryAfter !== undefined && { retryAfter: e.retryAfter }),
      ...(e.provider !== undefined && { provider: e.provider }),
      ...(e.headers !== undefined && { headers: e.headers }),
      ...(e.cause !== undefined && { cause: e.cause }),
    });
  }
}

/**
 * The message of an upstream's error answer, scrubbed: the error object's own message, else the
 * first 300 characters of its body (scrubbed before it is cut, so that a secret across the cut
 * cannot leave its first half behind), else `HTTP <status>`.
 */
export function upstreamErrorMessage(secrets: Redactor | string | undefined, message: string | undefined, bodyText: string, status: number): string {
  const redactor = toRedactor(secrets);
  return message === undefined ? redactor.scrub(bodyText.trim()).slice(0, 300) || `HTTP ${status}` : redactor.scrub(message);
}

/** A Redactor from whatever a caller has: a shared one, one provider's key, or nothing. */
export function toRedactor(secrets: Redactor | string | undefined): Redactor {
  return secrets instanceof Redactor ? secrets : new Redactor([secrets]);
}
