import type { PriceBook } from '../catalog/prices.js';
import type { Registry } from '../routing/registry.js';
import type { SQLiteStore } from '../store/sqlite.js';
import type { Ledger } from '../tenancy/ledger.js';
import type { RateLimiter } from '../tenancy/rate-limits.js';
import type { Tenancy } from '../tenancy/service.js';
import type { UsageRecorder } from '../usage/record.js';

/** What route handlers share; built once by the app. */
export interface HubContext {
  readonly registry: Registry;
  readonly recorder: UsageRecorder;
  readonly tenancy: Tenancy;
  readonly prices: PriceBook;
  readonly ledger: Ledger;
  readonly limiter: RateLimiter;
  readonly maxBodyBytes: number;
  /** Set when request and response bodies are kept (redacted) for the request log. */
  readonly captureBodies: { readonly maxBytes: number } | undefined;
  readonly store: SQLiteStore;
  /** Unix seconds the hub started, reported as `created` in /v1/models. */
  readonly startedAt: number;
}
