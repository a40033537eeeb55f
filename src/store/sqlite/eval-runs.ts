import type Database from 'better-sqlite3';
import { JUDGEMENT_ID, judgementId } from '../../eval/ports.js';
import type { EvalRunStore, JudgementOutcome, JudgementStore, NewJudgement, RunOwner, RunPatch, StoredJudgement, StoredRun } from '../../eval/ports.js';
import type { CellResult } from '../../eval/run.js';
import { EVAL_RUN_COLUMNS, evalRunFrom, JUDGEMENT_COLUMNS, judgementFrom, patchColumns } from '../eval-rows.js';
import type { EvalRunRow, JudgementRow } from '../eval-rows.js';
import { statementCache } from './schema.js';

/** An eval run's row as stored, lease and cancel flag included (export reads). */
export interface ExportedEvalRun extends EvalRunRow {
  lease_until: number;
  cancel_requested: number;
}

/** A result row as stored (export reads). */
export interface ExportedEvalResult {
  run_id: string;
  cell_key: string;
  test_idx: number;
  prompt_idx: number;
  provider_idx: number;
  repeat: number;
  success: number;
  score: number;
  cost_usd: number | null;
  latency_ms: number;
  cell: string;
}

/**
 * Stored eval runs in the embedded store, results one row per cell (the cell as JSON), and the
 * human judgements beside them.
 */
export class SQLiteEvalRunStore implements EvalRunStore, JudgementStore {
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

  async addJudgement(j: NewJudgement): Promise<StoredJudgement> {
    const r = this.statement('INSERT INTO eval_judgements (ts, key_id, model_a, model_b, winner, prompt, answer_a, answer_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
      j.ts, j.keyId, j.modelA, j.modelB, j.winner, j.prompt, j.answerA, j.answerB,
    );
    return { ...j, id: judgementId(Number(r.lastInsertRowid)) };
  }

  async judgementOutcomes(): Promise<JudgementOutcome[]> {
    const rows = this.statement('SELECT model_a, model_b, winner FROM eval_judgements ORDER BY seq').all() as Pick<JudgementRow, 'model_a' | 'model_b' | 'winner'>[];
    return rows.map((v) => ({ modelA: v.model_a, modelB: v.model_b, winner: v.winner }));
  }

  async listJudgements(q: { owner: RunOwner; model?: string | undefined; limit: number; after?: string | undefined }): Promise<{ data: StoredJudgement[]; hasMore: boolean }> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.owner !== undefined) {
      where.push('key_id = ?');
      params.push(q.owner);
    }
    if (q.model !== undefined) {
      where.push('(model_a = ? OR model_b = ?)');
      params.push(q.model, q.model);
    }
    if (q.after !== undefined) {
      const m = JUDGEMENT_ID.exec(q.after);
      if (!m) return { data: [], hasMore: false };
      where.push('seq < ?');
      params.push(Number(m[1]));
    }
    const sql = `SELECT ${JUDGEMENT_COLUMNS} FROM eval_judgements${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = this.statement(sql).all(...params, q.limit + 1) as JudgementRow[];
    return { data: rows.slice(0, q.limit).map(judgementFrom), hasMore: rows.length > q.limit };
  }

  /** Export read, for `baimo migrate --from sqlite`: runs by id after `after`, as stored. */
  exportRuns(after: string, limit: number): ExportedEvalRun[] {
    return this.statement(`SELECT ${EVAL_RUN_COLUMNS}, lease_until, cancel_requested FROM eval_runs WHERE id > ? ORDER BY id LIMIT ?`).all(after, limit) as ExportedEvalRun[];
  }

  /** Export read: results by (run, cell key) after the given pair, as stored. */
  exportResults(after: readonly [string, string], limit: number): ExportedEvalResult[] {
    return this.statement('SELECT * FROM eval_results WHERE (run_id, cell_key) > (?, ?) ORDER BY run_id, cell_key LIMIT ?').all(after[0], after[1], limit) as ExportedEvalResult[];
  }

  /** Export read: judgements in the order cast, after sequence number `after`. */
  exportJudgements(after: number, limit: number): JudgementRow[] {
    return this.statement(`SELECT ${JUDGEMENT_COLUMNS} FROM eval_judgements WHERE seq > ? ORDER BY seq LIMIT ?`).all(after, limit) as JudgementRow[];
  }

  exportCounts(): { runs: number; results: number; judgements: number } {
    const n = (table: string) => (this.statement(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { runs: n('eval_runs'), results: n('eval_results'), judgements: n('eval_judgements') };
  }
}
