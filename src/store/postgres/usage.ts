import type pg from 'pg';
import type { CapturedBodies, RequestLogFilter, UsageGroup, UsageRow, UsageStore, UsageTotalsQuery, UsageTotalsRow } from '../../usage/ports.js';
import type { UsageRecord, UsageSink } from '../../usage/record.js';
import { deleteInBatches, DELETE_BATCH } from './schema.js';
import { totalsColumns } from '../totals.js';

/** The usage columns a batch fills, in order, with the PostgreSQL array type each is sent as. */
const COLUMNS: readonly (readonly [string, string])[] = [
  ['request_id', 'text'], ['ts', 'int8'], ['endpoint', 'text'], ['model', 'text'], ['provider', 'text'], ['upstream_model', 'text'],
  ['stream', 'int2'], ['status', 'int4'], ['error_kind', 'text'], ['input_tokens', 'int8'], ['output_tokens', 'int8'],
  ['cached_input_tokens', 'int8'], ['cache_write_tokens', 'int8'], ['reasoning_tokens', 'int8'], ['latency_ms', 'float8'],
  ['ttft_ms', 'float8'], ['deployment', 'text'], ['attempt', 'int4'], ['final', 'int2'], ['fallback_from', 'text'],
  ['key_id', 'text'], ['team_id', 'text'], ['cost_usd', 'float8'], ['usage_counted', 'int2'],
];

const SUMS = ['requests', 'input_tokens', 'output_tokens', 'cached_input_tokens', 'cache_write_tokens', 'reasoning_tokens', 'cost_usd', 'latency_ms_sum', 'ttft_ms_sum', 'ttft_count'];
const LABELS = ['hour', 'key_id', 'team_id', 'model', 'provider', 'deployment', 'status', 'final'];

/**
 * One statement per batch, so one transaction and one round trip: the records go in as one
 * array per column (unnest), a repeat of a stored (request, attempt, final) is skipped, and only
 * the rows actually inserted are added to the hourly totals, summed per hour and label set. A
 * journal replayed twice, even by two hubs at once, therefore counts nothing twice. The totals
 * are upserted in primary-key order, so concurrent batches from several hubs lock shared rows in
 * the same order and cannot deadlock on them. Bodies and traces ride in the same statement.
 */
const WRITE_BATCH = (() => {
  const n = COLUMNS.length;
  const cols = COLUMNS.map(([c]) => c).join(', ');
  const arrays = COLUMNS.map(([, t], i) => `$${i + 1}::${t}[]`).join(', ');
  return `WITH bodies AS (
      INSERT INTO request_bodies (request_id, ts, request, response)
      SELECT * FROM unnest($${n + 1}::text[], $${n + 2}::int8[], $${n + 3}::text[], $${n + 4}::text[])
      ON CONFLICT DO NOTHING
    ), traces AS (
      INSERT INTO request_traces (request_id, ts, trace)
      SELECT * FROM unnest($${n + 5}::text[], $${n + 6}::int8[], $${n + 7}::text[])
      ON CONFLICT DO NOTHING
    ), ins AS (
      INSERT INTO usage (${cols})
      SELECT * FROM unnest(${arrays})
      ON CONFLICT (request_id, attempt, final) DO NOTHING
      RETURNING ts, key_id, team_id, model, provider, deployment, status, final, input_tokens, output_tokens,
        cached_input_tokens, cache_write_tokens, reasoning_tokens, cost_usd, latency_ms, ttft_ms
    )
    INSERT INTO usage_hourly (${LABELS.join(', ')}, ${SUMS.join(', ')})
    SELECT ts - ts % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model, COALESCE(provider, ''), COALESCE(deployment, ''),
      status, final, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),
      COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost_usd), 0), SUM(latency_ms),
      COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
    FROM ins GROUP BY 1, 2, 3, 4, 5, 6, 7, 8 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8
    ON CONFLICT (${LABELS.join(', ')}) DO UPDATE SET ${SUMS.map((c) => `${c} = usage_hourly.${c} + excluded.${c}`).join(', ')}`;
})();

/** Records per statement: bounds the parameters' size (captured bodies ride along). */
const MAX_STATEMENT_RECORDS = 2000;

/**
 * PostgreSQL refuses NUL in text; a body captured as it came may hold one. Replaced, so that one
 * odd request cannot make its whole batch fail for ever.
 */
function text(s: string | undefined | null): string | null {
  if (s === undefined || s === null) return null;
  return s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s;
}

/** An integer column's value (a fractional count would fail the whole batch's cast). */
function int(n: number | undefined | null): number | null {
  return n === undefined || n === null ? null : Math.round(n);
}

/** The statement's parameters for `records`: one array per column. */
function batchParams(records: readonly UsageRecord[]): unknown[][] {
  const cols: unknown[][] = COLUMNS.map(() => new Array<unknown>(records.length));
  const bodies: unknown[][] = [[], [], [], []];
  const traces: unknown[][] = [[], [], []];
  records.forEach((r, i) => {
    const u = r.usage;
    const row = [
      text(r.requestId), int(r.ts), text(r.endpoint), text(r.model), text(r.provider), text(r.upstreamModel),
      r.stream ? 1 : 0, int(r.status), text(r.errorKind), int(u?.inputTokens), int(u?.outputTokens),
      int(u?.cachedInputTokens), int(u?.cacheWriteTokens), int(u?.reasoningTokens), r.latencyMs,
      r.ttftMs ?? null, text(r.deployment), int(r.attempt), r.final ? 1 : 0, text(r.fallbackFrom),
      text(r.keyId), text(r.teamId), r.costUsd ?? null, r.usageCounted ? 1 : 0,
    ];
    for (let c = 0; c < row.length; c++) cols[c]![i] = row[c];
    if (r.bodies) [text(r.requestId), int(r.ts), text(r.bodies.request), text(r.bodies.response)].forEach((v, c) => bodies[c]!.push(v));
    if (r.trace) [text(r.requestId), int(r.ts), text(JSON.stringify(r.trace))].forEach((v, c) => traces[c]!.push(v));
  });
  return [...cols, ...bodies, ...traces];
}

/**
 * How each group of the totals query is read, and how it sorts: `key` is what rows are grouped by,
 * `label` what the group shows (an expression over `key`, computed once per group: the day and the
 * hour are grouped as numbers and only then written out as dates).
 */
const GROUPS: Record<UsageGroup, { readonly key: string; readonly label: string; readonly order: string }> = {
  key: { key: "NULLIF(key_id, '')", label: "NULLIF(key_id, '')", order: "NULLIF(key_id, '') COLLATE \"C\" NULLS FIRST" },
  team: { key: "NULLIF(team_id, '')", label: "NULLIF(team_id, '')", order: "NULLIF(team_id, '') COLLATE \"C\" NULLS FIRST" },
  model: { key: 'model', label: 'model', order: 'model COLLATE "C"' },
  provider: { key: "NULLIF(provider, '')", label: "NULLIF(provider, '')", order: "NULLIF(provider, '') COLLATE \"C\" NULLS FIRST" },
  deployment: { key: "NULLIF(deployment, '')", label: "NULLIF(deployment, '')", order: "NULLIF(deployment, '') COLLATE \"C\" NULLS FIRST" },
  status: { key: 'status', label: 'status', order: 'status' },
  day: { key: 'hour - hour % 86400000', label: "to_char(to_timestamp((hour - hour % 86400000) / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')", order: 'hour - hour % 86400000' },
  hour: { key: 'hour', label: `to_char(to_timestamp(hour / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"')`, order: 'hour' },
};

const DAY = 86_400_000;

/** The columns a totals query reads from either totals table, the time column named `hour`. */
const TOTALS_INPUT = ['key_id', 'team_id', 'model', 'provider', 'deployment', 'status', ...SUMS];

/**
 * The stretches of [from, to) and the table that answers each: the whole UTC days inside it from
 * the daily totals (a day's row is the sum of its 24 hours', kept so by the database), the hours
 * before the first whole day and after the last from the hourly totals. Every hour whose start
 * lies in [from, to) is counted once, as reading the hourly totals alone would count it, but a
 * month costs about 30 rows per label set instead of 720. Grouping by hour needs the hours: the
 * hourly totals answer all of it.
 */
function totalsSpans(q: UsageTotalsQuery): { table: 'usage_hourly' | 'usage_daily'; from: number; to: number }[] {
  const firstDay = Math.ceil(q.from / DAY) * DAY;
  const lastDay = Math.floor(q.to / DAY) * DAY;
  if (q.groupBy.includes('hour') || firstDay >= lastDay) return [{ table: 'usage_hourly', from: q.from, to: q.to }];
  return [
    { table: 'usage_hourly' as const, from: q.from, to: firstDay },
    { table: 'usage_daily' as const, from: firstDay, to: lastDay },
    { table: 'usage_hourly' as const, from: lastDay, to: q.to },
  ].filter((s) => s.from < s.to);
}

/**
 * Usage records, the request log, captured bodies and traces in PostgreSQL; also the usage sink
 * that the recorder hands its batches to (asynchronous I/O: nothing of it runs on a request's
 * path but parsing the batch).
 */
export class PostgresUsageStore implements UsageStore, UsageSink {
  constructor(
    private readonly pool: pg.Pool,
    private readonly deleteBatch = DELETE_BATCH,
  ) {}

  /**
   * A recorder's batch is one statement. A whole journal replayed at start goes in chunks, each
   * atomic on its own: a replay cut short is simply replayed again, repeats being ignored.
   */
  async writeUsage(records: readonly UsageRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += MAX_STATEMENT_RECORDS) {
      // Named: each connection parses and plans the statement once.
      await this.pool.query({ name: 'baimo_usage_batch', text: WRITE_BATCH, values: batchParams(records.slice(i, i + MAX_STATEMENT_RECORDS)) });
    }
  }

  async writeUsageLines(jsonl: string): Promise<void> {
    await this.writeUsage(jsonl.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as UsageRecord));
  }

  /** Read from the daily and hourly totals every write keeps in step, so a month of records answers in milliseconds. */
  async totals(q: UsageTotalsQuery): Promise<UsageTotalsRow[]> {
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    const labels: string[] = [];
    if (!q.includeAttempts) labels.push('final = 1');
    const filters: [string, string | undefined][] = [['key_id', q.keyId], ['team_id', q.teamId], ['model', q.model], ['provider', q.provider]];
    for (const [column, value] of filters) if (value) labels.push(`${column} = ${param(value)}`);
    const rows = totalsSpans(q).map(({ table, from, to }) => {
      const time = table === 'usage_daily' ? 'day' : 'hour';
      const where = [`${time} >= ${param(from)}`, `${time} < ${param(to)}`, ...labels];
      return `SELECT ${time} AS hour, ${TOTALS_INPUT.join(', ')} FROM ${table} WHERE ${where.join(' AND ')}`;
    });
    const groups = q.groupBy.map((g) => GROUPS[g]);
    const cols = q.groupBy.map((g) => `${GROUPS[g].label} AS ${g}`);
    const grouping = groups.length ? ` GROUP BY ${groups.map((g) => g.key).join(', ')} ORDER BY ${groups.map((g) => g.order).join(', ')}` : '';
    const sql = `SELECT ${[...cols, ...totalsColumns('::float8')].join(', ')} FROM (${rows.join(' UNION ALL ')}) AS totals${grouping} LIMIT ${param(q.limit)}`;
    return (await this.pool.query(sql, params)).rows as UsageTotalsRow[];
  }

  /** Newest first by id: each filter has a partial index on (filter, id) over final records. */
  async requests(f: RequestLogFilter): Promise<UsageRow[]> {
    const where = ['final = 1'];
    const params: unknown[] = [];
    const add = (cond: (p: string) => string, value: unknown) => {
      params.push(value);
      where.push(cond(`$${params.length}`));
    };
    if (f.before !== undefined) add((p) => `id < ${p}`, f.before);
    if (f.keyId) add((p) => `key_id = ${p}`, f.keyId);
    if (f.model) add((p) => `model = ${p}`, f.model);
    if (f.status === 'error') where.push('status >= 400');
    else if (f.status === 'ok') where.push('status < 400');
    else if (f.status && /^\d{3}$/.test(f.status)) add((p) => `status = ${p}`, Number(f.status));
    params.push(f.limit);
    return (await this.pool.query<UsageRow>(`SELECT * FROM usage WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT $${params.length}`, params)).rows;
  }

  async requestRecords(requestId: string): Promise<UsageRow[]> {
    return (await this.pool.query<UsageRow>('SELECT * FROM usage WHERE request_id = $1 ORDER BY final, attempt', [requestId])).rows;
  }

  async bodies(requestId: string): Promise<CapturedBodies | undefined> {
    return (await this.pool.query<CapturedBodies>('SELECT request, response FROM request_bodies WHERE request_id = $1', [requestId])).rows[0];
  }

  async trace(requestId: string): Promise<unknown> {
    const row = (await this.pool.query<{ trace: string }>('SELECT trace FROM request_traces WHERE request_id = $1', [requestId])).rows[0];
    return row ? JSON.parse(row.trace) : undefined;
  }

  /** Most recent usage rows first: for inspection (tests, debugging), never a route. */
  async recent(limit = 100): Promise<UsageRow[]> {
    return (await this.pool.query<UsageRow>('SELECT * FROM usage ORDER BY id DESC LIMIT $1', [limit])).rows;
  }

  async prune(usageBefore: number | undefined, bodiesBefore: number | undefined): Promise<{ usage: number; bodies: number }> {
    const removed = { usage: 0, bodies: 0 };
    if (usageBefore !== undefined) {
      removed.usage = await deleteInBatches(this.pool, 'usage', 'ts < $1', usageBefore, this.deleteBatch);
      // Whole hours only: an hour still partly kept keeps its totals. Each batch's trigger takes
      // its hours out of the daily totals in the same transaction, dropping a day's rows with its
      // last hour, so the daily totals go in the same small steps and never disagree with these.
      await deleteInBatches(this.pool, 'usage_hourly', 'hour <= $1::int8 - 3600000', usageBefore, this.deleteBatch);
    }
    if (bodiesBefore !== undefined) {
      removed.bodies = await deleteInBatches(this.pool, 'request_bodies', 'ts < $1', bodiesBefore, this.deleteBatch);
      await deleteInBatches(this.pool, 'request_traces', 'ts < $1', bodiesBefore, this.deleteBatch);
    }
    return removed;
  }
}

/**
 * USD spent by a key or team since `since` (unix ms), attempts included, as the embedded store
 * counts it: the whole hours from the hourly totals, the part of an hour before the first whole
 * one (none for the ledger's day and month periods) from the records.
 */
export async function spendSince(pool: pg.Pool, account: 'key' | 'team', id: string, since: number): Promise<number> {
  const by = account === 'key' ? 'key_id' : 'team_id';
  const firstHour = Math.ceil(since / 3_600_000) * 3_600_000;
  const { rows } = await pool.query<{ usd: number }>(
    `SELECT (SELECT COALESCE(SUM(cost_usd), 0) FROM usage_hourly WHERE ${by} = $1 AND hour >= $3)
          + (SELECT COALESCE(SUM(cost_usd), 0) FROM usage WHERE ${by} = $1 AND ts >= $2 AND ts < $3) AS usd`,
    [id, since, firstHour],
  );
  return rows[0]?.usd ?? 0;
}
