/**
 * What only the PostgreSQL store has to get right: migrations applied once when replicas start
 * together (the advisory lock), a newer schema refused untouched, usage batches from several
 * replicas — a journal replayed twice included — counted exactly once in the hourly totals, and
 * the daily totals that month-long queries read kept equal to the hourly ones, pruning included.
 * The port contract itself runs against both backends in store-ports.test.ts.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseSchemaError, MIGRATION_LOCK, openPostgresStores, SCHEMA_VERSION } from '../src/store/postgres/index.js';
import type { UsageGroup, UsageTotalsRow } from '../src/usage/ports.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import type { UsageRecord } from '../src/usage/record.js';
import { createTestDatabase } from './helpers/pg.js';
import type { TestDatabase } from './helpers/pg.js';

let db: TestDatabase;
let raw: pg.Client;
const opened: PostgresStores[] = [];

async function open(o: { deleteBatch?: number } = {}): Promise<PostgresStores> {
  const s = await openPostgresStores(db.url, o);
  opened.push(s);
  return s;
}

beforeEach(async () => {
  db = await createTestDatabase();
  raw = new pg.Client({ connectionString: db.url });
  await raw.connect();
});

afterEach(async () => {
  await raw.end();
  await Promise.all(opened.splice(0).map((s) => s.close()));
  await db.drop();
});

async function tables(): Promise<string[]> {
  const { rows } = await raw.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  return rows.map((r) => r.tablename);
}

async function versions(): Promise<number[]> {
  return (await raw.query<{ version: number }>('SELECT version FROM baimo_schema_migrations ORDER BY version')).rows.map((r) => r.version);
}

describe('migrations', () => {
  it('three replicas opening an empty database at once apply each migration once', async () => {
    const stores = await Promise.all([open(), open(), open()]);
    expect(stores.map((s) => s.migrated).sort()).toEqual([0, 0, SCHEMA_VERSION]);
    expect(await versions()).toEqual(Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1));
    expect(await tables()).toEqual(expect.arrayContaining(['usage', 'usage_hourly', 'usage_daily', 'request_bodies', 'request_traces', 'keys', 'teams', 'settings', 'responses', 'response_items', 'arena_votes']));
    // Opening an up-to-date database changes nothing.
    expect((await open()).migrated).toBe(0);
    expect(await versions()).toHaveLength(SCHEMA_VERSION);
  });

  it('waits for the replica holding the migration lock', async () => {
    await raw.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    let done = false;
    const opening = open().then((s) => ((done = true), s));
    await new Promise((r) => setTimeout(r, 300));
    expect(done).toBe(false);
    expect(await tables()).toEqual([]);
    await raw.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    expect((await opening).migrated).toBe(SCHEMA_VERSION);
  });

  it('refuses a schema newer than its own, naming both versions, changing nothing and hiding the password', async () => {
    await open();
    await raw.query('INSERT INTO baimo_schema_migrations (version) VALUES ($1)', [SCHEMA_VERSION + 1]);
    const before = await tables();
    const withPassword = db.url.replace('postgres@', 'postgres:s3cret@');
    const err = await openPostgresStores(withPassword).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DatabaseSchemaError);
    expect((err as Error).message).toContain(`has schema version ${SCHEMA_VERSION + 1}, newer than this Baimo's (${SCHEMA_VERSION}): a newer Baimo wrote it.`);
    expect((err as Error).message).toContain('nothing was changed');
    expect((err as Error).message).not.toContain('s3cret');
    expect(await tables()).toEqual(before);
    expect(await versions()).toEqual([...Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), SCHEMA_VERSION + 1]);
    // The lock was released: another (older) replica is refused too rather than left waiting.
    await expect(openPostgresStores(db.url)).rejects.toBeInstanceOf(DatabaseSchemaError);
  });
});

const HOUR = 3_600_000;

function record(i: number, o: Partial<UsageRecord> = {}): UsageRecord {
  return {
    requestId: `r${i}`,
    ts: Date.UTC(2026, 0, 1) + (i % 5) * HOUR + i,
    endpoint: 'chat',
    model: `m${i % 3}`,
    provider: i % 4 === 0 ? undefined : 'p',
    upstreamModel: 'u',
    deployment: i % 4 === 0 ? undefined : 'p/u',
    attempt: 1,
    final: true,
    fallbackFrom: undefined,
    keyId: `k${i % 7}`,
    teamId: i % 2 ? 't' : undefined,
    costUsd: 0.001 * (i % 11),
    stream: i % 2 === 0,
    status: i % 13 === 0 ? 500 : 200,
    errorKind: undefined,
    usage: { inputTokens: i % 17, outputTokens: i % 19 },
    latencyMs: 10 + (i % 23),
    ttftMs: i % 3 ? 5 : undefined,
    ...o,
  };
}

/** The hourly totals recomputed from the records, to compare with those the writes kept. */
const FROM_RECORDS = `SELECT ts - ts % 3600000 AS hour, COALESCE(key_id, '') AS key_id, COALESCE(team_id, '') AS team_id, model,
    COALESCE(provider, '') AS provider, COALESCE(deployment, '') AS deployment, status, final, COUNT(*) AS requests,
    COALESCE(SUM(input_tokens), 0) AS input_tokens, COALESCE(SUM(output_tokens), 0) AS output_tokens, round(COALESCE(SUM(cost_usd), 0)::numeric, 9) AS cost_usd,
    SUM(latency_ms) AS latency_ms_sum, COALESCE(SUM(ttft_ms), 0) AS ttft_ms_sum, COUNT(ttft_ms) AS ttft_count
  FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`;
const KEPT = `SELECT hour, key_id, team_id, model, provider, deployment, status, final, requests, input_tokens, output_tokens,
    round(cost_usd::numeric, 9) AS cost_usd, latency_ms_sum, ttft_ms_sum, ttft_count
  FROM usage_hourly ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`;

describe('usage batches', () => {
  it('three replicas writing at once, one replaying another’s journal twice, count every record once', async () => {
    const [a, b, c] = await Promise.all([open(), open(), open()]);
    const batches = (from: number) => Array.from({ length: 10 }, (_, j) => Array.from({ length: 150 }, (_, i) => record(from + j * 150 + i)));
    const journalA = batches(0);
    const lines = (batch: UsageRecord[]) => batch.map((r) => JSON.stringify(r)).join('\n');
    // Every replica's batches touch the same hourly rows: concurrent upserts must neither deadlock nor lose a sum.
    await Promise.all([
      ...journalA.map((batch) => a!.sink.writeUsageLines(lines(batch))),
      ...batches(1500).map((batch) => b!.sink.writeUsageLines(lines(batch))),
      ...journalA.map((batch) => c!.usage.writeUsage(batch)),
    ]);
    await Promise.all(journalA.map((batch) => c!.sink.writeUsageLines(lines(batch))));

    expect(Number((await raw.query('SELECT COUNT(*) AS n FROM usage')).rows[0].n)).toBe(3000);
    const totals = await a!.usage.totals({ from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), groupBy: [], includeAttempts: true, limit: 1 });
    expect(totals[0]!.requests).toBe(3000);
    expect(totals[0]!.input_tokens).toBe(Array.from({ length: 3000 }, (_, i) => i % 17).reduce((x, y) => x + y, 0));
    expect((await raw.query(KEPT)).rows).toEqual((await raw.query(FROM_RECORDS)).rows);
  });

  it('a record repeated inside one batch is stored and counted once; NUL in a captured body does not fail the batch', async () => {
    const s = await open();
    const r = record(1, { bodies: { request: 'a\u0000b', response: '{}' }, trace: { steps: ['x\u0000'] } });
    await s.usage.writeUsage([r, r, record(2)]);
    expect((await s.usage.requests({ limit: 10 })).map((x) => x.request_id)).toEqual(['r2', 'r1']);
    expect((await raw.query(KEPT)).rows).toEqual((await raw.query(FROM_RECORDS)).rows);
    expect(await s.usage.bodies('r1')).toEqual({ request: 'a\uFFFDb', response: '{}' });
    expect(await s.usage.trace('r1')).toEqual({ steps: ['x\u0000'] });
  });

  it('the request log filters and the totals are answered through their indexes', async () => {
    const s = await open();
    // A rare key, model and error among many records: what a filtered page over a big table looks like.
    const rare = (i: number) => (i % 1000 === 7 ? { keyId: 'rare', model: 'rare', status: 503 } : { status: 200 });
    // More records than one statement takes: written in chunks.
    await s.usage.writeUsage(Array.from({ length: 6000 }, (_, i) => record(i, rare(i))));
    expect((await raw.query(KEPT)).rows).toEqual((await raw.query(FROM_RECORDS)).rows);
    expect((await s.usage.totals({ from: 0, to: Date.UTC(2027, 0), groupBy: [], includeAttempts: true, limit: 1 }))[0]!.requests).toBe(6000);
    await raw.query('ANALYZE');
    const plan = async (sql: string) => JSON.stringify((await raw.query(`EXPLAIN (FORMAT JSON) ${sql}`)).rows);
    expect(await plan("SELECT * FROM usage WHERE final = 1 AND key_id = 'rare' ORDER BY id DESC LIMIT 50")).toContain('usage_log_key');
    expect(await plan("SELECT * FROM usage WHERE final = 1 AND model = 'rare' AND id < 5000 ORDER BY id DESC LIMIT 50")).toContain('usage_log_model');
    expect(await plan('SELECT * FROM usage WHERE final = 1 AND status >= 400 ORDER BY id DESC LIMIT 50')).toContain('usage_log_errors');
    expect(await plan('SELECT * FROM usage WHERE final = 1 AND status = 503 ORDER BY id DESC LIMIT 50')).toMatch(/usage_log_status|usage_log_errors/);
    expect(await plan("SELECT SUM(cost_usd) FROM usage_hourly WHERE key_id = 'rare' AND hour >= 0")).toContain('usage_hourly_key');
  });
});

const DAY = 86_400_000;

/** The daily totals as the hourly ones sum per day, and as the database keeps them. */
const DAILY_FROM_HOURLY = `SELECT hour - hour % 86400000 AS day, key_id, team_id, model, provider, deployment, status, final, SUM(requests) AS requests,
    SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, round(SUM(cost_usd)::numeric, 9) AS cost_usd,
    round(SUM(latency_ms_sum)::numeric, 6) AS latency_ms_sum, round(SUM(ttft_ms_sum)::numeric, 6) AS ttft_ms_sum, SUM(ttft_count) AS ttft_count
  FROM usage_hourly GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`;
const DAILY_KEPT = `SELECT day, key_id, team_id, model, provider, deployment, status, final, requests, input_tokens, output_tokens,
    round(cost_usd::numeric, 9) AS cost_usd, round(latency_ms_sum::numeric, 6) AS latency_ms_sum, round(ttft_ms_sum::numeric, 6) AS ttft_ms_sum, ttft_count
  FROM usage_daily ORDER BY 1, 2, 3, 4, 5, 6, 7, 8`;

/** Records over five days from `t0` (six calendar days from a morning), every 17 minutes and a few ms, with labels and attempts that vary. */
function days(t0: number, n = 5 * 24 * 60 / 17): UsageRecord[] {
  return Array.from({ length: Math.floor(n) }, (_, i) => record(i, { ts: t0 + i * 17 * 60_000 + (i % 1000), attempt: 1 + (i % 2), final: i % 5 !== 0 }));
}

/**
 * What totals must answer, from the records themselves: a record counts when its hour starts in
 * [from, to) (the hourly totals' rule); only the columns that identify a row and its sums.
 */
function expected(records: UsageRecord[], from: number, to: number, groupBy: UsageGroup[], o: { includeAttempts: boolean; keyId?: string }) {
  const out = new Map<string, { labels: unknown[]; requests: number; errors: number; input: number; cost: number; latency: number }>();
  for (const r of records) {
    const hour = r.ts - (r.ts % HOUR);
    if (hour < from || hour >= to || (!o.includeAttempts && !r.final) || (o.keyId && r.keyId !== o.keyId)) continue;
    const labels = groupBy.map((g) => (g === 'day' ? new Date(hour).toISOString().slice(0, 10) : g === 'key' ? r.keyId ?? null : g === 'model' ? r.model : r.status));
    const k = JSON.stringify(labels);
    const row = out.get(k) ?? { labels, requests: 0, errors: 0, input: 0, cost: 0, latency: 0 };
    row.requests++;
    if (r.status >= 400) row.errors++;
    row.input += r.usage?.inputTokens ?? 0;
    row.cost += r.costUsd ?? 0;
    row.latency += r.latencyMs;
    out.set(k, row);
  }
  return [...out.values()]
    .sort((a, b) => (JSON.stringify(a.labels) < JSON.stringify(b.labels) ? -1 : 1))
    .map((r) => [...r.labels, r.requests, r.errors, r.input, r.cost.toFixed(9), (r.latency / r.requests).toFixed(6)]);
}

/** A totals answer in the shape `expected` gives (floats rounded: sums in another order differ in the last bits). */
function shaped(rows: UsageTotalsRow[], groupBy: UsageGroup[]) {
  return rows
    .filter((r) => r.requests !== 0)
    .map((r) => [...groupBy.map((g) => r[g]), r.requests, r.errors, r.input_tokens, (r.cost_usd as number).toFixed(9), (r.avg_latency_ms as number).toFixed(6)])
    .sort((a, b) => (JSON.stringify(a.slice(0, groupBy.length)) < JSON.stringify(b.slice(0, groupBy.length)) ? -1 : 1));
}

describe('daily totals', () => {
  it('follow every hourly write, and totals over whole days and stray hours answer as the records do', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const t0 = Date.UTC(2026, 2, 1, 7, 13);
    const records = days(t0);
    const lines = (batch: UsageRecord[]) => batch.map((r) => JSON.stringify(r)).join('\n');
    const batches = Array.from({ length: Math.ceil(records.length / 40) }, (_, i) => records.slice(i * 40, (i + 1) * 40));
    // Two replicas, one replaying the other's batches: inserts and updates of the hourly totals, concurrently.
    await Promise.all([...batches.map((x) => a!.usage.writeUsage(x)), ...batches.map((x) => b!.sink.writeUsageLines(lines(x)))]);
    expect((await raw.query(DAILY_KEPT)).rows).toEqual((await raw.query(DAILY_FROM_HOURLY)).rows);
    expect(Number((await raw.query('SELECT COUNT(DISTINCT day) AS n FROM usage_daily')).rows[0].n)).toBe(6);

    const d0 = Date.UTC(2026, 2, 1);
    const ranges: [string, number, number][] = [
      // Mid-day to mid-day, neither end on an hour: part of a day, three whole days, part of a day.
      ['mid-day to mid-day', d0 + 5 * HOUR + 1234, d0 + 3 * DAY + 17 * HOUR + 99],
      ['whole days only', d0 + DAY, d0 + 4 * DAY],
      ['one whole day and hours after it', d0 + DAY, d0 + 2 * DAY + 3 * HOUR],
      ['less than a day across midnight', d0 + 20 * HOUR, d0 + DAY + 4 * HOUR],
      ['beyond the records at both ends', d0 - 10 * DAY, d0 + 30 * DAY + HOUR / 2],
    ];
    const shapes: [UsageGroup[], { includeAttempts: boolean; keyId?: string }][] = [
      [[], { includeAttempts: false }],
      [[], { includeAttempts: true }],
      [['day'], { includeAttempts: false }],
      [['key', 'model'], { includeAttempts: true }],
      [['status'], { includeAttempts: false, keyId: 'k3' }],
      [['day', 'model'], { includeAttempts: true, keyId: 'k5' }],
    ];
    for (const [what, from, to] of ranges) {
      for (const [groupBy, o] of shapes) {
        const rows = await a!.usage.totals({ from, to, groupBy, limit: 1000, ...o });
        expect([what, groupBy, o, shaped(rows, groupBy)]).toEqual([what, groupBy, o, expected(records, from, to, groupBy, o)]);
      }
    }
    // A day's group reads its whole-day row where the range holds the day, its hours otherwise: the same figures.
    const byDay = await a!.usage.totals({ from: d0 + 5 * HOUR, to: d0 + 4 * DAY, groupBy: ['day'], includeAttempts: true, limit: 10 });
    const byHour = await a!.usage.totals({ from: d0 + 5 * HOUR, to: d0 + 4 * DAY, groupBy: ['day', 'hour'], includeAttempts: true, limit: 1000 });
    expect(byDay.map((r) => [r.day, r.requests])).toEqual(
      ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04'].map((d) => [d, byHour.filter((h) => h.day === d).reduce((n, h) => n + (h.requests as number), 0)]),
    );
  });

  it('the migration fills them from the hourly totals a database already has', async () => {
    const s = await open();
    await s.usage.writeUsage(days(Date.UTC(2026, 2, 1, 7, 13), 600));
    // As a database of the previous schema: no daily totals, then the migration applied again.
    await raw.query('DROP TABLE usage_daily; DROP FUNCTION usage_daily_follow CASCADE');
    await raw.query('DELETE FROM baimo_schema_migrations WHERE version = $1', [SCHEMA_VERSION]);
    expect((await open()).migrated).toBe(1);
    expect((await raw.query(DAILY_KEPT)).rows).toEqual((await raw.query(DAILY_FROM_HOURLY)).rows);
    expect((await raw.query(DAILY_KEPT)).rows.length).toBeGreaterThan(10);
  });

  it('pruning takes old hours out of them batch by batch and drops the days wholly gone', async () => {
    const s = await open({ deleteBatch: 7 });
    const records = days(Date.UTC(2026, 2, 1, 7, 13));
    await s.usage.writeUsage(records);
    const d0 = Date.UTC(2026, 2, 1);
    const cut = d0 + 2 * DAY + 5 * HOUR + HOUR / 2;
    const pruned = await s.usage.prune(cut, undefined);
    expect(pruned.usage).toBe(records.filter((r) => r.ts < cut).length);
    expect((await raw.query(DAILY_KEPT)).rows).toEqual((await raw.query(DAILY_FROM_HOURLY)).rows);
    // The first two days are gone; the third keeps the hours from 05:00 (partly kept) on.
    const left = (await raw.query('SELECT day, SUM(requests) AS n FROM usage_daily GROUP BY day ORDER BY day')).rows;
    expect(left.map((r) => Number(r.day))).toEqual([d0 + 2 * DAY, d0 + 3 * DAY, d0 + 4 * DAY, d0 + 5 * DAY]);
    const kept = records.filter((r) => r.ts - (r.ts % HOUR) + HOUR > cut);
    expect(Number(left[0].n)).toBe(kept.filter((r) => r.ts < d0 + 3 * DAY).length);
    // A month's query (whole days from the daily totals) counts what pruning left and nothing else.
    const o = { includeAttempts: true };
    const rows = await s.usage.totals({ from: d0 - 10 * DAY, to: d0 + 20 * DAY, groupBy: ['day'], limit: 100, ...o });
    expect(shaped(rows, ['day'])).toEqual(expected(kept, d0 - 10 * DAY, d0 + 20 * DAY, ['day'], o));
  });
});
