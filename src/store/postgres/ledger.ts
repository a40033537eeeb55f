import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Budgeted, Reservation, ReserveResult } from '../../tenancy/ledger.js';
import { periodStart } from '../../tenancy/ledger.js';
import type { BudgetLedger } from '../../tenancy/ports.js';
import type { BudgetPeriod } from '../../tenancy/types.js';
import { WritesBehind } from '../background.js';
import { periodEnd } from '../redis/ledger.js';
import type { RedisReservation as IdentifiedReservation, SpendLoader } from '../redis/ledger.js';
import { transaction } from './transaction.js';

/** Integer nano-dollars, as in Redis; BIGINT and SUM read through Number() whatever the pool's type parsers. */
const NANO = 1e9;
const toNano = (usd: number) => Math.round(usd * NANO);

export interface PostgresBudgetLedgerOptions {
  readonly now?: () => number;
  /** How long a reservation holds if its hub never settles it (crashed): longer than any call may run. */
  readonly reservationTtlMs?: number;
  /** How long one hub may take to seed an account before another takes over. */
  readonly seedLockMs?: number;
  /** Where the first failed settle is reported (process.emitWarning by default). */
  readonly warn?: (message: string) => void;
}

/**
 * Budgets shared by hubs on one PostgreSQL, without Redis, with the Ledger's semantics
 * (tenancy/ledger.ts): the reserve checks spent + reserved + amount against every budget and
 * reserves on all of them in one transaction holding each account's row lock (budget_accounts,
 * in account order); settle moves the reservation to spent under the same locks. Amounts are
 * integer nano-dollars; spent is kept per period start, seeded once from the usage records
 * (`load`) by one hub; a reservation past its expiry (its hub died) no longer counts and is
 * deleted by the next reserve. Exact, and slower than Redis. Needs the tables of limits-schema.ts.
 */
export class PostgresBudgetLedger extends WritesBehind implements BudgetLedger {
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly seedLockMs: number;
  private readonly seeding = new Map<string, Promise<void>>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly load: SpendLoader,
    o: PostgresBudgetLedgerOptions = {},
  ) {
    super('a settled budget reservation', o.warn);
    this.now = o.now ?? Date.now;
    this.ttl = o.reservationTtlMs ?? 15 * 60_000;
    this.seedLockMs = o.seedLockMs ?? 30_000;
  }



  async reserve(budgets: readonly Budgeted[], amount: number): Promise<ReserveResult> {
    const id = randomUUID();
    const reservation: IdentifiedReservation = { accounts: budgets.map((b) => b.account), amount, id, periods: budgets.map((b) => b.period) };
    if (budgets.length === 0) return { ok: true, reservation };
    const accounts = [...new Set(budgets.map((b) => b.account))].sort();
    await this.pool.query('INSERT INTO budget_accounts (account) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [accounts]);
    const amountNano = toNano(amount);
    for (let attempt = 0; ; attempt++) {
      const now = this.now();
      // Seeded before the transaction: the loader reads the usage records on a connection of its own.
      await Promise.all(budgets.map((b) => this.seed(b.account, b.period, now)));
      const res = await transaction(this.pool, async (c): Promise<ReserveResult | 'seed'> => {
        await c.query('SELECT account FROM budget_accounts WHERE account = ANY($1) ORDER BY account FOR UPDATE', [accounts]);
        await c.query('DELETE FROM budget_reservations WHERE account = ANY($1) AND expires_at <= $2', [accounts, now]);
        const reserved = new Map(
          (await c.query<{ account: string; n: number }>('SELECT account, SUM(amount_nano) AS n FROM budget_reservations WHERE account = ANY($1) GROUP BY account', [accounts])).rows.map((r) => [r.account, Number(r.n)]),
        );
        const spent = await spentRows(c, budgets, now);
        for (const b of budgets) {
          const s = spent.get(`${b.account}:${b.period}`);
          if (s === undefined) return 'seed'; // a period began since the seeding
          const r = reserved.get(b.account) ?? 0;
          if (s + r + amountNano > toNano(b.budgetUsd)) {
            return { ok: false, account: b.account, budgetUsd: b.budgetUsd, spentUsd: s / NANO, reservedUsd: r / NANO, period: b.period, resetsAt: periodEnd(b.period, now) };
          }
        }
        await c.query(
          'INSERT INTO budget_reservations (id, account, amount_nano, expires_at) SELECT $1, a, $3::int8, $4::int8 FROM unnest($2::text[]) AS x(a)',
          [id, accounts, amountNano, now + this.ttl],
        );
        return { ok: true, reservation };
      });
      if (res !== 'seed') return res;
      if (attempt >= 3) throw new Error(`budget ledger: the spend of ${accounts.join(', ')} could not be seeded`);
    }
  }

  /** Fire and forget: the request path never waits on it; a failure is counted (see `failures`). */
  settle(r: Reservation, actualUsd: number): void {
    const own = r as Partial<IdentifiedReservation>;
    if (own.id === undefined || own.periods === undefined) throw new Error('PostgresBudgetLedger.settle: not a reservation this ledger made');
    if (r.accounts.length === 0) return;
    const now = this.now();
    const { id, periods } = own as IdentifiedReservation;
    const accounts = [...new Set(r.accounts)].sort();
    const actual = toNano(actualUsd);
    this.background.run(() =>
      transaction(this.pool, async (c) => {
        await c.query('SELECT account FROM budget_accounts WHERE account = ANY($1) ORDER BY account FOR UPDATE', [accounts]);
        await c.query('DELETE FROM budget_reservations WHERE id = $1', [id]);
        // A row missing here is a period begun since the reserve: it starts from this call's cost.
        await c.query(
          `INSERT INTO budget_spent (account, period, period_start, spent_nano)
           SELECT a, p, s, $4::int8 FROM unnest($1::text[], $2::text[], $3::int8[]) AS x(a, p, s)
           ON CONFLICT (account, period, period_start) DO UPDATE SET spent_nano = budget_spent.spent_nano + excluded.spent_nano`,
          [r.accounts, periods, periods.map((p) => periodStart(p, now)), actual],
        );
      }),
    );
  }

  async spent(account: string, period: BudgetPeriod): Promise<number> {
    const now = this.now();
    await this.seed(account, period, now);
    const { rows } = await this.pool.query<{ n: number }>('SELECT spent_nano AS n FROM budget_spent WHERE account = $1 AND period = $2 AND period_start = $3', [
      account,
      period,
      periodStart(period, now),
    ]);
    return Number(rows[0]?.n ?? 0) / NANO;
  }

  /**
   * Writes the account's spend this period from the usage records into budget_spent, where its
   * row is missing. One hub seeds: the one whose claim row (budget_seeding) is written; the others
   * wait for the row. A claim older than seedLockMs (its hub died) is taken over.
   */
  private seed(account: string, period: BudgetPeriod, now: number): Promise<void> {
    const start = periodStart(period, now);
    const k = `${account}:${period}:${start}`;
    let p = this.seeding.get(k);
    if (!p) {
      p = this.seedOnce(account, period, start).finally(() => this.seeding.delete(k));
      this.seeding.set(k, p);
    }
    return p;
  }

  private async seedOnce(account: string, period: BudgetPeriod, start: number): Promise<void> {
    const key = [account, period, start];
    const deadline = Date.now() + 2 * this.seedLockMs;
    for (;;) {
      const { rowCount } = await this.pool.query('SELECT 1 FROM budget_spent WHERE account = $1 AND period = $2 AND period_start = $3', key);
      if (rowCount) return;
      if (Date.now() > deadline) throw new Error(`budget ledger: timed out waiting for another hub to seed the spend of ${account}`);
      const claimed = await this.pool.query(
        `INSERT INTO budget_seeding (account, period, period_start, until) VALUES ($1, $2, $3, $4)
         ON CONFLICT (account, period, period_start) DO UPDATE SET until = excluded.until WHERE budget_seeding.until < $5 RETURNING 1`,
        [...key, Date.now() + this.seedLockMs, Date.now()],
      );
      if (claimed.rowCount) {
        try {
          // Another hub may have seeded it and let go of its claim since the check above.
          if ((await this.pool.query('SELECT 1 FROM budget_spent WHERE account = $1 AND period = $2 AND period_start = $3', key)).rowCount) return;
          const usd = await this.load(account, period, start);
          await this.pool.query('INSERT INTO budget_spent (account, period, period_start, spent_nano) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [...key, toNano(usd)]);
        } finally {
          await this.pool.query('DELETE FROM budget_seeding WHERE account = $1 AND period = $2 AND period_start = $3', key);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/** Spent (nano-dollars) of each budget this period, by `account:period`; a missing row is missing. */
async function spentRows(c: pg.PoolClient, budgets: readonly Budgeted[], now: number): Promise<Map<string, number>> {
  const { rows } = await c.query<{ account: string; period: string; n: number }>(
    `SELECT s.account, s.period, s.spent_nano AS n FROM budget_spent s
     JOIN unnest($1::text[], $2::text[], $3::int8[]) AS x(a, p, st) ON s.account = x.a AND s.period = x.p AND s.period_start = x.st`,
    [budgets.map((b) => b.account), budgets.map((b) => b.period), budgets.map((b) => periodStart(b.period, now))],
  );
  return new Map(rows.map((r) => [`${r.account}:${r.period}`, Number(r.n)]));
}
