/**
 * Storage behind ports: each folder declares what it needs from storage (usage/ports.ts,
 * tenancy/ports.ts, arena/ports.ts, protocols/openai-responses/ports.ts), store/sqlite/
 * implements them, and no SQL lives outside store/. The contract part runs against the SQLite
 * implementation; another backend (PostgreSQL) can run the same expectations.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSQLiteStores } from '../src/store/sqlite/index.js';
import type { SQLiteStores } from '../src/store/sqlite/index.js';
import type { UsageRecord } from '../src/usage/record.js';

const SRC = join(dirname(fileURLToPath(import.meta.url)), '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('layout', () => {
  const files = sources(SRC).map((p) => ({ path: relative(SRC, p).split('\\').join('/'), text: readFileSync(p, 'utf8') }));
  const outside = files.filter((f) => !f.path.startsWith('store/'));

  it('no SQL and no database driver outside store/', () => {
    const sql = /\b(SELECT\b[\s\S]{0,2000}?\bFROM\s+[a-z_]+|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|INDEX))\b|better-sqlite3|\.prepare\(/;
    expect(outside.filter((f) => sql.test(f.text)).map((f) => f.path)).toEqual([]);
  });

  it('only start-up and the CLI import store/: everything else depends on the ports', () => {
    const importsStore = /from '[./]*store\//;
    const allowed = /^(server\/start\.ts|server\/assemble\.ts|cli\/)/;
    expect(outside.filter((f) => importsStore.test(f.text) && !allowed.test(f.path)).map((f) => f.path)).toEqual([]);
  });

  it('the usage writer thread finds tsx like any other package, not by a path into node_modules', () => {
    expect(files.filter((f) => f.text.includes('node_modules/')).map((f) => f.path)).toEqual([]);
  });
});

function record(o: Partial<UsageRecord> & Pick<UsageRecord, 'requestId' | 'ts'>): UsageRecord {
  return {
    endpoint: 'chat',
    model: 'm1',
    provider: 'p',
    upstreamModel: 'u',
    deployment: 'p/u',
    attempt: 1,
    final: true,
    fallbackFrom: undefined,
    stream: false,
    status: 200,
    errorKind: undefined,
    usage: { inputTokens: 10, outputTokens: 5 },
    latencyMs: 100,
    ttftMs: 20,
    ...o,
  };
}

describe('SQLite ports', () => {
  let dir: string;
  let stores: SQLiteStores;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'baimo-ports-'));
    stores = openSQLiteStores(dir);
  });
  afterEach(() => {
    stores.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('usage: records, totals, the request log, bodies, traces and pruning', async () => {
    const hour = 3_600_000;
    const t = Math.floor(Date.now() / hour) * hour;
    const records = [
      record({ requestId: 'r1', ts: t + 1, attempt: 1, final: false, status: 502, errorKind: 'upstream', usage: undefined, ttftMs: undefined, keyId: 'k1' }),
      record({ requestId: 'r1', ts: t + 2, attempt: 2, keyId: 'k1', costUsd: 0.5, bodies: { request: '{"q":1}', response: '{"a":1}' }, trace: { steps: [1] } }),
      record({ requestId: 'r2', ts: t + 3, model: 'm2', keyId: 'k2', teamId: 'tm', costUsd: 0.25 }),
      record({ requestId: 'r0', ts: t - 40 * 86_400_000, model: 'm2' }),
    ];
    await stores.usage.writeUsage(records);
    // A replayed journal repeats records: nothing counts twice.
    await stores.usage.writeUsage(records.slice(0, 2));

    const all = await stores.usage.totals({ from: t, to: t + hour, groupBy: [], includeAttempts: false, limit: 10 });
    expect(all).toEqual([expect.objectContaining({ requests: 2, errors: 0, input_tokens: 20, output_tokens: 10, cost_usd: 0.75, avg_latency_ms: 100, avg_ttft_ms: 20 })]);
    const byModel = await stores.usage.totals({ from: t, to: t + hour, groupBy: ['model', 'key'], includeAttempts: true, limit: 10 });
    expect(byModel.map((r) => [r.model, r.key, r.requests, r.errors])).toEqual([['m1', 'k1', 2, 1], ['m2', 'k2', 1, 0]]);
    expect(await stores.usage.totals({ from: t, to: t + hour, groupBy: ['team'], includeAttempts: false, teamId: 'tm', limit: 10 })).toEqual([expect.objectContaining({ team: 'tm', requests: 1 })]);

    const log = await stores.usage.requests({ limit: 2 });
    expect(log.map((r) => r.request_id)).toEqual(['r0', 'r2']);
    const next = await stores.usage.requests({ limit: 2, before: log[1]!.id });
    expect(next.map((r) => r.request_id)).toEqual(['r1']);
    expect((await stores.usage.requests({ limit: 10, keyId: 'k2' })).map((r) => r.request_id)).toEqual(['r2']);
    expect((await stores.usage.requests({ limit: 10, status: 'error' }))).toEqual([]);
    expect((await stores.usage.requestRecords('r1')).map((r) => [r.attempt, r.final, r.status])).toEqual([[1, 0, 502], [2, 1, 200]]);
    expect(await stores.usage.bodies('r1')).toEqual({ request: '{"q":1}', response: '{"a":1}' });
    expect(await stores.usage.trace('r1')).toEqual({ steps: [1] });
    expect(await stores.usage.trace('r2')).toBeUndefined();
    expect(stores.recentUsage(1)[0]!.request_id).toBe('r0');

    expect(await stores.usage.prune(t - 30 * 86_400_000, t + 10)).toEqual({ usage: 1, bodies: 1 });
    expect(await stores.usage.bodies('r1')).toBeUndefined();
    expect((await stores.usage.requests({ limit: 10 })).map((r) => r.request_id)).toEqual(['r2', 'r1']);
  });

  it('tenancy: settings, teams, keys and spend', async () => {
    const tenancy = stores.tenancy;
    expect(await tenancy.getSetting('x')).toBeUndefined();
    await tenancy.setSetting('x', '1');
    await tenancy.setSetting('x', '2');
    expect(await tenancy.getSetting('x')).toBe('2');
    await tenancy.saveTeam({ id: 't1', name: 'one', budgetUsd: 5, metadata: { a: 1 }, createdAt: 1 });
    await tenancy.saveTeam({ id: 't2', name: 'two', metadata: {}, createdAt: 2 });
    await tenancy.saveTeam({ id: 't1', name: 'uno', budgetUsd: 6, metadata: { a: 1 }, createdAt: 1 });
    await tenancy.deleteTeam('t2');
    expect(await tenancy.teams()).toEqual([{ id: 't1', name: 'uno', budgetUsd: 6, metadata: { a: 1 }, createdAt: 1 }]);
    const key = { id: 'k1', hash: 'h', prefix: 'sk-…', name: 'k', teamId: 't1', rpm: 3, metadata: {}, createdAt: 3 };
    await tenancy.saveKey(key);
    await tenancy.saveKey({ ...key, revokedAt: 9, expiresAt: 10 });
    expect(await tenancy.keys()).toEqual([{ ...key, revokedAt: 9, expiresAt: 10 }]);

    await stores.usage.writeUsage([record({ requestId: 'a', ts: 100, keyId: 'k1', teamId: 't1', costUsd: 1 }), record({ requestId: 'b', ts: 200, keyId: 'k1', costUsd: 2 })]);
    expect(tenancy.spendOf('key', 'k1', 0)).toBe(3);
    expect(tenancy.spendOf('key', 'k1', 150)).toBe(2);
    expect(tenancy.spendOf('team', 't1', 0)).toBe(1);
    expect(tenancy.spendOf('team', 'nobody', 0)).toBe(0);
  });

  it('responses: stored responses, their items by id and by page, deletion', async () => {
    const r = stores.responses;
    const input = [{ id: 'in1', type: 'message' }, { id: 'in2', type: 'message' }, { id: 'in3', type: 'message' }];
    await r.save({ id: 'resp_1', keyId: 'k1', response: { id: 'resp_1' }, history: [{ role: 'user' }], input, output: [{ id: 'out1', type: 'message' }] });
    expect(await r.load('resp_1')).toEqual({ keyId: 'k1', response: { id: 'resp_1' }, history: [{ role: 'user' }] });
    expect(await r.load('resp_2')).toBeUndefined();
    expect(await r.findItem('out1', 'k1')).toEqual({ id: 'out1', type: 'message' });
    expect(await r.findItem('out1', undefined)).toEqual({ id: 'out1', type: 'message' });
    expect(await r.findItem('out1', 'k2')).toBeUndefined();
    const page = await r.inputItems('resp_1', { limit: 2, order: 'asc' });
    expect(page).toEqual({ data: [input[0], input[1]], hasMore: true });
    expect(await r.inputItems('resp_1', { after: 'in2', limit: 2, order: 'asc' })).toEqual({ data: [input[2]], hasMore: false });
    expect(await r.inputItems('resp_1', { after: 'in2', limit: 5, order: 'desc' })).toEqual({ data: [input[0]], hasMore: false });
    expect(await r.inputItems('resp_1', { after: 'out1', limit: 5, order: 'desc' })).toBeUndefined();
    // Saving again under the same id replaces its items.
    await r.save({ id: 'resp_1', keyId: 'k1', response: {}, history: [], input: [], output: [] });
    expect(await r.findItem('out1', undefined)).toBeUndefined();
    await r.delete('resp_1');
    expect(await r.load('resp_1')).toBeUndefined();
  });

  it('arena: votes in order', async () => {
    await stores.arena.addVote({ modelA: 'a', modelB: 'b', winner: 'a', keyId: undefined });
    await stores.arena.addVote({ modelA: 'b', modelB: 'c', winner: 'tie', keyId: 'k1' });
    expect(await stores.arena.votes()).toEqual([{ modelA: 'a', modelB: 'b', winner: 'a' }, { modelA: 'b', modelB: 'c', winner: 'tie' }]);
  });
});
