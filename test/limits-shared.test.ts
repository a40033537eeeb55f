/**
 * Admission (gateway/admission.ts) over limits shared by three hubs: each "replica" is a Gateway
 * whose rate limits and budget ledger are shared, each on its own connection — in Redis
 * (127.0.0.1:6379), or in PostgreSQL alone (127.0.0.1:5432, row locks) — with the spend already
 * recorded read from PostgreSQL. Between them they admit exactly a key's rpm, reserve exactly its
 * budget, and after real calls the ledger's spend is what the usage records add up to. Then the
 * PostgreSQL-only ports against the contract the Redis ones meet in store-redis.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { validateConfig } from '../src/config/load.js';
import { Cancel } from '../src/core/cancel.js';
import { HubError } from '../src/core/errors.js';
import { admit } from '../src/gateway/admission.js';
import type { Ticket } from '../src/gateway/admission.js';
import { call } from '../src/gateway/call.js';
import { callContext } from '../src/gateway/context.js';
import type { Gateway } from '../src/gateway/context.js';
import { assemble } from '../src/server/assemble.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { PostgresBudgetLedger } from '../src/store/postgres/ledger.js';
import { PostgresRateLimits } from '../src/store/postgres/rate-limits.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { spendLoader } from '../src/store/redis/ledger.js';
import { RedisLimits } from '../src/store/redis/limits.js';
import type { SpendLoader } from '../src/store/redis/ledger.js';
import { Ledger, periodStart } from '../src/tenancy/ledger.js';
import type { Budgeted } from '../src/tenancy/ledger.js';
import { RateLimiter } from '../src/tenancy/rate-limits.js';
import type { RateLimited } from '../src/tenancy/rate-limits.js';
import type { Principal, Team, VirtualKey } from '../src/tenancy/types.js';
import type { UsageRecord } from '../src/usage/record.js';
import { UsageRecorder } from '../src/usage/record.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';
import { deleteKeys } from './helpers/redis.js';

const REDIS = process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
let upstream: OpenAIUpstream;
let db: TestDatabase;
let stores: PostgresStores;
let base: Pick<Gateway, 'registry' | 'recorder' | 'prices'>;
let prefix: string;
let loads = 0;
const connections: Redis[] = [];
const pools: PostgresStores[] = [];

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  db = await createTestDatabase();
  stores = await openPostgresStores(db.url);
  // $1,000 per million tokens: a token costs $0.001.
  const config = validateConfig({ providers: { loop: { baseURL: upstream.baseURL } }, pricing: { models: { 'loop/p1': { input: 1000, output: 1000 } } } }, {});
  const { registry, prices } = await assemble(config, {}, { detectOllama: false });
  base = { registry, prices, recorder: new UsageRecorder(stores.sink, undefined, 20) };
});

afterAll(async () => {
  await base?.recorder.close();
  await stores?.close();
  await db?.drop();
  await upstream?.close();
});

afterEach(async () => {
  const r = new Redis(REDIS);
  await deleteKeys(r, prefix);
  await r.quit();
  await Promise.all(connections.splice(0).map((c) => c.quit()));
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

type Backend = 'redis' | 'postgres';

/** The spend recorded in PostgreSQL, as a hub seeds its ledger with it. */
const loader: SpendLoader = spendLoader((kind, id, since) => {
  loads++;
  return stores.tenancy.spend(kind, id, since);
});

/** Three hubs sharing one Redis or one PostgreSQL, each on its own connection (pool). */
async function replicas(backend: Backend): Promise<Gateway[]> {
  prefix = `baimo-test:${randomBytes(6).toString('hex')}:`;
  loads = 0;
  return Promise.all(
    Array.from({ length: 3 }, async () => {
      if (backend === 'postgres') {
        const own = await openPostgresStores(db.url);
        pools.push(own);
        return { ...base, ledger: new PostgresBudgetLedger(own.pool, loader), limiter: new PostgresRateLimits(own.pool) };
      }
      const redis = new Redis(REDIS);
      connections.push(redis);
      // One store for both, as a replica has it: admission checks and reserves in one script call.
      const limits = new RedisLimits(redis, loader, { prefix });
      return { ...base, ledger: limits, limiter: limits };
    }),
  );
}

const principal = (id: string, o: Partial<VirtualKey> = {}, team?: Team): Principal => ({
  kind: 'key',
  key: { id, name: id, prefix: `sk-${id}`, hash: id, teamId: team?.id, metadata: {}, createdAt: 0, ...o },
  team,
});

/** Every call in flight at once, spread over the replicas; a refusal is returned, not thrown. */
function spread<T>(gws: readonly Gateway[], n: number, f: (gw: Gateway, i: number) => Promise<T>): Promise<(T | HubError)[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => f(gws[i % gws.length]!, i).catch((e: unknown) => (e instanceof HubError ? e : Promise.reject(e)))));
}

const isTicket = (t: Ticket | HubError): t is Ticket => !(t instanceof HubError);

describe.each(['redis', 'postgres'] as const)('admission over limits shared in %s, three replicas', (backend) => {
  // Accounts of their own per backend: both read the one PostgreSQL's usage records.
  const id = (name: string) => `${name}-${backend}`;

  it("admits exactly a key's rpm of 300 concurrent requests, and the team's tpm across its keys", async () => {
    const gws = await replicas(backend);
    const target = base.registry.resolve('loop/p1');
    const out = await spread(gws, 300, (gw) => admit(gw, principal(id('r1'), { rpm: 40 }), 'loop/p1', target, 10, 5));
    expect(out.filter(isTicket)).toHaveLength(40);
    for (const e of out.filter((t): t is HubError => t instanceof HubError)) {
      expect(e).toMatchObject({ kind: 'rate_limited', code: 'rate_limit_exceeded' });
      expect(e.message).toContain('this key: requests per minute');
      expect(e.headers).toMatchObject({ 'x-ratelimit-limit-requests': '40', 'x-ratelimit-remaining-requests': '0' });
      expect(e.retryAfter).toBeGreaterThanOrEqual(1);
    }
    expect(out.filter(isTicket)[0]!.headers).toMatchObject({ 'x-ratelimit-limit-requests': '40' });

    // 15 tokens a request (10 prompt + 5 max output) against the team's 600 a minute: 40 fit.
    const team: Team = { id: id('t1'), name: 'one', metadata: {}, createdAt: 0, tpm: 600 };
    const byTeam = await spread(gws, 120, (gw, i) => admit(gw, principal(id(`t1k${i % 4}`), {}, team), 'loop/p1', target, 10, 5));
    expect(byTeam.filter(isTicket)).toHaveLength(40);
    expect(byTeam.find((t) => !isTicket(t))).toMatchObject({ kind: 'rate_limited', message: expect.stringContaining('the team: tokens per minute') });
  });

  it("reserves exactly a key's budget, its spend so far read once from PostgreSQL", async () => {
    const gws = await replicas(backend);
    const target = base.registry.resolve('loop/p1');
    const now = Date.now();
    // $0.30 already spent this month, in the durable store.
    const earlier: UsageRecord = {
      requestId: id('earlier'),
      ts: periodStart('month', now) + 1,
      endpoint: 'chat',
      model: 'loop/p1',
      provider: 'loop',
      upstreamModel: 'p1',
      deployment: 'loop/p1',
      attempt: 1,
      final: true,
      fallbackFrom: undefined,
      keyId: id('b1'),
      costUsd: 0.3,
      stream: false,
      status: 200,
      errorKind: undefined,
      usage: { inputTokens: 100, outputTokens: 200 },
      latencyMs: 5,
      ttftMs: undefined,
    };
    await stores.sink.writeUsageLines(JSON.stringify(earlier));
    // Each request's worst case: 50 prompt + 50 output tokens = $0.10; 7 fit in $1 after $0.30.
    const out = await spread(gws, 60, (gw) => admit(gw, principal(id('b1'), { budgetUsd: 1, budgetPeriod: 'month' }), 'loop/p1', target, 50, 50));
    const tickets = out.filter(isTicket);
    expect(tickets).toHaveLength(7);
    expect(loads).toBe(1);
    const refused = out.find((t) => !isTicket(t)) as HubError;
    expect(refused).toMatchObject({ kind: 'rate_limited', code: 'budget_exceeded', headers: { 'x-should-retry': 'false' } });
    expect(refused.message).toContain('Budget exceeded for this key: $0.3 spent of $1.00 per month, $0.7 is reserved by its requests in flight. This request reserves up to $0.1:');
    // Settling at the real cost frees what was not spent, on every replica.
    for (const t of tickets) t.settle({ inputTokens: 50, outputTokens: 0 }, 0.05);
    await expect.poll(() => gws[2]!.ledger.spent(`key:${id('b1')}`, 'month')).toBeCloseTo(0.65, 9);
    const after = await spread(gws, 10, (gw) => admit(gw, principal(id('b1'), { budgetUsd: 1, budgetPeriod: 'month' }), 'loop/p1', target, 50, 50));
    expect(after.filter(isTicket)).toHaveLength(3);
  });

  it("real calls through gateway.call: the ledger's spend is what the records in PostgreSQL add up to", async () => {
    const gws = await replicas(backend);
    const key = principal(id('c1'), { budgetUsd: 5, tpm: 100_000 });
    const ask = { model: '', messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'What is best?' }] }], maxTokens: 20 };
    const drain = async (gw: Gateway, i: number) => {
      for await (const _ of call(gw, callContext(key, `req_shared_${backend}_${i}`, new Cancel()), 'loop/p1', ask));
    };
    await spread(gws, 30, drain);
    await base.recorder.close();
    const durable = await stores.tenancy.spend('key', id('c1'), 0);
    // 30 calls of 12 in + 9 out at $0.001 a token.
    expect(durable).toBeCloseTo(30 * 21 * 0.001, 9);
    await expect.poll(() => gws[0]!.ledger.spent(`key:${id('c1')}`, 'month')).toBeCloseTo(durable, 9);
    // Each call's tokens were corrected from its reservation (prompt estimate + 20) to the 21 it used.
    const next = await admit(gws[1]!, key, 'loop/p1', base.registry.resolve('loop/p1'), 0, 0);
    expect(next.headers['x-ratelimit-remaining-tokens']).toBe(String(100_000 - 30 * 21));
  });
});

describe('admission over Redis: the requests of one event-loop turn in one script call', () => {
  /** One replica on Redis whose script calls are counted. */
  async function counted(): Promise<{ gw: Gateway; calls: () => number; redis: Redis }> {
    prefix = `baimo-test:${randomBytes(6).toString('hex')}:`;
    const redis = new Redis(REDIS);
    connections.push(redis);
    let n = 0;
    const evalsha = redis.evalsha.bind(redis) as (...a: unknown[]) => Promise<unknown>;
    (redis as unknown as { evalsha: (...a: unknown[]) => Promise<unknown> }).evalsha = (...a) => (n++, evalsha(...a));
    const limits = new RedisLimits(redis, loader, { prefix });
    // Loaded ahead: a first call would otherwise be answered NOSCRIPT and sent twice.
    await limits.ready();
    return { gw: { ...base, ledger: limits, limiter: limits }, calls: () => n, redis };
  }
  const outcome = (t: Ticket | HubError) => (isTicket(t) ? 'admitted' : t.code);
  const tag = () => randomBytes(3).toString('hex');

  it('one over rpm, one over budget, the rest admitted: decided as the in-process limits decide them, in one call', async () => {
    const { gw, calls } = await counted();
    const local: Gateway = { ...base, ledger: new Ledger(() => 0), limiter: new RateLimiter() };
    const target = base.registry.resolve('loop/p1');
    const t = tag();
    // 10 prompt + 5 output tokens at $0.001 a token: $0.015 reserved a request, and $0.02 holds one.
    const rpm = principal(`q-rpm-${t}`, { rpm: 2 });
    const budgeted = principal(`q-bud-${t}`, { budgetUsd: 0.02, rpm: 100, tpm: 1000 });
    const budgetAccount = `key:q-bud-${t}`;
    const free = principal(`q-ok-${t}`, { rpm: 100 });
    const turn = (g: Gateway) => Promise.all([rpm, rpm, budgeted, budgeted, rpm, free, free, free].map((p) => admit(g, p, 'loop/p1', target, 10, 5).catch((e: unknown) => e as HubError)));
    // The budget's spend is seeded first (seeding takes round trips of its own).
    await gw.ledger.spent(budgetAccount, 'month');
    const before = calls();
    const shared = await turn(gw);
    expect(calls() - before).toBe(1);
    const expected = ['admitted', 'admitted', 'admitted', 'budget_exceeded', 'rate_limit_exceeded', 'admitted', 'admitted', 'admitted'];
    expect(shared.map(outcome)).toEqual(expected);
    expect((await turn(local)).map(outcome)).toEqual(expected);
    expect(shared[4]).toMatchObject({ headers: { 'x-ratelimit-remaining-requests': '0' } });
    expect((shared[3] as HubError).message).toContain('$0.015 is reserved by its requests in flight');
    // Afterwards both count the same: the request refused for its budget counted as a request, not
    // as tokens, and only the admitted one is reserved (a request of no cost still fits; $0.006 not).
    const [a, b] = [await admit(gw, budgeted, 'loop/p1', target, 0, 0), await admit(local, budgeted, 'loop/p1', target, 0, 0)];
    for (const h of ['x-ratelimit-remaining-requests', 'x-ratelimit-remaining-tokens']) expect(a.headers[h]).toBe(b.headers[h]);
    expect(a.headers['x-ratelimit-remaining-requests']).toBe('97');
    expect(a.headers['x-ratelimit-remaining-tokens']).toBe('985');
    await expect(admit(gw, budgeted, 'loop/p1', target, 1, 5)).rejects.toMatchObject({ code: 'budget_exceeded' });
  });

  it("a replica killed with calls in flight: their reservations hold the budget on the other replicas until its lease runs out, then free it", async () => {
    prefix = `baimo-test:${randomBytes(6).toString('hex')}:`;
    const gateway = () => {
      const redis = new Redis(REDIS);
      connections.push(redis);
      // A short lease, so the test waits seconds, not the default 30.
      const limits = new RedisLimits(redis, loader, { prefix, leaseMs: 3_000 });
      return { gw: { ...base, ledger: limits, limiter: limits } as Gateway, redis };
    };
    const killed = gateway();
    const alive = gateway();
    const target = base.registry.resolve('loop/p1');
    // $0.015 reserved a request: three in flight of $0.05, a fourth does not fit.
    const key = principal(`q-kill-${tag()}`, { budgetUsd: 0.05 });
    const inFlight = await Promise.all([1, 2, 3].map(() => admit(killed.gw, key, 'loop/p1', target, 10, 5)));
    expect(inFlight).toHaveLength(3);
    killed.redis.disconnect();
    connections.splice(connections.indexOf(killed.redis), 1);
    await expect(admit(alive.gw, key, 'loop/p1', target, 10, 5)).rejects.toMatchObject({ code: 'budget_exceeded', message: expect.stringContaining('$0.045 is reserved by its requests in flight') });
    // The killed replica never settles: once its lease has run out, what it held is free again.
    const admitted = () => admit(alive.gw, key, 'loop/p1', target, 10, 5).then(
      () => true,
      (e: unknown) => (e instanceof HubError && e.code === 'budget_exceeded' ? false : Promise.reject(e)),
    );
    await expect.poll(admitted, { timeout: 15_000, interval: 250 }).toBe(true);
    expect(await admitted()).toBe(true);
    expect(await admitted()).toBe(true);
    expect(await admitted()).toBe(false);
  });

  it('a script call that fails fails every request in it with 503 limits_unavailable, and counts none of them', async () => {
    const { gw, redis } = await counted();
    const target = base.registry.resolve('loop/p1');
    const t = tag();
    const poisoned = principal(`q-bad-${t}`, { rpm: 10 });
    const good = principal(`q-good-${t}`, { rpm: 10 });
    const budgeted = principal(`q-bud-${t}`, { budgetUsd: 1 });
    await gw.ledger.spent(`key:q-bud-${t}`, 'month');
    // A rate window that is not a hash: the script stops with WRONGTYPE partway through the turn,
    // after it has decided the requests before it.
    const bad = `${prefix}rl:r:key:q-bad-${t}`;
    await redis.set(bad, 'not a window');
    const out = await Promise.all([good, budgeted, poisoned, good].map((p) => admit(gw, p, 'loop/p1', target, 10, 5).catch((e: unknown) => e)));
    for (const e of out) {
      expect(e).toBeInstanceOf(HubError);
      expect(e).toMatchObject({ kind: 'overloaded', code: 'limits_unavailable', retryAfter: 1 });
      expect((e as HubError).message).not.toContain('127.0.0.1');
    }
    // The script writes once every request is decided: none of them was counted or reserved.
    await redis.del(bad);
    expect((await admit(gw, good, 'loop/p1', target, 10, 5)).headers['x-ratelimit-remaining-requests']).toBe('9');
    expect(await gw.ledger.reserve([{ account: `key:q-bud-${t}`, budgetUsd: 1, period: 'month' }], 1)).toMatchObject({ ok: true });
  });
});

describe('the PostgreSQL-only ports, as the Redis ones (store-redis.test.ts)', () => {
  const tag = () => randomBytes(4).toString('hex');
  async function own(): Promise<PostgresStores> {
    const s = await openPostgresStores(db.url);
    pools.push(s);
    return s;
  }
  const budget = (account: string, budgetUsd: number, period: Budgeted['period'] = 'month'): Budgeted => ({ account, budgetUsd, period });
  function clock(start = Date.UTC(2030, 2, 14, 12)) {
    let t = start;
    return { now: () => t, advance: (ms: number) => void (t += ms) };
  }

  it('answers as the in-process RateLimiter does, and three replicas admit exactly the rpm', async () => {
    const c = clock();
    const pg = new PostgresRateLimits((await own()).pool, { now: c.now });
    const local = new RateLimiter(c.now);
    const t = tag();
    const limits: RateLimited[] = [
      { account: `key:${t}`, rpm: 5, tpm: 300 },
      { account: `team:${t}`, rpm: 8 },
    ];
    let refusals = 0;
    for (let i = 0; i < 40; i++) {
      const [a, b] = [await pg.admit(limits, 40 + (i % 3) * 10), local.admit(limits, 40 + (i % 3) * 10)];
      expect(a).toEqual(b);
      if (!a.ok) refusals++;
      if (i % 4 === 0) {
        pg.adjustTokens([`key:${t}`, `team:${t}`], -25);
        local.adjustTokens([`key:${t}`, `team:${t}`], -25);
        // Not on the admit's connection, unlike Redis: wait for it to land.
        await pg.flush();
      }
      c.advance(i % 5 === 0 ? 7_300 : 900);
    }
    expect(refusals).toBeGreaterThan(5);

    const replicas = await Promise.all([own(), own(), own()]).then((s) => s.map((x) => new PostgresRateLimits(x.pool)));
    const verdicts = await Promise.all(Array.from({ length: 300 }, (_, i) => replicas[i % 3]!.admit([{ account: `key:${t}x`, rpm: 50 }], 1)));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(50);
  });

  it('300 concurrent reserve + settle over three replicas never overspend, and leave nothing reserved', async () => {
    const ledgers = await Promise.all([own(), own(), own()]).then((s) => s.map((x) => new PostgresBudgetLedger(x.pool, async () => 0)));
    const t = tag();
    const B = 1;
    const amount = 0.013;
    const budgets = [budget(`key:${t}`, 5), budget(`team:${t}`, B)];
    let spentByUs = 0;
    const results = await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const l = ledgers[i % 3]!;
        const r = await l.reserve(budgets, amount);
        if (!r.ok) return r;
        const actual = amount * ((i % 10) / 9);
        spentByUs += Math.round(actual * 1e9);
        l.settle(r.reservation, actual);
        return r;
      }),
    );
    const admitted = results.filter((r) => r.ok).length;
    expect(admitted).toBeGreaterThanOrEqual(Math.floor(B / amount));
    expect(admitted).toBeLessThan(300);
    await expect.poll(() => ledgers[0]!.spent(`team:${t}`, 'month')).toBeCloseTo(spentByUs / 1e9, 9);
    const spent = await ledgers[1]!.spent(`team:${t}`, 'month');
    expect(spent).toBeLessThanOrEqual(B);
    expect(await ledgers[2]!.spent(`key:${t}`, 'month')).toBe(spent);
    expect((await ledgers[0]!.reserve(budgets, B - spent)).ok).toBe(true);
  });

  it("a refused reserve reserves nothing; a crashed replica's reservation expires", async () => {
    const c = clock();
    const t = tag();
    const [crashed, alive] = [new PostgresBudgetLedger((await own()).pool, async () => 0, { now: c.now, reservationTtlMs: 60_000 }), new PostgresBudgetLedger((await own()).pool, async () => 0, { now: c.now })];
    expect((await crashed.reserve([budget(`team:${t}`, 1, 'day')], 0.9)).ok).toBe(true);
    expect(await alive.reserve([budget(`key:${t}`, 0.5, 'day'), budget(`team:${t}`, 1, 'day')], 0.2)).toEqual({
      ok: false,
      account: `team:${t}`,
      budgetUsd: 1,
      spentUsd: 0,
      reservedUsd: 0.9,
      period: 'day',
      resetsAt: Date.UTC(2030, 2, 15),
    });
    expect((await alive.reserve([budget(`key:${t}`, 0.5, 'day')], 0.5)).ok).toBe(true);
    c.advance(60_001);
    expect((await alive.reserve([budget(`team:${t}`, 1, 'day')], 1)).ok).toBe(true);
  });

  it('a new period starts from zero, seeded once from the durable store since its start', async () => {
    const c = clock(Date.UTC(2030, 2, 14, 23, 59));
    const t = tag();
    const seen: number[] = [];
    const load: SpendLoader = async (_a, _p, since) => {
      seen.push(since);
      await new Promise((r) => setTimeout(r, 50));
      return 0.4;
    };
    const ledgers = await Promise.all([own(), own(), own()]).then((s) => s.map((x) => new PostgresBudgetLedger(x.pool, load, { now: c.now })));
    const first = await Promise.all(Array.from({ length: 30 }, (_, i) => ledgers[i % 3]!.reserve([budget(`key:${t}`, 1, 'day')], 0.1)));
    expect(first.filter((r) => r.ok)).toHaveLength(6);
    expect(seen).toEqual([Date.UTC(2030, 2, 14)]);
    for (const r of first) if (r.ok) ledgers[0]!.settle(r.reservation, 0.1);
    await expect.poll(() => ledgers[1]!.spent(`key:${t}`, 'day')).toBeCloseTo(1, 9);
    c.advance(2 * 60_000);
    expect(await ledgers[2]!.spent(`key:${t}`, 'day')).toBe(0.4);
    expect(seen).toEqual([Date.UTC(2030, 2, 14), Date.UTC(2030, 2, 15)]);
  });
});
