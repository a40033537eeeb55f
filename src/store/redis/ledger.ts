import type { Reservation } from '../../tenancy/ledger.js';
import type { BudgetPeriod } from '../../tenancy/types.js';

/** A reservation made by a shared ledger (RedisLimits, PostgresBudgetLedger): its id in the store and the period of each account. */
export interface RedisReservation extends Reservation {
  readonly id: string;
  readonly periods: readonly BudgetPeriod[];
}

/** Spend already recorded for an account (`key:<id>` or `team:<id>`) since `since` (unix ms), from the durable store. */
export type SpendLoader = (account: string, period: BudgetPeriod, since: number) => Promise<number>;

/**
 * A SpendLoader over a store's spend by key or team: PostgresTenancyStore.spend, or the embedded
 * store's spendOf (synchronous; awaited all the same).
 */
export function spendLoader(spend: (account: 'key' | 'team', id: string, since: number) => number | Promise<number>): SpendLoader {
  return async (account, _period, since) => {
    const colon = account.indexOf(':');
    const kind = account.slice(0, colon);
    if (kind !== 'key' && kind !== 'team') throw new Error(`budget ledger: '${account}' is neither key:<id> nor team:<id>`);
    return spend(kind, account.slice(colon + 1), since);
  };
}

/** When the period containing `now` ends (unix ms); undefined for `total`. */
export function periodEnd(period: BudgetPeriod, now: number): number | undefined {
  const d = new Date(now);
  if (period === 'day') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  if (period === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return undefined;
}
