import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { UsageRecord, UsageSink } from '../usage/record.js';

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
];

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

  constructor(readonly path: string) {
    this.db = new Database(path);
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
    this.insertMany = this.db.transaction((records: readonly UsageRecord[]) => {
      for (const r of records) {
        const u = r.usage;
        this.insertUsage.run(
          r.requestId, r.ts, r.endpoint, r.model, r.provider ?? null, r.upstreamModel ?? null, r.stream ? 1 : 0,
          r.status, r.errorKind ?? null, u?.inputTokens ?? null, u?.outputTokens ?? null, u?.cachedInputTokens ?? null,
          u?.cacheWriteTokens ?? null, u?.reasoningTokens ?? null, r.latencyMs, r.ttftMs ?? null,
          r.deployment ?? null, r.attempt, r.final ? 1 : 0, r.fallbackFrom ?? null,
          r.keyId ?? null, r.teamId ?? null, r.costUsd ?? null, r.usageCounted ? 1 : 0,
        );
      }
    });
  }

  static open(dataDir: string): SQLiteStore {
    mkdirSync(dataDir, { recursive: true });
    return new SQLiteStore(join(dataDir, 'baimo.db'));
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  writeUsage(records: readonly UsageRecord[]): void {
    this.insertMany(records);
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

  /** Most recent usage rows first. */
  recentUsage(limit = 100): UsageRow[] {
    return this.db.prepare('SELECT * FROM usage ORDER BY id DESC LIMIT ?').all(limit) as UsageRow[];
  }

  close(): void {
    this.db.close();
  }
}
