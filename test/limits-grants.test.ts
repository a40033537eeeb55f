/**
 * Grants (src/store/redis/scripts.ts, Grants): a replica with steady traffic on an account takes
 * a share of its headroom for the current second and admits from it in memory, giving back what
 * it did not use when the second ends. Against this machine's Redis, with the real clock: the
 * round trips fall, the windows and budgets end up counting exactly what was admitted, three
 * replicas still admit exactly a limit (a refusal that another replica's unused grant would cause
 * waits for it to come back), and a replica that dies holding a grant never lets the others admit
 * beyond the limit. Each test works under a random key prefix, deleted after.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisLimits } from '../src/store/redis/limits.js';
import type { SpendLoader } from '../src/store/redis/ledger.js';
import type { Budgeted } from '../src/tenancy/ledger.js';
import type { RateLimited } from '../src/tenancy/rate-limits.js';
import type { Checked } from '../src/tenancy/ports.js';
import { deleteKeys } from './helpers/redis.js';

const URL = process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
let prefix: string;
const clients: Redis[] = [];
const replicas: RedisLimits[] = [];

function connect(): Redis {
  const r = new Redis(URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
  clients.push(r);
  return r;
}

/** A replica whose script calls are counted. */
function replica(): { limits: RedisLimits; calls: () => number; redis: Redis } {
  const redis = connect();
  let calls = 0;
  const evalsha = redis.evalsha.bind(redis);
  redis.evalsha = ((...args: Parameters<typeof evalsha>) => {
    calls++;
    return evalsha(...args);
  }) as typeof redis.evalsha;
  const limits = new RedisLimits(redis, noSpend, { prefix, grantAfter: 16 });
  replicas.push(limits);
  return { limits, calls: () => calls, redis };
}

const noSpend: SpendLoader = async () => 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  prefix = `baimo-test:${randomBytes(6).toString('hex')}:`;
});

afterEach(async () => {
  await Promise.allSettled(replicas.splice(0).map((l) => l.flush()));
  const r = connect();
  await deleteKeys(r, prefix);
  await Promise.all(clients.splice(0).map((c) => (c.status === 'end' ? undefined : c.quit().catch(() => c.disconnect()))));
});

/** Waits until just after a second starts, so that a phase of known length ends at a known point of a second. */
async function secondStart(): Promise<void> {
  await sleep(1000 - (Date.now() % 1000) + 5);
}

/** `workers` at a time ask `admit` on `l` (and settle what it reserved at its worst case), `pause` ms apart, until `until`; answers how many were admitted. */
async function steady(l: RedisLimits, limits: readonly RateLimited[], budgets: readonly Budgeted[], amount: number, until: number, workers = 4, pause = 2): Promise<number> {
  let admitted = 0;
  await Promise.all(
    Array.from({ length: workers }, async () => {
      while (Date.now() < until) {
        const c = await l.admitAndReserve(limits, 10, budgets, amount);
        if (c.rate.ok && (!c.budget || c.budget.ok)) admitted++;
        if (c.budget?.ok) l.settle(c.budget.reservation, amount);
        await sleep(pause);
      }
    }),
  );
  return admitted;
}

const ok = (c: Checked) => c.rate.ok && (!c.budget || c.budget.ok);

/**
 * Three replicas busy on `limits` and `budgets` for a second and a bit (from a second's start),
 * so each takes a grant early in the next second; answers them, what they admitted, and what the
 * third holds unused of its grant (requests; nano-USD where there are budgets).
 */
async function threeWarm(limits: readonly RateLimited[], budgets: readonly Budgeted[], amount: number) {
  const [a, b, c] = [replica(), replica(), replica()];
  await secondStart();
  const warm = Date.now() + 1300;
  const early = (await Promise.all([a, b, c].map((r) => steady(r.limits, limits, budgets, amount, warm, 1, 5)))).reduce((x, y) => x + y, 0);
  const state = c.limits as unknown as { rateGrants: Map<string, { req: number }>; pools: Map<string, { nano: number }> };
  const cHeld = budgets.length ? (state.pools.get(budgets[0]!.account)?.nano ?? 0) : (state.rateGrants.get(limits[0]!.account)?.req ?? 0);
  expect(cHeld).toBeGreaterThan(0);
  return { a, b, c, early, cHeld };
}

describe('RedisLimits: grants', () => {
  it('a replica with steady traffic admits from its grants without a round trip each, and the window and the budget end up counting exactly what was admitted', async () => {
    const a = replica();
    const limits = [{ account: 'key:g', rpm: 1_000_000, tpm: 100_000_000 }];
    const budgets: Budgeted[] = [{ account: 'key:g', budgetUsd: 1000, period: 'day' }];
    const admitted = await steady(a.limits, limits, budgets, 0.001, Date.now() + 2500);
    // Without grants every turn's admissions cost a call; with them, a few calls a second.
    expect(admitted).toBeGreaterThan(500);
    expect(a.calls()).toBeLessThan(admitted / 5);
    // Once the grants are given back (the second after their own), another replica sees exactly
    // what was admitted: on the window (its own request included) and on the budget.
    await a.limits.flush();
    const b = replica();
    const v = await b.limits.admitAndReserve(limits, 10, budgets, 0.001);
    expect(v.rate.headers['x-ratelimit-remaining-requests']).toBe(String(1_000_000 - admitted - 1));
    expect(v.rate.headers['x-ratelimit-remaining-tokens']).toBe(String(100_000_000 - 10 * (admitted + 1)));
    if (v.budget?.ok) b.limits.settle(v.budget.reservation, 0.001);
    await b.limits.flush();
    expect(await b.limits.spent('key:g', 'day')).toBeCloseTo(0.001 * (admitted + 1), 9);
    // Nothing is left granted or held.
    const r = connect();
    expect(await r.hgetall(`${prefix}grant:key:g`)).toMatchObject({ r: '0', t: '0', x: '0' });
    expect(await r.hlen(`${prefix}held:key:g`)).toBe(0);
  });

  it("three replicas admit exactly the rpm: a refusal that another replica's unused grant would cause waits for it to be given back", async () => {
    const limit = [{ account: 'key:x', rpm: 2000 }];
    // All three busy for a second and a bit: each takes a grant early in the next second…
    const { a, b, early } = await threeWarm(limit, [], 0);
    // …then c goes quiet holding what is left of its grant, and a and b ask far beyond the limit.
    const burst = await Promise.all(Array.from({ length: 2600 }, (_, i) => (i % 2 ? a : b).limits.admit(limit, 1)));
    const admitted = early + burst.filter((v) => v.ok).length;
    expect(admitted).toBe(2000);
    for (const v of burst.filter((v) => !v.ok)) expect(v).toMatchObject({ limit: 'requests', headers: { 'x-ratelimit-remaining-requests': '0' } });
    // Another key on the same replicas owes nothing to this one's grants: its own limit, exactly.
    const other = await Promise.all(Array.from({ length: 8 }, (_, i) => [a, b][i % 2]!.limits.admit([{ account: 'key:other', rpm: 5 }], 1)));
    expect(other.filter((v) => v.ok)).toHaveLength(5);
  });

  it('three replicas spend exactly a budget with grants: never over it, and nothing stranded under it', async () => {
    const budgets: Budgeted[] = [{ account: 'team:y', budgetUsd: 2, period: 'day' }];
    const { a, b, c, early } = await threeWarm([], budgets, 0.001);
    const burst = await Promise.all(
      Array.from({ length: 2600 }, async (_, i) => {
        const r = (i % 2 ? a : b).limits;
        const v = await r.admitAndReserve([], 0, budgets, 0.001);
        if (v.budget?.ok) r.settle(v.budget.reservation, 0.001);
        return v;
      }),
    );
    const admitted = early + burst.filter(ok).length;
    expect(admitted).toBe(2000);
    await Promise.all([a, b, c].map((r) => r.limits.flush()));
    expect(await a.limits.spent('team:y', 'day')).toBeCloseTo(2, 9);
  });

  it('a replica that dies holding a grant: the others never admit beyond the limit, and stop waiting for it a quarter second after its second', async () => {
    const limit = [{ account: 'key:d', rpm: 2000 }];
    const { a, b, c, early, cHeld } = await threeWarm(limit, [], 0);
    // c is gone: nothing it would give back reaches Redis.
    c.redis.disconnect();
    const start = Date.now();
    const burst = await Promise.all(Array.from({ length: 2600 }, (_, i) => (i % 2 ? a : b).limits.admit(limit, 1)));
    const admitted = early + burst.filter((v) => v.ok).length;
    // What c held unused counts as used: never more than the limit, short of it by that at most.
    expect(admitted).toBeLessThanOrEqual(2000);
    expect(admitted).toBeGreaterThanOrEqual(2000 - cHeld);
    expect(Date.now() - start).toBeLessThan(2000);
  });
});
