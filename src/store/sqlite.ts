import { chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { UsageRecord, UsageSink } from '../usage/record.js';
import { DataDirError, FILE_MODE, lockDataDir, prepareDataDir, privateFile } from './data-dir.js';

/** Each entry upgrades the schema by one version (PRAGMA user_version). Never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE usage (
     id INTEGER PRIMARY KEY,
     request_id TEXT NOT NULL,
     ts INTEGER NOT NULL,
     endpoint TEXT NOT NULL,
     model TEXT NOT NULL,
     provider TEXT,
     upstream_model TEXT,
     stream INTEGER NOT NULL,
     status INTEGER NOT NULL,
     error_kind TEXT,
     input_tokens INTEGER,
     output_tokens INTEGER,
     cached_input_tokens INTEGER,
     cache_write_tokens INTEGER,
     reasoning_tokens INTEGER,
     latency_ms REAL NOT NULL,
     ttft_ms REAL
   );
   CREATE INDEX usage_ts ON usage (ts);
   CREATE INDEX usage_model_ts ON usage (model, ts);`,
  `ALTER TABLE usage ADD COLUMN deployment TEXT;
   ALTER TABLE usage ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE usage ADD COLUMN final INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE usage ADD COLUMN fallback_from TEXT;
   CREATE INDEX usage_request ON usage (request_id);`,
  `CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
   CREATE TABLE teams (
     id TEXT PRIMARY KEY,
     name TEXT NOT NULL,
     limits TEXT NOT NULL,
     metadata TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE keys (
     id TEXT PRIMARY KEY,
     hash TEXT NOT NULL UNIQUE,
     prefix TEXT NOT NULL,
     name TEXT NOT NULL,
     team_id TEXT REFERENCES teams (id),
     limits TEXT NOT NULL,
     expires_at INTEGER,
     metadata TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     revoked_at INTEGER
   );
   ALTER TABLE usage ADD COLUMN key_id TEXT;
   ALTER TABLE usage ADD COLUMN team_id TEXT;
   ALTER TABLE usage ADD COLUMN cost_usd REAL;
   CREATE INDEX usage_key_ts ON usage (key_id, ts);
   CREATE INDEX usage_team_ts ON usage (team_id, ts);`,
  // A journal replayed after a crash may repeat records already written: they are ignored.
  `CREATE UNIQUE INDEX usage_request_attempt ON usage (request_id, attempt, final);`,
  `ALTER TABLE usage ADD COLUMN usage_counted INTEGER NOT NULL DEFAULT 0;`,
  `CREATE TABLE request_bodies (
     request_id TEXT PRIMARY KEY,
     ts INTEGER NOT NULL,
     request TEXT NOT NULL,
     response TEXT NOT NULL
   );
   CREATE INDEX request_bodies_ts ON request_bodies (ts);`,
  // Hourly totals, kept in step with usage by every batch write: usage queries read these, so
  // they stay fast however many records there are.
  `CREATE TABLE usage_hourly (
     hour INTEGER NOT NULL,
     key_id TEXT NOT NULL,
     team_id TEXT NOT NULL,
     model TEXT NOT NULL,
     provider TEXT NOT NULL,
     deployment TEXT NOT NULL,
     status INTEGER NOT NULL,
     final INTEGER NOT NULL,
     requests INTEGER NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_input_tokens INTEGER NOT NULL,
     cache_write_tokens INTEGER NOT NULL,
     reasoning_tokens INTEGER NOT NULL,
     cost_usd REAL NOT NULL,
     latency_ms_sum REAL NOT NULL,
     ttft_ms_sum REAL NOT NULL,
     ttft_count INTEGER NOT NULL,
     PRIMARY KEY (hour, key_id, team_id, model, provider, deployment, status, final)
   ) WITHOUT ROWID;
   CREATE INDEX usage_hourly_key ON usage_hourly (key_id, hour);
   CREATE INDEX usage_hourly_team ON usage_hourly (team_id, hour);
   INSERT INTO usage_hourly
     SELECT ts - ts % 3600000, COALESCE(key_id, ''), COALESCE(team_id, ''), model, COALESCE(provider, ''), COALESCE(deployment, ''),
            status, final, COUNT(*), COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cached_input_tokens), 0),
            COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(reasoning_tokens), 0), COALESCE(SUM(cost_usd), 0), SUM(latency_ms),
            COALESCE(SUM(ttft_ms), 0), COUNT(ttft_ms)
     FROM usage GROUP BY 1, 2, 3, 4, 5, 6, 7, 8;`,
  `CREATE TABLE request_traces (request_id TEXT PRIMARY KEY, ts INTEGER NOT NULL, trace TEXT NOT NULL);
   CREATE INDEX request_traces_ts ON request_traces (ts);
   CREATE TABLE arena_votes (
     id INTEGER PRIMARY KEY,
     ts INTEGER NOT NULL,
     model_a TEXT NOT NULL,
     model_b TEXT NOT NULL,
     winner TEXT NOT NULL CHECK (winner IN ('a', 'b', 'tie', 'bad')),
     key_id TEXT
   );
   CREATE INDEX usage_final_id ON usage (final, id);`,
  // Responses API objects, for GET /v1/responses/{id} and previous_response_id.
  `CREATE TABLE responses (
     id TEXT PRIMARY KEY,
     ts INTEGER NOT NULL,
     key_id TEXT,
     response TEXT NOT NULL,
     history TEXT NOT NULL
   );
   CREATE INDEX responses_ts ON responses (ts);`,
  // usage_request_attempt (request_id, attempt, final) serves every lookup by request id: one
  // index fewer to update on each insert.
  `DROP INDEX IF EXISTS usage_request;`,
  // The items of stored responses, by id: item_reference inputs and GET …/input_items (see
  // response-items.ts). `input` is 1 for the request's input items, 0 for the response's output.
  `CREATE TABLE response_items (
     response_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     id TEXT NOT NULL,
     input INTEGER NOT NULL,
     ts INTEGER NOT NULL,
     item TEXT NOT NULL,
     PRIMARY KEY (response_id, seq)
   ) WITHOUT ROWID;
   CREATE INDEX response_items_id ON response_items (id);
   CREATE INDEX response_items_ts ON response_items (ts);`,
];

/** The schema this hub writes (PRAGMA user_version once migrated). */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface UsageRow {
  request_id: string;
  ts: number;
  endpoint: string;
  model: string;
  provider: string | null;
  upstream_model: string | null;
  stream: number;
  status: number;
  error_kind: string | null;
  input_tokens: number | null;
  output_tokens: number | null;
  cached_input_tokens: number | null;
  cache_write_tokens: number | null;
  reasoning_tokens: number | null;
  latency_ms: number;
  ttft_ms: number | null;
  deployment: string | null;
  attempt: number;
  final: number;
  fallback_from: string | null;
  key_id: string | null;
  team_id: string | null;
  cost_usd: number | null;
  usage_counted: number;
}

/** The embedded store: one SQLite file in WAL mode under the data directory. */
export class SQLiteStore implements UsageSink {
  readonly db: Database.Database;
  private readonly insertUsage: Database.Statement;
  private readonly insertMany: (records: readonly UsageRecord[]) => void;
  private readonly insertBodies: Database.Statement;

  /** Releases the data directory's lock; set by open(). */
  private unlock: (() => void) | undefined;

  constructor(readonly path: string) {
    this.db = new Database(path);
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version > SCHEMA_VERSION) {
      this.db.close();
      throw new DataDirError(
        `The database ${path} has schema version ${version}, newer than this Baimo's (${SCHEMA_VERSION}): a newer Baimo wrote it. ` +
          'Run that version (or newer), or give this one another --data-dir; nothing was changed.',
      );
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.migrate();
    this.insertUsage = this.db.prepare(
      `INSERT OR IGNORE INTO usage (request_id, ts, endpoint, model, provider, upstream_model, stream, status, error_kind,
         input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, latency_ms, ttft_ms,
         deployment, attempt, final, fallback_from, key_id, team_id, cost_usd, usage_counted)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    this.insertBodies = this.db.prepare('INSERT OR IGNORE INTO request_bodies (request_id, ts, request, response) VALUES (?, ?, ?, ?)');
    const insertTrace = this.db.prepare('INSERT OR IGNORE INTO request_traces (request_id, ts, trace) VALUES (?, ?, ?)');
    const rollup = this.db.prepare(
      `INSERT INTO usage_hourly VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO UPDATE SET requests = requests + excluded.requests, input_tokens = input_tokens + excluded.input_tokens,
         output_tokens = output_tokens + excluded.output_tokens, cached_input_tokens = cached_input_tokens + excluded.cached_input_tokens,
         cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
         cost_usd = cost_usd + excluded.cost_usd, latency_ms_sum = latency_ms_sum + excluded.latency_ms_sum,
         ttft_ms_sum = ttft_ms_sum + excluded.ttft_ms_sum, ttft_count = ttft_count + excluded.ttft_count`,
    );
    this.insertMany = this.db.transaction((records: readonly UsageRecord[]) => {
      const groups = new Map<string, { key: (string | number)[]; sums: number[] }>();
      for (const r of records) {
        if (r.bodies) this.insertBodies.run(r.requestId, r.ts, r.bodies.request, r.bodies.response);
        if (r.trace) insertTrace.run(r.requestId, r.ts, JSON.stringify(r.trace));
        const u = r.usage;
        // A replayed journal may repeat a record: only a new row counts in the totals.
        if (this.insertUsage.run(
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

  /**
   * Opens the data directory's store: the directory made private (0700), this hub's lock taken
   * (a second hub on the same directory is refused), and the database created 0600 — SQLite
   * gives its WAL and shared-memory files the database file's mode.
   */
  static open(dataDir: string): SQLiteStore {
    prepareDataDir(dataDir);
    const unlock = lockDataDir(dataDir);
    try {
      const path = join(dataDir, 'baimo.db');
      privateFile(path);
      // Files left by an older hub that made them world-readable.
      for (const f of [`${path}-wal`, `${path}-shm`, `${path}-journal`]) if (existsSync(f)) chmodSync(f, FILE_MODE);
      const store = new SQLiteStore(path);
      store.unlock = unlock;
      return store;
    } catch (err) {
      unlock();
      throw err;
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < SCHEMA_VERSION; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  writeUsage(records: readonly UsageRecord[]): void {
    this.insertMany(records);
  }

  /** A batch as JSON lines (see UsageSink). */
  writeUsageLines(jsonl: string): void {
    this.insertMany(jsonl.split('\n').map((line) => JSON.parse(line) as UsageRecord));
  }

  private readonly statements = new Map<string, Database.Statement>();

  /** A prepared statement, cached by its SQL text. */
  statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  /**
   * Deletes usage records and captured bodies older than the cut-offs (unix ms), a few thousand
   * rows per transaction so that writers are never held up for long.
   */
  prune(usageBefore: number | undefined, bodiesBefore: number | undefined): { usage: number; bodies: number } {
    const removed = { usage: 0, bodies: 0 };
    const chunk = (sql: string, before: number) => {
      let total = 0;
      for (;;) {
        const n = this.db.prepare(sql).run(before).changes;
        total += n;
        if (n < 5000) return total;
      }
    };
    if (usageBefore !== undefined) {
      removed.usage = chunk('DELETE FROM usage WHERE id IN (SELECT id FROM usage WHERE ts < ? LIMIT 5000)', usageBefore);
      // Whole hours only: an hour still partly kept keeps its totals.
      this.db.prepare('DELETE FROM usage_hourly WHERE hour + 3600000 <= ?').run(usageBefore);
    }
    if (bodiesBefore !== undefined) {
      removed.bodies = chunk('DELETE FROM request_bodies WHERE request_id IN (SELECT request_id FROM request_bodies WHERE ts < ? LIMIT 5000)', bodiesBefore);
      chunk('DELETE FROM request_traces WHERE request_id IN (SELECT request_id FROM request_traces WHERE ts < ? LIMIT 5000)', bodiesBefore);
      chunk('DELETE FROM responses WHERE id IN (SELECT id FROM responses WHERE ts < ? LIMIT 5000)', bodiesBefore);
      chunk('DELETE FROM response_items WHERE (response_id, seq) IN (SELECT response_id, seq FROM response_items WHERE ts < ? LIMIT 5000)', bodiesBefore);
    }
    return removed;
  }

  bodies(requestId: string): { request: string; response: string } | undefined {
    return this.db.prepare('SELECT request, response FROM request_bodies WHERE request_id = ?').get(requestId) as { request: string; response: string } | undefined;
  }

  /** Final records, newest first, `before` an opaque cursor (a row id). */
  requests(f: { limit: number; before?: number; keyId?: string; model?: string; status?: string }): UsageRow[] & { id?: number }[] {
    const where = ['final = 1'];
    const params: Record<string, unknown> = { limit: f.limit };
    if (f.before !== undefined) (where.push('id < @before'), (params.before = f.before));
    if (f.keyId) (where.push('key_id = @key'), (params.key = f.keyId));
    if (f.model) (where.push('model = @model'), (params.model = f.model));
    if (f.status === 'error') where.push('status >= 400');
    else if (f.status === 'ok') where.push('status < 400');
    else if (f.status && /^\d{3}$/.test(f.status)) (where.push('status = @status'), (params.status = Number(f.status)));
    return this.statement(`SELECT * FROM usage WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT @limit`).all(params) as UsageRow[] & { id?: number }[];
  }

  /** Every record of one request: its attempts and its final record. */
  requestRecords(requestId: string): (UsageRow & { id: number })[] {
    return this.statement('SELECT * FROM usage WHERE request_id = ? ORDER BY final, attempt').all(requestId) as (UsageRow & { id: number })[];
  }

  trace(requestId: string): unknown {
    const row = this.statement('SELECT trace FROM request_traces WHERE request_id = ?').get(requestId) as { trace: string } | undefined;
    return row ? JSON.parse(row.trace) : undefined;
  }

  saveResponse(r: { id: string; keyId: string | undefined; response: unknown; history: unknown }): void {
    this.statement('INSERT OR REPLACE INTO responses (id, ts, key_id, response, history) VALUES (?, ?, ?, ?, ?)').run(r.id, Date.now(), r.keyId ?? null, JSON.stringify(r.response), JSON.stringify(r.history));
  }

  loadResponse(id: string): { keyId: string | null; response: unknown; history: unknown } | undefined {
    const row = this.statement('SELECT key_id, response, history FROM responses WHERE id = ?').get(id) as { key_id: string | null; response: string; history: string } | undefined;
    return row && { keyId: row.key_id, response: JSON.parse(row.response), history: JSON.parse(row.history) };
  }

  deleteResponse(id: string): boolean {
    return this.statement('DELETE FROM responses WHERE id = ?').run(id).changes > 0;
  }

  addVote(v: { modelA: string; modelB: string; winner: 'a' | 'b' | 'tie' | 'bad'; keyId: string | undefined }): void {
    this.statement('INSERT INTO arena_votes (ts, model_a, model_b, winner, key_id) VALUES (?, ?, ?, ?, ?)').run(Date.now(), v.modelA, v.modelB, v.winner, v.keyId ?? null);
  }

  votes(): { model_a: string; model_b: string; winner: 'a' | 'b' | 'tie' | 'bad' }[] {
    return this.statement('SELECT model_a, model_b, winner FROM arena_votes ORDER BY id').all() as { model_a: string; model_b: string; winner: 'a' | 'b' | 'tie' | 'bad' }[];
  }

  /** Most recent usage rows first. */
  recentUsage(limit = 100): UsageRow[] {
    return this.db.prepare('SELECT * FROM usage ORDER BY id DESC LIMIT ?').all(limit) as UsageRow[];
  }

  close(): void {
    try {
      this.db.close();
    } finally {
      this.unlock?.();
      this.unlock = undefined;
    }
  }
}
