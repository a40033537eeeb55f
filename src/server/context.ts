import type { PriceBook } from '../catalog/prices.js';
import type { Registry } from '../routing/registry.js';
import type { VoteStore } from '../arena/ports.js';
import type { ResponseStore } from '../protocols/openai-responses/ports.js';
import type { Ledger } from '../tenancy/ledger.js';
import type { RateLimiter } from '../tenancy/rate-limits.js';
import type { Tenancy } from '../tenancy/service.js';
import type { UsageStore } from '../usage/ports.js';
import type { UsageRecorder } from '../usage/record.js';

/** The storage ports routes read and write through (tenancy's sits behind `Tenancy`). */
export interface HubStores {
  readonly usage: UsageStore;
  readonly responses: ResponseStore;
  readonly arena: VoteStore;
}

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
  readonly stores: HubStores;
  /** Unix seconds the hub started, reported as `created` in /v1/models. */
  readonly startedAt: number;
}
