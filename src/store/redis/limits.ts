import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Budgeted, Reservation, ReserveResult } from '../../tenancy/ledger.js';
import { periodStart } from '../../tenancy/ledger.js';
import type { Checked, Limits } from '../../tenancy/ports.js';
import type { RateLimited, RateVerdict } from '../../tenancy/rate-limits.js';
import type { BudgetPeriod } from '../../tenancy/types.js';
import { WritesBehind } from '../background.js';
import { periodEnd } from './ledger.js';
import type { RedisReservation, SpendLoader } from './ledger.js';
import { turnScript } from './scripts.js';
import { Turn } from './turn.js';

/** Amounts in Redis are integer nano-dollars: INCRBY is exact where floats would drift. */
const NANO = 1e9;
const toNano = (usd: number) => Math.round(usd * NANO);
const DAY = 86_400_000;

export interface RedisLimitsOptions {
  /** Put before every key; in a Redis Cluster, wrap it in braces (`{baimo}:`) so a call's keys share a slot. */
  readonly prefix?: string;
  /** Clock (unix ms) for the one-second buckets and the budget periods; replicas' clocks are assumed within a second of each other. */
  readonly now?: () => number;
  /**
   * How long a reservation holds if its replica never settles it (crashed): longer than any call
   * may run, as a reservation swept while its call still runs no longer counts against the budget.
   */
  readonly reservationTtlMs?: number;
  /** How long one replica may take to seed an account before another takes over. */
  readonly seedLockMs?: number;
  /** Where the first failed settle or token correction is reported (process.emitWarning by default). */
  readonly warn?: (message: string) => void;
}

/** One request's admission, as queued for the turn's call. */
interface Ask {
  readonly limits: readonly RateLimited[];
  readonly tokens: number;
  readonly budgets: readonly Budgeted[];
  readonly amount: number;
  readonly id: string;
}

/** The turn script's answer for one admission (see scripts.ts), and the clock the call ran at. */
interface Answer {
  readonly now: number;
  readonly res: readonly (number | string)[];
}

/** A settle or a token correction, as queued for the turn's call. */
type Finish =
  | { readonly reservation: RedisReservation; readonly nano: number; readonly now: number }
  | { readonly account: string; readonly now: number; readonly delta: number };

/** KEYS of one call: each key once, named in ARGV by its (1-based) index. */
class KeyList {
  readonly keys: string[] = [];
  private readonly index = new Map<string, number>();

  of(key: string): number {
    let i = this.index.get(key);
    if (i === undefined) {
      i = this.keys.push(key);
      this.index.set(key, i);
    }
    return i;
  }
}

/**
 * Rate limits and budgets shared by every hub on one Redis, with the in-process RateLimiter's and
 * Ledger's semantics (tenancy/rate-limits.ts, tenancy/ledger.ts). A request's rate check and
 * budget reservation are one step in one script, and everything one event-loop turn asks (its
 * admissions, settles and token corrections) is one script call. Spent per period is seeded once
 * from the durable store (`load`) by one replica.
 */
export class RedisLimits extends WritesBehind implements Limits {
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly seedLockMs: number;
  /** Seeds this replica is doing or waiting for, so its own concurrent requests wait on one. */
  private readonly seeding = new Map<string, Promise<void>>();
  /** Reservation ids: this process's random part and a counter (unique across replicas and restarts). */
  private readonly idBase = `${randomBytes(6).toString('hex')}.`;
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly load: SpendLoader,
    o: RedisLimitsOptions = {},
  ) {
    super('a settled budget reservation or token count correction', o.warn);
    this.prefix = o.prefix ?? 'baimo:';
    this.now = o.now ?? Date.now;
    this.ttl = o.reservationTtlMs ?? 15 * 60_000;
    this.seedLockMs = o.seedLockMs ?? 30_000;
  }

  /** Loads the scripts into Redis; optional (a script missing is loaded on its first call), for start-up. */
  async ready(): Promise<void> {
    await turnScript.load(this.redis);
  }

  private spentKey(account: string, period: BudgetPeriod, now: number): string {
    return `${this.prefix}spent:${account}:${period}:${periodStart(period, now)}`;
  }

  /** When a spent key may go: a day after its period ends (late settles), or 35 idle days for `total` (then seeded again). */
  private spentExpiry(period: BudgetPeriod, now: number): number {
    const end = periodEnd(period, now);
    return end === undefined ? now + 35 * DAY : end + DAY;
  }

  async admit(limits: readonly RateLimited[], tokens: number): Promise<RateVerdict> {
    if (limits.length === 0) return { ok: true, headers: {} };
    return (await this.admitAndReserve(limits, tokens, [], 0)).rate;
  }

  async reserve(budgets: readonly Budgeted[], amount: number): Promise<ReserveResult> {
    if (budgets.length === 0) return { ok: true, reservation: { accounts: [], amount, id: '', periods: [] } as RedisReservation };
    return (await this.admitAndReserve([], 0, budgets, amount)).budget!;
  }

  async admitAndReserve(limits: readonly RateLimited[], tokens: number, budgets: readonly Budgeted[], amount: number): Promise<Checked> {
    const id = this.idBase + (this.seq++).toString(36);
    const ask: Ask = { limits, tokens: Math.round(tokens), budgets, amount: toNano(amount), id };
    for (let attempt = 0; ; attempt++) {
      const { now, res } = await this.turn.ask(ask);
      if (res[0] === 1 || res[0] === 0) {
        const rate = verdict(limits, res);
        if (!rate.ok || budgets.length === 0) return { rate, budget: undefined };
        return { rate, budget: { ok: true, reservation: { accounts: budgets.map((b) => b.account), amount, id, periods: budgets.map((b) => b.period) } as RedisReservation } };
      }
      if (res[0] === 'no') {
        const b = budgets[Number(res[1]) - 1]!;
        return {
          rate: { ok: true, headers: {} },
          budget: { ok: false, account: b.account, budgetUsd: b.budgetUsd, spentUsd: Number(res[2]) / NANO, reservedUsd: Math.max(0, Number(res[3])) / NANO, period: b.period, resetsAt: periodEnd(b.period, now) },
        };
      }
      // A spent key is missing: seed it, then ask again (a period may have turned meanwhile).
      if (attempt >= 3) throw new Error(`budget ledger: the spend of ${budgets.map((b) => b.account).join(', ')} could not be seeded in Redis`);
      await Promise.all(res.slice(1).map((i) => this.seed(budgets[Number(i) - 1]!.account, budgets[Number(i) - 1]!.period, now)));
    }
  }

  /**
   * What one event-loop turn asks of Redis, in one call of the turn script (scripts.ts): the
   * settles and token corrections, then the admissions. The requests of one key share a profile
   * (their limits, budgets and keys, sent once), and so do settles on the same accounts.
   */
  private readonly turn = new Turn<Ask, Answer, Finish>(this.background, async (asks, finishes) => {
    const now = this.now();
    const keys = new KeyList();
    const args: (string | number)[] = [now, this.ttl];
    this.finishArgs(finishes, keys, args);
    this.admitArgs(asks, now, keys, args);
    const answers = (await turnScript.run(this.redis, keys.keys, args)) as (number | string)[][];
    return answers.map((res) => ({ now, res }));
  });

  private admitArgs(asks: readonly Ask[], now: number, keys: KeyList, args: (string | number)[]): void {
    const profiles = new Map<string, number>();
    const count = args.push(0) - 1;
    const tail: (string | number)[] = [];
    for (const a of asks) {
      const sig = signature(a);
      let profile = profiles.get(sig);
      if (profile === undefined) {
        profile = profiles.size + 1;
        profiles.set(sig, profile);
        args.push(a.limits.length, a.budgets.length);
        for (const l of a.limits) args.push(keys.of(`${this.prefix}rl:r:${l.account}`), keys.of(`${this.prefix}rl:t:${l.account}`), l.rpm ?? '', l.tpm ?? '');
        for (const b of a.budgets) {
          const r = `${this.prefix}rsv:${b.account}`;
          args.push(keys.of(this.spentKey(b.account, b.period, now)), keys.of(r), keys.of(`${r}:exp`), keys.of(`${r}:amt`), toNano(b.budgetUsd));
        }
      }
      tail.push(profile, a.tokens, a.amount, a.id);
    }
    args[count] = profiles.size;
    for (const x of tail) args.push(x);
  }

  private finishArgs(finishes: readonly Finish[], keys: KeyList, args: (string | number)[]): void {
    const profiles = new Map<string, number>();
    const count = args.push(0) - 1;
    const items: (string | number)[] = [];
    for (const f of finishes) {
      if ('account' in f) {
        items.push('c', keys.of(`${this.prefix}rl:t:${f.account}`), Math.floor(f.now / 1000), f.delta);
        continue;
      }
      const { accounts, periods, id } = f.reservation;
      // Within a UTC day every period's spent key (and its expiry, to the day) is the same.
      const sig = `${accounts.join(' ')}\n${periods.join(' ')}\n${Math.floor(f.now / DAY)}`;
      let profile = profiles.get(sig);
      if (profile === undefined) {
        profile = profiles.size + 1;
        profiles.set(sig, profile);
        args.push(accounts.length);
        accounts.forEach((account, i) => {
          const r = `${this.prefix}rsv:${account}`;
          args.push(keys.of(this.spentKey(account, periods[i]!, f.now)), keys.of(r), keys.of(`${r}:exp`), keys.of(`${r}:amt`), this.spentExpiry(periods[i]!, f.now));
        });
      }
      items.push('s', profile, id, f.nano);
    }
    args[count] = profiles.size;
    args.push(finishes.length);
    for (const x of items) args.push(x);
  }

  /** Fire and forget: the request path never waits on it; a failure is counted (see `failures`). */
  settle(r: Reservation, actualUsd: number): void {
    const own = r as Partial<RedisReservation>;
    if (own.id === undefined || own.periods === undefined) throw new Error('RedisLimits.settle: not a reservation this ledger made');
    if (r.accounts.length === 0) return;
    this.turn.write({ reservation: own as RedisReservation, nano: toNano(actualUsd), now: this.now() });
  }

  /** Fire and forget, as settle. */
  adjustTokens(accounts: readonly string[], delta: number): void {
    const d = Math.round(delta);
    if (d === 0 || accounts.length === 0) return;
    const now = this.now();
    for (const account of accounts) this.turn.write({ account, now, delta: d });
  }

  /** Sends what the turn has queued and waits for the writes not yet made (shutdown, tests). */
  override flush(): Promise<void> {
    this.turn.send();
    return super.flush();
  }

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

/** What the requests of one key have in common: their limits and budgets (their ADMIT profile). */
function signature(a: Ask): string {
  let s = '';
  for (const l of a.limits) s += `${l.account} ${l.rpm ?? ''} ${l.tpm ?? ''}\n`;
  s += '|';
  for (const b of a.budgets) s += `${b.account} ${b.budgetUsd} ${b.period}\n`;
  return s;
}

/** The rate verdict in an ADMIT answer ({1, …} or {0, …}), with the headers and Retry-After RateLimiter gives. */
function verdict(limits: readonly RateLimited[], res: readonly (number | string)[]): RateVerdict {
  if (res[0] === 0) {
    const l = limits[Number(res[1]) - 1]!;
    const limit = res[2] as 'requests' | 'tokens';
    const max = (limit === 'requests' ? l.rpm : l.tpm)!;
    const used = Number(res[3]);
    const reset = Number(res[4]);
    return {
      ok: false,
      limit,
      account: l.account,
      retryAfterSeconds: reset,
      headers: {
        [`x-ratelimit-limit-${limit}`]: String(max),
        [`x-ratelimit-remaining-${limit}`]: String(Math.max(0, max - used)),
        [`x-ratelimit-reset-${limit}`]: `${reset}s`,
      },
    };
  }
  if (limits.length === 0) return { ok: true, headers: {} };
  // As RateLimiter: each limit in order writes the headers, so the last that sets one wins.
  const headers: Record<string, string> = {};
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i]!;
    const o = 1 + 4 * i;
    if (l.rpm !== undefined) {
      headers['x-ratelimit-limit-requests'] = String(l.rpm);
      headers['x-ratelimit-remaining-requests'] = String(Math.max(0, l.rpm - Number(res[o])));
      headers['x-ratelimit-reset-requests'] = `${res[o + 1]}s`;
    }
    if (l.tpm !== undefined) {
      headers['x-ratelimit-limit-tokens'] = String(l.tpm);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, l.tpm - Number(res[o + 2])));
      headers['x-ratelimit-reset-tokens'] = `${res[o + 3]}s`;
    }
  }
  return { ok: true, headers };
}
