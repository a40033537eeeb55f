import type Database from 'better-sqlite3';
import type { EvalRunStore, RunOwner, RunPatch, StoredRun } from '../../eval/ports.js';
import type { CellResult } from '../../eval/run.js';
import { EVAL_RUN_COLUMNS, evalRunFrom, patchColumns } from '../eval-rows.js';
import type { EvalRunRow } from '../eval-rows.js';
import { statementCache } from './schema.js';

/** Stored eval runs in the embedded store; results one row per cell, the cell as JSON. */
export class SQLiteEvalRunStore implements EvalRunStore {
  private readonly statement: (sql: string) => Database.Statement;
  private readonly insertResult: (runId: string, c: CellResult) => void;

  constructor(private readonly db: Database.Database) {
    this.statement = statementCache(db);
    this.insertResult = db.transaction((runId: string, c: CellResult) => {
      const added = this.statement(
        'INSERT OR IGNORE INTO eval_results (run_id, cell_key, test_idx, prompt_idx, provider_idx, repeat, success, score, cost_usd, latency_ms, cell) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(runId, c.key, c.testIdx, c.promptIdx, c.providerIdx, c.repeat, c.success ? 1 : 0, c.score, c.cost ?? null, c.latencyMs, JSON.stringify(c)).changes;
      if (added) this.statement('UPDATE eval_runs SET done = done + 1, failures = failures + ?, spent_usd = spent_usd + ? WHERE id = ?').run(c.success ? 0 : 1, c.spentUsd, runId);
    });
  }

  async create(r: StoredRun, leaseUntil: number): Promise<void> {
    this.statement(`INSERT INTO eval_runs (${EVAL_RUN_COLUMNS}, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(
      r.id, r.keyId, r.description, r.suite, JSON.stringify(r.options), r.status, r.stopReason, r.error, r.planned, r.done, r.failures, r.spentUsd, r.createdAt, r.startedAt, r.finishedAt, leaseUntil,
    );
  }

  async requestCancel(id: string): Promise<void> {
    this.statement(`UPDATE eval_runs SET cancel_requested = 1 WHERE id = ? AND status IN ('queued', 'running')`).run(id);
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    const s = this.statement('SELECT cancel_requested FROM eval_runs WHERE id = ?');
    return ids.filter((id) => (s.get(id) as { cancel_requested: number } | undefined)?.cancel_requested === 1);
  }

  async renew(ids: readonly string[], leaseUntil: number): Promise<void> {
    const s = this.statement('UPDATE eval_runs SET lease_until = ? WHERE id = ?');
    this.db.transaction(() => {
      for (const id of ids) s.run(leaseUntil, id);
    })();
  }

  async update(id: string, patch: RunPatch): Promise<void> {
    const cols = patchColumns(patch);
    if (cols.length === 0) return;
    this.statement(`UPDATE eval_runs SET ${cols.map(([c]) => `${c} = ?`).join(', ')} WHERE id = ?`).run(...cols.map(([, v]) => v), id);
  }

  async addResult(runId: string, cell: CellResult): Promise<void> {
    this.insertResult(runId, cell);
  }

  async get(id: string, owner: RunOwner): Promise<StoredRun | undefined> {
    const row = (owner === undefined
      ? this.statement(`SELECT ${EVAL_RUN_COLUMNS} FROM eval_runs WHERE id = ?`).get(id)
      : this.statement(`SELECT ${EVAL_RUN_COLUMNS} FROM eval_runs WHERE id = ? AND key_id = ?`).get(id, owner)) as EvalRunRow | undefined;
    return row && evalRunFrom(row);
  }

  async list(q: { owner: RunOwner; limit: number; after?: string | undefined }): Promise<{ data: StoredRun[]; hasMore: boolean }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.owner !== undefined) {
      where.push('key_id = ?');
      params.push(q.owner);
    }
    if (q.after !== undefined) {
      const cursor = this.statement('SELECT created_at, id, key_id FROM eval_runs WHERE id = ?').get(q.after) as { created_at: number; id: string; key_id: string | null } | undefined;
      if (!cursor || (q.owner !== undefined && cursor.key_id !== q.owner)) return { data: [], hasMore: false };
      where.push('(created_at, id) < (?, ?)');
      params.push(cursor.created_at, cursor.id);
    }
    const sql = `SELECT ${EVAL_RUN_COLUMNS} FROM eval_runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.statement(sql).all(...params, q.limit + 1) as EvalRunRow[];
    return { data: rows.slice(0, q.limit).map(evalRunFrom), hasMore: rows.length > q.limit };
  }

  async results(runId: string, q: { limit: number; after?: string | undefined }): Promise<{ data: CellResult[]; hasMore: boolean }> {
    let rows: { cell: string }[];
    const order = 'ORDER BY test_idx, prompt_idx, provider_idx, repeat LIMIT ?';
    if (q.after !== undefined) {
      const c = this.statement('SELECT test_idx, prompt_idx, provider_idx, repeat FROM eval_results WHERE run_id = ? AND cell_key = ?').get(runId, q.after) as
        | { test_idx: number; prompt_idx: number; provider_idx: number; repeat: number }
        | undefined;
      if (!c) return { data: [], hasMore: false };
      rows = this.statement(`SELECT cell FROM eval_results WHERE run_id = ? AND (test_idx, prompt_idx, provider_idx, repeat) > (?, ?, ?, ?) ${order}`).all(runId, c.test_idx, c.prompt_idx, c.provider_idx, c.repeat, q.limit + 1) as { cell: string }[];
    } else rows = this.statement(`SELECT cell FROM eval_results WHERE run_id = ? ${order}`).all(runId, q.limit + 1) as { cell: string }[];
    return { data: rows.slice(0, q.limit).map((r) => JSON.parse(r.cell) as CellResult), hasMore: rows.length > q.limit };
  }

  async interruptUnfinished(now: number): Promise<number> {
    return this.statement(`UPDATE eval_runs SET status = 'interrupted', finished_at = ? WHERE status IN ('queued', 'running') AND lease_until < ?`).run(now, now).changes;
  }
}
