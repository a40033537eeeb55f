import type { UsageRecord } from './record.js';

/**
 * What the usage folder needs from storage: usage records written in batches (see UsageSink in
 * record.ts for the request path's writer) and read back as totals, the request log, captured
 * bodies and traces. Reads are asynchronous: a networked store answers over the wire. None of
 * them runs on the model-API request path.
 */

/** A usage record as the store keeps it. */
export interface UsageRow {
  /** An opaque cursor for the request log (newest first). */
  id: number;
  request_id: string;
  ts: number;
  endpoint: string;
  model: string;
  provider: string | null;
  upstream_model: string | null;
  stream: number;
  status: number;
  error_kind: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cached_input_tokens: number | null;
  cache_write_tokens: number | null;
  reasoning_tokens: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  deployment: string | null;
  attempt: number;
  final: number;
  fallback_from: string | null;
  key_id: string | null;
  team_id: string | null;
  cost_usd: number | null;
  usage_counted: number;
}

export const USAGE_GROUPS = ['key', 'team', 'model', 'provider', 'deployment', 'status', 'day', 'hour'] as const;
export type UsageGroup = (typeof USAGE_GROUPS)[number];

/** Totals over whole hours [from, to) (unix ms, multiples of an hour), filtered and grouped. */
export interface UsageTotalsQuery {
  readonly from: number;
  readonly to: number;
  readonly groupBy: readonly UsageGroup[];
  /** Count failed attempts that were retried, not only final records. */
  readonly includeAttempts: boolean;
  readonly keyId?: string;
  readonly teamId?: string;
  readonly model?: string;
  readonly provider?: string;
  readonly limit: number;
}

/**
 * One row of totals: a column per group (named by the group; `day` as YYYY-MM-DD, `hour` as
 * an ISO hour) then requests, errors, input_tokens, output_tokens, cached_input_tokens,
 * cache_write_tokens, reasoning_tokens, cost_usd, avg_latency_ms, avg_ttft_ms.
 */
export type UsageTotalsRow = Record<string, unknown>;

export interface RequestLogFilter {
  readonly limit: number;
  /** A cursor: rows with a smaller id. */
  readonly before?: number;
  readonly keyId?: string;
  readonly model?: string;
  /** `ok`, `error` or a three-digit status. */
  readonly status?: string;
}

export interface CapturedBodies {
  readonly request: string;
  readonly response: string;
}

export interface UsageStore {
  /** Writes records directly (a journal replayed at start); idempotent per (request, attempt, final). */
  writeUsage(records: readonly UsageRecord[]): Promise<void>;
  totals(q: UsageTotalsQuery): Promise<UsageTotalsRow[]>;
  /** Final records, newest first. */
  requests(f: RequestLogFilter): Promise<UsageRow[]>;
  /** Every record of one request: its attempts, then its final record. */
  requestRecords(requestId: string): Promise<UsageRow[]>;
  bodies(requestId: string): Promise<CapturedBodies | undefined>;
  trace(requestId: string): Promise<unknown>;
  /**
   * Deletes usage records older than `usageBefore` (whole hours of totals only) and bodies and
   * traces older than `bodiesBefore` (unix ms), without holding writers up for long.
   */
  prune(usageBefore: number | undefined, bodiesBefore: number | undefined): Promise<{ usage: number; bodies: number }>;
}
