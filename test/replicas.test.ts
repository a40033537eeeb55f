/**
 * Three replicas of `baimo serve` (startHub, the very code `npm start` runs) on one PostgreSQL
 * (127.0.0.1:5432) — with Redis (127.0.0.1:6379), and without it — behave as one hub: a key's
 * budget and rpm hold across them, a key made on one works on the others at once and a revoked
 * one is refused everywhere within a second, `previous_response_id` works whichever replica
 * served the earlier response, and every completed request has its record in PostgreSQL.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { openLocalGateway } from '../src/cli/local.js';
import { Cancel } from '../src/core/cancel.js';
import { call as callGateway } from '../src/gateway/call.js';
import { callContext } from '../src/gateway/context.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';
import { startSharedTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const REDIS = process.env.BAIMO_TEST_REDIS ?? 'redis://127.0.0.1:6379';
const ADMIN = 'sk-baimo-admin-replicas-000000000000';
let upstream: OpenAIUpstream;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
});
afterAll(async () => {
  await upstream?.close();
});

// USD per million tokens: one default answer (12 in, 9 out) costs exactly $0.03.
const yaml = () => `providers:
  loop: { baseURL: ${upstream.baseURL} }
pricing:
  models:
    loop/gpt-test: { input: 1000, output: 2000 }
`;

type Body = { error?: { code?: string; message?: string } } & Record<string, unknown>;

async function call(hub: TestHub<PostgresStores>, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Body; headers: Headers }> {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Body, headers: res.headers };
}

async function drain(events: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of events) void _;
}

const hi = { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'hi' }], max_tokens: 20 };

describe.each([
  ['PostgreSQL and Redis', true],
  ['PostgreSQL alone', false],
] as const)('three replicas on %s', (_name, withRedis) => {
  let db: TestDatabase;
  let hubs: TestHub<PostgresStores>[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    const urls = { databaseUrl: db.url, ...(withRedis && { redisUrl: REDIS }) };
    // Started together, as an orchestrator does: the migrations are applied once, under the lock.
    hubs = await Promise.all([0, 1, 2].map(() => startSharedTestHub(yaml(), urls, { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN })));
  });
  afterAll(async () => {
    await Promise.all(hubs.map((h) => h.dispose()));
    await db?.drop();
  });

  const newKey = async (fields: Record<string, unknown>, on = 0) => {
    const r = await call(hubs[on]!, ADMIN, 'POST', '/admin/keys', { name: 'replicas', ...fields });
    expect(r.status).toBe(201);
    return r.body as unknown as { id: string; key: string };
  };
  /** `n` requests at once, spread round-robin over the replicas. */
  const spread = (n: number, key: string) => Promise.all(Array.from({ length: n }, (_, i) => call(hubs[i % 3]!, key, 'POST', '/v1/chat/completions', hi)));
  const finalRecords = async (keyId: string) =>
    (await hubs[0]!.store.pool.query<{ n: number; usd: number }>('SELECT count(*)::int AS n, coalesce(sum(cost_usd), 0)::float8 AS usd FROM usage WHERE key_id = $1 AND final = 1 AND status = 200', [keyId])).rows[0]!;

  it('a key made on one replica works on the others at once; revoked on one, it is refused on all within a second', async () => {
    const k = await newKey({}, 1);
    const first = await Promise.all(hubs.map((h) => call(h, k.key, 'POST', '/v1/chat/completions', hi)));
    expect(first.map((r) => r.status)).toEqual([200, 200, 200]);
    // Changed on one: an rpm of 1 holds on the others within a second.
    expect((await call(hubs[2]!, ADMIN, 'PATCH', `/admin/keys/${k.id}`, { rpm: 1 })).status).toBe(200);
    await expect.poll(async () => (await call(hubs[0]!, ADMIN, 'GET', `/admin/keys/${k.id}`)).body.rpm, { timeout: 1000, interval: 50 }).toBe(1);
    const revokedAt = Date.now();
    expect((await call(hubs[2]!, ADMIN, 'POST', `/admin/keys/${k.id}/revoke`)).status).toBe(200);
    await expect
      .poll(async () => (await Promise.all(hubs.map((h) => call(h, k.key, 'GET', '/v1/models')))).map((r) => r.status), { timeout: 1000, interval: 50 })
      .toEqual([401, 401, 401]);
    expect(Date.now() - revokedAt).toBeLessThan(1000);
    const refused = await call(hubs[0]!, k.key, 'POST', '/v1/chat/completions', hi);
    expect(refused.status).toBe(401);
    expect(refused.body.error?.message).toMatch(/revoked/i);
  });

  it("admits exactly a key's rpm across the replicas", async () => {
    const k = await newKey({ rpm: 25 });
    const out = await spread(90, k.key);
    expect(out.filter((r) => r.status === 200)).toHaveLength(25);
    const refused = out.filter((r) => r.status === 429);
    expect(refused).toHaveLength(65);
    expect(refused[0]!.body.error?.code).toBe('rate_limit_exceeded');
    expect(refused[0]!.headers.get('x-ratelimit-limit-requests')).toBe('25');
    // Another key, and the admin, are not held back by it on any replica.
    const other = await newKey({ rpm: 25 });
    expect((await spread(6, other.key)).map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  });

  it('a tpm limit holds across the replicas by the same rule as on one hub: prompt estimate + max_tokens at admission', async () => {
    const k = await newKey({ tpm: 100 });
    // Slow answers: every request is admitted or refused before any completes and corrects its count.
    const slow = { ...hi, model: 'loop/slow' };
    const out = await Promise.all(Array.from({ length: 12 }, (_, i) => call(hubs[i % 3]!, k.key, 'POST', '/v1/chat/completions', slow)));
    // Each is admitted as 8 (the estimate for "hi") + 20 (max_tokens) = 28 tokens: 3 fit in 100.
    expect(out.filter((r) => r.status === 200)).toHaveLength(3);
    const refused = out.find((r) => r.status === 429)!;
    expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe('100');
    expect(refused.body.error?.message).toContain('tokens per minute');
  });

  it('500 concurrent requests over three replicas overspend a budget by at most one request', async () => {
    const budget = 1;
    const k = await newKey({ budget_usd: budget, budget_period: 'day' });
    const out = await spread(500, k.key);
    const ok = out.filter((r) => r.status === 200).length;
    const refused = out.filter((r) => r.status === 429);
    const other = out.filter((r) => r.status !== 200 && r.status !== 429);
    expect(other.map((r) => `${r.status} ${r.body.error?.message}`).slice(0, 3)).toEqual([]);
    expect(refused[0]!.body.error?.code).toBe('budget_exceeded');
    // Every completed request is recorded in PostgreSQL (off the request path, so wait for it).
    await expect.poll(async () => (await finalRecords(k.id)).n, { timeout: 10_000 }).toBe(ok);
    const { usd } = await finalRecords(k.id);
    const oneRequest = 0.03;
    expect(usd).toBeCloseTo(ok * oneRequest, 9);
    expect(usd).toBeLessThanOrEqual(budget + oneRequest);
    // And the budget was used, not refused wholesale (requests in flight hold their worst case,
    // $0.048, until they settle at $0.03, so the last few may be refused a little early).
    expect(usd, `${ok} admitted`).toBeGreaterThan(0.5 * budget);
    // Every replica reports the same spend for the key, once the last settles (written behind) land.
    const spends = () => Promise.all(hubs.map(async (h) => Math.round(((await call(h, ADMIN, 'GET', `/admin/keys/${k.id}`)).body.spend_usd as number) * 1e6)));
    await expect.poll(spends, { timeout: 3000 }).toEqual([0, 1, 2].map(() => Math.round(usd * 1e6)));
  });

  it('a `baimo chat` call on the shared store is admitted against the shared budget and recorded in PostgreSQL', async () => {
    const k = await newKey({ budget_usd: 0.07, budget_period: 'day' });
    const dir = mkdtempSync(join(tmpdir(), 'baimo-cli-'));
    const config = join(dir, 'baimo.yaml');
    writeFileSync(config, yaml());
    const env = { BAIMO_DATABASE_URL: db.url, ...(withRedis && { BAIMO_REDIS_URL: REDIS }), BAIMO_ADMIN_KEY: ADMIN };
    const local = await openLocalGateway({ config, dataDir: join(dir, 'data'), env });
    try {
      const principal = local.principal(k.key);
      const chat = (id: string) => drain(callGateway(local.gateway, callContext(principal, id, new Cancel()), 'loop/gpt-test', { model: 'loop/gpt-test', messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }], maxTokens: 20 }));
      await chat('req_cli_1');
      // $0.03 spent of $0.07: another's worst case ($0.058 here, $0.048 over HTTP) no longer fits, on the CLI as on the replicas.
      await expect(chat('req_cli_2')).rejects.toMatchObject({ kind: 'rate_limited', code: 'budget_exceeded' });
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
    const rows = (await hubs[0]!.store.pool.query<{ request_id: string }>('SELECT request_id FROM usage WHERE key_id = $1 AND final = 1', [k.id])).rows;
    expect(rows.map((r) => r.request_id).sort()).toEqual(['req_cli_1', 'req_cli_2']);
    expect((await call(hubs[1]!, k.key, 'POST', '/v1/chat/completions', hi)).status).toBe(429);
  });

  it('previous_response_id works whichever replica served the earlier response', async () => {
    const k = await newKey({});
    const client = (i: number) => new OpenAI({ baseURL: `${hubs[i]!.url}/v1`, apiKey: k.key, maxRetries: 0 });
    const first = await client(0).responses.create({ model: 'loop/gpt-test', input: 'my name is Ada' });
    const second = await client(1).responses.create({ model: 'loop/gpt-test', input: 'what is my name?', previous_response_id: first.id });
    const third = await client(2).responses.create({ model: 'loop/gpt-test', input: 'and again?', previous_response_id: second.id });
    expect(third.output_text).toContain('and again?');
    // The upstream received the whole conversation, carried from the other replicas.
    const last = upstream.requests.at(-1)!.body as { messages: { role: string; content: unknown }[] };
    const texts = JSON.stringify(last.messages);
    expect(texts).toContain('my name is Ada');
    expect(texts).toContain('what is my name?');
    expect(texts).toContain('and again?');
    // A stored response is read back from any replica.
    const fetched = await client(2).responses.retrieve(first.id);
    expect(fetched.id).toBe(first.id);
  });
});

describe('a replica whose Redis goes away', () => {
  let db: TestDatabase;
  let hub: TestHub<PostgresStores> | undefined;
  let proxy: Server;
  const sockets = new Set<Socket>();

  beforeAll(async () => {
    db = await createTestDatabase();
    // The replica reaches Redis through this proxy, which the test cuts: a Redis outage as the replica sees it.
    const target = new URL(REDIS);
    proxy = createServer((client) => {
      const upstream = connect(Number(target.port || 6379), target.hostname);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const { port } = proxy.address() as AddressInfo;
    hub = await startSharedTestHub(yaml(), { databaseUrl: db.url, redisUrl: `redis://127.0.0.1:${port}` }, { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN });
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    proxy?.close();
    await hub?.dispose();
    await db?.drop();
  });

  it('refuses calls it cannot check (503, no address in the answer) and serves calls with no limits', async () => {
    const h = hub!;
    const limited = (await call(h, ADMIN, 'POST', '/admin/keys', { name: 'limited', rpm: 100 })).body as unknown as { key: string };
    const free = (await call(h, ADMIN, 'POST', '/admin/keys', { name: 'free' })).body as unknown as { key: string };
    expect((await call(h, limited.key, 'POST', '/v1/chat/completions', hi)).status).toBe(200);
    proxy.close();
    for (const s of sockets) s.destroy();
    const refused = await call(h, limited.key, 'POST', '/v1/chat/completions', hi);
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('limits_unavailable');
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(JSON.stringify(refused.body)).not.toContain('127.0.0.1');
    // A key with no limit or budget needs nothing from Redis.
    expect((await call(h, free.key, 'POST', '/v1/chat/completions', hi)).status).toBe(200);
  });
});

describe('a replica whose store cannot be reached at start', () => {
  it('refuses to start with one line naming the store, its password masked', async () => {
    const db = await createTestDatabase();
    try {
      const bad = [
        [{ databaseUrl: 'postgres://baimo:pw-s3cret@127.0.0.1:1/none' }, /^could not open PostgreSQL at postgres:\/\/baimo:\*\*\*@127\.0\.0\.1:1\/none: .*ECONNREFUSED.*Check BAIMO_DATABASE_URL/],
        [{ databaseUrl: db.url, redisUrl: 'redis://:pw-s3cret@127.0.0.1:1' }, /^could not open Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1: .*ECONNREFUSED.*Check BAIMO_REDIS_URL/],
      ] as const;
      for (const [urls, message] of bad) {
        const err = (await startSharedTestHub(yaml(), urls).then(
          () => undefined,
          (e: unknown) => e,
        )) as Error;
        expect(err?.name).toBe('StoreUnreachableError');
        expect(err.message).toMatch(message);
        expect(err.message).not.toContain('pw-s3cret');
      }
    } finally {
      await db.drop();
    }
  });
});
