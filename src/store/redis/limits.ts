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
import { leaseScript, turnScript } from './scripts.js';
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
   * How long a reservation holds at most if its call never settles it: then its replica releases
   * it itself. Longer than any call may run, as a reservation released while its call still runs
   * no longer counts against the budget.
   */
  readonly reservationTtlMs?: number;
  /**
   * How long after a replica was last heard of (it renews its lease every third of this while it
   * holds anything) the others free what it holds: a replica killed mid-call frees its
   * reservations after this, not before. Longer than the replicas' clocks may differ by.
   */
  readonly leaseMs?: number;
  /** How long one replica may take to seed an account before another takes over. */
  readonly seedLockMs?: number;
  /** Where the first failed settle or token correction is reported (process.emitWarning by default). */
  readonly warn?: (message: string) => void;
  /**
   * Admissions an account must have had on this replica in the last second (or this one so far) before the replica
   * asks for grants on it (then admits from them in memory; see scripts.ts). Default 64; 0: never.
   */
  readonly grantAfter?: number;
}

/** One request's admission, as queued for the turn's call. */
interface Ask {
  readonly limits: readonly RateLimited[];
  readonly tokens: number;
  readonly budgets: readonly Budgeted[];
  readonly amount: number;
  /** The incarnation its amount would be held under, once the call is built (only with budgets). */
  inc?: string;
  /** The grants asked with it, once the call is built (each account's share, in profile order). */
  want?: Want;
  /** It waited for grants to come back once: it is not made to wait again. */
  readonly waited: boolean;
}

/** Grants asked with one admission: per rate limit, requests and tokens; per budget, nano-USD. */
interface Want {
  readonly limits: readonly { readonly r: number; readonly t: number }[];
  readonly budgets: readonly number[];
}

/** What is left of a rate grant (requests and tokens on one account for one second), and the limits it was made under. */
interface RateGrant {
  readonly sec: number;
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
  req: number;
  tok: number;
  grantedReq: number;
  grantedTok: number;
  /** The window's totals once it was counted (the grant included), and their resets, for the headers. */
  usedReq: number;
  usedTok: number;
  /** The headers that do not change while it lasts, as sent. */
  text: { readonly rpm: string; readonly tpm: string; readonly resetReq: string; readonly resetTok: string };
}

/** What is left of a budget grant (an amount held on one account, for one second), and the budget it was made under. */
interface Pool {
  readonly sec: number;
  readonly inc: string;
  readonly budgetUsd: number;
  nano: number;
  granted: number;
}

/** Admissions on one account in the current and the last second (what sizes its grants). */
interface Traffic {
  sec: number;
  n: number;
  tokens: number;
  nano: number;
  last: { n: number; tokens: number; nano: number };
}

/** The turn script's answer for one admission (see scripts.ts), the clock the call ran at, and the incarnation it held under. */
interface Answer {
  readonly now: number;
  readonly res: readonly (number | string)[];
  readonly inc: string;
}

/** A reservation this replica holds, known here one by one (Redis keeps only sums per incarnation). */
interface Held {
  readonly inc: string;
  readonly accounts: readonly string[];
  readonly nano: number;
  readonly at: number;
}

/**
 * The writes queued for the turn's next call, summed per key as they come: a settle costs a few
 * map updates, not an object to be summed later. Spends by spent key; releases by incarnation and
 * account; corrections (token counts at admission against those used, a grant's unused part) by
 * rate hash and second; grants given back by account.
 */
class Pending {
  readonly spends = new Map<string, { add: number; at: number; sliding: boolean }>();
  readonly releases = new Map<string, Map<string, number>>();
  readonly corrections = new Map<string, Map<number, number>>();
  readonly returns = new Map<string, { r: number; t: number; x: number }>();

  spend(key: string, nano: number, at: number, sliding: boolean): void {
    const s = this.spends.get(key);
    if (!s) this.spends.set(key, { add: nano, at, sliding });
    else {
      s.add += nano;
      if (at > s.at) s.at = at;
    }
  }

  release(inc: string, account: string, nano: number): void {
    let m = this.releases.get(inc);
    if (!m) this.releases.set(inc, (m = new Map()));
    m.set(account, (m.get(account) ?? 0) + nano);
  }

  correct(key: string, sec: number, delta: number): void {
    let m = this.corrections.get(key);
    if (!m) this.corrections.set(key, (m = new Map()));
    m.set(sec, (m.get(sec) ?? 0) + delta);
  }

  giveBack(key: string, r: number, t: number, x: number): void {
    const g = this.returns.get(key);
    if (!g) this.returns.set(key, { r, t, x });
    else {
      g.r += r;
      g.t += t;
      g.x += x;
    }
  }
}

/** A spent key and what goes with it, known for as long as its period lasts (`until`). */
interface SpentKey {
  readonly key: string;
  readonly start: number;
  readonly until: number;
}

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
 * from the durable store (`load`) by one replica. Reservations are held in Redis as one sum per
 * account and replica incarnation, kept alive by a lease (scripts.ts); this replica knows its own
 * one by one, so a reservation settled twice is released once.
 */
export class RedisLimits extends WritesBehind implements Limits {
  private readonly prefix: string;
  private readonly now: () => number;
  private readonly ttl: number;
  private readonly leaseMs: number;
  private readonly seedLockMs: number;
  /** Seeds this replica is doing or waiting for, so its own concurrent requests wait on one. */
  private readonly seeding = new Map<string, Promise<void>>();
  /** Reservation ids and incarnations: this process's random part and a counter (unique across replicas and restarts). */
  private readonly idBase = `${randomBytes(6).toString('hex')}.`;
  private seq = 0;
  /** The incarnation new reservations are held under; replaced when its lease is found run out. */
  private inc = `${this.idBase}i0`;
  private incs = 0;
  /** Whether `inc` has held anything yet (its lease exists), and when its lease was last made or renewed. */
  private born = false;
  private leaseAt = 0;
  /** Per incarnation, per account: reservations held there, and admissions asked and not yet answered. */
  private readonly holdings = new Map<string, Map<string, number>>();
  /** This replica's reservations not yet settled, by id. */
  private readonly inFlight = new Map<string, Held>();
  /** Per account, when to look again for reservations in the earlier layout (absent: next call). */
  private readonly legacyNext = new Map<string, number>();
  /** Per account, when to push back its held hash's expiry again. */
  private readonly heldExpiryNext = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private readonly grantAfter: number;
  /** Grants this replica admits from, by account, and the timer that gives them back when their second ends. */
  private readonly rateGrants = new Map<string, RateGrant>();
  private readonly pools = new Map<string, Pool>();
  private giveBackTimer: NodeJS.Timeout | undefined;
  private readonly traffic = new Map<string, Traffic>();
  private pending = new Pending();
  /** Spent keys by account and period, so that a settle needs no date arithmetic. */
  private readonly spentKeys = new Map<string, Map<BudgetPeriod, SpentKey>>();

  constructor(
    private readonly redis: Redis,
    private readonly load: SpendLoader,
    o: RedisLimitsOptions = {},
  ) {
    super('a settled budget reservation or token count correction', o.warn);
    this.prefix = o.prefix ?? 'baimo:';
    this.now = o.now ?? Date.now;
    this.ttl = o.reservationTtlMs ?? 15 * 60_000;
    this.leaseMs = o.leaseMs ?? 30_000;
    this.seedLockMs = o.seedLockMs ?? 30_000;
    this.grantAfter = o.grantAfter ?? 64;
  }

  /** Loads the scripts into Redis; optional (a script missing is loaded on its first call), for start-up. */
  async ready(): Promise<void> {
    await turnScript.load(this.redis);
    await leaseScript.load(this.redis);
  }

  private spentKey(account: string, period: BudgetPeriod, now: number): string {
    return `${this.prefix}spent:${account}:${period}:${periodStart(period, now)}`;
  }

  /** When a spent key may go: a day after its period ends (late settles), or 35 idle days for `total` (then seeded again). */
  private spentExpiry(period: BudgetPeriod, now: number): number {
    const end = periodEnd(period, now);
    return end === undefined ? now + 35 * DAY : end + DAY;
  }

  /** The spent key of `account`'s `period` at `now`, from the cache while the period lasts. */
  private spentKeyAt(account: string, period: BudgetPeriod, now: number): SpentKey {
    let m = this.spentKeys.get(account);
    if (!m) {
      // Accounts come and go: a cache of every account ever settled is dropped now and then.
      if (this.spentKeys.size >= 10_000) this.spentKeys.clear();
      this.spentKeys.set(account, (m = new Map()));
    }
    let k = m.get(period);
    if (!k || now >= k.until || now < k.start) {
      k = { key: this.spentKey(account, period, now), start: periodStart(period, now), until: periodEnd(period, now) ?? Infinity };
      m.set(period, k);
    }
    return k;
  }

  private get leasesKey(): string {
    return `${this.prefix}replicas`;
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
    const accounts = budgets.map((b) => b.account);
    const nano = toNano(amount);
    const granted = this.fromGrants(id, limits, Math.round(tokens), budgets, accounts, nano);
    if (granted) return granted;
    let waited = false;
    for (let attempt = 0; ; attempt++) {
      const ask: Ask = { limits, tokens: Math.round(tokens), budgets, amount: nano, waited };
      let answer: Answer;
      try {
        answer = await this.turn.ask(ask);
      } catch (err) {
        if (ask.inc !== undefined) this.unhold(ask.inc, accounts);
        throw err;
      }
      const { now, res, inc } = answer;
      if (res[0] === 1 || res[0] === 0) {
        const rate = verdict(limits, res);
        if (rate.ok) {
          this.count(limits, ask.tokens, budgets, nano, now);
          if (ask.want) this.granted(limits, budgets, res, now, inc);
        }
        if (!rate.ok || budgets.length === 0) {
          if (ask.inc !== undefined) this.unhold(ask.inc, accounts);
          return { rate, budget: undefined };
        }
        // Held in Redis under `inc`: this replica releases it (settle, or its lifetime's end) or, if it dies, its lease runs out.
        this.inFlight.set(id, { inc, accounts, nano: ask.amount, at: now });
        if (inc === this.inc && !this.born) {
          this.born = true;
          this.leaseAt = now;
        }
        this.keepAlive();
        return { rate, budget: { ok: true, reservation: { accounts, amount, id, periods: budgets.map((b) => b.period) } as RedisReservation } };
      }
      if (ask.inc !== undefined) this.unhold(ask.inc, accounts);
      if (res[0] === 'no') {
        const b = budgets[Number(res[1]) - 1]!;
        return {
          rate: { ok: true, headers: {} },
          budget: { ok: false, account: b.account, budgetUsd: b.budgetUsd, spentUsd: Number(res[2]) / NANO, reservedUsd: Math.max(0, Number(res[3])) / NANO, period: b.period, resetsAt: periodEnd(b.period, now) },
        };
      }
      // Grants outstanding elsewhere may be all that refuses it: they are given back by then.
      if (res[0] === 'wait') {
        waited = true;
        await new Promise((r) => setTimeout(r, Math.min(1250, Number(res[1]))));
        continue;
      }
      if (attempt >= 3) throw new Error(`budget ledger: the spend of ${accounts.join(', ')} could not be ${res[0] === 'lease' ? 'reserved (this replica keeps losing its lease in Redis)' : 'seeded in Redis'}`);
      // This incarnation's lease ran out (the others may have freed what it held): hold under a new one.
      if (res[0] === 'lease') {
        this.retire(inc);
        continue;
      }
      // A spent key is missing: seed it, then ask again (a period may have turned meanwhile).
      await Promise.all(res.slice(1).map((i) => this.seed(budgets[Number(i) - 1]!.account, budgets[Number(i) - 1]!.period, now)));
    }
  }

  /**
   * Admits from this replica's grants when every account has enough left in this second (see
   * scripts.ts, Grants): no round trip. The amount becomes a reservation like any other (it was
   * held in Redis with the grant), settled and released the same way.
   */
  private fromGrants(id: string, limits: readonly RateLimited[], tokens: number, budgets: readonly Budgeted[], accounts: readonly string[], nano: number): Checked | undefined {
    if (this.rateGrants.size === 0 && this.pools.size === 0) return undefined;
    const now = this.now();
    const sec = Math.floor(now / 1000);
    for (const l of limits) {
      const g = this.rateGrants.get(l.account);
      // A limit changed since (another replica's edit) is asked of Redis at once.
      if (!g || g.sec !== sec || g.req < 1 || g.tok < tokens || g.rpm !== l.rpm || g.tpm !== l.tpm) return undefined;
    }
    let inc: string | undefined;
    for (const b of budgets) {
      const p = this.pools.get(b.account);
      if (!p || p.sec !== sec || p.nano < nano || p.budgetUsd !== b.budgetUsd || (inc !== undefined && p.inc !== inc)) return undefined;
      inc = p.inc;
    }
    const headers: Record<string, string> = {};
    for (const l of limits) {
      const g = this.rateGrants.get(l.account)!;
      g.req -= 1;
      g.tok -= tokens;
      // As RateLimiter: the last limit that sets a header wins; used = the window with the grant, less what is left of it.
      if (l.rpm !== undefined) {
        headers['x-ratelimit-limit-requests'] = g.text.rpm;
        headers['x-ratelimit-remaining-requests'] = String(Math.max(0, l.rpm - (g.usedReq - g.req)));
        headers['x-ratelimit-reset-requests'] = g.text.resetReq;
      }
      if (l.tpm !== undefined) {
        headers['x-ratelimit-limit-tokens'] = g.text.tpm;
        headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, l.tpm - (g.usedTok - g.tok)));
        headers['x-ratelimit-reset-tokens'] = g.text.resetTok;
      }
    }
    this.count(limits, tokens, budgets, nano, now);
    const rate: RateVerdict = { ok: true, headers: limits.length ? headers : {} };
    if (budgets.length === 0) return { rate, budget: undefined };
    for (const b of budgets) this.pools.get(b.account)!.nano -= nano;
    this.hold(inc!, accounts);
    this.inFlight.set(id, { inc: inc!, accounts, nano, at: now });
    return { rate, budget: { ok: true, reservation: { accounts, amount: nano / NANO, id, periods: budgets.map((b) => b.period) } as RedisReservation } };
  }

  /** Counts an admission on its accounts' traffic (which sizes the grants asked for them). */
  private count(limits: readonly RateLimited[], tokens: number, budgets: readonly Budgeted[], nano: number, now: number): void {
    if (this.grantAfter <= 0) return;
    const sec = Math.floor(now / 1000);
    // Only the last two seconds matter: accounts quiet since go (keys are many, traffic on most is rare).
    if (this.traffic.size > 10_000) for (const [account, c] of this.traffic) if (c.sec < sec - 1) this.traffic.delete(account);
    const on = (account: string, t: number, x: number) => {
      let c = this.traffic.get(account);
      if (!c) this.traffic.set(account, (c = { sec, n: 0, tokens: 0, nano: 0, last: { n: 0, tokens: 0, nano: 0 } }));
      if (c.sec !== sec) {
        c.last = c.sec === sec - 1 ? { n: c.n, tokens: c.tokens, nano: c.nano } : { n: 0, tokens: 0, nano: 0 };
        c.sec = sec;
        c.n = c.tokens = c.nano = 0;
      }
      c.n++;
      c.tokens += t;
      c.nano += x;
    };
    for (const l of limits) on(l.account, tokens, 0);
    for (const b of budgets) on(b.account, 0, nano);
  }

  /**
   * The grants to ask with an admission: a quarter of what each account had here in the last
   * second, or in this one so far if more (so at most about four asks a second while traffic
   * lasts), or none while any account of the request has had less than `grantAfter` admissions
   * in either. A grant of this second still held grows.
   */
  private want(a: Ask, now: number): Want | undefined {
    if (this.grantAfter <= 0) return undefined;
    const sec = Math.floor(now / 1000);
    // The last second's traffic, or this one's so far where it is more (traffic starting, or growing).
    const last = (account: string) => {
      const c = this.traffic.get(account);
      return !c ? undefined : c.sec === sec ? (c.n > c.last.n ? c : c.last) : c.sec === sec - 1 ? c : undefined;
    };
    const limits: { r: number; t: number }[] = [];
    for (const l of a.limits) {
      const c = last(l.account);
      if (!c || c.n < this.grantAfter) return undefined;
      limits.push({ r: Math.ceil(c.n / 4), t: Math.ceil(c.tokens / 4) });
    }
    const budgets: number[] = [];
    for (const b of a.budgets) {
      const c = last(b.account);
      if (!c || c.n < this.grantAfter) return undefined;
      budgets.push(Math.max(Math.ceil(c.nano / 4), a.amount));
    }
    return limits.length || budgets.length ? { limits, budgets } : undefined;
  }

  /** Takes the grants an admission's answer brings (see scripts.ts: after the per-limit figures). */
  private granted(limits: readonly RateLimited[], budgets: readonly Budgeted[], res: readonly (number | string)[], now: number, inc: string): void {
    const sec = Math.floor(now / 1000);
    let o = 1 + 4 * limits.length;
    limits.forEach((l, i) => {
      const [req, tok, usedReq, usedTok] = [Number(res[o]), Number(res[o + 1]), Number(res[o + 2]), Number(res[o + 3])];
      o += 4;
      if (req === 0 && tok === 0) return;
      const b = 1 + 4 * i;
      const [resetReq, resetTok] = [`${res[b + 1]}s`, `${res[b + 3]}s`];
      // One of this second (another key of the same team asked too) grows; any other is given back first.
      const g = this.rateGrants.get(l.account);
      if (g && g.sec === sec && g.rpm === l.rpm && g.tpm === l.tpm) {
        Object.assign(g, { req: g.req + req, tok: g.tok + tok, grantedReq: g.grantedReq + req, grantedTok: g.grantedTok + tok, usedReq, usedTok, text: { ...g.text, resetReq, resetTok } });
        return;
      }
      this.giveBackRate(l.account, NaN);
      this.rateGrants.set(l.account, { sec, rpm: l.rpm, tpm: l.tpm, req, tok, grantedReq: req, grantedTok: tok, usedReq, usedTok, text: { rpm: String(l.rpm), tpm: String(l.tpm), resetReq, resetTok } });
    });
    for (const b of budgets) {
      const x = Number(res[o++]);
      if (x === 0) continue;
      const p = this.pools.get(b.account);
      if (p && p.sec === sec && p.inc === inc && p.budgetUsd === b.budgetUsd) {
        p.nano += x;
        p.granted += x;
        continue;
      }
      this.giveBackPool(b.account, NaN);
      this.pools.set(b.account, { sec, inc, budgetUsd: b.budgetUsd, nano: x, granted: x });
      // The grant itself is held under `inc` until given back: its field must not be dropped meanwhile.
      this.hold(inc, [b.account]);
    }
    this.scheduleGiveBack(now);
  }

  /** Gives back the rate grant on `account` unless it is of second `keep`: its unused part is taken off the second it was counted in. */
  private giveBackRate(account: string, keep: number): void {
    const g = this.rateGrants.get(account);
    if (!g || g.sec === keep) return;
    this.rateGrants.delete(account);
    if (g.req > 0) this.pending.correct(`${this.prefix}rl:r:${account}`, g.sec, -g.req);
    if (g.tok > 0) this.pending.correct(`${this.prefix}rl:t:${account}`, g.sec, -g.tok);
    this.pending.giveBack(`${this.prefix}grant:${account}`, g.grantedReq, g.grantedTok, 0);
    this.turn.write(1);
  }

  /** Gives back the budget grant on `account` unless it is of second `keep`: its unused amount is released. */
  private giveBackPool(account: string, keep: number): void {
    const p = this.pools.get(account);
    if (!p || p.sec === keep) return;
    this.pools.delete(account);
    // Its incarnation may be retired meanwhile: then there is nothing to release (others freed it).
    this.release({ inc: p.inc, accounts: [account], nano: p.nano, at: 0 }, undefined, 0);
    this.pending.giveBack(`${this.prefix}grant:${account}`, 0, 0, p.granted);
    this.turn.write(1);
  }

  /** Gives back every grant of a second that has ended (all of them with `all`, at shutdown), then waits for the next second's end while any is left. */
  private giveBack(all = false): void {
    const keep = all ? NaN : Math.floor(this.now() / 1000);
    for (const account of [...this.rateGrants.keys()]) this.giveBackRate(account, keep);
    for (const account of [...this.pools.keys()]) this.giveBackPool(account, keep);
    if (this.rateGrants.size || this.pools.size) this.scheduleGiveBack(this.now());
  }

  private scheduleGiveBack(now: number): void {
    if (this.giveBackTimer) return;
    // Just after the second ends (the others wait a quarter second for it).
    this.giveBackTimer = setTimeout(() => {
      this.giveBackTimer = undefined;
      this.giveBack();
      // At once, not after the writes' delay: other replicas may be waiting for them.
      this.turn.send();
    }, 1000 - (now % 1000) + 5);
    this.giveBackTimer.unref();
  }

  /** Counts reservations held (or asked) under `inc` on these accounts. */
  private hold(inc: string, accounts: readonly string[]): void {
    let m = this.holdings.get(inc);
    if (!m) this.holdings.set(inc, (m = new Map()));
    for (const a of accounts) m.set(a, (m.get(a) ?? 0) + 1);
  }

  private unhold(inc: string, accounts: readonly string[]): void {
    const m = this.holdings.get(inc);
    if (!m) return;
    for (const a of accounts) {
      const n = (m.get(a) ?? 0) - 1;
      if (n > 0) m.set(a, n);
      else m.delete(a);
    }
  }

  /**
   * Its lease ran out: whatever `inc` held is freed (or will be, by the next admission on each
   * account), so its reservations release nothing more, and new ones go under a new incarnation.
   */
  private retire(inc: string): void {
    this.holdings.delete(inc);
    // Its budget grants went with it (freed by the others); their outstanding count ages out in Redis.
    for (const [account, p] of this.pools) if (p.inc === inc) this.pools.delete(account);
    if (inc !== this.inc) return;
    this.inc = `${this.idBase}i${++this.incs}`;
    this.born = false;
  }

  /** While this replica holds reservations, renews its lease and releases those past their lifetime. */
  private keepAlive(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      // A renewal that fails (Redis down) is tried again next time; the lease allows for two.
      this.renew().catch(() => undefined);
    }, this.leaseMs / 3);
    this.timer.unref();
  }

  /**
   * What the timer does every third of the lease: releases the reservations held longer than
   * their lifetime, and renews the lease while anything is held (public for tests, which move
   * the clock by hand).
   */
  async renew(): Promise<void> {
    const now = this.now();
    for (const [id, h] of this.inFlight) {
      if (now - h.at < this.ttl) continue;
      this.inFlight.delete(id);
      this.release(h, undefined, now);
    }
    const inc = this.inc;
    if (!this.born || !this.holdings.get(inc)?.size) return;
    const r = await leaseScript.run(this.redis, [this.leasesKey], [inc, now, now + this.leaseMs]);
    if (r === 0 || r === 2) this.retire(inc);
    else if (inc === this.inc) this.leaseAt = now;
  }

  /** Queues a reservation's release (if its incarnation still holds it) and the spend of its call. */
  private release(h: Held | undefined, spend: { accounts: readonly string[]; periods: readonly BudgetPeriod[]; nano: number } | undefined, now: number): void {
    let queued = false;
    if (h && this.holdings.has(h.inc)) {
      this.unhold(h.inc, h.accounts);
      for (const account of h.accounts) this.pending.release(h.inc, account, h.nano);
      queued = true;
    }
    if (spend) {
      for (let i = 0; i < spend.accounts.length; i++) {
        const period = spend.periods[i]!;
        const k = this.spentKeyAt(spend.accounts[i]!, period, now);
        // A `total` budget's key slides with every write; the others go a day after their period.
        this.pending.spend(k.key, spend.nano, period === 'total' ? now + 35 * DAY : k.until + DAY, period === 'total');
      }
      queued = true;
    }
    if (queued) this.turn.write(1);
  }

  /**
   * What one event-loop turn asks of Redis, in one call of the turn script (scripts.ts): the
   * settles, releases and token corrections (summed per key), then the admissions. The requests
   * of one key share a profile (their limits, budgets and keys, sent once).
   */
  private readonly turn = new Turn<Ask, Answer, 1>(this.background, async (asks) => {
    const now = this.now();
    // Holding nothing, it stops renewing its lease: after a pause, a new incarnation (born with
    // its first reservation) spares the call that would find the lease run out.
    if (this.born && !this.holdings.get(this.inc)?.size && now - this.leaseAt > this.leaseMs / 2) this.retire(this.inc);
    const inc = this.inc;
    const keys = new KeyList();
    keys.of(this.leasesKey);
    const args: (string | number)[] = [now, this.ttl + this.leaseMs + 120_000, inc, this.leaseMs];
    const pending = this.pending;
    this.pending = new Pending();
    this.finishArgs(pending, keys, args);
    const legacy = this.admitArgs(asks, now, inc, keys, args);
    const answers = (await turnScript.run(this.redis, keys.keys, args)) as (number | string)[][];
    // Accounts found with no reservation in the earlier layout are asked again in a minute; the others, next call.
    for (const i of (answers.pop() ?? []) as unknown as number[]) this.legacyNext.set(legacy.get(i)!, now + 60_000);
    return answers.map((res) => ({ now, res, inc }));
  });

  /** Admissions' arguments; answers the held keys (indexes) whose account is asked for earlier-layout reservations. */
  private admitArgs(asks: readonly Ask[], now: number, inc: string, keys: KeyList, args: (string | number)[]): Map<number, string> {
    const profiles = new Map<string, number>();
    const legacy = new Map<number, string>();
    const count = args.push(0) - 1;
    const tail: (string | number)[] = [];
    for (const a of asks) {
      if (a.budgets.length) {
        a.inc = inc;
        this.hold(inc, a.budgets.map((b) => b.account));
      }
      const sig = signature(a);
      let profile = profiles.get(sig);
      if (profile === undefined) {
        profile = profiles.size + 1;
        profiles.set(sig, profile);
        args.push(a.limits.length, a.budgets.length);
        a.want = this.want(a, now);
        a.limits.forEach((l, i) => {
          args.push(keys.of(`${this.prefix}rl:r:${l.account}`), keys.of(`${this.prefix}rl:t:${l.account}`), l.rpm ?? '', l.tpm ?? '');
          args.push(keys.of(`${this.prefix}grant:${l.account}`), a.want?.limits[i]!.r ?? 0, a.want?.limits[i]!.t ?? 0);
        });
        for (const [j, b] of a.budgets.entries()) {
          const h = keys.of(`${this.prefix}held:${b.account}`);
          args.push(keys.of(this.spentKey(b.account, b.period, now)), h, toNano(b.budgetUsd));
          if (now >= (this.legacyNext.get(b.account) ?? now)) {
            const r = `${this.prefix}rsv:${b.account}`;
            args.push(keys.of(r), keys.of(`${r}:exp`), keys.of(`${r}:amt`));
            legacy.set(h, b.account);
          } else args.push(0, 0, 0);
          // The held hash's expiry is pushed back at most once a minute (it allows a minute more for that).
          const x = now >= (this.heldExpiryNext.get(b.account) ?? now);
          if (x) this.heldExpiryNext.set(b.account, now + 60_000);
          args.push(x ? 1 : 0, keys.of(`${this.prefix}grant:${b.account}`), a.want?.budgets[j] ?? 0);
        }
      }
      tail.push(profile, a.tokens, a.amount, (a.want ? 1 : 0) + (a.waited ? 2 : 0));
    }
    args[count] = profiles.size;
    for (const x of tail) args.push(x);
    return legacy;
  }

  /** Spends, releases, corrections and grants given back, as summed while queued. */
  private finishArgs(p: Pending, keys: KeyList, args: (string | number)[]): void {
    args.push(p.spends.size);
    for (const [key, s] of p.spends) args.push(keys.of(key), s.add, s.at, s.sliding ? 1 : 0);
    const count = args.push(0) - 1;
    for (const [inc, accounts] of p.releases) {
      const held = this.holdings.get(inc);
      for (const [account, nano] of accounts) {
        // Nothing more held (or asked) there under this incarnation: its field goes, whatever it says
        // (so a release lost to a failed call is not held for ever). Admissions asked in this same
        // call come after, and hold anew.
        args.push(keys.of(`${this.prefix}held:${account}`), inc, nano, held?.has(account) ? 0 : 1);
        (args[count] as number)++;
      }
    }
    const corrections = args.push(0) - 1;
    for (const [key, bySec] of p.corrections) {
      for (const [sec, delta] of bySec) {
        if (delta === 0) continue;
        args.push(keys.of(key), sec, delta);
        (args[corrections] as number)++;
      }
    }
    args.push(p.returns.size);
    for (const [key, g] of p.returns) args.push(keys.of(key), g.r, g.t, g.x);
  }

  /** Fire and forget: the request path never waits on it; a failure is counted (see `failures`). */
  settle(r: Reservation, actualUsd: number): void {
    const own = r as Partial<RedisReservation>;
    if (own.id === undefined || own.periods === undefined) throw new Error('RedisLimits.settle: not a reservation this ledger made');
    if (r.accounts.length === 0) return;
    // Released once: a second settle of it (or one after its lifetime ended) only adds its spend.
    const held = this.inFlight.get(own.id);
    this.inFlight.delete(own.id);
    this.release(held, { accounts: r.accounts, periods: own.periods, nano: toNano(actualUsd) }, this.now());
  }

  /** Fire and forget, as settle. */
  adjustTokens(accounts: readonly string[], delta: number): void {
    const d = Math.round(delta);
    if (d === 0 || accounts.length === 0) return;
    const sec = Math.floor(this.now() / 1000);
    for (const account of accounts) {
      this.pending.correct(`${this.prefix}rl:t:${account}`, sec, d);
      this.turn.write(1);
    }
  }

  /** Sends what the turn has queued and waits for the writes not yet made (shutdown, tests). */
  override flush(): Promise<void> {
    this.giveBack(true);
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
          // NX: a seeder whose lock lapsed may have written it meanwhile; its value stands. (Settles
          // never create the key: one that lands while it is missing is in what `load` reads.)
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
