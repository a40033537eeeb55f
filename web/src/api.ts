/**
 * The hub's HTTP API as the console uses it: one fetch wrapper that sends the signed-in key,
 * turns `{"error":{"message",…}}` bodies into ApiError, and the wire types of every endpoint.
 */

const KEY_STORAGE = 'baimo.key';

export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  try {
    if (key === null) sessionStorage.removeItem(KEY_STORAGE);
    else sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage disabled: the key lives only as long as the page.
  }
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null = null,
    readonly type: string | null = null,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Listeners told when the hub refuses the stored key (revoked, expired), so the app signs out. */
const unauthorizedListeners = new Set<() => void>();
export function onUnauthorized(fn: () => void): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export function authHeaders(key = storedKey()): Record<string, string> {
  return key ? { authorization: `Bearer ${key}` } : {};
}

/** Reads an error body in the OpenAI or Anthropic shape; falls back to the status text. */
export async function errorFrom(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim();
  let code: string | null = null;
  let type: string | null = null;
  try {
    const text = await res.text();
    try {
      const body = JSON.parse(text) as { error?: { message?: unknown; code?: unknown; type?: unknown } | string };
      const e = body.error;
      if (typeof e === 'string') message = e;
      else if (e && typeof e.message === 'string') {
        message = e.message;
        code = typeof e.code === 'string' ? e.code : null;
        type = typeof e.type === 'string' ? e.type : null;
      }
    } catch {
      if (text.trim()) message = `${message}: ${text.trim().slice(0, 300)}`;
    }
  } catch {
    // Body unreadable: keep the status line.
  }
  return new ApiError(message, res.status, code, type);
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** Use this key instead of the stored one (sign-in). */
  key?: string;
}

export async function api<T>(path: string, o: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json', ...authHeaders(o.key ?? storedKey()) };
  if (o.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(path, {
      method: o.method ?? 'GET',
      headers,
      ...(o.body !== undefined && { body: JSON.stringify(o.body) }),
      ...(o.signal && { signal: o.signal }),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(`Network error: ${(err as Error).message}`, 0, 'network');
  }
  if (!res.ok) {
    const e = await errorFrom(res);
    if (res.status === 401 && o.key === undefined) for (const fn of unauthorizedListeners) fn();
    throw e;
  }
  const text = await res.text();
  if (!text) return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(`The hub answered ${path} with something that is not JSON.`, res.status, 'bad_json');
  }
}

export function qs(params: Record<string, string | number | null | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

// ---------------------------------------------------------------------------------------------
// Wire types
// ---------------------------------------------------------------------------------------------

export type BudgetPeriod = 'day' | 'month' | 'total';

export interface KeyInfo {
  id: string;
  name: string;
  prefix: string;
  team_id: string | null;
  allowed_models: string[];
  rpm: number | null;
  tpm: number | null;
  budget_usd: number | null;
  budget_period: BudgetPeriod;
  spend_usd: number | null;
  expires_at: string | null;
  revoked_at?: string | null;
  created_at?: string | null;
  metadata?: Record<string, unknown>;
}

export type Me = { kind: 'admin' } | { kind: 'key'; key: KeyInfo };

export interface Team {
  id: string;
  name: string;
  allowed_models: string[];
  rpm: number | null;
  tpm: number | null;
  budget_usd: number | null;
  budget_period: BudgetPeriod;
  spend_usd: number | null;
  metadata?: Record<string, unknown>;
  created_at?: string | null;
}

export interface UsageRow {
  hour?: string;
  day?: string;
  model?: string;
  key?: string | null;
  requests: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cached_input_tokens: number;
  reasoning_tokens: number;
  cost_usd: number;
  avg_latency_ms: number | null;
  avg_ttft_ms: number | null;
}

export interface Pricing {
  currency: string;
  input_per_million: number;
  output_per_million: number;
  cached_input_per_million?: number;
  cache_write_per_million?: number;
}

export interface Model {
  id: string;
  owned_by: string;
  /** Which API the model serves; the playground offers only chat models. */
  kind?: 'chat' | 'embedding';
  context_window?: number;
  max_output_tokens?: number;
  modalities?: { input?: string[]; output?: string[] } | string[];
  supports_tools?: boolean;
  pricing?: Pricing;
}

export interface DeploymentHealth {
  route: string;
  id: string;
  provider: string;
  model: string;
  weight: number;
  priority: number;
  circuit: 'closed' | 'open' | 'half_open';
  errorRate: number;
  opens: number;
  inFlight: number;
  ttftMs: number | null;
  requestsLastMinute: number;
  tokensLastMinute: number;
  rpm: number | null;
  tpm: number | null;
  successes: number;
  failures: number;
}

export interface RequestRow {
  request_id: string;
  ts: string;
  endpoint: string;
  model: string;
  provider: string | null;
  deployment: string | null;
  status: number;
  error_kind: string | null;
  stream: boolean | number;
  input_tokens: number | null;
  output_tokens: number | null;
  cached_input_tokens: number | null;
  reasoning_tokens: number | null;
  cost_usd: number | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  attempts: number | null;
  key_id: string | null;
}

export interface Attempt {
  attempt: number;
  deployment: string | null;
  provider: string | null;
  status: number;
  error_kind: string | null;
  latency_ms: number | null;
}

export interface TraceStep {
  stage: string;
  model: string;
  text?: string;
  usage?: Record<string, number>;
  costUsd?: number;
  latencyMs?: number;
  error?: string;
  detail?: unknown;
}

export interface RequestDetail {
  request: RequestRow;
  attempts: Attempt[];
  bodies: { request: string; response: string } | null;
  trace: { steps: TraceStep[]; summary?: unknown } | null;
}

/** One model on the arena board: a Bradley–Terry score, null with no decisive vote. */
export interface LeaderboardRow {
  model: string;
  rating: number | null;
  ci_lower: number | null;
  ci_upper: number | null;
  /** Shared by models whose intervals overlap. */
  rank: number | null;
  votes: number;
  games: number;
  wins: number;
  losses: number;
  ties: number;
  bad: number;
}

export interface Leaderboard extends List<LeaderboardRow> {
  bootstrap_rounds: number;
}

export interface List<T> {
  data: T[];
}
