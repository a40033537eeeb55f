/**
 * Storage behind ports: each folder declares what it needs from storage (usage/ports.ts,
 * tenancy/ports.ts, eval/ports.ts judgements, protocols/openai-responses/ports.ts), store/sqlite/
 * and store/postgres/ implement them, and no SQL lives outside store/. The contract part runs the
 * same expectations against both backends, PostgreSQL on a fresh database of its own.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { JudgementStore } from '../src/eval/ports.js';
import { VectorsUnavailableError } from '../src/knowledge/ports.js';
import type { ChunkIndex, ChunkInput, FileBatchRow, FileStore, StoredFile, VectorStoreFileRow, VectorStoreRow, VectorStoreStore } from '../src/knowledge/ports.js';
import type { ResponseStore } from '../src/protocols/openai-responses/ports.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { openSQLiteStores, UsageWriter } from '../src/store/sqlite/index.js';
import type { TenancyStore } from '../src/tenancy/ports.js';
import type { UsageRow, UsageStore } from '../src/usage/ports.js';
import type { UsageRecord, UsageSink } from '../src/usage/record.js';
import { createTestDatabase } from './helpers/pg.js';
import { usageRecord } from './helpers/usage-record.js';

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
    const sql = /\b(SELECT\b[\s\S]{0,2000}?\bFROM\s+[a-z_]+|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|CREATE\s+(TABLE|INDEX))\b|better-sqlite3|from 'pg'|\.prepare\(/;
    expect(outside.filter((f) => sql.test(f.text)).map((f) => f.path)).toEqual([]);
  });

  it('only start-up (backend choice included) and the CLI import store/: everything else depends on the ports', () => {
    const importsStore = /from '[./]*store\//;
    const allowed = /^(server\/start\.ts|server\/backend\.ts|server\/assemble\.ts|cli\/)/;
    expect(outside.filter((f) => importsStore.test(f.text) && !allowed.test(f.path)).map((f) => f.path)).toEqual([]);
  });

  it('the usage writer thread finds tsx like any other package, not by a path into node_modules', () => {
    expect(files.filter((f) => f.text.includes('node_modules/')).map((f) => f.path)).toEqual([]);
  });
});

const record = usageRecord;


/** What the contract needs of a backend: the ports, its usage sink, and spend as a promise. */
interface Backend {
  readonly usage: UsageStore;
  readonly tenancy: TenancyStore;
  readonly responses: ResponseStore;
  readonly judgements: JudgementStore;
  readonly files: FileStore;
  readonly knowledge: ChunkIndex;
  readonly vectorStores: VectorStoreStore;
  /** Whether the chunk index holds vectors here (this machine's PostgreSQL has no pgvector). */
  readonly vectors: boolean;
  readonly sink: UsageSink;
  spend(account: 'key' | 'team', id: string, since: number): Promise<number>;
  recentUsage(limit: number): Promise<UsageRow[]>;
  prune(usageBefore: number | undefined, bodiesBefore: number | undefined): Promise<{ usage: number; bodies: number }>;
  close(): Promise<void>;
}

async function openSQLite(): Promise<Backend> {
  const dir = mkdtempSync(join(tmpdir(), 'baimo-ports-'));
  const stores = openSQLiteStores(dir);
  let writer: UsageWriter | undefined;
  return {
    ...stores,
    vectors: true,
    // The writer thread starts only for the test that uses it.
    sink: { writeUsageLines: (jsonl) => (writer ??= new UsageWriter(stores.path)).writeUsageLines(jsonl) },
    spend: async (account, id, since) => stores.tenancy.spendOf(account, id, since),
    recentUsage: async (limit) => stores.recentUsage(limit),
    async close() {
      await writer?.close();
      stores.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function openPostgres(): Promise<Backend> {
  const db = await createTestDatabase();
  // Deleting two rows per statement makes every prune below loop.
  const stores = await openPostgresStores(db.url, { deleteBatch: 2 });
  return {
    ...stores,
    vectors: false,
    spend: (account, id, since) => stores.tenancy.spend(account, id, since),
    async close() {
      await stores.close();
      await db.drop();
    },
  };
}

const HOUR = 3_600_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function storeContract(name: string, open: () => Promise<Backend>): void {
  describe(`${name} ports`, () => {
    let stores: Backend;
    beforeEach(async () => {
      stores = await open();
    });
    afterEach(async () => {
      await stores.close();
    });

    it('usage: records, totals, the request log, bodies, traces and pruning', async () => {
      const t = Math.floor(Date.now() / HOUR) * HOUR;
      const records = [
        record({ requestId: 'r1', ts: t + 1, attempt: 1, final: false, status: 502, errorKind: 'upstream', usage: undefined, ttftMs: undefined, keyId: 'k1' }),
        record({ requestId: 'r1', ts: t + 2, attempt: 2, keyId: 'k1', costUsd: 0.5, bodies: { request: '{"q":1}', response: '{"a":1}' }, trace: { steps: [1] } }),
        record({ requestId: 'r2', ts: t + 3, model: 'm2', keyId: 'k2', teamId: 'tm', costUsd: 0.25 }),
        record({ requestId: 'r0', ts: t - 40 * 86_400_000, model: 'm2' }),
      ];
      await stores.usage.writeUsage(records);
      // A replayed journal repeats records: nothing counts twice.
      await stores.usage.writeUsage(records.slice(0, 2));

      const all = await stores.usage.totals({ from: t, to: t + HOUR, groupBy: [], includeAttempts: false, limit: 10 });
      expect(all).toEqual([expect.objectContaining({ requests: 2, errors: 0, input_tokens: 20, output_tokens: 10, cost_usd: 0.75, avg_latency_ms: 100, avg_ttft_ms: 20 })]);
      const byModel = await stores.usage.totals({ from: t, to: t + HOUR, groupBy: ['model', 'key'], includeAttempts: true, limit: 10 });
      expect(byModel.map((r) => [r.model, r.key, r.requests, r.errors])).toEqual([['m1', 'k1', 2, 1], ['m2', 'k2', 1, 0]]);
      expect(await stores.usage.totals({ from: t, to: t + HOUR, groupBy: ['team'], includeAttempts: false, teamId: 'tm', limit: 10 })).toEqual([expect.objectContaining({ team: 'tm', requests: 1 })]);

      const log = await stores.usage.requests({ limit: 2 });
      expect(log.map((r) => r.request_id)).toEqual(['r0', 'r2']);
      const next = await stores.usage.requests({ limit: 2, before: log[1]!.id });
      expect(next.map((r) => r.request_id)).toEqual(['r1']);
      expect((await stores.usage.requests({ limit: 10, keyId: 'k2' })).map((r) => r.request_id)).toEqual(['r2']);
      expect(await stores.usage.requests({ limit: 10, status: 'error' })).toEqual([]);
      expect((await stores.usage.requestRecords('r1')).map((r) => [r.attempt, r.final, r.status])).toEqual([[1, 0, 502], [2, 1, 200]]);
      expect(await stores.usage.bodies('r1')).toEqual({ request: '{"q":1}', response: '{"a":1}' });
      expect(await stores.usage.trace('r1')).toEqual({ steps: [1] });
      expect(await stores.usage.trace('r2')).toBeUndefined();
      expect((await stores.recentUsage(1))[0]!.request_id).toBe('r0');

      expect(await stores.usage.prune(t - 30 * 86_400_000, t + 10)).toEqual({ usage: 1, bodies: 1 });
      expect(await stores.usage.bodies('r1')).toBeUndefined();
      expect(await stores.usage.trace('r1')).toBeUndefined();
      expect((await stores.usage.requests({ limit: 10 })).map((r) => r.request_id)).toEqual(['r2', 'r1']);
    });

    it('usage rows come back with the same columns and types', async () => {
      const r = record({ requestId: 'x', ts: 1_700_000_000_123, stream: true, keyId: 'k', teamId: 't', costUsd: 0.125, usageCounted: true, fallbackFrom: 'big',
        usage: { inputTokens: 7, outputTokens: 3, cachedInputTokens: 2, cacheWriteTokens: 1, reasoningTokens: 4 }, latencyMs: 12.5, ttftMs: 3.25 });
      await stores.usage.writeUsage([r]);
      const [row] = await stores.usage.requestRecords('x');
      expect(row).toEqual({
        id: expect.any(Number), request_id: 'x', ts: 1_700_000_000_123, endpoint: 'chat', model: 'm1', provider: 'p', upstream_model: 'u', stream: 1,
        status: 200, error_kind: null, input_tokens: 7, output_tokens: 3, cached_input_tokens: 2, cache_write_tokens: 1, reasoning_tokens: 4,
        latency_ms: 12.5, ttft_ms: 3.25, deployment: 'p/u', attempt: 1, final: 1, fallback_from: 'big', key_id: 'k', team_id: 't', cost_usd: 0.125, usage_counted: 1,
      });
    });

    it('usage totals: grouping by day, hour, provider and status, filters, attempts and the limit', async () => {
      const t = Date.UTC(2026, 0, 2, 5);
      await stores.usage.writeUsage([
        record({ requestId: 'a', ts: t + 10, status: 429, errorKind: 'rate_limited', usage: undefined, ttftMs: undefined }),
        record({ requestId: 'b', ts: t + HOUR + 10, provider: undefined, deployment: undefined }),
        record({ requestId: 'c', ts: t + 20 * HOUR, model: 'm2', costUsd: 1 }),
        record({ requestId: 'd', ts: t + 20 * HOUR + 5, model: 'm2', attempt: 1, final: false, status: 500, usage: undefined }),
        record({ requestId: 'd', ts: t + 20 * HOUR + 6, model: 'm2', attempt: 2, costUsd: 2 }),
      ]);
      const q = { from: t, to: t + 24 * HOUR, includeAttempts: false, limit: 50 };
      expect((await stores.usage.totals({ ...q, groupBy: ['day'] })).map((r) => [r.day, r.requests])).toEqual([['2026-01-02', 2], ['2026-01-03', 2]]);
      expect((await stores.usage.totals({ ...q, groupBy: ['hour'] })).map((r) => [r.hour, r.requests, r.errors])).toEqual([
        ['2026-01-02T05:00:00Z', 1, 1], ['2026-01-02T06:00:00Z', 1, 0], ['2026-01-03T01:00:00Z', 2, 0],
      ]);
      // A record without a provider groups as null, before the named ones.
      expect((await stores.usage.totals({ ...q, groupBy: ['provider', 'status'] })).map((r) => [r.provider, r.status, r.requests])).toEqual([[null, 200, 1], ['p', 200, 2], ['p', 429, 1]]);
      expect((await stores.usage.totals({ ...q, groupBy: ['model'], includeAttempts: true })).map((r) => [r.model, r.requests, r.errors, r.cost_usd])).toEqual([['m1', 2, 1, 0], ['m2', 3, 1, 3]]);
      expect((await stores.usage.totals({ ...q, groupBy: ['model'], model: 'm2' })).map((r) => [r.model, r.requests])).toEqual([['m2', 2]]);
      expect(await stores.usage.totals({ ...q, groupBy: ['hour'], limit: 1 })).toHaveLength(1);
      // Hours outside [from, to) are not counted.
      expect(await stores.usage.totals({ ...q, from: t + HOUR, to: t + 2 * HOUR, groupBy: [] })).toEqual([expect.objectContaining({ requests: 1 })]);
      const empty = await stores.usage.totals({ ...q, from: t - 10 * HOUR, to: t, groupBy: [] });
      expect(empty).toEqual([expect.objectContaining({ requests: 0, cost_usd: 0, avg_latency_ms: null, avg_ttft_ms: null })]);
    });

    it('usage: the request log filters by status and pages newest first', async () => {
      const t = Date.now();
      const records = Array.from({ length: 7 }, (_, i) => record({ requestId: `q${i}`, ts: t + i, status: i % 3 === 0 ? 429 : 200, model: i % 2 ? 'odd' : 'even' }));
      await stores.usage.writeUsage(records);
      const ids = async (f: Parameters<UsageStore['requests']>[0]) => (await stores.usage.requests(f)).map((r) => r.request_id);
      expect(await ids({ limit: 10, status: '429' })).toEqual(['q6', 'q3', 'q0']);
      expect(await ids({ limit: 10, status: 'error' })).toEqual(['q6', 'q3', 'q0']);
      expect(await ids({ limit: 3, status: 'ok' })).toEqual(['q5', 'q4', 'q2']);
      expect(await ids({ limit: 10, model: 'odd', status: 'ok' })).toEqual(['q5', 'q1']);
      const page = await stores.usage.requests({ limit: 2, model: 'even' });
      expect(page.map((r) => r.request_id)).toEqual(['q6', 'q4']);
      expect(await ids({ limit: 2, model: 'even', before: page[1]!.id })).toEqual(['q2', 'q0']);
    });

    it('usage sink: JSON lines, the text the journal holds, written once however often replayed', async () => {
      const t = Math.floor(Date.now() / HOUR) * HOUR;
      const lines = [record({ requestId: 's1', ts: t + 1, costUsd: 1 }), record({ requestId: 's2', ts: t + 2, costUsd: 2, bodies: { request: 'rq', response: 'rs' } })].map((r) => JSON.stringify(r)).join('\n');
      await stores.sink.writeUsageLines(lines);
      await stores.sink.writeUsageLines(lines);
      expect(await stores.usage.totals({ from: t, to: t + HOUR, groupBy: [], includeAttempts: true, limit: 1 })).toEqual([expect.objectContaining({ requests: 2, cost_usd: 3 })]);
      expect((await stores.usage.requests({ limit: 10 })).map((r) => r.request_id)).toEqual(['s2', 's1']);
      expect(await stores.usage.bodies('s2')).toEqual({ request: 'rq', response: 'rs' });
    });

    it('usage pruning keeps the totals of an hour still partly kept', async () => {
      const t = Date.UTC(2026, 0, 1);
      await stores.usage.writeUsage(Array.from({ length: 5 }, (_, i) => record({ requestId: `p${i}`, ts: t + i * HOUR + HOUR / 2 })));
      // Everything before t + 2.75 h goes: three records, the totals of hours 0 and 1 only.
      expect(await stores.prune(t + 2 * HOUR + (3 * HOUR) / 4, undefined)).toEqual({ usage: 3, bodies: 0 });
      expect((await stores.usage.requests({ limit: 10 })).map((r) => r.request_id)).toEqual(['p4', 'p3']);
      const hours = await stores.usage.totals({ from: t, to: t + 5 * HOUR, groupBy: ['hour'], includeAttempts: false, limit: 10 });
      expect(hours.map((r) => [r.hour, r.requests])).toEqual([['2026-01-01T02:00:00Z', 1], ['2026-01-01T03:00:00Z', 1], ['2026-01-01T04:00:00Z', 1]]);
    });

    it('tenancy: settings, teams, keys and spend', async () => {
      const tenancy = stores.tenancy;
      expect(await tenancy.getSetting('x')).toBeUndefined();
      await tenancy.setSetting('x', '1');
      await tenancy.setSetting('x', '2');
      expect(await tenancy.getSetting('x')).toBe('2');
      // The first claim wins, concurrent or not; later ones read it back.
      const claims = await Promise.all(['a', 'b', 'c'].map((v) => tenancy.claimSetting('y', v)));
      expect(new Set(claims).size).toBe(1);
      expect(await tenancy.claimSetting('y', 'z')).toBe(claims[0]);
      expect(await tenancy.getSetting('y')).toBe(claims[0]);
      await tenancy.saveTeam({ id: 't1', name: 'one', budgetUsd: 5, metadata: { a: 1 }, createdAt: 1 });
      await tenancy.saveTeam({ id: 't2', name: 'two', metadata: {}, createdAt: 2 });
      await tenancy.saveTeam({ id: 't1', name: 'uno', budgetUsd: 6, metadata: { a: 1 }, createdAt: 1 });
      const key = { id: 'k1', hash: 'h', prefix: 'sk-…', name: 'k', teamId: 't1', rpm: 3, metadata: {}, createdAt: 3 };
      await tenancy.saveKey(key);
      await tenancy.saveKey({ ...key, revokedAt: 9, expiresAt: 10 });
      await tenancy.saveKey({ id: 'k2', hash: 'h2', prefix: 'sk-…', name: 'old', teamId: 't1', allowedModels: ['a/*'], budgetPeriod: 'day', metadata: { n: 'x' }, createdAt: 4, revokedAt: 5 });
      await tenancy.deleteTeam('t2');
      expect(await tenancy.teams()).toEqual([{ id: 't1', name: 'uno', budgetUsd: 6, metadata: { a: 1 }, createdAt: 1 }]);
      expect(await tenancy.keys()).toEqual([
        { ...key, revokedAt: 9, expiresAt: 10 },
        { id: 'k2', hash: 'h2', prefix: 'sk-…', name: 'old', teamId: 't1', allowedModels: ['a/*'], budgetPeriod: 'day', metadata: { n: 'x' }, createdAt: 4, revokedAt: 5 },
      ]);

      // One entry at a time, as a hub reads back what another changed.
      expect(await tenancy.team('t1')).toEqual({ id: 't1', name: 'uno', budgetUsd: 6, metadata: { a: 1 }, createdAt: 1 });
      expect(await tenancy.team('t2')).toBeUndefined();
      expect(await tenancy.key('k1')).toEqual({ ...key, revokedAt: 9, expiresAt: 10 });
      expect(await tenancy.key('nope')).toBeUndefined();
      expect((await tenancy.keyByHash('h2'))?.id).toBe('k2');
      expect(await tenancy.keyByHash('nope')).toBeUndefined();

      await stores.usage.writeUsage([record({ requestId: 'a', ts: 100, keyId: 'k1', teamId: 't1', costUsd: 1 }), record({ requestId: 'b', ts: 200, keyId: 'k1', costUsd: 2 })]);
      expect(await stores.spend('key', 'k1', 0)).toBe(3);
      expect(await stores.spend('key', 'k1', 150)).toBe(2);
      expect(await stores.spend('team', 't1', 0)).toBe(1);
      expect(await stores.spend('team', 'nobody', 0)).toBe(0);
    });

    it('tenancy: a team may be deleted while revoked keys still name it; they keep naming it', async () => {
      const tenancy = stores.tenancy;
      await tenancy.saveTeam({ id: 'gone', name: 'gone', metadata: {}, createdAt: 1 });
      await tenancy.saveKey({ id: 'k1', hash: 'h1', prefix: 'sk-…', name: 'k', teamId: 'gone', metadata: {}, createdAt: 2, revokedAt: 3 });
      await tenancy.deleteTeam('gone');
      expect(await tenancy.teams()).toEqual([]);
      expect(await tenancy.keys()).toEqual([{ id: 'k1', hash: 'h1', prefix: 'sk-…', name: 'k', teamId: 'gone', metadata: {}, createdAt: 2, revokedAt: 3 }]);
    });

    it('spend counts attempts, across whole and partial hours', async () => {
      const h = Date.UTC(2026, 0, 1, 10);
      await stores.usage.writeUsage([
        record({ requestId: 'a', ts: h + 100, keyId: 'k', costUsd: 1 }),
        record({ requestId: 'b', ts: h + HOUR / 2, keyId: 'k', attempt: 1, final: false, status: 500, costUsd: 2 }),
        record({ requestId: 'b', ts: h + HOUR / 2 + 1, keyId: 'k', attempt: 2, costUsd: 4 }),
        record({ requestId: 'c', ts: h + HOUR + 5, keyId: 'k', costUsd: 8 }),
        record({ requestId: 'd', ts: h + 3 * HOUR, keyId: 'other', costUsd: 16 }),
      ]);
      expect(await stores.spend('key', 'k', h)).toBe(15);
      expect(await stores.spend('key', 'k', h + 1000)).toBe(14);
      expect(await stores.spend('key', 'k', h + HOUR / 2 + 1)).toBe(12);
      expect(await stores.spend('key', 'k', h + HOUR)).toBe(8);
      expect(await stores.spend('key', 'k', h + 2 * HOUR)).toBe(0);
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
      expect(await r.inputItems('resp_1', { limit: 2, order: 'desc' })).toEqual({ data: [input[2], input[1]], hasMore: true });
      expect(await r.inputItems('resp_1', { after: 'out1', limit: 5, order: 'desc' })).toBeUndefined();
      // Saving again under the same id replaces its items.
      await r.save({ id: 'resp_1', keyId: 'k1', response: {}, history: [], input: [], output: [] });
      expect(await r.findItem('out1', undefined)).toBeUndefined();
      await r.delete('resp_1');
      expect(await r.load('resp_1')).toBeUndefined();
    });

    it('responses: an item id kept twice is found newest first, per key; pruning', async () => {
      const r = stores.responses;
      await r.save({ id: 'resp_a', keyId: 'k1', response: {}, history: [], input: [{ id: 'it', v: 1 }], output: [] });
      await sleep(5);
      await r.save({ id: 'resp_b', keyId: 'k2', response: {}, history: [], input: [{ id: 'it', v: 2 }], output: [{ id: 'o', v: 3 }] });
      expect(await r.findItem('it', undefined)).toEqual({ id: 'it', v: 2 });
      expect(await r.findItem('it', 'k1')).toEqual({ id: 'it', v: 1 });
      await sleep(5);
      const cut = Date.now();
      await sleep(5);
      await r.save({ id: 'resp_c', keyId: undefined, response: { n: 1 }, history: [], input: [{ id: 'c1' }], output: [] });
      await stores.prune(undefined, cut);
      expect(await r.load('resp_a')).toBeUndefined();
      expect(await r.load('resp_b')).toBeUndefined();
      expect(await r.findItem('o', undefined)).toBeUndefined();
      expect(await r.load('resp_c')).toEqual({ keyId: null, response: { n: 1 }, history: [] });
      expect(await r.findItem('c1', undefined)).toEqual({ id: 'c1' });
    });

    it('files: bytes round-trip exactly, each key sees only its own, the admin all', async () => {
      const f = stores.files;
      const file = (id: string, keyId: string | null, createdAt: number, purpose = 'assistants'): StoredFile => ({ id, keyId, filename: `${id}.bin`, purpose, bytes: 3, createdAt, expiresAt: null });
      const bytes = new Uint8Array([0, 255, 0]);
      const later = Math.floor(Date.now() / 1000) + 3600;
      await f.save({ ...file('file-a', 'k1', 100), filename: '长江.txt', expiresAt: later }, bytes);
      // Past its expiry a file is gone for everyone, the admin included.
      await f.save({ ...file('file-old', 'k1', 100), expiresAt: 150 }, bytes);
      await f.save(file('file-b', 'k2', 100), new Uint8Array([1, 2, 3]));
      await expect(f.save(file('file-a', 'k1', 100), bytes)).rejects.toThrow();

      expect(await f.get('file-a', 'k1')).toEqual({ id: 'file-a', keyId: 'k1', filename: '长江.txt', purpose: 'assistants', bytes: 3, createdAt: 100, expiresAt: later });
      expect(await f.get('file-old', undefined)).toBeUndefined();
      expect(await f.content('file-old', 'k1')).toBeUndefined();
      expect((await f.list({ owner: undefined, limit: 10, order: 'asc' })).data.map((x) => x.id)).toEqual(['file-a', 'file-b']);
      expect(await f.delete('file-old', undefined)).toBe(false);
      expect(await f.get('file-a', undefined)).toMatchObject({ id: 'file-a' });
      expect(await f.get('file-a', 'k2')).toBeUndefined();
      expect(await f.get('file-x', undefined)).toBeUndefined();
      expect(Array.from((await f.content('file-a', 'k1'))!)).toEqual([0, 255, 0]);
      expect(await f.content('file-a', 'k2')).toBeUndefined();

      expect(await f.delete('file-a', 'k2')).toBe(false);
      expect(await f.get('file-a', 'k1')).toBeDefined();
      expect(await f.delete('file-a', 'k1')).toBe(true);
      expect(await f.delete('file-a', 'k1')).toBe(false);
      expect(await f.content('file-a', undefined)).toBeUndefined();
      expect(await f.delete('file-b', undefined)).toBe(true);
    });

    it('files: pages by creation time then id, either way, by purpose, within an owner', async () => {
      const f = stores.files;
      // Same second for b and c: the id breaks the tie, so no page repeats or skips a file.
      const made: [string, string | null, number, string][] = [['file-a', 'k1', 10, 'batch'], ['file-c', 'k1', 20, 'vision'], ['file-b', 'k1', 20, 'batch'], ['file-d', 'k1', 30, 'batch'], ['file-z', 'k2', 15, 'batch'], ['file-n', null, 25, 'batch']];
      for (const [id, keyId, createdAt, purpose] of made) await f.save({ id, keyId, filename: id, purpose, bytes: 0, createdAt, expiresAt: null }, new Uint8Array());
      const ids = async (q: Omit<Parameters<FileStore['list']>[0], 'owner'> & { owner?: string }) => {
        const page = await f.list({ ...q, owner: q.owner });
        return [page.data.map((x) => x.id), page.hasMore] as const;
      };
      expect(await ids({ owner: 'k1', limit: 2, order: 'asc' })).toEqual([['file-a', 'file-b'], true]);
      expect(await ids({ owner: 'k1', limit: 2, order: 'asc', after: 'file-b' })).toEqual([['file-c', 'file-d'], false]);
      expect(await ids({ owner: 'k1', limit: 3, order: 'desc' })).toEqual([['file-d', 'file-c', 'file-b'], true]);
      expect(await ids({ owner: 'k1', limit: 3, order: 'desc', after: 'file-c' })).toEqual([['file-b', 'file-a'], false]);
      expect(await ids({ owner: 'k1', limit: 10, order: 'asc', purpose: 'batch' })).toEqual([['file-a', 'file-b', 'file-d'], false]);
      expect(await ids({ limit: 10, order: 'asc' })).toEqual([['file-a', 'file-z', 'file-b', 'file-c', 'file-n', 'file-d'], false]);
      // A cursor the caller cannot see (another key's file, or none) starts no page.
      expect(await ids({ owner: 'k1', limit: 10, order: 'asc', after: 'file-z' })).toEqual([[], false]);
      expect(await ids({ owner: 'k2', limit: 10, order: 'asc' })).toEqual([['file-z'], false]);
    });

    // Knowledge: the chunk index and the vector stores' rows and job queue, same inputs, same answers.
    const chunk = (seq: number, terms: string, text = terms, vector?: number[]): ChunkInput => ({ seq, text, terms, tokens: terms.split(' ').length, ...(vector && { vector: new Float32Array(vector) }) });
    const hitIds = (hits: { vectorStoreId: string; fileId: string; seq: number }[]) => hits.map((h) => `${h.vectorStoreId}/${h.fileId}:${h.seq}`);

    it('chunk index: BM25 order over a small fixed corpus, the scope, file filters, limits and hostile words', async () => {
      const k = stores.knowledge;
      await k.replaceFile('s1', 'fa', [chunk(0, 'river river london'), chunk(1, 'paris seine river')]);
      await k.replaceFile('s1', 'fb', [chunk(0, 'river thames london london'), chunk(1, '长江 河流 中国'), chunk(2, 'london bridge is falling down today')]);
      await k.replaceFile('s2', 'fc', [chunk(0, 'river'), chunk(1, '长江 长江 长江 武汉')]);
      const s1 = { vectorStoreIds: ['s1'] };
      expect(hitIds(await k.keyword(s1, ['river', 'london'], 10))).toEqual(['s1/fa:0', 's1/fb:0', 's1/fa:1', 's1/fb:2']);
      // A word repeated in the query counts once; every score is positive, best first.
      const hits = await k.keyword(s1, ['london', 'london', 'river'], 10);
      expect(hitIds(hits)).toEqual(['s1/fa:0', 's1/fb:0', 's1/fa:1', 's1/fb:2']);
      expect(hits.every((h, i) => h.score > 0 && (i === 0 || hits[i - 1]!.score >= h.score))).toBe(true);
      expect(hits[0]).toMatchObject({ vectorStoreId: 's1', fileId: 'fa', seq: 0, text: 'river river london' });
      expect(hitIds(await k.keyword(s1, ['长江'], 10))).toEqual(['s1/fb:1']);
      // Several stores; a file filter; a limit.
      // Over several stores the two differ in order, not in what they find: SQLite scores each
      // store by its own statistics (store/sqlite/knowledge-index.ts), PostgreSQL by the scope's.
      expect(hitIds(await k.keyword({ vectorStoreIds: ['s1', 's2'] }, ['长江'], 10)).sort()).toEqual(['s1/fb:1', 's2/fc:1']);
      expect(hitIds(await k.keyword({ vectorStoreIds: ['s1'], fileIds: ['fb'] }, ['river', 'london'], 10))).toEqual(['s1/fb:0', 's1/fb:2']);
      expect(hitIds(await k.keyword(s1, ['river', 'london'], 2))).toEqual(['s1/fa:0', 's1/fb:0']);
      // Nothing to search: no store, no file, no words, no room; another store's words are not found.
      for (const [scope, terms, limit] of [[{ vectorStoreIds: [] }, ['river'], 10], [{ vectorStoreIds: ['s1'], fileIds: [] }, ['river'], 10], [s1, [], 10], [s1, ['river'], 0], [s1, ['river'], -1], [s1, ['river'], Number.NaN], [s1, ['武汉'], 10], [{ vectorStoreIds: ['nope'] }, ['river'], 10]] as const) {
        expect(await k.keyword(scope, terms, limit)).toEqual([]);
      }
      // Query syntax of either engine is a word here, never an error.
      for (const w of ['"', "'", 'AND', 'a:*', '!', '(', 'NEAR(', '\\', '*', 'x'.repeat(5000)]) expect(await k.keyword(s1, [w], 10)).toEqual([]);
      await k.replaceFile('s1', 'fq', [chunk(0, 'c++ "quoted" a:* and')]);
      expect(hitIds(await k.keyword(s1, ['c++'], 10))).toEqual(['s1/fq:0']);
      expect(hitIds(await k.keyword(s1, ['a:*'], 10))).toEqual(['s1/fq:0']);
    });

    it('chunk index: replaceFile replaces the whole file, removeFile and removeStore forget it; fileChunks pages by seq', async () => {
      const k = stores.knowledge;
      await k.replaceFile('s1', 'f', [0, 1, 2, 3, 4].map((i) => chunk(i, `word${i} common`, `text ${i}`)));
      await k.replaceFile('s1', 'g', [chunk(0, 'common other')]);
      const seqs = async (after: number | undefined, limit: number) => (await k.fileChunks('s1', 'f', after, limit)).map((c) => c.seq);
      expect(await k.fileChunks('s1', 'f', undefined, 2)).toEqual([{ seq: 0, text: 'text 0', tokens: 2 }, { seq: 1, text: 'text 1', tokens: 2 }]);
      expect(await seqs(1, 2)).toEqual([2, 3]);
      expect(await seqs(3, 10)).toEqual([4]);
      expect(await seqs(4, 10)).toEqual([]);
      expect(await seqs(undefined, 0)).toEqual([]);
      expect(await k.fileChunks('s1', 'none', undefined, 10)).toEqual([]);
      expect(await k.fileChunks('s2', 'f', undefined, 10)).toEqual([]);
      // Replaced: the old chunks and their words are gone, the new ones found.
      await k.replaceFile('s1', 'f', [chunk(0, 'fresh common', 'fresh')]);
      expect(await k.fileChunks('s1', 'f', undefined, 10)).toEqual([{ seq: 0, text: 'fresh', tokens: 2 }]);
      expect(await k.keyword({ vectorStoreIds: ['s1'] }, ['word3'], 10)).toEqual([]);
      expect(hitIds(await k.keyword({ vectorStoreIds: ['s1'] }, ['fresh'], 10))).toEqual(['s1/f:0']);
      expect(hitIds(await k.keyword({ vectorStoreIds: ['s1'] }, ['common'], 10)).sort()).toEqual(['s1/f:0', 's1/g:0']);
      await k.replaceFile('s1', 'f', []);
      expect(await k.fileChunks('s1', 'f', undefined, 10)).toEqual([]);
      await k.replaceFile('s1', 'f', [chunk(0, 'back')]);
      await k.removeFile('s1', 'f');
      await k.removeFile('s1', 'never');
      expect(await k.keyword({ vectorStoreIds: ['s1'] }, ['back'], 10)).toEqual([]);
      expect(hitIds(await k.keyword({ vectorStoreIds: ['s1'] }, ['common'], 10))).toEqual(['s1/g:0']);
      await k.removeStore('s1');
      await k.removeStore('never');
      expect(await k.keyword({ vectorStoreIds: ['s1'] }, ['common'], 10)).toEqual([]);
      // A store removed can be written again.
      await k.replaceFile('s1', 'g', [chunk(0, 'again')]);
      expect(hitIds(await k.keyword({ vectorStoreIds: ['s1'] }, ['again'], 10))).toEqual(['s1/g:0']);
    });

    it('chunk index: vectors where the backend holds them, a clear refusal changing nothing where it does not', async () => {
      const k = stores.knowledge;
      const write = k.replaceFile('v', 'f', [chunk(0, 'east', 'east', [1, 0, 0]), chunk(1, 'north', 'north', [0, 1, 0]), chunk(2, 'plain', 'plain')]);
      if (!stores.vectors) {
        await expect(write).rejects.toBeInstanceOf(VectorsUnavailableError);
        expect(await k.fileChunks('v', 'f', undefined, 10)).toEqual([]);
        await expect(k.nearest({ vectorStoreIds: ['v'] }, new Float32Array([1, 0, 0]), 5)).rejects.toBeInstanceOf(VectorsUnavailableError);
        return;
      }
      await write;
      expect(hitIds(await k.nearest({ vectorStoreIds: ['v'] }, new Float32Array([1, 0.1, 0]), 5))).toEqual(['v/f:0', 'v/f:1']);
      expect(hitIds(await k.nearest({ vectorStoreIds: ['v'], fileIds: ['other'] }, new Float32Array([1, 0, 0]), 5))).toEqual([]);
      expect(await k.nearest({ vectorStoreIds: ['v'] }, new Float32Array([0, 0, 0]), 5)).toEqual([]);
    });

    const vstore = (id: string, keyId: string | null, createdAt: number): VectorStoreRow => ({ id, keyId, name: `store ${id}`, metadata: { team: 'a' }, createdAt, lastActiveAt: createdAt, expiresAfterDays: null, expiresAt: null, embeddingModel: null, contextualHeaders: true });
    const vfile = (vectorStoreId: string, fileId: string, createdAt: number, batchId: string | null = null): VectorStoreFileRow => ({ vectorStoreId, fileId, filename: `${fileId}.txt`, keyId: 'k1', createdAt, status: 'in_progress', lastError: null, attributes: null, chunking: { maxTokens: 800, overlapTokens: 400 }, usageBytes: 0, batchId });

    it('vector stores: owners, pages, updates, files with attributes and status, batches and their cancellation, deletion', async () => {
      const v = stores.vectorStores;
      await v.create(vstore('vs_a', 'k1', 10), [vfile('vs_a', 'file-1', 10), vfile('vs_a', 'file-2', 11)]);
      await v.create(vstore('vs_b', 'k1', 20), []);
      await v.create(vstore('vs_c', 'k2', 15), []);
      await expect(v.create(vstore('vs_a', 'k1', 10), [])).rejects.toThrow();
      expect(await v.get('vs_a', 'k1')).toEqual(vstore('vs_a', 'k1', 10));
      expect(await v.get('vs_a', 'k2')).toBeUndefined();
      expect(await v.get('vs_c', undefined)).toMatchObject({ id: 'vs_c' });
      const ids = async (owner: string | undefined, q: Parameters<VectorStoreStore['list']>[1]) => {
        const p = await v.list(owner, q);
        return [p.data.map((x) => x.id), p.hasMore];
      };
      expect(await ids('k1', { limit: 1, order: 'desc' })).toEqual([['vs_b'], true]);
      expect(await ids('k1', { limit: 1, order: 'desc', after: 'vs_b' })).toEqual([['vs_a'], false]);
      expect(await ids('k1', { limit: 10, order: 'asc', before: 'vs_b' })).toEqual([['vs_a'], false]);
      expect(await ids(undefined, { limit: 10, order: 'asc' })).toEqual([['vs_a', 'vs_c', 'vs_b'], false]);
      expect(await ids('k1', { limit: 10, order: 'asc', after: 'vs_c' })).toEqual([[], false]);
      await v.update('vs_a', { name: '知识库', metadata: null, expiresAfterDays: 7, expiresAt: 1000, lastActiveAt: 500 });
      await v.setEmbeddingModel('vs_a', 'loop/emb');
      expect(await v.get('vs_a', undefined)).toMatchObject({ name: '知识库', metadata: null, expiresAfterDays: 7, expiresAt: 1000, lastActiveAt: 500, embeddingModel: 'loop/emb' });

      // A file already in the store is left as it is; a batch brings its files.
      await v.addFiles([{ ...vfile('vs_a', 'file-1', 99), filename: 'changed' }]);
      expect((await v.getFile('vs_a', 'file-1'))!.filename).toBe('file-1.txt');
      const batch: FileBatchRow = { id: 'vsfb_1', vectorStoreId: 'vs_a', createdAt: 30, cancelledAt: null };
      await v.addFiles([vfile('vs_a', 'file-3', 30, 'vsfb_1'), vfile('vs_a', 'file-4', 31, 'vsfb_1')], batch);
      expect(await v.getBatch('vs_a', 'vsfb_1')).toEqual(batch);
      expect(await v.getBatch('vs_b', 'vsfb_1')).toBeUndefined();
      expect(await v.setAttributes('vs_a', 'file-2', { lang: 'zh', year: 2024, draft: false })).toBe(true);
      expect(await v.setAttributes('vs_a', 'nope', { a: 1 })).toBe(false);
      expect(await v.finish('vs_a', 'file-1', { status: 'completed', usageBytes: 120 })).toBe(true);
      expect(await v.finish('vs_a', 'file-2', { status: 'failed', error: { code: 'invalid_file', message: 'no text' } })).toBe(true);
      expect(await v.getFile('vs_a', 'file-2')).toMatchObject({ status: 'failed', lastError: { code: 'invalid_file', message: 'no text' }, attributes: { lang: 'zh', year: 2024, draft: false } });
      expect(await v.cancelBatch('vs_a', 'vsfb_1', 40)).toEqual(expect.arrayContaining(['file-3', 'file-4']));
      expect(await v.cancelBatch('vs_a', 'vsfb_1', 50)).toEqual([]);
      expect(await v.getBatch('vs_a', 'vsfb_1')).toMatchObject({ cancelledAt: 40 });
      expect(await v.batchCounts('vsfb_1')).toEqual({ in_progress: 0, completed: 0, failed: 0, cancelled: 2, total: 2 });
      const counts = await v.counts(['vs_a', 'vs_b', 'nope']);
      expect([...counts.keys()]).toEqual(['vs_a']);
      expect(counts.get('vs_a')).toEqual({ in_progress: 0, completed: 1, failed: 1, cancelled: 2, total: 4, usageBytes: 120 });
      expect((await v.searchable(['vs_a', 'vs_c'])).map((f) => f.fileId)).toEqual(['file-1']);

      const files = async (q: Parameters<VectorStoreStore['listFiles']>[1]) => {
        const p = await v.listFiles('vs_a', q);
        return [p.data.map((x) => x.fileId), p.hasMore];
      };
      expect(await files({ limit: 2, order: 'asc' })).toEqual([['file-1', 'file-2'], true]);
      expect(await files({ limit: 2, order: 'asc', after: 'file-2' })).toEqual([['file-3', 'file-4'], false]);
      expect(await files({ limit: 10, order: 'desc', status: 'cancelled' })).toEqual([['file-4', 'file-3'], false]);
      expect(await files({ limit: 10, order: 'asc', batchId: 'vsfb_1', before: 'file-4' })).toEqual([['file-3'], false]);
      expect(await files({ limit: 10, order: 'asc', after: 'unknown' })).toEqual([[], false]);

      expect(await v.removeFile('vs_a', 'file-4')).toBe(true);
      expect(await v.removeFile('vs_a', 'file-4')).toBe(false);
      expect(await v.delete('vs_a', 'k2')).toBe(false);
      expect(await v.delete('vs_a', 'k1')).toBe(true);
      expect(await v.delete('vs_a', 'k1')).toBe(false);
      expect(await v.getFile('vs_a', 'file-1')).toBeUndefined();
      expect(await v.getBatch('vs_a', 'vsfb_1')).toBeUndefined();
      expect(await v.batchCounts('vsfb_1')).toMatchObject({ total: 0 });
    });

    it('vector stores: the job queue claims each job once while its lease runs, oldest first; renew and finish only a job still in progress', async () => {
      const v = stores.vectorStores;
      await v.create(vstore('vs_q', null, 1), [vfile('vs_q', 'j3', 30), vfile('vs_q', 'j1', 10), vfile('vs_q', 'j2', 20)]);
      await v.addFiles([vfile('vs_q', 'jb', 40, 'vsfb_q')], { id: 'vsfb_q', vectorStoreId: 'vs_q', createdAt: 40, cancelledAt: null });
      const t = 1_000_000;
      const claimed = async (now: number, until: number, limit: number) => (await v.claim(now, until, limit)).map((f) => f.fileId).sort();
      expect(await claimed(t, t + 100, 2)).toEqual(['j1', 'j2']);
      // Leased: not claimed again until the lease has passed.
      expect(await claimed(t + 1, t + 101, 10)).toEqual(['j3', 'jb']);
      expect(await v.claim(t + 50, t + 150, 10)).toEqual([]);
      expect(await v.renew('vs_q', 'j1', t + 500)).toBe(true);
      expect(await v.renew('vs_q', 'nope', t + 500)).toBe(false);
      expect(await v.finish('vs_q', 'j2', { status: 'completed', usageBytes: 5 })).toBe(true);
      expect(await v.finish('vs_q', 'j2', { status: 'failed', error: { code: 'server_error', message: 'x' } })).toBe(false);
      expect(await v.renew('vs_q', 'j2', t + 500)).toBe(false);
      expect(await v.cancelBatch('vs_q', 'vsfb_q', 5)).toEqual(['jb']);
      expect(await v.finish('vs_q', 'jb', { status: 'completed', usageBytes: 5 })).toBe(false);
      // Past the leases: j3 (its lease ran out) comes back, j1 (renewed) not yet; done and cancelled jobs never.
      expect(await claimed(t + 200, t + 300, 10)).toEqual(['j3']);
      expect(await claimed(t + 600, t + 700, 1)).toEqual(['j1']);
      expect(await claimed(t + 600, t + 700, 10)).toEqual(['j3']);
      expect(await claimed(t + 650, t + 700, 10)).toEqual([]);
      expect((await v.getFile('vs_q', 'j2'))!.status).toBe('completed');
      // Two claims at once never share a job.
      const [a, b] = await Promise.all([v.claim(t + 800, t + 900, 10), v.claim(t + 800, t + 900, 10)]);
      expect([...a, ...b].map((f) => f.fileId).sort()).toEqual(['j1', 'j3']);
    });

    it('judgements: outcomes in the order cast; listed newest first by owner and model, paged', async () => {
      const j = stores.judgements;
      const base = { ts: 1_700_000_000_000, prompt: null, answerA: null, answerB: null };
      const first = await j.addJudgement({ ...base, modelA: 'a', modelB: 'b', winner: 'a', keyId: null });
      await j.addJudgement({ ...base, modelA: 'b', modelB: 'c', winner: 'tie', keyId: 'k1', prompt: '你好 \u0000', answerA: 'A', answerB: '' });
      await j.addJudgement({ ...base, modelA: 'c', modelB: 'a', winner: 'bad', keyId: 'k1' });
      const last = await j.addJudgement({ ...base, modelA: 'a', modelB: 'c', winner: 'b', keyId: 'k2' });
      expect(first.id).toMatch(/^jdg_\d+$/);
      expect(await j.judgementOutcomes()).toEqual([
        { modelA: 'a', modelB: 'b', winner: 'a' },
        { modelA: 'b', modelB: 'c', winner: 'tie' },
        { modelA: 'c', modelB: 'a', winner: 'bad' },
        { modelA: 'a', modelB: 'c', winner: 'b' },
      ]);
      const all = await j.listJudgements({ owner: undefined, limit: 10 });
      expect(all.hasMore).toBe(false);
      expect(all.data.map((x) => x.id)[0]).toBe(last.id);
      expect(all.data.map((x) => x.winner)).toEqual(['b', 'bad', 'tie', 'a']);
      // The text as stored: NUL kept as U+FFFD where the backend cannot hold it, the rest as sent.
      expect(all.data[2]).toMatchObject({ keyId: 'k1', modelA: 'b', modelB: 'c', answerA: 'A', answerB: '', ts: base.ts });
      expect(all.data[2]!.prompt).toMatch(/^你好 (\u0000|\uFFFD)$/);
      const k1 = await j.listJudgements({ owner: 'k1', limit: 1 });
      expect([k1.data.map((x) => x.winner), k1.hasMore]).toEqual([['bad'], true]);
      const k1next = await j.listJudgements({ owner: 'k1', limit: 1, after: k1.data[0]!.id });
      expect([k1next.data.map((x) => x.winner), k1next.hasMore]).toEqual([['tie'], false]);
      expect((await j.listJudgements({ owner: undefined, model: 'c', limit: 10 })).data.map((x) => x.winner)).toEqual(['b', 'bad', 'tie']);
      expect((await j.listJudgements({ owner: 'k2', model: 'b', limit: 10 })).data).toEqual([]);
      expect((await j.listJudgements({ owner: 'nobody', limit: 10 })).data).toEqual([]);
      expect((await j.listJudgements({ owner: undefined, limit: 10, after: 'jdg_x' })).data).toEqual([]);
    });
  });
}

storeContract('SQLite', openSQLite);
storeContract('PostgreSQL', openPostgres);
