import type Database from 'better-sqlite3';
import type { CapturedBodies, RequestLogFilter, UsageGroup, UsageRow, UsageStore, UsageTotalsQuery, UsageTotalsRow } from '../../usage/ports.js';
import type { UsageRecord } from '../../usage/record.js';
import { deleteInChunks, statementCache } from './schema.js';
import { totalsColumns } from '../totals.js';

/** A captured request's bodies as stored (export reads). */
export interface ExportedBodies {
  request_id: string;
  ts: number;
  request: string;
  response: string;
}

/** A virtual model's trace as stored, JSON text (export reads). */
export interface ExportedTrace {
  request_id: string;
  ts: number;
  trace: string;
}

/**
 * Writes batches of usage records in one transaction: each record's row (a replayed journal's
 * repeats are ignored), its captured bodies and trace, and the hourly totals kept in step.
 * Used by the writer thread and, at start, for a replayed journal.
 */
export function usageBatchWriter(db: Database.Database): (records: readonly UsageRecord[]) => void {
  const insertUsage = db.prepare(
    `INSERT OR IGNORE INTO usage (request_id, ts, endpoint, model, provider, upstream_model, stream, status, error_kind,
       input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms,
       deployment, attempt, final, fallback_from, key_id, team_id, cost_usd, usage_counted)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const insertBodies = db.prepare('INSERT OR IGNORE INTO request_bodies (request_id, ts, request, response) VALUES (?, ?, ?, ?)');
  const insertTrace = db.prepare('INSERT OR IGNORE INTO request_traces (request_id, ts, trace) VALUES (?, ?, ?)');
  const rollup = db.prepare(
    `INSERT INTO usage_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens,
       output_tokens = output_tokens + excluded.output_tokens, cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
       cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
       cost_usd = cost_usd + excluded.cost_usd, latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum,
       ttft_ms_sum = ttft_ms_sum + excluded.ttft_ms_sum, ttft_count = ttft_count + excluded.ttft_count`,
  );
  return db.transaction((records: readonly UsageRecord[]) => {
    const groups = new Map<string, { key: (string | number)[]; sums: number[] }>();
    for (const r of records) {
      if (r.bodies) insertBodies.run(r.requestId, r.ts, r.bodies.request, r.bodies.response);
      if (r.trace) insertTrace.run(r.requestId, r.ts, JSON.stringify(r.trace));
      const u = r.usage;
      // A replayed journal may repeat a record: only a new row counts in the totals.
      if (insertUsage.run(
        r.requestId, r.ts, r.endpoint, r.model, r.provider ?? null, r.upstreamModel ?? null, r.stream ? 1 : 0,
        r.status, r.errorKind ?? null, u?.inputTokens ?? null, u?.outputTokens ?? null, u?.cachedInputTokens ?? null,
        u?.cacheWriteTokens ?? null, u?.reasoningTokens ?? null, r.latencyMs, r.ttftMs ?? null,
        r.deployment ?? null, r.attempt, r.final ? 1 : 0, r.fallbackFrom ?? null,
        r.keyId ?? null, r.teamId ?? null, r.costUsd ?? null, r.usageCounted ? 1 : 0,
      ).changes === 0) continue;
      // Summed per hour and label set first: one upsert per group rather than per record.
      const key = [r.ts - (r.ts % 3_600_000), r.keyId ?? '', r.teamId ?? '', r.model, r.provider ?? '', r.deployment ?? '', r.status, r.final ? 1 : 0];
      const k = key.join('\u0000');
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { key, sums: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0] }));
      const add = [1, u?.inputTokens ?? 0, u?.outputTokens ?? 0, u?.cachedInputTokens ?? 0, u?.cacheWriteTokens ?? 0, u?.reasoningTokens ?? 0, r.costUsd ?? 0, r.latencyMs, r.ttftMs ?? 0, r.ttftMs === undefined ? 0 : 1];
      for (let i = 0; i < add.length; i++) g.sums[i]! += add[i]!;
    }
    for (const g of groups.values()) rollup.run(...g.key, ...g.sums);
  });
}

/** How each group of the totals query is read from usage_hourly. */
const GROUPS: Record<UsageGroup, string> = {
  key: "NULLIF(key_id, '')",
  team: "NULLIF(team_id, '')",
  model: 'model',
  provider: "NULLIF(provider, '')",
  deployment: "NULLIF(deployment, '')",
  status: 'status',
  day: "strftime('%Y-%m-%d', hour / 1000, 'unixepoch')",
  hour: "strftime('%Y-%m-%dT%H:00:00Z', hour / 1000, 'unixepoch')",
};

/** Usage records, the request log, captured bodies and traces in the embedded store. */
export class SQLiteUsageStore implements UsageStore {
  private readonly statement: (sql: string) => Database.Statement;
  private writeBatch: ((records: readonly UsageRecord[]) => void) | undefined;

  constructor(private readonly db: Database.Database) {
    this.statement = statementCache(db);
  }

  async writeUsage(records: readonly UsageRecord[]): Promise<void> {
    (this.writeBatch ??= usageBatchWriter(this.db))(records);
  }

  /**
   * Read from the hourly totals every write keeps in step, so a month over a million records
   * answers in milliseconds.
   */
  async totals(q: UsageTotalsQuery): Promise<UsageTotalsRow[]> {
    const groups = q.groupBy;
    const where = ['hour >= @from', 'hour < @to'];
    if (!q.includeAttempts) where.push('final = 1');
    if (q.keyId) where.push('key_id = @key_id');
    if (q.teamId) where.push('team_id = @team_id');
    if (q.model) where.push('model = @model');
    if (q.provider) where.push('provider = @provider');
    const cols = groups.map((g) => `${GROUPS[g]} AS ${g}`);
    const sql = `SELECT ${[...cols, ...totalsColumns('')].join(', ')} FROM usage_hourly WHERE ${where.join(' AND ')}${groups.length ? ` GROUP BY ${groups.map((g) => GROUPS[g]).join(', ')} ORDER BY ${groups.map((g) => GROUPS[g]).join(', ')}` : ''} LIMIT @limit`;
    return this.statement(sql).all({
      from: q.from,
      to: q.to,
      limit: q.limit,
      ...(q.keyId && { key_id: q.keyId }),
      ...(q.teamId && { team_id: q.teamId }),
      ...(q.model && { model: q.model }),
      ...(q.provider && { provider: q.provider }),
    }) as UsageTotalsRow[];
  }

  async requests(f: RequestLogFilter): Promise<UsageRow[]> {
    const where = ['final = 1'];
    const params: Record<string, unknown> = { limit: f.limit };
    if (f.before !== undefined) (where.push('id < @before'), (params.before = f.before));
    if (f.keyId) (where.push('key_id = @key'), (params.key = f.keyId));
    if (f.model) (where.push('model = @model'), (params.model = f.model));
    if (f.status === 'error') where.push('status >= 400');
    else if (f.status === 'ok') where.push('status < 400');
    else if (f.status && /^\d{3}$/.test(f.status)) (where.push('status = @status'), (params.status = Number(f.status)));
    return this.statement(`SELECT * FROM usage WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`).all(params) as UsageRow[];
  }

  async requestRecords(requestId: string): Promise<UsageRow[]> {
    return this.statement('SELECT * FROM usage WHERE request_id = ? ORDER BY final, attempt').all(requestId) as UsageRow[];
  }

  async bodies(requestId: string): Promise<CapturedBodies | undefined> {
    return this.statement('SELECT request, response FROM request_bodies WHERE request_id = ?').get(requestId) as CapturedBodies | undefined;
  }

  async trace(requestId: string): Promise<unknown> {
    const row = this.statement('SELECT trace FROM request_traces WHERE request_id = ?').get(requestId) as { trace: string } | undefined;
    return row ? JSON.parse(row.trace) : undefined;
  }

  /**
   * Export reads, for `baimo migrate --from sqlite`: every row in key order, a page at a time
   * after the last key seen, so a copy of millions of rows holds only one page in memory.
   */
  exportUsage(afterId: number, limit: number): UsageRow[] {
    return this.statement('SELECT * FROM usage WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as UsageRow[];
  }

  exportBodies(afterRequestId: string, limit: number): ExportedBodies[] {
    return this.statement('SELECT request_id, ts, request, response FROM request_bodies WHERE request_id > ? ORDER BY request_id LIMIT ?').all(afterRequestId, limit) as ExportedBodies[];
  }

  exportTraces(afterRequestId: string, limit: number): ExportedTrace[] {
    return this.statement('SELECT request_id, ts, trace FROM request_traces WHERE request_id > ? ORDER BY request_id LIMIT ?').all(afterRequestId, limit) as ExportedTrace[];
  }

  /** Row counts of what the export reads walk, for progress. */
  exportCounts(): { usage: number; bodies: number; traces: number } {
    return this.statement(
      'SELECT (SELECT COUNT(*) FROM usage) AS usage, (SELECT COUNT(*) FROM request_bodies) AS bodies, (SELECT COUNT(*) FROM request_traces) AS traces',
    ).get() as { usage: number; bodies: number; traces: number };
  }

  /** Most recent usage rows first: for inspection (tests, debugging), never a route. */
  recent(limit = 100): UsageRow[] {
    return this.statement('SELECT * FROM usage ORDER BY id DESC LIMIT ?').all(limit) as UsageRow[];
  }

  async prune(usageBefore: number | undefined, bodiesBefore: number | undefined): Promise<{ usage: number; bodies: number }> {
    const removed = { usage: 0, bodies: 0 };
    if (usageBefore !== undefined) {
      removed.usage = deleteInChunks(this.db, 'DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE ts < ? LIMIT 5000)', usageBefore);
      // Whole hours only: an hour still partly kept keeps its totals.
      this.db.prepare('DELETE FROM usage_hourly WHERE hour + 3600000 <= ?').run(usageBefore);
    }
    if (bodiesBefore !== undefined) {
      removed.bodies = deleteInChunks(this.db, 'DELETE FROM request_bodies WHERE request_id IN (SELECT request_id FROM request_bodies WHERE ts < ? LIMIT 5000)', bodiesBefore);
      deleteInChunks(this.db, 'DELETE FROM request_traces WHERE request_id IN (SELECT request_id FROM request_traces WHERE ts < ? LIMIT 5000)', bodiesBefore);
    }
    return removed;
  }
}
