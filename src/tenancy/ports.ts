import type { Team, VirtualKey } from './types.js';

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
