import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Budgeted, Reservation, ReserveResult } from '../../tenancy/ledger.js';
import { periodStart } from '../../tenancy/ledger.js';
import type { BudgetLedger } from '../../tenancy/ports.js';
import type { BudgetPeriod } from '../../tenancy/types.js';
import { WritesBehind } from '../background.js';
import { Script } from './script.js';

/** Amounts in Redis are integer nano-dollars: INCRBY is exact where floats would drift. */
const NANO = 1e9;
const toNano = (usd: number) => Math.round(usd * NANO);
const DAY = 86_400_000;

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

/**
 * Per budget i, four keys: spent this period (a string; the period's start is in its name, so a
 * new period starts from nothing), reserved (a counter), and the reservations in flight: a ZSET
 * id → expiry (ms) and a hash id → amount. Expired reservations (a replica that crashed before it
 * settled) are swept first; then spent + reserved + amount is checked against every budget, and
 * only if all fit is the amount reserved on all of them.
 *
 * KEYS: spent, reserved, expiries, amounts of each budget. ARGV: now (ms), ttl (ms), reservation
 * id, amount, then each budget. Answers {'seed', i...} when a spent key is missing (the caller
 * seeds it from the durable store and asks again), {'no', i, spent, reserved} or {'ok'}.
 */
const RESERVE = `
local now, ttl, id, amount = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3], ARGV[4]
local n = #KEYS / 4
local missing = {'seed'}
for i = 1, n do
  if redis.call('EXISTS', KEYS[4 * i - 3]) == 0 then missing[#missing + 1] = i end
end
if #missing > 1 then return missing end
for i = 1, n do
  local reserved, expiries, amounts = KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  local expired = redis.call('ZRANGEBYSCORE', expiries, '-inf', now)
  for _, rid in ipairs(expired) do
    local amt = redis.call('HGET', amounts, rid)
    if amt then
      redis.call('DECRBY', reserved, amt)
      redis.call('HDEL', amounts, rid)
    end
  end
  if #expired > 0 then redis.call('ZREMRANGEBYSCORE', expiries, '-inf', now) end
end
for i = 1, n do
  local spent = redis.call('GET', KEYS[4 * i - 3]) or '0'
  local reserved = redis.call('GET', KEYS[4 * i - 2]) or '0'
  if tonumber(spent) + tonumber(reserved) + tonumber(amount) > tonumber(ARGV[4 + i]) then
    return {'no', i, spent, reserved}
  end
end
for i = 1, n do
  local reserved, expiries, amounts = KEYS[4 * i - 2], KEYS[4 * i - 1], KEYS[4 * i]
  redis.call('INCRBY', reserved, amount)
  redis.call('HSET', amounts, id, amount)
  redis.call('ZADD', expiries, now + ttl, id)
  -- Every reservation in them expires by now + ttl: the three go together a minute after.
  redis.call('PEXPIRE', reserved, ttl + 60000)
  redis.call('PEXPIRE', expiries, ttl + 60000)
  redis.call('PEXPIRE', amounts, ttl + 60000)
end
return {'ok'}
`;

/**
 * Settles a batch of reservations. KEYS: spent (this period), reserved, expiries, amounts of
 * each account of each reservation, in order. ARGV: per reservation, its number of accounts,
 * its id, its actual cost, then when each account's spent key expires (unix ms). Releases each
 * reservation where it is still held (not swept as expired) and adds the actual cost to spent
 * either way: the call ran.
 */
const SETTLE = `
local a, k = 1, 0
while a <= #ARGV do
  local n, id, actual = tonumber(ARGV[a]), ARGV[a + 1], ARGV[a + 2]
  a = a + 3
  for i = 1, n do
    local spent, reserved, expiries, amounts = KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4]
    k = k + 4
    local amt = redis.call('HGET', amounts, id)
    if amt then
      redis.call('DECRBY', reserved, amt)
      redis.call('HDEL', amounts, id)
      redis.call('ZREM', expiries, id)
    end
    redis.call('INCRBY', spent, actual)
    redis.call('PEXPIREAT', spent, ARGV[a])
    a = a + 1
  end
end
return 1
`;

/** One reservation to settle: its accounts' keys and its SETTLE arguments. */
interface Settlement {
  readonly keys: readonly string[];
  readonly args: readonly (string | number)[];
}

const reserveScript = new Script(RESERVE);
const settleScript = new Script(SETTLE);

/** A reservation made by RedisBudgetLedger: its id in Redis and the period of each account. */
export interface RedisReservation extends Reservation {
  readonly id: string;
  readonly periods: readonly BudgetPeriod[];
}

export interface RedisBudgetLedgerOptions {
  /** Put before every key; in a Redis Cluster, wrap it in braces (`{baimo}:`) so a call's keys share a slot. */
  readonly prefix?: string;
  readonly now?: () => number;
  /**
   * How long a reservation holds if its replica never settles it (crashed): longer than any call
   * may run, as a reservation swept while its call still runs no longer counts against the budget.
   */
  readonly reservationTtlMs?: number;
  /** How long one replica may take to seed an account before another takes over. */
  readonly seedLockMs?: number;
  /** Where the first failed settle is reported (process.emitWarning by default). */
  readonly warn?: (message: string) => void;
}

/** When the period containing `now` ends (unix ms); undefined for `total`. */
export function periodEnd(period: BudgetPeriod, now: number): number | undefined {
  const d = new Date(now);
  if (period === 'day') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1);
  if (period === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return undefined;
}

/**
 * Budgets shared by every hub on one Redis, with the in-process Ledger's semantics
 * (tenancy/ledger.ts): reserve the worst case against every budget atomically, settle it to the
 * actual cost. Spent per period is seeded once from the durable store (`load`) by one replica.
 */
export class RedisBudgetLedger extends WritesBehind implements BudgetLedger {
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly seedLockMs: number;
  /** Seeds this replica is doing or waiting for, so its own concurrent requests wait on one. */
  private readonly seeding = new Map<string, Promise<void>>();

  constructor(
    private readonly redis: Redis,
    private readonly load: SpendLoader,
    o: RedisBudgetLedgerOptions = {},
  ) {
    super('a settled budget reservation', o.warn);
    this.prefix = o.prefix ?? 'baimo:';
    this.now = o.now ?? Date.now;
    this.ttl = o.reservationTtlMs ?? 15 * 60_000;
    this.seedLockMs = o.seedLockMs ?? 30_000;
  }



  /** Loads the scripts into Redis; optional (a script missing is loaded on its first call), for start-up. */
  async ready(): Promise<void> {
    await Promise.all([reserveScript.load(this.redis), settleScript.load(this.redis)]);
  }

  private spentKey(account: string, period: BudgetPeriod, now: number): string {
    return `${this.prefix}spent:${account}:${period}:${periodStart(period, now)}`;
  }

  /** When a spent key may go: a day after its period ends (late settles), or 35 idle days for `total` (then seeded again). */
  private spentExpiry(period: BudgetPeriod, now: number): number {
    const end = periodEnd(period, now);
    return end === undefined ? now + 35 * DAY : end + DAY;
  }

  private keys(account: string, period: BudgetPeriod, now: number): string[] {
    const p = `${this.prefix}rsv:${account}`;
    return [this.spentKey(account, period, now), p, `${p}:exp`, `${p}:amt`];
  }

  async reserve(budgets: readonly Budgeted[], amount: number): Promise<ReserveResult> {
    const id = randomUUID();
    const periods = budgets.map((b) => b.period);
    const reservation: RedisReservation = { accounts: budgets.map((b) => b.account), amount, id, periods };
    if (budgets.length === 0) return { ok: true, reservation };
    for (let attempt = 0; ; attempt++) {
      const now = this.now();
      const keys = budgets.flatMap((b) => this.keys(b.account, b.period, now));
      const args = [now, this.ttl, id, toNano(amount), ...budgets.map((b) => toNano(b.budgetUsd))];
      const res = (await reserveScript.run(this.redis, keys, args)) as (string | number)[];
      if (res[0] === 'ok') return { ok: true, reservation };
      if (res[0] === 'no') {
        const b = budgets[Number(res[1]) - 1]!;
        return { ok: false, account: b.account, budgetUsd: b.budgetUsd, spentUsd: Number(res[2]) / NANO, reservedUsd: Math.max(0, Number(res[3])) / NANO, period: b.period, resetsAt: periodEnd(b.period, now) };
      }
      // A spent key is missing: seed it, then ask again (a period may have turned meanwhile).
      if (attempt >= 3) throw new Error(`budget ledger: the spend of ${budgets.map((b) => b.account).join(', ')} could not be seeded in Redis`);
      await Promise.all(res.slice(1).map((i) => this.seed(budgets[Number(i) - 1]!.account, budgets[Number(i) - 1]!.period, now)));
    }
  }

  /** Fire and forget: the request path never waits on it; a failure is counted (see `failures`). */
  settle(r: Reservation, actualUsd: number): void {
    const own = r as Partial<RedisReservation>;
    if (own.id === undefined || own.periods === undefined) throw new Error('RedisBudgetLedger.settle: not a reservation this ledger made');
    if (r.accounts.length === 0) return;
    const now = this.now();
    const periods = own.periods;
    const keys = r.accounts.flatMap((a, i) => this.keys(a, periods[i]!, now));
    const args = [r.accounts.length, own.id, toNano(actualUsd), ...periods.map((p) => this.spentExpiry(p, now))];
    this.settlements.add({ keys, args });
  }

  /** Settles of one event-loop turn go to Redis in one script call. */
  private readonly settlements = this.batch<Settlement>((batch) =>
    settleScript.run(
      this.redis,
      batch.flatMap((s) => s.keys),
      batch.flatMap((s) => s.args),
    ),
  );

  async spent(account: string, period: BudgetPeriod): Promise<number> {
    const now = this.now();
    const key = this.spentKey(account, period, now);
    let v = await this.redis.get(key);
    if (v === null) {
      await this.seed(account, period, now);
      v = await this.redis.get(key);
    }
    return Number(v ?? 0) / NANO;
  }

  /**
   * Writes the account's spend this period from the durable store into its missing spent key.
   * One replica seeds (SET NX on a lock); the others wait for the key. A seeder that dies leaves
   * its lock to expire, and the next one takes over.
   */
  private seed(account: string, period: BudgetPeriod, now: number): Promise<void> {
    const key = this.spentKey(account, period, now);
    let p = this.seeding.get(key);
    if (!p) {
      p = this.seedOnce(key, account, period, now).finally(() => this.seeding.delete(key));
      this.seeding.set(key, p);
    }
    return p;
  }

  private async seedOnce(key: string, account: string, period: BudgetPeriod, now: number): Promise<void> {
    const lock = `${key}:seeding`;
    const deadline = Date.now() + 2 * this.seedLockMs;
    while ((await this.redis.exists(key)) === 0) {
      if (Date.now() > deadline) throw new Error(`budget ledger: timed out waiting for another hub to seed the spend of ${account}`);
      if ((await this.redis.set(lock, '1', 'PX', this.seedLockMs, 'NX')) === 'OK') {
        try {
          // Another replica may have seeded it and let go of the lock since the check above.
          if ((await this.redis.exists(key)) === 1) return;
          const usd = await this.load(account, period, periodStart(period, now));
          // NX: a settle that landed meanwhile (a period just begun) has created it and is kept.
          await this.redis.set(key, toNano(usd), 'PXAT', this.spentExpiry(period, now), 'NX');
        } finally {
          await this.redis.del(lock);
        }
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
