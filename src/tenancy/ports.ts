import type { Budgeted, Reservation, ReserveResult } from './ledger.js';
import type { RateLimited, RateVerdict } from './rate-limits.js';
import type { BudgetPeriod, Team, VirtualKey } from './types.js';

/**
 * What tenancy needs from storage. Keys and teams are read once at start into Tenancy's memory
 * cache, so authenticating a request never waits on the store; every change is written through
 * (asynchronously: a networked store answers over the wire) before the cache takes it. A store
 * shared by several hubs (PostgreSQL) keeps each hub's cache fresh through a TenancyFeed: the
 * hub that changed a key or team says which, the others read that one entry back (`key`,
 * `team`), so the request path still reads only memory.
 */
export interface TenancyStore {
  getSetting(key: string): Promise<string | undefined>;
  setSetting(key: string, value: string): Promise<void>;
  /** Stores `value` unless `key` already has one (another hub's, made at the same moment); answers what is stored. */
  claimSetting(key: string, value: string): Promise<string>;
  teams(): Promise<Team[]>;
  keys(): Promise<VirtualKey[]>;
  /** One team as stored now; undefined once deleted. */
  team(id: string): Promise<Team | undefined>;
  /** One key as stored now. */
  key(id: string): Promise<VirtualKey | undefined>;
  /** The key with this hash: a hub looks up a hash its cache misses, in case another hub just made it. */
  keyByHash(hash: string): Promise<VirtualKey | undefined>;
  saveTeam(t: Team): Promise<void>;
  deleteTeam(id: string): Promise<void>;
  saveKey(k: VirtualKey): Promise<void>;
}

/**
 * One change to keys or teams, as hubs sharing a store tell each other: which entry changed
 * (its new state is read from the store, never carried here, so a lost or repeated message
 * cannot leave a stale value behind), and `origin`, the Tenancy that made it (it skips its own).
 * `all` is what a feed delivers after it reconnects: changes may have been missed, reload everything.
 */
export type TenancyChange =
  | { readonly kind: 'key' | 'team'; readonly id: string; readonly origin: string }
  | { readonly kind: 'all' };

/**
 * How hubs sharing a store hear of each other's key and team changes (PostgreSQL LISTEN/NOTIFY,
 * Redis pub/sub). Delivery is at most once while connected; a feed that loses its connection
 * reconnects by itself and then delivers `{ kind: 'all' }` once it listens again.
 */
export interface TenancyFeed {
  /** Tells every subscribed hub (this one's included) about a change. */
  publish(change: TenancyChange): Promise<void>;
  /** Calls `fn` for every change heard; returns the unsubscribe. */
  subscribe(fn: (change: TenancyChange) => void): () => void;
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

/** What a one-step admission answers: the rate verdict, and the reservation (undefined when the rate refused, or no budget applies). */
export interface Checked {
  readonly rate: RateVerdict;
  readonly budget: ReserveResult | undefined;
}

/**
 * Rate limits and budgets in one store that checks both in one atomic step (Redis): every rate
 * limit checked, then every budget, and only if all allow the request is it counted and its
 * worst case reserved, so nothing has to be undone when one refuses. A request refused for a
 * budget counts as a request (not as tokens), as admission over separate stores has it.
 */
export interface Limits extends RateLimits, BudgetLedger {
  admitAndReserve(limits: readonly RateLimited[], tokens: number, budgets: readonly Budgeted[], amount: number): Promise<Checked>;
}
