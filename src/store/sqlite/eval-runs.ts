import type Database from 'better-sqlite3';
import { JUDGEMENT_ID, judgementId } from '../../eval/ports.js';
import type { EvalRunStore, JudgementOutcome, JudgementStore, NewJudgement, RunOwner, RunPatch, RunSums, StoredJudgement, StoredRun } from '../../eval/ports.js';
import type { CellResult } from '../../eval/run.js';
import { cellErrored, EVAL_RUN_COLUMNS, evalRunFrom, JUDGEMENT_COLUMNS, judgementFrom, MODEL_SUMS_COLUMNS, patchColumns, runSumsFrom } from '../eval-rows.js';
import type { EvalRunRow, JudgementRow, ModelSumsRow } from '../eval-rows.js';
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
 * A run's model sums from its cells (its sums missing or short of its `done` cells): a case is
 * finished with `repeat` cells, passed when all of them passed; an error is a cell whose JSON has
 * a non-empty `error`, as `cellErrored` says.
 */
const REBUILD_SUMS = `INSERT INTO eval_run_models (run_id, ${MODEL_SUMS_COLUMNS})
  SELECT :run, provider_idx, sum(runs), sum(passes), sum(errors), sum(score_sum), sum(cost_sum), count(*), sum(runs >= :repeat), sum(runs >= :repeat AND passes = runs)
  FROM (SELECT provider_idx, count(*) AS runs, sum(success) AS passes, sum(coalesce(json_extract(cell, '$.error'), '') <> '') AS errors,
               sum(score) AS score_sum, sum(coalesce(cost_usd, 0)) AS cost_sum
        FROM eval_results WHERE run_id = :run GROUP BY provider_idx, test_idx, prompt_idx)
  GROUP BY provider_idx`;

/**
 * Stored eval runs in the embedded store, results one row per cell (the cell as JSON), and the
 * human judgements beside them.
 */
export class SQLiteEvalRunStore implements EvalRunStore, JudgementStore {
  private readonly statement: (sql: string) => Database.Statement;
  private readonly insertResult: (runId: string, c: CellResult) => void;
  private readonly rebuildSums: (run: StoredRun) => void;

  constructor(private readonly db: Database.Database) {
    this.statement = statementCache(db);
    this.insertResult = db.transaction((runId: string, c: CellResult) => {
      const added = this.statement(
        'INSERT OR IGNORE INTO eval_results (run_id, cell_key, test_idx, prompt_idx, provider_idx, repeat, success, score, cost_usd, latency_ms, cell) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(runId, c.key, c.testIdx, c.promptIdx, c.providerIdx, c.repeat, c.success ? 1 : 0, c.score, c.cost ?? null, c.latencyMs, JSON.stringify(c)).changes;
      if (!added) return;
      const run = this.statement(`UPDATE eval_runs SET done = done + 1, failures = failures + ?, spent_usd = spent_usd + ? WHERE id = ? RETURNING json_extract(options, '$.repeat') AS repeat`).get(
        c.success ? 0 : 1, c.spentUsd, runId,
      ) as { repeat: number } | undefined;
      if (!run) return;
      // The case's cells so far, this one included (eval-rows.ts MODEL_SUMS_COLUMNS says why this keeps pass^N exact).
      const k = this.statement('SELECT count(*) AS runs, sum(success) AS passes FROM eval_results WHERE run_id = ? AND test_idx = ? AND prompt_idx = ? AND provider_idx = ?').get(
        runId, c.testIdx, c.promptIdx, c.providerIdx,
      ) as { runs: number; passes: number };
      const finished = k.runs === run.repeat;
      this.statement(
        `INSERT INTO eval_run_models (run_id, ${MODEL_SUMS_COLUMNS}) VALUES (?, ?, 1, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (run_id, provider_idx) DO UPDATE SET cells = cells + 1, successes = successes + excluded.successes, errors = errors + excluded.errors,
           score_sum = score_sum + excluded.score_sum, cost_sum = cost_sum + excluded.cost_sum, answered = answered + excluded.answered,
           cases = cases + excluded.cases, passed = passed + excluded.passed`,
      ).run(runId, c.providerIdx, c.success ? 1 : 0, cellErrored(c) ? 1 : 0, c.score, c.cost ?? 0, k.runs === 1 ? 1 : 0, finished ? 1 : 0, finished && k.passes === k.runs ? 1 : 0);
    });
    this.rebuildSums = db.transaction((run: StoredRun) => {
      this.statement('DELETE FROM eval_run_models WHERE run_id = ?').run(run.id);
      this.statement(REBUILD_SUMS).run({ run: run.id, repeat: run.options.repeat });
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

  async stats(runs: readonly StoredRun[]): Promise<Map<string, RunSums>> {
    const out = new Map<string, RunSums>();
    for (const run of runs) {
      let sums = this.readSums(run.id);
      if (!sums) continue;
      if (sums.sums.cells !== sums.done) {
        this.rebuildSums(run);
        sums = this.readSums(run.id)!;
      }
      out.set(run.id, sums.sums);
    }
    return out;
  }

  private readSums(id: string): { done: number; sums: RunSums } | undefined {
    const rows = this.statement(`SELECT r.done, ${MODEL_SUMS_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')} FROM eval_runs r LEFT JOIN eval_run_models m ON m.run_id = r.id WHERE r.id = ?`).all(id) as (ModelSumsRow & { done: number })[];
    if (rows.length === 0) return undefined;
    return { done: rows[0]!.done, sums: runSumsFrom(rows.filter((r) => r.provider_idx !== null)) };
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
