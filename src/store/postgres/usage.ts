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
 * hour are grouped as numbers and only then written out as dates), `column` the stored label it
 * needs (the day and the hour need only the time, read as `hour`).
 */
const GROUPS: Record<UsageGroup, { readonly key: string; readonly label: string; readonly order: string; readonly column?: string }> = {
  key: { key: "NULLIF(key_id, '')", label: "NULLIF(key_id, '')", order: "NULLIF(key_id, '') COLLATE \"C\" NULLS FIRST", column: 'key_id' },
  team: { key: "NULLIF(team_id, '')", label: "NULLIF(team_id, '')", order: "NULLIF(team_id, '') COLLATE \"C\" NULLS FIRST", column: 'team_id' },
  model: { key: 'model', label: 'model', order: 'model COLLATE "C"', column: 'model' },
  provider: { key: "NULLIF(provider, '')", label: "NULLIF(provider, '')", order: "NULLIF(provider, '') COLLATE \"C\" NULLS FIRST", column: 'provider' },
  deployment: { key: "NULLIF(deployment, '')", label: "NULLIF(deployment, '')", order: "NULLIF(deployment, '') COLLATE \"C\" NULLS FIRST", column: 'deployment' },
  status: { key: 'status', label: 'status', order: 'status', column: 'status' },
  day: { key: 'hour - hour % 86400000', label: "to_char(to_timestamp((hour - hour % 86400000) / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD')", order: 'hour - hour % 86400000' },
  hour: { key: 'hour', label: `to_char(to_timestamp(hour / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:00:00"Z"')`, order: 'hour' },
};

const HOUR = 3_600_000;
const DAY = 86_400_000;

/** One table's rows of one span (ms): the hourly totals, or a rollup's rows of that span (schema.ts, migration 6). */
interface Level {
  readonly table: 'usage_hourly' | 'usage_rollup' | 'usage_rollup_key' | 'usage_rollup_model';
  readonly span: number;
}

/**
 * The totals a query can read, narrowest first: the labels each keeps (beside `final`) and its
 * levels, longest span first. A query reads the first that keeps every label it groups or filters by.
 */
const SOURCES: readonly { readonly labels: ReadonlySet<string>; readonly levels: readonly Level[] }[] = [
  {
    labels: new Set(['model', 'provider', 'status']),
    levels: [{ table: 'usage_rollup_model', span: DAY }, { table: 'usage_rollup_model', span: HOUR }],
  },
  {
    labels: new Set(['key_id', 'team_id', 'model', 'status']),
    levels: [7 * DAY, DAY, 6 * HOUR, HOUR].map((span) => ({ table: 'usage_rollup_key' as const, span })),
  },
  {
    labels: new Set(['key_id', 'team_id', 'model', 'provider', 'deployment', 'status']),
    levels: [...[7 * DAY, DAY, 6 * HOUR].map((span) => ({ table: 'usage_rollup' as const, span })), { table: 'usage_hourly', span: HOUR }],
  },
];

/**
 * [a, b) (whole hours) as runs of whole spans, each run read from one level: the longest spans
 * that fit in the middle, the shorter ones for what is left at either end, hours last. A span's
 * rows are the sums of its hours' (kept so by the database), so the runs count each hour once,
 * as the hourly totals alone would, from a few rows per label set and span instead of one per hour.
 */
function cover(a: number, b: number, levels: readonly Level[]): { level: Level; from: number; to: number }[] {
  const [level, ...shorter] = levels;
  if (a >= b || !level) return [];
  if (shorter.length === 0) return [{ level, from: a, to: b }];
  const first = Math.ceil(a / level.span) * level.span;
  const last = Math.floor(b / level.span) * level.span;
  if (first >= last) return cover(a, b, shorter);
  return [...cover(a, first, shorter), { level, from: first, to: last }, ...cover(last, b, shorter)];
}

/** The levels a totals query may read: of the narrowest source keeping its labels, none longer than the time it groups by. */
function levelsFor(q: UsageTotalsQuery, labels: readonly string[]): readonly Level[] {
  const source = SOURCES.find((s) => labels.every((l) => s.labels.has(l))) ?? SOURCES.at(-1)!;
  const longest = q.groupBy.includes('hour') ? HOUR : q.groupBy.includes('day') ? DAY : Infinity;
  return source.levels.filter((l) => l.span <= longest);
}

/**
 * Usage records, the request log, captured bodies and traces in PostgreSQL; also the batch write
 * that the usage writer's thread runs over its own pool (usage-writer.ts), so that parsing and
 * encoding a batch never run on the main thread.
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

  /**
   * Read from the hourly totals and their rollups, which every write keeps in step: a month of
   * records answers from a few dozen rows per label set, however many records there are.
   */
  async totals(q: UsageTotalsQuery): Promise<UsageTotalsRow[]> {
    const params: unknown[] = [];
    const param = (value: unknown) => `$${params.push(value)}`;
    const conditions: string[] = [];
    if (!q.includeAttempts) conditions.push('final = 1');
    const filters = ([['key_id', q.keyId], ['team_id', q.teamId], ['model', q.model], ['provider', q.provider]] as const).filter(([, v]) => v);
    for (const [column, value] of filters) conditions.push(`${column} = ${param(value)}`);
    const grouped = q.groupBy.flatMap((g) => GROUPS[g].column ?? []);
    const columns = [...new Set(['status', ...grouped, ...SUMS])].join(', ');
    // The hours counted are those starting in [from, to), as the hourly totals count them.
    const from = Math.ceil(q.from / HOUR) * HOUR;
    const hours = cover(from, Math.ceil(q.to / HOUR) * HOUR, levelsFor(q, [...grouped, ...filters.map(([c]) => c)]));
    // No whole hour: an empty read still answers one row of zero totals, as an hourly read would.
    if (hours.length === 0) hours.push({ level: { table: 'usage_hourly', span: HOUR }, from, to: from });
    const rows = hours.map(({ level, from, to }) => {
      const time = level.table === 'usage_hourly' ? 'hour' : 'start';
      const where = [...(time === 'start' ? [`span = ${param(level.span)}`] : []), `${time} >= ${param(from)}`, `${time} < ${param(to)}`, ...conditions];
      return `SELECT ${time} AS hour, ${columns} FROM ${level.table} WHERE ${where.join(' AND ')}`;
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
      // its hours out of the rollups in the same transaction, dropping a span's rows with its last
      // hour, so the rollups shrink in the same small steps and never disagree with these.
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
