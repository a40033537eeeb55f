/**
 * What only the PostgreSQL store has to get right: migrations applied once when replicas start
 * together (the advisory lock), a newer schema refused untouched, usage batches from several
 * replicas — a journal replayed twice included — counted exactly once in the hourly totals, and
 * the rollups that month-long queries read kept equal to the hourly totals, pruning included.
 * The port contract itself runs against both backends in store-ports.test.ts.
 */
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DatabaseSchemaError, MIGRATION_LOCK, openPostgresStores, SCHEMA_VERSION } from '../src/store/postgres/index.js';
import type { UsageGroup, UsageTotalsRow } from '../src/usage/ports.js';
import type { PostgresStores } from '../src/store/postgres/index.js';
import { MIGRATIONS } from '../src/store/postgres/schema.js';
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
    expect(await tables()).toEqual(expect.arrayContaining(['usage', 'usage_hourly', 'usage_rollup', 'usage_rollup_key', 'usage_rollup_model', 'request_bodies', 'request_traces', 'keys', 'teams', 'settings', 'responses', 'response_items', 'eval_runs', 'eval_results', 'eval_judgements']));
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
    expect(await plan("SELECT * FROM usage WHERE final = 1 AND key_id = 'k1' AND model = 'rare' ORDER BY id DESC LIMIT 50")).toContain('usage_log_key_model');
    expect(await plan('SELECT * FROM usage WHERE final = 1 AND status >= 400 ORDER BY id DESC LIMIT 50')).toContain('usage_log_errors');
    expect(await plan('SELECT * FROM usage WHERE final = 1 AND status = 503 ORDER BY id DESC LIMIT 50')).toMatch(/usage_log_status|usage_log_errors/);
    expect(await plan("SELECT SUM(cost_usd) FROM usage_hourly WHERE key_id = 'rare' AND hour >= 0")).toContain('usage_hourly_key');
  });
});

const DAY = 86_400_000;
const WEEK = 7 * DAY;

/** The rollups (schema.ts, migration 6): their labels and spans. */
const ROLLUPS = [
  { table: 'usage_rollup', labels: 'key_id, team_id, model, provider, deployment, status, final', spans: [6 * HOUR, DAY, WEEK] },
  { table: 'usage_rollup_key', labels: 'key_id, team_id, model, status, final', spans: [HOUR, 6 * HOUR, DAY, WEEK] },
  { table: 'usage_rollup_model', labels: 'model, provider, status, final', spans: [HOUR, DAY] },
];

/** Each rollup as the database keeps it, and as the hourly totals sum per span (floats rounded: sums in another order differ in the last bits). */
async function rollups(): Promise<{ kept: unknown[]; fromHourly: unknown[] }[]> {
  return Promise.all(
    ROLLUPS.map(async ({ table, labels, spans }) => {
      const order = Array.from({ length: labels.split(',').length + 2 }, (_, i) => i + 1).join(', ');
      const kept = await raw.query(
        `SELECT span, start, ${labels}, requests, input_tokens, output_tokens, ttft_count, round(cost_usd::numeric, 9) AS cost_usd,
           round(latency_ms_sum::numeric, 6) AS latency_ms_sum, round(ttft_ms_sum::numeric, 6) AS ttft_ms_sum
         FROM ${table} ORDER BY ${order}`,
      );
      const fromHourly = await raw.query(
        `SELECT s.span, hour - hour % s.span AS start, ${labels}, SUM(requests) AS requests, SUM(input_tokens) AS input_tokens,
           SUM(output_tokens) AS output_tokens, SUM(ttft_count) AS ttft_count, round(SUM(cost_usd)::numeric, 9) AS cost_usd,
           round(SUM(latency_ms_sum)::numeric, 6) AS latency_ms_sum, round(SUM(ttft_ms_sum)::numeric, 6) AS ttft_ms_sum
         FROM usage_hourly CROSS JOIN unnest($1::int8[]) AS s (span) GROUP BY ${order} ORDER BY ${order}`,
        [spans],
      );
      return { kept: kept.rows, fromHourly: fromHourly.rows };
    }),
  );
}

/** The first epoch week (the rollups' week boundary) after 2026-03-01: records start three days before it. */
const W0 = Math.ceil(Date.UTC(2026, 2, 1) / WEEK) * WEEK;

/** Records over twelve days from three days before W0's morning, every 17 minutes and a few ms, with labels and attempts that vary. */
function days(n = (12 * 24 * 60) / 17): UsageRecord[] {
  const t0 = W0 - 3 * DAY + 7 * HOUR + 13 * 60_000;
  return Array.from({ length: Math.floor(n) }, (_, i) => record(i, { ts: t0 + i * 17 * 60_000 + (i % 1000), attempt: 1 + (i % 2), final: i % 5 !== 0 }));
}

type Shape = { groupBy: UsageGroup[]; includeAttempts: boolean; keyId?: string; model?: string };

/**
 * What totals must answer, from the records themselves: a record counts when its hour starts in
 * [from, to) (the hourly totals' rule); the columns that identify a row and its sums.
 */
function expected(records: UsageRecord[], from: number, to: number, o: Shape) {
  const label = (g: UsageGroup, r: UsageRecord, hour: number): unknown => {
    switch (g) {
      case 'day': return new Date(hour).toISOString().slice(0, 10);
      case 'hour': return `${new Date(hour).toISOString().slice(0, 13)}:00:00Z`;
      case 'key': return r.keyId ?? null;
      case 'team': return r.teamId ?? null;
      case 'model': return r.model;
      case 'provider': return r.provider ?? null;
      case 'deployment': return r.deployment ?? null;
      case 'status': return r.status;
    }
  };
  const out = new Map<string, { labels: unknown[]; requests: number; errors: number; input: number; cost: number; latency: number }>();
  for (const r of records) {
    const hour = r.ts - (r.ts % HOUR);
    if (hour < from || hour >= to || (!o.includeAttempts && !r.final) || (o.keyId && r.keyId !== o.keyId) || (o.model && r.model !== o.model)) continue;
    const labels = o.groupBy.map((g) => label(g, r, hour));
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
    .map((r) => [...r.labels, r.requests, r.errors, r.input, r.cost.toFixed(9), (r.latency / r.requests).toFixed(6)])
    .sort((a, b) => (JSON.stringify(a.slice(0, o.groupBy.length)) < JSON.stringify(b.slice(0, o.groupBy.length)) ? -1 : 1));
}

/** A totals answer in the shape `expected` gives. */
function shaped(rows: UsageTotalsRow[], groupBy: UsageGroup[]) {
  return rows
    .filter((r) => r.requests !== 0)
    .map((r) => [...groupBy.map((g) => r[g]), r.requests, r.errors, r.input_tokens, (r.cost_usd as number).toFixed(9), (r.avg_latency_ms as number).toFixed(6)])
    .sort((a, b) => (JSON.stringify(a.slice(0, groupBy.length)) < JSON.stringify(b.slice(0, groupBy.length)) ? -1 : 1));
}

/** Groupings and filters that read each rollup (model; key; every label) at each level, cut to the time grouped by. */
const SHAPES: Shape[] = [
  { groupBy: [], includeAttempts: false },
  { groupBy: ['day'], includeAttempts: false },
  { groupBy: ['model'], includeAttempts: true },
  { groupBy: ['provider', 'status'], includeAttempts: true, model: 'm1' },
  { groupBy: ['hour'], includeAttempts: false },
  { groupBy: [], includeAttempts: true, keyId: 'k3' },
  { groupBy: ['key', 'model'], includeAttempts: true },
  { groupBy: ['team', 'status'], includeAttempts: false },
  { groupBy: ['day', 'model'], includeAttempts: true, keyId: 'k5' },
  { groupBy: ['hour', 'key'], includeAttempts: false },
  { groupBy: ['deployment'], includeAttempts: false },
  { groupBy: ['provider'], includeAttempts: true, keyId: 'k2' },
  { groupBy: ['day', 'deployment'], includeAttempts: false, model: 'm2' },
];

describe('usage rollups', () => {
  it('follow every hourly write, and totals over weeks, days, quarter-days and stray hours answer as the records do', async () => {
    const [a, b] = await Promise.all([open(), open()]);
    const records = days();
    const lines = (batch: UsageRecord[]) => batch.map((r) => JSON.stringify(r)).join('\n');
    const batches = Array.from({ length: Math.ceil(records.length / 40) }, (_, i) => records.slice(i * 40, (i + 1) * 40));
    // Two replicas, one replaying the other's batches: inserts and updates of the hourly totals, concurrently.
    await Promise.all([...batches.map((x) => a!.usage.writeUsage(x)), ...batches.map((x) => b!.sink.writeUsageLines(lines(x)))]);
    for (const r of await rollups()) expect(r.kept).toEqual(r.fromHourly);
    expect((await raw.query('SELECT DISTINCT span FROM usage_rollup ORDER BY span')).rows.map((r) => Number(r.span))).toEqual([6 * HOUR, DAY, WEEK]);

    const ranges: [string, number, number][] = [
      // Neither end on an hour: stray hours, quarter-days and days either side of a whole week.
      ['mid-week to mid-week', W0 - 2 * DAY + 5 * HOUR + 1234, W0 + 9 * DAY + 17 * HOUR + 99],
      ['mid-day to mid-day', W0 + 5 * HOUR + 1234, W0 + 3 * DAY + 17 * HOUR + 99],
      ['whole days only', W0 - DAY, W0 + 3 * DAY],
      ['one week exactly', W0, W0 + WEEK],
      ['less than a day across midnight', W0 + 20 * HOUR, W0 + DAY + 4 * HOUR],
      ['within one hour', W0 + HOUR + 5, W0 + 2 * HOUR - 5],
      ['beyond the records at both ends', W0 - 10 * DAY, W0 + 30 * DAY + HOUR / 2],
    ];
    for (const [what, from, to] of ranges) {
      for (const o of SHAPES) {
        const rows = await a!.usage.totals({ from, to, limit: 10_000, ...o });
        expect([what, o, shaped(rows, o.groupBy)]).toEqual([what, o, expected(records, from, to, o)]);
      }
    }
  });

  it('the migration fills them from the hourly totals a database already has', async () => {
    const s = await open();
    await s.usage.writeUsage(days(600));
    // As a database of the schema before the rollups (migration 6): nothing of 6 or later, then
    // those migrations applied again.
    await raw.query('DROP TABLE usage_rollup, usage_rollup_key, usage_rollup_model, files, knowledge_chunks, knowledge_index_stats, knowledge_index_terms, knowledge_ingest_turns, vector_store_file_batches, vector_store_files, vector_stores, eval_run_models, eval_results, eval_runs; DROP FUNCTION usage_rollup_follow CASCADE');
    await raw.query('DROP INDEX usage_log_key_model');
    // arena_votes was a table then (the judgements migration made it a view over eval_judgements).
    await raw.query('DROP VIEW arena_votes; DROP TABLE eval_judgements');
    await raw.query(MIGRATIONS.find((m) => m.trimStart().startsWith('CREATE TABLE arena_votes'))!);
    await raw.query('DELETE FROM baimo_schema_migrations WHERE version >= 6');
    expect((await open()).migrated).toBe(SCHEMA_VERSION - 5);
    for (const r of await rollups()) {
      expect(r.kept).toEqual(r.fromHourly);
      expect(r.kept.length).toBeGreaterThan(10);
    }
  });

  it('pruning takes old hours out of them batch by batch and drops the spans wholly gone', async () => {
    const s = await open({ deleteBatch: 7 });
    const records = days();
    await s.usage.writeUsage(records);
    const cut = W0 + 2 * DAY + 5 * HOUR + HOUR / 2;
    const pruned = await s.usage.prune(cut, undefined);
    expect(pruned.usage).toBe(records.filter((r) => r.ts < cut).length);
    for (const r of await rollups()) expect(r.kept).toEqual(r.fromHourly);
    // Days and quarter-days before the cut are gone; the week and the day it falls in keep the hours from 05:00 (partly kept) on.
    const first = async (span: number) => Number((await raw.query('SELECT MIN(start) AS t FROM usage_rollup WHERE span = $1', [span])).rows[0].t);
    expect([await first(6 * HOUR), await first(DAY), await first(WEEK)]).toEqual([W0 + 2 * DAY, W0 + 2 * DAY, W0]);
    const kept = records.filter((r) => r.ts - (r.ts % HOUR) + HOUR > cut);
    const weekRequests = (await raw.query('SELECT SUM(requests) AS n FROM usage_rollup WHERE span = $1 AND start = $2', [WEEK, W0])).rows[0].n;
    expect(Number(weekRequests)).toBe(kept.filter((r) => r.ts < W0 + WEEK).length);
    // A month's query counts what pruning left and nothing else, whichever level answers.
    for (const o of SHAPES) {
      const rows = await s.usage.totals({ from: W0 - 10 * DAY, to: W0 + 20 * DAY, limit: 10_000, ...o });
      expect([o, shaped(rows, o.groupBy)]).toEqual([o, expected(kept, W0 - 10 * DAY, W0 + 20 * DAY, o)]);
    }
  });
});
