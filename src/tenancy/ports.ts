import type { Budgeted, Reservation, ReserveResult } from './ledger.js';
import type { RateLimited, RateVerdict } from './rate-limits.js';
import type { BudgetPeriod, Team, VirtualKey } from './types.js';

/**
 * What tenancy needs from storage. Keys and teams are read once at start into Tenancy's memory
 * cache, so authenticating a request never waits on the store; every change is written through
 * (asynchronously: a networked store answers over the wire) before the cache takes it. A store
 * shared by several hubs (PostgreSQL) must also keep each hub's cache fresh when another hub
 * changes a key or team — a change feed (LISTEN/NOTIFY) or a periodic reload that replaces the
 * cached entries — so the request path still reads only memory.
 */
export interface TenancyStore {
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  teams(): Promise<Team[]>;
  keys(): Promise<VirtualKey[]>;
  saveTeam(t: Team): Promise<void>;
  deleteTeam(id: string): Promise<void>;
  saveKey(k: VirtualKey): Promise<void>;
}

/**
 * USD one key or team has spent since `since` (unix ms), from the usage records. The budget
 * ledger reads it synchronously, once per account and period (at start for every budgeted
 * account, otherwise on the account's first request); a networked store would preload it.
 */
export interface SpendReader {
  spendOf(account: 'key' | 'team', id: string, since: number): number;
}

/**
 * Budgets that hold under concurrency (see ledger.ts for the in-process one): `reserve` checks
 * spent + reserved + the worst case against every budget and reserves it, atomically; `settle`
 * replaces a reservation by the real cost. A ledger shared by several hubs (Redis) does the
 * check-and-reserve in one atomic step on the server. Asynchronous where the store is networked.
 */
export interface BudgetLedger {
  reserve(budgets: readonly Budgeted[], amount: number): ReserveResult | Promise<ReserveResult>;
  /** Call exactly once per successful reserve; never waited on by the request path. */
  settle(r: Reservation, actualUsd: number): void;
  /** What the account has spent this period (for the admin and the key's own view). */
  spent(account: string, period: BudgetPeriod): number | Promise<number>;
}

/**
 * Requests and tokens per minute per key and team (see rate-limits.ts for the in-process one):
 * `admit` checks every limit and only then counts, so a refused request consumes nothing.
 */
export interface RateLimits {
  admit(limits: readonly RateLimited[], tokens: number): RateVerdict | Promise<RateVerdict>;
  /** Corrects a token count once the real usage is known (may be negative); never waited on. */
  adjustTokens(accounts: readonly string[], delta: number): void;
}
