/**
 * Rate limits and budgets shared by several hubs through one Redis (127.0.0.1:6379): three
 * "replicas", each with its own connection, admit exactly the limit between them and never
 * overspend a budget by more than one request; the answers match the in-process RateLimiter's;
 * a crashed replica's reservation expires; a new period starts from zero; an account's spend is
 * seeded from the durable store once. Each test works under a random key prefix, deleted after.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisLimits } from '../src/store/redis/limits.js';
import type { SpendLoader } from '../src/store/redis/ledger.js';
import type { Budgeted, ReserveResult } from '../src/tenancy/ledger.js';
import { RateLimiter } from '../src/tenancy/rate-limits.js';
import type { RateLimited } from '../src/tenancy/rate-limits.js';
import { deleteKeys } from './helpers/redis.js';

const URL = process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
let prefix: string;
const clients: Redis[] = [];

function connect(): Redis {
  const r = new Redis(URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
  clients.push(r);
  return r;
}

beforeEach(() => {
  prefix = `baimo-test:${randomBytes(6).toString('hex')}:`;
});

afterEach(async () => {
  const r = connect();
  await deleteKeys(r, prefix);
  await Promise.all(clients.splice(0).map((c) => (c.status === 'end' ? undefined : c.quit().catch(() => c.disconnect()))));
});

/** A clock tests move by hand (the scripts take the time from their caller), in the future: spent keys expire at absolute times. */
function clock(start = Date.UTC(2030, 2, 14, 12, 0, 0)) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms), set: (ms: number) => void (t = ms) };
}

/** Rate limits alone need no spend from a durable store. */
const noSpend: SpendLoader = async () => 0;
const limiters = (n: number, now?: () => number) => Array.from({ length: n }, () => new RedisLimits(connect(), noSpend, { prefix, ...(now && { now }) }));

/** Spreads `n` calls over the replicas, all in flight at once. */
const spread = <R, T>(replicas: readonly R[], n: number, f: (r: R, i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => f(replicas[i % replicas.length]!, i)));

describe('RedisLimits: rate limits', () => {
  it('three replicas admit exactly rpm=100 of 500 concurrent requests', async () => {
    const replicas = limiters(3);
    const verdicts = await spread(replicas, 500, (r) => r.admit([{ account: 'key:a', rpm: 100 }], 10));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(100);
    for (const v of verdicts.filter((v) => !v.ok)) {
      expect(v).toMatchObject({ limit: 'requests', account: 'key:a', headers: { 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '0' } });
      expect(v.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(v.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
  });

  it('three replicas hold tpm the same way, and a team limit across two keys', async () => {
    const replicas = limiters(3);
    // 7 tokens a request against 1,000 a minute: 142 fit (994), the 143rd would not.
    const verdicts = await spread(replicas, 500, (r) => r.admit([{ account: 'key:t', tpm: 1000 }], 7));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(142);
    expect(verdicts.find((v) => !v.ok)).toMatchObject({ limit: 'tokens', account: 'key:t', headers: { 'x-ratelimit-remaining-tokens': '6' } });

    const team = await spread(replicas, 300, (r, i) => r.admit([{ account: `key:k${i % 2}`, rpm: 1000 }, { account: 'team:x', rpm: 50 }], 1));
    expect(team.filter((v) => v.ok)).toHaveLength(50);
    expect(team.find((v) => !v.ok)).toMatchObject({ limit: 'requests', account: 'team:x' });
  });

  it('replicas whose clocks differ by seconds still let every second leave the window', async () => {
    const c = clock();
    const ahead = new RedisLimits(connect(), noSpend, { prefix, now: () => c.now() + 2_000 });
    const behind = new RedisLimits(connect(), noSpend, { prefix, now: c.now });
    const limit = [{ account: 'key:skew', rpm: 1000 }];
    // A minute and a half of traffic, alternating: the replica behind counts in seconds the one ahead has passed.
    for (let i = 0; i < 90; i++) {
      await ahead.admit(limit, 1);
      await behind.admit(limit, 1);
      c.advance(1_000);
    }
    // The last minute as the replica ahead last saw it (it drops seconds 2 s earlier): 60 of its
    // requests, the 58 of the other's in those seconds, and this one. Every earlier second left
    // the window, whichever replica counted it.
    const remaining = Number((await behind.admit(limit, 1)).headers['x-ratelimit-remaining-requests']);
    expect(1000 - remaining).toBe(119);
    // And the hash holds about a minute of buckets, not the whole run.
    const fields = await connect().hlen(`${prefix}rl:r:key:skew`);
    expect(fields).toBeLessThanOrEqual(65);
  });

  it('reads a window an earlier version wrote (buckets without a running total) at its true count', async () => {
    const c = clock();
    const r = connect();
    const sec = Math.floor(c.now() / 1000);
    // 30 requests over the last 30 seconds, and one bucket that has already left the window.
    await r.hset(`${prefix}rl:r:key:old`, ...Array.from({ length: 30 }, (_, i) => [String(sec - i), '1']).flat(), String(sec - 70), '5');
    const [l] = limiters(1, c.now);
    const v = await l!.admit([{ account: 'key:old', rpm: 40 }], 1);
    expect(v.headers['x-ratelimit-remaining-requests']).toBe('9');
    expect(await r.hexists(`${prefix}rl:r:key:old`, String(sec - 70))).toBe(0);
  });

  it('a refused request counts on no limit', async () => {
    const [r] = limiters(1);
    for (let i = 0; i < 3; i++) expect((await r!.admit([{ account: 'key:r', rpm: 10 }, { account: 'team:r', rpm: 3 }], 5)).ok).toBe(true);
    for (let i = 0; i < 5; i++) expect((await r!.admit([{ account: 'key:r', rpm: 10 }, { account: 'team:r', rpm: 3 }], 5)).ok).toBe(false);
    // The key counted the 3 admitted requests and 15 tokens, not the refused ones.
    const alone = await r!.admit([{ account: 'key:r', rpm: 10, tpm: 100 }], 5);
    expect(alone.headers).toMatchObject({ 'x-ratelimit-remaining-requests': '6', 'x-ratelimit-remaining-tokens': '80' });
  });

  it('answers as the in-process RateLimiter does: verdicts, headers, retry-after, corrections, the window sliding', async () => {
    const c = clock();
    const [redis] = limiters(1, c.now);
    const local = new RateLimiter(c.now);
    // Loaded ahead, so no correction waits on a NOSCRIPT round trip behind the next admit.
    await redis!.ready();
    const limits: RateLimited[] = [
      { account: 'key:s', rpm: 5, tpm: 300 },
      { account: 'team:s', rpm: 8 },
    ];
    const both = async (f: (l: RedisLimits | RateLimiter) => unknown) => {
      const [a, b] = [await f(redis!), await f(local)];
      expect(a).toEqual(b);
      return a;
    };
    // Requests over 70 s, at uneven steps: the limits fill, refuse, and free up as seconds leave the window.
    let refusals = 0;
    for (let i = 0; i < 40; i++) {
      const v = (await both((l) => l.admit(limits, 40 + (i % 3) * 10))) as { ok: boolean };
      if (!v.ok) refusals++;
      if (i % 4 === 0) {
        redis!.adjustTokens(['key:s', 'team:s'], -25);
        local.adjustTokens(['key:s', 'team:s'], -25);
        // Corrections are written at the end of the event-loop turn (batched): let it land.
        await redis!.flush();
      }
      c.advance(i % 5 === 0 ? 7_300 : 900);
    }
    expect(refusals).toBeGreaterThan(5);
  });

  it('keys expire by themselves once the minute has passed', async () => {
    const r = connect();
    const [l] = [new RedisLimits(r, noSpend, { prefix })];
    await l.admit([{ account: 'key:e', rpm: 10, tpm: 10 }], 3);
    const keys = await r.keys(`${prefix}*`);
    expect(keys).toHaveLength(2);
    for (const k of keys) {
      const ttl = await r.pttl(k);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(61_000);
    }
  });

  it('a token correction that cannot be written is counted, and warns once', async () => {
    const warnings: string[] = [];
    const r = connect();
    const l = new RedisLimits(r, noSpend, { prefix, warn: (m) => warnings.push(m) });
    await l.admit([{ account: 'key:f', tpm: 100 }], 10);
    r.disconnect();
    l.adjustTokens(['key:f'], -5);
    l.adjustTokens(['key:f'], 7);
    await expect.poll(() => l.failures).toBe(2);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('token count correction');
  });
});

const budget = (account: string, budgetUsd: number, period: Budgeted['period'] = 'month'): Budgeted => ({ account, budgetUsd, period });

describe('RedisLimits: budgets', () => {
  const ledgers = (n: number, load: SpendLoader = async () => 0, o: { now?: () => number; reservationTtlMs?: number; leaseMs?: number } = {}) =>
    Array.from({ length: n }, () => new RedisLimits(connect(), load, { prefix, ...o }));

  it('500 concurrent reserve + settle over three replicas never overspend the budget by more than one request', async () => {
    const replicas = ledgers(3);
    const B = 1;
    const amount = 0.013;
    const budgets = [budget('key:b', 5), budget('team:b', B)];
    let spentByUs = 0;
    let admitted = 0;
    const results = await spread(replicas, 500, async (l, i) => {
      const r = await l.reserve(budgets, amount);
      if (!r.ok) return r;
      admitted++;
      await new Promise((res) => setTimeout(res, i % 7));
      // The reservation is the worst case: calls cost that or less.
      const actual = amount * ((i % 10) / 9);
      spentByUs += Math.round(actual * 1e9);
      l.settle(r.reservation, actual);
      return r;
    });
    expect(admitted).toBeGreaterThanOrEqual(Math.floor(B / amount));
    expect(admitted).toBeLessThan(500);
    // Settles are fire and forget: wait until all have landed.
    await expect.poll(() => replicas[0]!.spent('team:b', 'month')).toBeCloseTo(spentByUs / 1e9, 9);
    const spent = await replicas[1]!.spent('team:b', 'month');
    // The worst case was reserved, so not even one request's amount over.
    expect(spent).toBeLessThanOrEqual(B);
    expect(await replicas[2]!.spent('key:b', 'month')).toBe(spent);
    const refused = results.filter((r): r is Extract<ReserveResult, { ok: false }> => !r.ok);
    expect(refused.length).toBe(500 - admitted);
    expect(refused.every((r) => r.account === 'team:b' && r.spentUsd + r.reservedUsd + amount > B)).toBe(true);
    // Nothing is left reserved: a reservation of exactly what is left fits.
    expect((await replicas[0]!.reserve(budgets, B - spent)).ok).toBe(true);
  });

  it('a refused reserve reserves nothing, and says what is spent, reserved and when the period resets', async () => {
    const c = clock(Date.UTC(2030, 2, 14, 12));
    const [l] = ledgers(1, async () => 0, { now: c.now });
    const held = await l!.reserve([budget('team:r', 0.05, 'day')], 0.02);
    expect(held.ok).toBe(true);
    const r = await l!.reserve([budget('key:r', 0.1, 'day'), budget('team:r', 0.05, 'day')], 0.04);
    expect(r).toEqual({ ok: false, account: 'team:r', budgetUsd: 0.05, spentUsd: 0, reservedUsd: 0.02, period: 'day', resetsAt: Date.UTC(2030, 2, 15) });
    // The key reserved nothing for the refused request: all of its budget is still there.
    expect((await l!.reserve([budget('key:r', 0.1, 'day')], 0.1)).ok).toBe(true);
    expect((await l!.reserve([budget('key:r', 0.1, 'day')], 1e-9)).ok).toBe(false);
  });

  it("a replica killed with reservations in flight: what it held is freed once its lease has run out, never while it is alive", async () => {
    const c = clock();
    const [killed, alive, other] = ledgers(3, async () => 0, { now: c.now, leaseMs: 30_000 });
    const b = [budget('key:c', 1)];
    expect((await killed!.reserve(b, 0.5)).ok).toBe(true);
    expect((await alive!.reserve(b, 0.3)).ok).toBe(true);
    expect(await other!.reserve(b, 0.3)).toMatchObject({ ok: false, reservedUsd: 0.8 });
    // `killed` never settles nor renews its lease again; `alive` renews every third of its lease.
    for (const step of [10_000, 10_000, 9_999]) {
      c.advance(step);
      await alive!.renew();
    }
    // A millisecond before the lease ends, all of it is still held.
    expect(await other!.reserve(b, 0.3)).toMatchObject({ ok: false, reservedUsd: 0.8 });
    c.advance(2);
    expect(await other!.reserve(b, 0.3)).toMatchObject({ ok: true });
    // Minutes later, the live replica's reservation still holds (0.3 + 0.3 of 1).
    for (let i = 0; i < 30; i++) {
      c.advance(10_000);
      await alive!.renew();
      await other!.renew();
    }
    expect(await killed!.spent('key:c', 'month')).toBe(0);
    expect(await other!.reserve(b, 0.5)).toMatchObject({ ok: false, spentUsd: 0, reservedUsd: 0.6 });
    expect((await other!.reserve(b, 0.4)).ok).toBe(true);
  });

  it('a settle arriving after its lease ran out adds its spend, and releases nothing twice nor below zero', async () => {
    const c = clock();
    const r = connect();
    const [stalled, other] = ledgers(2, async () => 0, { now: c.now, leaseMs: 30_000 });
    const b = [budget('key:l', 1)];
    const first = await stalled!.reserve(b, 0.6);
    const second = await stalled!.reserve(b, 0.2);
    if (!first.ok || !second.ok) throw new Error('not reserved');
    // `stalled` is not heard of for longer than its lease (its event loop blocked, say): the others free what it held.
    c.advance(30_001);
    const big = await other!.reserve(b, 0.9);
    expect(big.ok).toBe(true);
    // Back, it settles before learning it lost its lease: the spend counts, the release takes nothing from `other`.
    stalled!.settle(first.reservation, 0.05);
    await stalled!.flush();
    expect(await other!.reserve(b, 0.06)).toMatchObject({ ok: false, spentUsd: 0.05, reservedUsd: 0.9 });
    // Its next reservation learns it, and holds under a new incarnation: counted like any other.
    expect(await stalled!.reserve(b, 0.05)).toMatchObject({ ok: true });
    expect(await other!.reserve(b, 0.01)).toMatchObject({ ok: false, spentUsd: 0.05, reservedUsd: 0.95 });
    // The other reservation made under the lost incarnation, settled late (twice): spend only.
    stalled!.settle(second.reservation, 0.01);
    stalled!.settle(second.reservation, 0.01);
    await stalled!.flush();
    expect(await other!.reserve(b, 0.01)).toMatchObject({ ok: false, spentUsd: 0.07, reservedUsd: 0.95 });
    // No field went below zero, and the lost incarnation holds nothing.
    const held = await r.hgetall(`${prefix}held:key:l`);
    expect(Object.keys(held)).toHaveLength(2);
    expect(Object.values(held).every((v) => Number(v) > 0)).toBe(true);
    if (big.ok) other!.settle(big.reservation, 0);
    await other!.flush();
    expect(await other!.reserve(b, 0.88)).toMatchObject({ ok: true });
  });

  it('two replicas settling at once release each reservation once, and leave nothing held', async () => {
    const r = connect();
    const [x, y] = ledgers(2);
    const b = [budget('key:two', 1), budget('team:two', 1)];
    // 100 reservations of 0.01 fill the budget exactly, half on each replica.
    const held = await spread([x!, y!], 100, (l) => l.reserve(b, 0.01));
    expect(held.every((h) => h.ok)).toBe(true);
    expect((await x!.reserve(b, 1e-9)).ok).toBe(false);
    held.forEach((h, i) => {
      const l = i % 2 === 0 ? x! : y!;
      if (!h.ok) return;
      l.settle(h.reservation, 0.004);
      // A second settle of the same reservation adds its spend again, and releases nothing.
      if (i % 10 === 0) l.settle(h.reservation, 0);
    });
    await Promise.all([x!.flush(), y!.flush()]);
    expect(await y!.spent('team:two', 'month')).toBeCloseTo(0.4, 9);
    expect(await r.exists(`${prefix}held:key:two`, `${prefix}held:team:two`)).toBe(0);
    expect((await x!.reserve(b, 0.6)).ok).toBe(true);
    expect(await y!.reserve(b, 1e-9)).toMatchObject({ ok: false, spentUsd: 0.4, reservedUsd: 0.6 });
  });

  it('a reservation its call never settles is released by its own replica after its lifetime; a late settle adds only its spend', async () => {
    const c = clock();
    const [l, other] = ledgers(2, async () => 0, { now: c.now, leaseMs: 30_000, reservationTtlMs: 120_000 });
    const b = [budget('key:t', 1)];
    const r = await l!.reserve(b, 0.7);
    for (let i = 0; i < 11; i++) {
      c.advance(10_000);
      await l!.renew();
    }
    // 110 s: still held.
    expect(await other!.reserve(b, 0.5)).toMatchObject({ ok: false, reservedUsd: 0.7 });
    c.advance(10_000);
    await l!.renew();
    await l!.flush();
    expect(await other!.reserve(b, 0.5)).toMatchObject({ ok: true });
    if (r.ok) l!.settle(r.reservation, 0.1);
    await l!.flush();
    expect(await other!.reserve(b, 0.4)).toMatchObject({ ok: true });
    expect(await other!.reserve(b, 1e-9)).toMatchObject({ ok: false, spentUsd: 0.1, reservedUsd: 0.9 });
  });

  it('reservations an earlier version holds (its per-request layout) count until that version settles them or they expire', async () => {
    const c = clock();
    const r = connect();
    const now = c.now();
    const rsv = `${prefix}rsv:key:u`;
    // An earlier replica's two reservations: 0.4 in flight, 0.3 expired (its replica crashed).
    await r.set(rsv, 0.7e9);
    await r.zadd(`${rsv}:exp`, now + 600_000, 'old1', now - 1, 'old2');
    await r.hset(`${rsv}:amt`, 'old1', 0.4e9, 'old2', 0.3e9);
    const [l] = ledgers(1, async () => 0, { now: c.now });
    const b = [budget('key:u', 1)];
    expect(await l!.reserve(b, 0.7)).toMatchObject({ ok: false, reservedUsd: 0.4 });
    const mine = await l!.reserve(b, 0.6);
    expect(mine.ok).toBe(true);
    // The expired one was swept as the earlier version sweeps; the new reservation is not in the old keys.
    expect(await r.get(rsv)).toBe(String(0.4e9));
    expect(await r.hkeys(`${rsv}:amt`)).toEqual(['old1']);
    // The earlier replica settles its reservation its own way: the budget has it back.
    await r.decrby(rsv, 0.4e9);
    await r.hdel(`${rsv}:amt`, 'old1');
    await r.zrem(`${rsv}:exp`, 'old1');
    expect(await l!.reserve(b, 0.4)).toMatchObject({ ok: true });
    expect(await l!.reserve(b, 1e-9)).toMatchObject({ ok: false, reservedUsd: 1 });
  });

  it('a release lost with a failed call is not held for ever: the field goes once its replica holds nothing more there', async () => {
    const c = clock(Date.UTC(2030, 2, 14, 12));
    const r = connect();
    const warnings: string[] = [];
    const l = new RedisLimits(connect(), async () => 0, { prefix, now: c.now, warn: (m) => warnings.push(m) });
    const [other] = ledgers(1, async () => 0, { now: c.now });
    const b = [budget('key:lost', 1, 'day')];
    const first = await l.reserve(b, 0.3);
    const second = await l.reserve(b, 0.3);
    if (!first.ok || !second.ok) throw new Error('not reserved');
    // The spent key is not a number for a moment: the call with the first settle (spend and release) fails.
    const spent = `${prefix}spent:key:lost:day:${Date.UTC(2030, 2, 14)}`;
    await r.set(spent, 'garbage');
    l.settle(first.reservation, 0.1);
    await l.flush();
    expect(l.failures).toBe(1);
    expect(warnings).toHaveLength(1);
    await r.set(spent, 0);
    // Still held: 0.6, though only 0.3 is in flight.
    expect(await other!.reserve(b, 0.5)).toMatchObject({ ok: false, reservedUsd: 0.6 });
    // The last settle leaves the replica holding nothing there: the whole field goes.
    l.settle(second.reservation, 0.1);
    await l.flush();
    expect(await r.exists(`${prefix}held:key:lost`)).toBe(0);
    expect(await other!.reserve(b, 0.9)).toMatchObject({ ok: true });
    expect(await other!.reserve(b, 1e-9)).toMatchObject({ ok: false, spentUsd: 0.1, reservedUsd: 0.9 });
  });

  it('settling what is not its own reservation is refused', () => {
    const [l] = ledgers(1);
    expect(() => l!.settle({ accounts: ['key:x'], amount: 1 }, 1)).toThrow('not a reservation this ledger made');
  });

  it('a new period starts from zero, seeded from the durable store since its start', async () => {
    const c = clock(Date.UTC(2030, 2, 14, 23, 59));
    const loads: [string, string, number][] = [];
    const [l] = ledgers(1, async (account, period, since) => (loads.push([account, period, since]), 0.4), { now: c.now });
    const r = await l!.reserve([budget('key:p', 1, 'day')], 0.5);
    expect(r.ok).toBe(true);
    if (r.ok) l!.settle(r.reservation, 0.5);
    await expect.poll(() => l!.spent('key:p', 'day')).toBeCloseTo(0.9, 9);
    expect(await l!.reserve([budget('key:p', 1, 'day')], 0.2)).toMatchObject({ ok: false, spentUsd: 0.9 });
    c.advance(2 * 60_000);
    expect(await l!.spent('key:p', 'day')).toBe(0.4);
    expect(loads).toEqual([
      ['key:p', 'day', Date.UTC(2030, 2, 14)],
      ['key:p', 'day', Date.UTC(2030, 2, 15)],
    ]);
    expect((await l!.reserve([budget('key:p', 1, 'day')], 0.6)).ok).toBe(true);
  });

  it('an account is seeded from the durable store once, by one replica, while all three wait for it', async () => {
    let loads = 0;
    const load: SpendLoader = async () => {
      loads++;
      await new Promise((r) => setTimeout(r, 100));
      return 0.3;
    };
    const replicas = ledgers(3, load);
    const results = await spread(replicas, 60, (l) => l.reserve([budget('key:s', 1)], 0.1));
    expect(loads).toBe(1);
    // 0.3 already spent: 7 requests of 0.1 fit in a budget of 1, exactly.
    expect(results.filter((r) => r.ok)).toHaveLength(7);
    expect(await replicas[2]!.spent('key:s', 'month')).toBe(0.3);
    expect(loads).toBe(1);
  });

  it('a settle landing after Redis lost its data (a restart) leaves the spend to be seeded from the durable store, not started from that one call', async () => {
    // The durable store has the record of every call: 0.4 before, then the settled call's 0.5.
    let durable = 0.4;
    const [l] = ledgers(1, async () => durable);
    const r = await l!.reserve([budget('key:lost', 1)], 0.5);
    expect(r.ok).toBe(true);
    // Redis restarts empty while the call runs (this machine's Redis keeps nothing on disk).
    await deleteKeys(connect(), prefix);
    durable = 0.9;
    if (r.ok) l!.settle(r.reservation, 0.5);
    await l!.flush();
    // Spent is what the durable store says (0.9), not the 0.5 of the one call settled after the restart.
    expect(await l!.spent('key:lost', 'month')).toBeCloseTo(0.9, 9);
    expect(await l!.reserve([budget('key:lost', 1)], 0.2)).toMatchObject({ ok: false });
  });

  it('a seeder that fails leaves the seeding to the next request', async () => {
    let loads = 0;
    const [l] = ledgers(1, async () => {
      if (++loads === 1) throw new Error('database down');
      return 0.5;
    });
    await expect(l!.reserve([budget('key:f', 1)], 0.1)).rejects.toThrow('database down');
    expect(await l!.reserve([budget('key:f', 1)], 0.6)).toMatchObject({ ok: false, spentUsd: 0.5 });
    expect(loads).toBe(2);
  });

  it('its keys expire by themselves, and a settle that cannot be written is counted and warns once', async () => {
    const r = connect();
    const warnings: string[] = [];
    const c = clock(Date.UTC(2030, 2, 14, 12));
    const l = new RedisLimits(r, async () => 0, { prefix, now: c.now, warn: (m) => warnings.push(m), reservationTtlMs: 60_000 });
    const res = await l.reserve([budget('key:x', 1, 'day')], 0.1);
    const keys = await r.keys(`${prefix}*`);
    expect(keys.sort()).toEqual([`${prefix}held:key:x`, `${prefix}replicas`, `${prefix}spent:key:x:day:${Date.UTC(2030, 2, 14)}`].sort());
    for (const k of keys) expect(await r.pttl(k)).toBeGreaterThan(0);
    // The spent key goes a day after its day ends (by then late settles have landed).
    expect(await r.pexpiretime(`${prefix}spent:key:x:day:${Date.UTC(2030, 2, 14)}`)).toBe(Date.UTC(2030, 2, 16));
    r.disconnect();
    if (res.ok) {
      l.settle(res.reservation, 0.05);
      l.settle(res.reservation, 0.05);
    }
    await expect.poll(() => l.failures).toBe(2);
    expect(warnings).toHaveLength(1);
  });
});

describe('RedisLimits: one script call per event-loop turn', () => {
  /** A connection whose script calls are counted. */
  function counted(): { redis: Redis; calls: () => number } {
    const redis = connect();
    let n = 0;
    const evalsha = redis.evalsha.bind(redis) as (...a: unknown[]) => Promise<unknown>;
    (redis as unknown as { evalsha: (...a: unknown[]) => Promise<unknown> }).evalsha = (...a) => (n++, evalsha(...a));
    return { redis, calls: () => n };
  }

  it('500 admissions asked in one turn go in calls of at most 200, each decided as if alone', async () => {
    const { redis, calls } = counted();
    const l = new RedisLimits(redis, async () => 0, { prefix });
    await l.ready();
    const verdicts = await Promise.all(Array.from({ length: 500 }, (_, i) => l.admit([{ account: `key:m${i % 2}`, rpm: 120 }], 1)));
    expect(calls()).toBe(3);
    expect(verdicts.filter((v) => v.ok)).toHaveLength(240);
    // Each key's requests in order: the first 120 admitted, counting down to 0 remaining.
    const m0 = verdicts.filter((_, i) => i % 2 === 0);
    expect(m0.slice(0, 120).every((v) => v.ok)).toBe(true);
    expect(m0[119]!.headers['x-ratelimit-remaining-requests']).toBe('0');
    expect(m0.slice(120).every((v) => !v.ok && v.headers['x-ratelimit-remaining-requests'] === '0')).toBe(true);
  });

  it('a call that fails partway leaves every window it read in step (each admitted request is refused, none counted)', async () => {
    const c = clock();
    const r = connect();
    const l = new RedisLimits(r, noSpend, { prefix, now: c.now });
    await l.ready();
    const good = [{ account: 'key:g', rpm: 10 }];
    expect((await l.admit(good, 1)).ok).toBe(true);
    c.advance(61_000);
    // A rate window that is not a hash: the call stops with WRONGTYPE after reading key:g's window.
    await r.set(`${prefix}rl:r:key:bad`, 'not a window');
    const out = await Promise.allSettled([l.admit(good, 1), l.admit([{ account: 'key:bad', rpm: 10 }], 1)]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    // The second that left the window was dropped with its count, not just its bucket: 9 remain after this one.
    expect((await l.admit(good, 1)).headers['x-ratelimit-remaining-requests']).toBe('9');
  });

  it("a turn's settles and admissions go in one call, settles first: what a settle frees admits a request of the same turn", async () => {
    const { redis, calls } = counted();
    const l = new RedisLimits(redis, async () => 0, { prefix });
    await l.ready();
    const b = [budget('key:f', 1)];
    const held = await l.reserve(b, 0.9);
    if (!held.ok) throw new Error('not reserved');
    const before = calls();
    l.settle(held.reservation, 0.1);
    const next = await l.reserve(b, 0.8);
    expect(calls() - before).toBe(1);
    expect(next.ok).toBe(true);
    expect(await l.reserve(b, 0.2)).toMatchObject({ ok: false, spentUsd: 0.1, reservedUsd: 0.8 });
  });

  it('after a pause in which it held nothing, a replica reserves in one call again (a new incarnation, not a lost lease)', async () => {
    const { redis, calls } = counted();
    const c = clock();
    const l = new RedisLimits(redis, async () => 0, { prefix, now: c.now, leaseMs: 30_000 });
    await l.ready();
    const b = [budget('key:p', 1)];
    const first = await l.reserve(b, 0.5);
    if (!first.ok) throw new Error('not reserved');
    l.settle(first.reservation, 0.1);
    await l.flush();
    c.advance(5 * 60_000);
    const before = calls();
    expect(await l.reserve(b, 0.9)).toMatchObject({ ok: true });
    expect(calls() - before).toBe(1);
    expect(await l.reserve(b, 1e-9)).toMatchObject({ ok: false, spentUsd: 0.1, reservedUsd: 0.9 });
  });

  it('settles and token corrections of one turn go in one call; a settle repeated in it releases its reservation once', async () => {
    const { redis, calls } = counted();
    const c = clock();
    const l = new RedisLimits(redis, async () => 0, { prefix, now: c.now });
    await l.ready();
    const b = [budget('key:d', 1)];
    const first = await l.reserve(b, 0.5);
    const second = await l.reserve(b, 0.3);
    if (!first.ok || !second.ok) throw new Error('not reserved');
    await l.admit([{ account: 'key:d', tpm: 100 }], 40);
    const before = calls();
    l.settle(first.reservation, 0.1);
    l.settle(first.reservation, 0.1);
    l.adjustTokens(['key:d'], -15);
    l.adjustTokens(['key:d'], -5);
    await l.flush();
    expect(calls() - before).toBe(1);
    // Spent 0.2 (each settle counts what it says was spent); reserved 0.3 (the second's alone), so 0.5 fits, and no more.
    expect(await l.spent('key:d', 'month')).toBeCloseTo(0.2, 9);
    expect(await l.reserve(b, 0.6)).toMatchObject({ ok: false, spentUsd: 0.2, reservedUsd: 0.3 });
    expect((await l.reserve(b, 0.5)).ok).toBe(true);
    // 40 tokens counted, 20 given back.
    expect((await l.admit([{ account: 'key:d', tpm: 100 }], 1)).headers['x-ratelimit-remaining-tokens']).toBe('79');
  });
});
