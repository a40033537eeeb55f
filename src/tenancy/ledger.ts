import type { BudgetLedger } from './ports.js';
import type { BudgetPeriod } from './types.js';

/** The start (unix ms) of the budget period that contains `now`, UTC. */
export function periodStart(period: BudgetPeriod, now: number): number {
  if (period === 'total') return 0;
  const d = new Date(now);
  return period === 'day' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()) : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

interface Account {
  period: BudgetPeriod;
  start: number;
  spent: number;
  reserved: number;
}

export interface Budgeted {
  /** `key:<id>` or `team:<id>`. */
  readonly account: string;
  readonly budgetUsd: number;
  readonly period: BudgetPeriod;
}

export interface Reservation {
  readonly accounts: readonly string[];
  readonly amount: number;
}

export type ReserveResult = { readonly ok: true; readonly reservation: Reservation } | { readonly ok: false; readonly account: string; readonly budgetUsd: number; readonly spentUsd: number; readonly reservedUsd: number; readonly period: BudgetPeriod; readonly resetsAt: number | undefined };

/**
 * Budgets that hold under concurrency: before a call the worst case is reserved against every
 * budget that applies (key and team), and after it the reservation is replaced by what was
 * actually spent. A request is admitted only if spent + reserved + its worst case fits, so
 * concurrent requests can never together overspend by more than one request's misestimate.
 * JavaScript runs this synchronously, so check-and-reserve is atomic within a process.
 */
export class Ledger implements BudgetLedger {
  private readonly accounts = new Map<string, Account>();

  constructor(
    /** Spend already recorded this period, read once from the store when an account is first used. */
    private readonly load: (account: string, period: BudgetPeriod, since: number) => number,
    private readonly now: () => number = Date.now,
  ) {}

  private account(id: string, period: BudgetPeriod): Account {
    const start = periodStart(period, this.now());
    let a = this.accounts.get(id);
    if (!a || a.period !== period) {
      a = { period, start, spent: this.load(id, period, start), reserved: a?.reserved ?? 0 };
      this.accounts.set(id, a);
    } else if (a.start !== start) {
      // A new day or month: what was spent before no longer counts; reservations in flight do.
      a.start = start;
      a.spent = 0;
    }
    return a;
  }

  reserve(budgets: readonly Budgeted[], amount: number): ReserveResult {
    for (const b of budgets) {
      const a = this.account(b.account, b.period);
      if (a.spent + a.reserved + amount > b.budgetUsd + 1e-12) {
        const d = new Date(this.now());
        const resetsAt =
          b.period === 'day' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1) : b.period === 'month' ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) : undefined;
        return { ok: false, account: b.account, budgetUsd: b.budgetUsd, spentUsd: a.spent, reservedUsd: a.reserved, period: b.period, resetsAt };
      }
    }
    for (const b of budgets) this.account(b.account, b.period).reserved += amount;
    return { ok: true, reservation: { accounts: budgets.map((b) => b.account), amount } };
  }

  /** Replaces a reservation by the actual cost. Call exactly once per successful reserve. */
  settle(r: Reservation, actualUsd: number): void {
    for (const id of r.accounts) {
      const a = this.accounts.get(id);
      if (!a) continue;
      a.reserved = Math.max(0, a.reserved - r.amount);
      a.spent += actualUsd;
    }
  }

  spent(account: string, period: BudgetPeriod): number {
    return this.account(account, period).spent;
  }
}
