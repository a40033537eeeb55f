/**
 * A running hub's OpenAI-shaped API over plain fetch, for CLI commands that drive it (`baimo kb`):
 * the hub holds its data directory, so these commands cannot open it while it runs. The `openai`
 * SDK is a devDependency only, so this is fetch + FormData/Blob from Node 20.
 */
import { DEFAULTS } from '../config/settings.js';

/** What the hub answered when it refused a request: its status and its error body's message and code. */
export class HubRequestError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** The hub could not be reached at all (refused, reset, DNS): no answer to quote. */
export class HubUnreachableError extends Error {}

/**
 * `--base-url`, else `BAIMO_URL`, else the default port on loopback. `…/v1` is accepted too (the
 * SDKs' base URL), so either form a user has at hand works.
 */
export function hubBaseURL(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const raw = flag ?? env.BAIMO_URL ?? `http://127.0.0.1:${DEFAULTS.port}`;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new TypeError(`not a URL: ${JSON.stringify(raw.slice(0, 200))}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`expected an http(s) URL, got ${url.protocol}`);
  return url.href.replace(/\/+$/, '').replace(/\/v1$/, '');
}

export class HubClient {
  constructor(
    readonly baseURL: string,
    private readonly apiKey: string | undefined,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.apiKey && { authorization: `Bearer ${this.apiKey}` }), ...extra };
  }

  private async send(path: string, init: RequestInit): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(`${this.baseURL}${path}`, init);
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new HubUnreachableError(`cannot reach the hub at ${this.baseURL}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (!res.ok) {
      const e = (body as { error?: { message?: unknown; code?: unknown } } | undefined)?.error;
      const message = typeof e?.message === 'string' ? e.message : `HTTP ${res.status} from ${path} (no error message in the body)`;
      throw new HubRequestError(res.status, message, typeof e?.code === 'string' ? e.code : null);
    }
    if (body === undefined) throw new HubRequestError(res.status, `HTTP ${res.status} from ${path} with a body that is not JSON`, null);
    return body;
  }

  /** A JSON request; resolves to the parsed body of a 2xx answer, throws HubRequestError otherwise. */
  json<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    return this.send(path, {
      method,
      headers: this.headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(body !== undefined && { body: JSON.stringify(body) }),
    }) as Promise<T>;
  }

  /** `POST /v1/files` as multipart/form-data: the bytes under `filename`, with `purpose`. */
  upload<T>(filename: string, bytes: Uint8Array, purpose: string): Promise<T> {
    const form = new FormData();
    form.append('purpose', purpose);
    form.append('file', new Blob([bytes]), filename);
    return this.send('/v1/files', { method: 'POST', headers: this.headers(), body: form }) as Promise<T>;
  }
}
