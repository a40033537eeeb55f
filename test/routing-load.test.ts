/**
 * A bounded load test of routing: one of three deployments fails 30% of the time, another is down
 * and comes back. Every request must succeed, traffic must leave the broken deployment and return
 * after recovery, and first-choice traffic must follow the weights.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startFaultyUpstream } from './upstreams/faulty.js';
import type { FaultyUpstream } from './upstreams/faulty.js';

let a: FaultyUpstream;
let b: FaultyUpstream;
let c: FaultyUpstream;
let hub: TestHub;

beforeAll(async () => {
  a = await startFaultyUpstream('a');
  b = await startFaultyUpstream('b');
  c = await startFaultyUpstream('c');
  b.failRate = 0.3;
  await c.down();
  hub = await startTestHub(`
providers:
  a: { baseURL: ${a.baseURL} }
  b: { baseURL: ${b.baseURL} }
  c: { baseURL: ${c.baseURL} }
models:
  chat:
    strategy: weighted
    retries: 4
    breaker: { consecutiveFailures: 10, errorRate: 0.6, minRequests: 30, cooldownMs: 300 }
    deployments:
      - { provider: a, model: m, weight: 2 }
      - { provider: b, model: m, weight: 1 }
      - { provider: c, model: m, weight: 1 }
`);
});

afterAll(async () => {
  await hub?.dispose();
  for (const u of [a, b, c]) await u?.close();
});

/** Fires `n` requests, `concurrency` at a time; returns each request's status and id. */
async function load(n: number, concurrency: number): Promise<{ status: number; id: string; servedBy: string }[]> {
  const out: { status: number; id: string; servedBy: string }[] = [];
  let next = 0;
  async function worker() {
    while (next < n) {
      next++;
      const res = await fetch(`${hub.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'chat', messages: [{ role: 'user', content: 'hi' }] }),
      });
      const body = (await res.json()) as { choices?: { message: { content: string } }[] };
      out.push({ status: res.status, id: res.headers.get('x-request-id') ?? '', servedBy: body.choices?.[0]?.message.content ?? '' });
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return out;
}

function firstAttempts(ids: string[]): Record<string, number> {
  hub.store.db.exec('CREATE TEMP TABLE IF NOT EXISTS ids (id TEXT PRIMARY KEY)');
  hub.store.db.exec('DELETE FROM ids');
  const insert = hub.store.db.prepare('INSERT OR IGNORE INTO ids VALUES (?)');
  hub.store.db.transaction(() => ids.forEach((id) => insert.run(id)))();
  const rows = hub.store.db
    .prepare('SELECT provider, count(*) AS n FROM usage WHERE attempt = 1 AND request_id IN (SELECT id FROM ids) GROUP BY provider')
    .all() as { provider: string; n: number }[];
  return Object.fromEntries(rows.map((r) => [r.provider, r.n]));
}

async function recorded(ids: string[]): Promise<void> {
  await expect.poll(() => (hub.store.db.prepare('SELECT count(*) AS n FROM usage WHERE final = 1').get() as { n: number }).n, { timeout: 5000 }).toBeGreaterThanOrEqual(ids.length);
}

describe('routing under load', () => {
  it('keeps every request up while a deployment flakes and another goes down and comes back', async () => {
    // Phase 1: c is down, b fails 30% of the time.
    const phase1 = await load(1500, 48);
    expect(phase1.filter((r) => r.status !== 200)).toEqual([]);
    await recorded(phase1.map((r) => r.id));
    const p1 = firstAttempts(phase1.map((r) => r.id));
    // Traffic left c: only the attempts that opened its circuit and the half-open probes reach it.
    expect((p1.c ?? 0) / 1500).toBeLessThan(0.05);
    expect(c.served.ok).toBe(0);

    // Phase 2: c comes back; after a cooldown its probe succeeds and traffic returns.
    await c.up();
    await new Promise((r) => setTimeout(r, 400));
    const phase2 = await load(2000, 48);
    expect(phase2.filter((r) => r.status !== 200)).toEqual([]);
    await recorded([...phase1, ...phase2].map((r) => r.id));
    const p2 = firstAttempts(phase2.map((r) => r.id));
    const total = (p2.a ?? 0) + (p2.b ?? 0) + (p2.c ?? 0);
    expect(total).toBe(2000);
    // Weights 2:1:1 hold for first choices within tolerance.
    expect(p2.a! / total).toBeGreaterThan(0.44);
    expect(p2.a! / total).toBeLessThan(0.56);
    expect(p2.b! / total).toBeGreaterThan(0.19);
    expect(p2.b! / total).toBeLessThan(0.31);
    expect(p2.c! / total).toBeGreaterThan(0.19);
    expect(p2.c! / total).toBeLessThan(0.31);
    expect(c.served.ok).toBeGreaterThan(300);
    // b's failures were retried elsewhere, never surfaced.
    expect(b.served.failed).toBeGreaterThan(100);
  }, 60_000);
});
