import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

let upstream: OpenAIUpstream;
let capturing: TestHub;
let plain: TestHub;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  capturing = await startTestHub(`providers:\n  loop: { baseURL: ${upstream.baseURL} }\nlogging: { bodies: true, maxBodyBytes: 4096 }\nretention: { usageDays: 10, bodiesDays: 1 }\n`);
  plain = await startTestHub(`providers:\n  loop: { baseURL: ${upstream.baseURL} }\n`);
});

afterAll(async () => {
  await capturing?.dispose();
  await plain?.dispose();
  await upstream?.close();
});

async function chat(hub: TestHub, body: unknown) {
  const res = await fetch(`${hub.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  await res.text();
  return res.headers.get('x-request-id')!;
}

describe('request and response bodies', () => {
  it('are captured when enabled, with secrets redacted, streams included', async () => {
    const id = await chat(capturing, {
      model: 'loop/gpt-test',
      messages: [{ role: 'user', content: 'my key is sk-abcdefghijklmnop123456, keep it' }],
      api_key: 'plain-secret-value',
    });
    await expect.poll(() => capturing.store.usage.bodies(id), { timeout: 3000 }).toBeTruthy();
    const b = (await capturing.store.usage.bodies(id))!;
    expect(b.request).not.toContain('sk-abcdefghijklmnop123456');
    expect(b.request).not.toContain('plain-secret-value');
    expect(JSON.parse(b.request)).toMatchObject({ api_key: '[REDACTED]', messages: [{ content: 'my key is [REDACTED], keep it' }] });
    expect(JSON.parse(b.response).choices[0].message.content).toBe('Hello from gpt-test! You said: my key is sk-abcdefghijklmnop123456, keep it'.replace('sk-abcdefghijklmnop123456', '[REDACTED]'));

    const sid = await chat(capturing, { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'stream it' }], stream: true });
    await expect.poll(() => capturing.store.usage.bodies(sid), { timeout: 3000 }).toBeTruthy();
    expect((await capturing.store.usage.bodies(sid))!.response).toContain('data: [DONE]');
  });

  it('are cut at the configured size', async () => {
    const id = await chat(capturing, { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    await expect.poll(() => capturing.store.usage.bodies(id), { timeout: 3000 }).toBeTruthy();
    expect((await capturing.store.usage.bodies(id))!.request.length).toBeLessThan(4200);
    expect((await capturing.store.usage.bodies(id))!.request).toContain('…[truncated]');
  });

  it('are not kept by default', async () => {
    const id = await chat(plain, { model: 'loop/gpt-test', messages: [{ role: 'user', content: 'x' }] });
    await expect.poll(() => plain.store.recentUsage(1)[0]?.request_id, { timeout: 3000 }).toBe(id);
    expect(await plain.store.usage.bodies(id)).toBeUndefined();
  });
});

describe('retention', () => {
  it('prunes usage and bodies past their age, and nothing younger', async () => {
    const db = capturing.store.db;
    const old = Date.now() - 20 * 86_400_000;
    const insert = db.prepare("INSERT INTO usage (request_id, ts, endpoint, model, stream, status, latency_ms) VALUES (?, ?, 'chat', 'm', 0, 200, 1)");
    db.transaction(() => {
      for (let i = 0; i < 12_000; i++) insert.run(`old-${i}`, old);
    })();
    db.prepare("INSERT INTO request_bodies VALUES ('old-body', ?, '{}', '{}')").run(Date.now() - 2 * 86_400_000);
    const before = (db.prepare('SELECT COUNT(*) AS n FROM usage').get() as { n: number }).n;
    await capturing.prune();
    const after = (db.prepare('SELECT COUNT(*) AS n FROM usage').get() as { n: number }).n;
    expect(before - after).toBe(12_000);
    expect(after).toBeGreaterThan(0);
    expect(await capturing.store.usage.bodies('old-body')).toBeUndefined();
  });
});

describe('usage queries at scale', () => {
  it('every filter the query API offers is served by an index', () => {
    const db = plain.store.db;
    const plans = [
      "SELECT COUNT(*) FROM usage WHERE ts >= 0 AND ts < 1 AND final = 1",
      "SELECT COUNT(*) FROM usage WHERE ts >= 0 AND ts < 1 AND final = 1 AND key_id = 'k'",
      "SELECT COUNT(*) FROM usage WHERE ts >= 0 AND ts < 1 AND final = 1 AND team_id = 't'",
      "SELECT COUNT(*) FROM usage WHERE ts >= 0 AND ts < 1 AND final = 1 AND model = 'm'",
    ].map((sql) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all() as { detail: string }[]).map((r) => r.detail).join(' | '));
    for (const p of plans) expect(p).toMatch(/USING (COVERING )?INDEX/);
    expect(plans[1]).toContain('usage_key_ts');
    expect(plans[2]).toContain('usage_team_ts');
    expect(plans[3]).toContain('usage_model_ts');
  });
});
