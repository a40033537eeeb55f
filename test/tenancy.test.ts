import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHub } from '../src/server/start.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
const UPSTREAM_KEY = 'sk-upstream-secret-abcdef123456';
let upstream: OpenAIUpstream;
let hub: TestHub;
/** Everything the hub logged. */
let logs = '';

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ apiKey: UPSTREAM_KEY });
  hub = await startTestHub(
    `providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: \${LOOP_KEY}
pricing:
  models:
    # USD per million tokens: one default answer (12 in, 9 out) costs exactly $0.03.
    loop/gpt-test: { input: 1000, output: 2000 }
`,
    { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN, LOOP_KEY: UPSTREAM_KEY },
    { write: (s: string) => void (logs += s) },
  );
});

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
});

async function adminCall(method: string, path: string, body?: unknown, key = ADMIN) {
  const res = await fetch(`${hub.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as any, text: '' };
}

async function newKey(fields: Record<string, unknown> = {}): Promise<{ id: string; key: string }> {
  const r = await adminCall('POST', '/admin/keys', { name: 'test', ...fields });
  expect(r.status).toBe(201);
  return r.body;
}

const client = (key: string) => new OpenAI({ baseURL: `${hub.url}/v1`, apiKey: key, maxRetries: 0 });
const hi = { model: 'loop/gpt-test', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 20 };

async function raw(key: string, body: unknown = hi) {
  const res = await fetch(`${hub.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as any };
}

describe('the admin key', () => {
  it('is generated on first start, shown once, and works from then on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'baimo-admin-'));
    try {
      const first = await startHub({ port: '0', dataDir: dir, env: {}, detectOllama: false });
      const key = first.generatedAdminKey!;
      expect(key).toMatch(/^sk-baimo-admin-[A-Za-z0-9]{32}$/);
      await first.close();
      const second = await startHub({ port: '0', dataDir: dir, env: {}, detectOllama: false });
      expect(second.generatedAdminKey).toBeUndefined();
      const ok = await fetch(`${second.url}/admin/keys`, { headers: { authorization: `Bearer ${key}` } });
      expect(ok.status).toBe(200);
      const wrong = await fetch(`${second.url}/admin/keys`, { headers: { authorization: 'Bearer sk-baimo-nope' } });
      expect(wrong.status).toBe(403);
      const none = await fetch(`${second.url}/admin/keys`);
      expect(none.status).toBe(401);
      await second.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('virtual keys', () => {
  it('are shown once, stored hashed with a visible prefix, and work with the SDK', async () => {
    const created = await newKey({ name: 'alice' });
    expect(created.key).toMatch(/^sk-baimo-[A-Za-z0-9]{32}$/);
    const listed = await adminCall('GET', '/admin/keys');
    const mine = listed.body.data.find((k: any) => k.id === created.id);
    expect(mine.prefix).toBe(`${created.key.slice(0, 13)}…`);
    expect(JSON.stringify(listed.body)).not.toContain(created.key);
    const row = hub.store.db.prepare('SELECT * FROM keys WHERE id = ?').get(created.id) as Record<string, unknown>;
    expect(JSON.stringify(row)).not.toContain(created.key);
    const r = await client(created.key).chat.completions.create(hi);
    expect(r.choices[0]!.message.content).toBe('Hello from gpt-test! You said: hi');
  });

  it('refuse a missing or unknown key with 401 in the client format', async () => {
    const none = await fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify(hi) });
    expect(none.status).toBe(401);
    const err = await client('sk-baimo-doesnotexist').chat.completions.create(hi).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    const anthropic = await fetch(`${hub.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': 'sk-wrong' }, body: '{}' });
    expect(anthropic.status).toBe(401);
    expect(((await anthropic.json()) as any).error.type).toBe('authentication_error');
  });

  it('a revoked key is refused at once', async () => {
    const k = await newKey();
    expect((await raw(k.key)).status).toBe(200);
    expect((await adminCall('POST', `/admin/keys/${k.id}/revoke`)).status).toBe(200);
    const r = await raw(k.key);
    expect(r.status).toBe(401);
    expect(r.body.error.message).toContain('revoked');
  });

  it('an expired key is refused', async () => {
    const k = await newKey({ expires_at: new Date(Date.now() - 1000).toISOString() });
    expect((await raw(k.key)).status).toBe(401);
  });

  it('allowed models are enforced with 403', async () => {
    const k = await newKey({ allowed_models: ['loop/json', 'other/*'] });
    const err = await client(k.key).chat.completions.create(hi).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(err.message).toContain("'loop/gpt-test'");
    expect((await raw(k.key, { ...hi, model: 'loop/json' })).status).toBe(200);
  });
});

describe('limits under concurrency', () => {
  it('RPM: exactly the allowed number of concurrent requests pass; the rest get 429 with rate-limit headers', async () => {
    const k = await newKey({ rpm: 10 });
    const results = await Promise.all(Array.from({ length: 30 }, () => raw(k.key)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(10);
    const refused = results.filter((r) => r.status === 429);
    expect(refused).toHaveLength(20);
    const h = refused[0]!.headers;
    expect(h.get('x-ratelimit-limit-requests')).toBe('10');
    expect(h.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(Number(h.get('retry-after'))).toBeGreaterThan(0);
    expect(refused[0]!.body.error.code).toBe('rate_limit_exceeded');
    const ok = results.find((r) => r.status === 200)!;
    expect(ok.headers.get('x-ratelimit-limit-requests')).toBe('10');
  });

  it('TPM: admission counts the prompt estimate plus max_tokens', async () => {
    const k = await newKey({ tpm: 100 });
    // Each request is admitted as (prompt estimate + 20) tokens; the estimate for "hi" is 8.
    const results = await Promise.all(Array.from({ length: 12 }, () => raw(k.key)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(Math.floor(100 / 28));
    const refused = results.find((r) => r.status === 429)!;
    expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe('100');
  });

  it('budget: hundreds of concurrent requests never overspend by more than one request’s worst case', async () => {
    const budget = 1;
    const k = await newKey({ budget_usd: budget, budget_period: 'day' });
    const results = await Promise.all(Array.from({ length: 300 }, () => raw(k.key)));
    const ok = results.filter((r) => r.status === 200).length;
    const refused = results.filter((r) => r.status === 429);
    expect(ok).toBeGreaterThan(10);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.body.error.code).toBe('budget_exceeded');
    expect(refused[0]!.headers.get('x-should-retry')).toBe('false');
    await expect.poll(() => (hub.store.db.prepare('SELECT COUNT(*) AS n FROM usage WHERE key_id = ? AND final = 1 AND status = 200').get(k.id) as any).n, { timeout: 3000 }).toBe(ok);
    const spent = (hub.store.db.prepare('SELECT SUM(cost_usd) AS usd FROM usage WHERE key_id = ?').get(k.id) as { usd: number }).usd;
    const worstCase = (8 * 1000 + 20 * 2000) / 1e6; // prompt estimate at input price + max_tokens at output price
    expect(spent).toBeCloseTo(ok * 0.03, 9);
    expect(spent).toBeLessThanOrEqual(budget + worstCase);
    const info = await adminCall('GET', `/admin/keys/${k.id}`);
    expect(info.body.spend_usd).toBeCloseTo(spent, 6);
  });

  it('a team budget is shared by its keys', async () => {
    const team = await adminCall('POST', '/admin/teams', { name: 'research', budget_usd: 0.1, budget_period: 'month' });
    expect(team.status).toBe(201);
    const a = await newKey({ team_id: team.body.id });
    const b = await newKey({ team_id: team.body.id });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await raw(i % 2 ? a.key : b.key)).status);
    // $0.03 per answer, worst case $0.048: after two answers ($0.06) a third could reach $0.108.
    expect(statuses).toEqual([200, 200, 429, 429]);
    const t = await adminCall('GET', `/admin/teams/${team.body.id}`);
    expect(t.body.spend_usd).toBeCloseTo(0.06, 9);
  });
});

describe('usage queries', () => {
  it('group by key and model, with costs', async () => {
    const k = await newKey({ name: 'query' });
    for (let i = 0; i < 3; i++) await raw(k.key);
    await raw(k.key, { ...hi, model: 'loop/json' });
    await expect.poll(async () => (await adminCall('GET', `/admin/usage?key_id=${k.id}`)).body.data[0].requests, { timeout: 3000 }).toBe(4);
    const r = await adminCall('GET', `/admin/usage?key_id=${k.id}&group_by=model`);
    expect(r.body.data).toEqual([
      expect.objectContaining({ model: 'loop/gpt-test', requests: 3, input_tokens: 36, output_tokens: 27, cost_usd: expect.closeTo(0.09, 9) }),
      expect.objectContaining({ model: 'loop/json', requests: 1, cost_usd: 0 }),
    ]);
    const bad = await adminCall('GET', '/admin/usage?group_by=colour');
    expect(bad.status).toBe(400);
  });
});

describe('logs', () => {
  it('have one line per request with ids and counts, and never a key or a prompt', async () => {
    const k = await newKey({ name: 'logged' });
    await raw(k.key, { ...hi, messages: [{ role: 'user', content: 'my secret prompt 42' }] });
    await raw(k.key, { ...hi, model: 'loop/error-500' });
    await expect.poll(() => logs.includes('"status":502'), { timeout: 3000 }).toBe(true);
    const lines = logs.trim().split('\n').map((l) => JSON.parse(l));
    const mine = lines.filter((l) => l.key_id === k.id && l.msg === 'request');
    expect(mine).toEqual([
      expect.objectContaining({ level: 'info', model: 'loop/gpt-test', status: 200, input_tokens: 12, output_tokens: 9, cost_usd: expect.closeTo(0.03, 9) }),
      expect.objectContaining({ level: 'warn', model: 'loop/error-500', status: 502, error_kind: 'upstream' }),
    ]);
    expect(lines.some((l) => l.msg === 'attempt failed' && l.key_id === k.id)).toBe(true);
    for (const secret of [k.key, ADMIN, UPSTREAM_KEY, 'my secret prompt']) expect(logs).not.toContain(secret);
  });
});

describe('metrics', () => {
  it('count requests, tokens and cost, show deployment health, and hold no secret', async () => {
    const k = await newKey();
    await raw(k.key);
    const text = await (await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
    expect(text).toMatch(/baimo_requests_total\{endpoint="chat",model="loop\/gpt-test",provider="loop",status="200",attempt="final"\} \d+/);
    expect(text).toMatch(/baimo_tokens_total\{model="loop\/gpt-test",provider="loop",kind="input"\} \d+/);
    expect(text).toMatch(/baimo_cost_usd_total\{model="loop\/gpt-test",provider="loop"\} [\d.]+/);
    expect(text).toContain('baimo_request_duration_seconds_bucket');
    expect(text).toMatch(/baimo_deployment_circuit_state\{route="loop\/gpt-test",deployment="loop\/gpt-test",provider="loop"\} 0/);
    for (const secret of [k.key, ADMIN, UPSTREAM_KEY]) expect(text).not.toContain(secret);
  });

  it('add up exactly across scrapes', async () => {
    const k = await newKey();
    const scrape = async () => {
      const text = await (await fetch(`${hub.url}/metrics`, { headers: { authorization: `Bearer ${ADMIN}` } })).text();
      const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? 0);
      return {
        requests: num(/baimo_requests_total\{endpoint="chat",model="loop\/gpt-test",provider="loop",status="200",attempt="final"\} (\d+)/),
        input: num(/baimo_tokens_total\{model="loop\/gpt-test",provider="loop",kind="input"\} (\d+)/),
        latencyCount: num(/baimo_request_duration_seconds_count\{endpoint="chat",model="loop\/gpt-test"\} (\d+)/),
      };
    };
    const before = await scrape();
    for (let i = 0; i < 3; i++) await raw(k.key);
    const mid = await scrape();
    expect(mid).toEqual({ requests: before.requests + 3, input: before.input + 36, latencyCount: before.latencyCount + 3 });
    await raw(k.key);
    expect(await scrape()).toEqual({ requests: mid.requests + 1, input: mid.input + 12, latencyCount: mid.latencyCount + 1 });
  });
});

describe('deployment health', () => {
  it('the admin API shows each deployment’s circuit, latency and in-flight count', async () => {
    const r = await adminCall('GET', '/admin/deployments');
    expect(r.status).toBe(200);
    expect(r.body.data).toContainEqual(expect.objectContaining({ route: 'loop/gpt-test', id: 'loop/gpt-test', provider: 'loop', circuit: 'closed', inFlight: 0 }));
    expect(typeof r.body.data.find((d: any) => d.id === 'loop/gpt-test').ttftMs).toBe('number');
  });
});

describe('secrets', () => {
  it('no key appears in an error body', async () => {
    const k = await newKey();
    const bodies = [
      JSON.stringify((await raw(k.key, { ...hi, model: 'loop/error-401' })).body),
      JSON.stringify((await raw(k.key, { ...hi, model: 'nope/x' })).body),
      JSON.stringify((await raw('sk-baimo-wrong-key-but-long')).body),
      JSON.stringify((await adminCall('GET', '/admin/keys', undefined, k.key)).body),
    ];
    for (const b of bodies) {
      expect(b).not.toContain(k.key);
      expect(b).not.toContain(ADMIN);
      expect(b).not.toContain(UPSTREAM_KEY);
    }
  });
});
