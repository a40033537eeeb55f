import type pg from 'pg';
import { JUDGEMENT_ID, judgementId } from '../../eval/ports.js';
import type { EvalRunStore, JudgementOutcome, JudgementStore, NewJudgement, RunOwner, RunPatch, RunSums, StoredJudgement, StoredRun } from '../../eval/ports.js';
import type { CellResult } from '../../eval/run.js';
import { cellErrored, EVAL_RUN_COLUMNS, evalRunFrom, JUDGEMENT_COLUMNS, judgementFrom, MODEL_SUMS_COLUMNS, patchColumns, runSumsFrom } from '../eval-rows.js';
import type { EvalRunRow, JudgementRow, ModelSumsRow } from '../eval-rows.js';

/** PostgreSQL refuses NUL in text; a prompt or an answer may hold one: kept as U+FFFD, as the usage writer does. */
const noNul = (s: string | null): string | null => (s !== null && s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s);

/**
 * The escapes in a cell's JSON that PostgreSQL's json refuses to read (NUL, a lone surrogate, both
 * of which JSON.stringify writes for such strings): replaced by U+FFFD's escape before a rebuild
 * reads `error`. The replacement is six characters starting with a backslash as each match is, so
 * the JSON stays valid (a match right after an escaped backslash stays plain text) and no string
 * becomes empty or stops being so.
 */
const UNREADABLE_ESCAPES = String.raw`\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})`;

/** Stored eval runs in PostgreSQL (any replica answers for any run), and the human judgements beside them. */
export class PostgresEvalRunStore implements EvalRunStore, JudgementStore {
  constructor(private readonly pool: pg.Pool) {}

  async create(r: StoredRun, leaseUntil: number): Promise<void> {
    await this.pool.query(`INSERT INTO eval_runs (${EVAL_RUN_COLUMNS}, lease_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, [
      r.id, r.keyId, r.description, r.suite, JSON.stringify(r.options), r.status, r.stopReason, r.error, r.planned, r.done, r.failures, r.spentUsd, r.createdAt, r.startedAt, r.finishedAt, leaseUntil,
    ]);
  }

  async requestCancel(id: string): Promise<void> {
    await this.pool.query(`UPDATE eval_runs SET cancel_requested = 1 WHERE id = $1 AND status IN ('queued', 'running')`, [id]);
  }

  async cancelRequested(ids: readonly string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    const { rows } = await this.pool.query<{ id: string }>('SELECT id FROM eval_runs WHERE id = ANY($1::text[]) AND cancel_requested = 1', [ids]);
    return rows.map((r) => r.id);
  }

  async renew(ids: readonly string[], leaseUntil: number): Promise<void> {
    if (ids.length) await this.pool.query('UPDATE eval_runs SET lease_until = $1 WHERE id = ANY($2::text[])', [leaseUntil, ids]);
  }

  async update(id: string, patch: RunPatch): Promise<void> {
    const cols = patchColumns(patch);
    if (cols.length === 0) return;
    await this.pool.query(`UPDATE eval_runs SET ${cols.map(([c], i) => `${c} = $${i + 1}`).join(', ')} WHERE id = $${cols.length + 1}`, [...cols.map(([, v]) => v), id]);
  }

  async addResult(runId: string, c: CellResult): Promise<void> {
    // One statement: the counters and the model's sums move only when the cell is new (a retried
    // write adds nothing). Every sub-statement sees the snapshot from before the cell's insert, so
    // `earlier` counts the case's cells without this one. That is all of them: a run's cells are
    // written one after another by the one hub running it (service.ts chains them).
    await this.pool.query(
      `WITH added AS (
         INSERT INTO eval_results (run_id, cell_key, test_idx, prompt_idx, provider_idx, repeat, success, score, cost_usd, latency_ms, cell)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING RETURNING 1),
       run AS (
         UPDATE eval_runs SET done = done + 1, failures = failures + $12, spent_usd = spent_usd + $13 WHERE id = $1 AND EXISTS (SELECT 1 FROM added)
         RETURNING (options::json ->> 'repeat')::int8 AS repeat),
       earlier AS (
         SELECT count(*) AS runs, count(*) FILTER (WHERE success) AS passes FROM eval_results WHERE run_id = $1 AND test_idx = $3 AND prompt_idx = $4 AND provider_idx = $5)
       INSERT INTO eval_run_models AS m (run_id, ${MODEL_SUMS_COLUMNS})
       SELECT $1, $5, 1, $7::bool::int, $14::int8, $8::float8, coalesce($9::float8, 0), (e.runs = 0)::int, (e.runs + 1 = r.repeat)::int, (e.runs + 1 = r.repeat AND e.passes + $7::bool::int = e.runs + 1)::int
       FROM run r, earlier e
       ON CONFLICT (run_id, provider_idx) DO UPDATE SET cells = m.cells + 1, successes = m.successes + excluded.successes, errors = m.errors + excluded.errors,
         score_sum = m.score_sum + excluded.score_sum, cost_sum = m.cost_sum + excluded.cost_sum, answered = m.answered + excluded.answered,
         cases = m.cases + excluded.cases, passed = m.passed + excluded.passed`,
      [runId, c.key, c.testIdx, c.promptIdx, c.providerIdx, c.repeat, c.success, c.score, c.cost ?? null, c.latencyMs, JSON.stringify(c), c.success ? 0 : 1, c.spentUsd, cellErrored(c) ? 1 : 0],
    );
  }

  async get(id: string, owner: RunOwner): Promise<StoredRun | undefined> {
    const { rows } =
      owner === undefined
        ? await this.pool.query<EvalRunRow>(`SELECT ${EVAL_RUN_COLUMNS} FROM eval_runs WHERE id = $1`, [id])
        : await this.pool.query<EvalRunRow>(`SELECT ${EVAL_RUN_COLUMNS} FROM eval_runs WHERE id = $1 AND key_id = $2`, [id, owner]);
    return rows[0] && evalRunFrom(rows[0]);
  }

  async list(q: { owner: RunOwner; limit: number; after?: string | undefined }): Promise<{ data: StoredRun[]; hasMore: boolean }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (v: unknown) => `$${params.push(v)}`;
    if (q.owner !== undefined) where.push(`key_id = ${add(q.owner)}`);
    if (q.after !== undefined) {
      const { rows } = await this.pool.query<{ created_at: number; id: string; key_id: string | null }>('SELECT created_at, id, key_id FROM eval_runs WHERE id = $1', [q.after]);
      const cursor = rows[0];
      if (!cursor || (q.owner !== undefined && cursor.key_id !== q.owner)) return { data: [], hasMore: false };
      where.push(`(created_at, id) < (${add(cursor.created_at)}::int8, ${add(cursor.id)})`);
    }
    const sql = `SELECT ${EVAL_RUN_COLUMNS} FROM eval_runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ${add(q.limit + 1)}`;
    const { rows } = await this.pool.query<EvalRunRow>(sql, params);
    return { data: rows.slice(0, q.limit).map(evalRunFrom), hasMore: rows.length > q.limit };
  }

  async results(runId: string, q: { limit: number; after?: string | undefined }): Promise<{ data: CellResult[]; hasMore: boolean }> {
    const order = 'ORDER BY test_idx, prompt_idx, provider_idx, repeat';
    let rows: { cell: string }[];
    if (q.after !== undefined) {
      const c = (await this.pool.query<{ test_idx: number; prompt_idx: number; provider_idx: number; repeat: number }>('SELECT test_idx, prompt_idx, provider_idx, repeat FROM eval_results WHERE run_id = $1 AND cell_key = $2', [runId, q.after])).rows[0];
      if (!c) return { data: [], hasMore: false };
      rows = (
        await this.pool.query<{ cell: string }>(`SELECT cell FROM eval_results WHERE run_id = $1 AND (test_idx, prompt_idx, provider_idx, repeat) > ($2::int8, $3::int8, $4::int8, $5::int8) ${order} LIMIT $6`, [
          runId, c.test_idx, c.prompt_idx, c.provider_idx, c.repeat, q.limit + 1,
        ])
      ).rows;
    } else rows = (await this.pool.query<{ cell: string }>(`SELECT cell FROM eval_results WHERE run_id = $1 ${order} LIMIT $2`, [runId, q.limit + 1])).rows;
    return { data: rows.slice(0, q.limit).map((r) => JSON.parse(r.cell) as CellResult), hasMore: rows.length > q.limit };
  }

  async interruptUnfinished(now: number): Promise<number> {
    const r = await this.pool.query(`UPDATE eval_runs SET status = 'interrupted', finished_at = $1 WHERE status IN ('queued', 'running') AND lease_until < $1`, [now]);
    return r.rowCount ?? 0;
  }

  async stats(runs: readonly StoredRun[]): Promise<Map<string, RunSums>> {
    const out = new Map<string, RunSums>();
    if (runs.length === 0) return out;
    const read = async (ids: readonly string[]) => {
      const { rows } = await this.pool.query<ModelSumsRow & { id: string; done: string }>(
        `SELECT r.id, r.done, ${MODEL_SUMS_COLUMNS.split(', ').map((c) => `m.${c}`).join(', ')} FROM eval_runs r LEFT JOIN eval_run_models m ON m.run_id = r.id WHERE r.id = ANY($1::text[])`,
        [ids],
      );
      const by = new Map<string, { done: number; rows: ModelSumsRow[] }>();
      for (const row of rows) {
        let e = by.get(row.id);
        if (!e) by.set(row.id, (e = { done: Number(row.done), rows: [] }));
        if (row.provider_idx !== null) e.rows.push(row);
      }
      return new Map([...by].map(([id, e]) => [id, { done: e.done, sums: runSumsFrom(e.rows) }]));
    };
    const first = await read(runs.map((r) => r.id));
    const short = runs.filter((r) => {
      const e = first.get(r.id);
      return e !== undefined && e.sums.cells !== e.done;
    });
    for (const run of short) await this.rebuildSums(run);
    const again = short.length ? await read(short.map((r) => r.id)) : new Map<string, { done: number; sums: RunSums }>();
    for (const [id, e] of first) out.set(id, (again.get(id) ?? e).sums);
    return out;
  }

  /**
   * Sums a run's cells into its model rows, holding the run's row so that no cell lands (its
   * write updates that row) between the count and the sums. A cell whose write began before
   * lands after, on the new rows, which is what it would have done on the old ones.
   */
  private async rebuildSums(run: StoredRun): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const { rows } = await client.query<{ done: string; cells: string | null }>(
        'SELECT r.done, (SELECT sum(cells) FROM eval_run_models WHERE run_id = r.id) AS cells FROM eval_runs r WHERE r.id = $1 FOR UPDATE',
        [run.id],
      );
      // Another reader may have rebuilt them while this one waited for the row.
      if (rows[0] && Number(rows[0].done) !== Number(rows[0].cells ?? 0)) {
        await client.query('DELETE FROM eval_run_models WHERE run_id = $1', [run.id]);
        await client.query(
          `INSERT INTO eval_run_models (run_id, ${MODEL_SUMS_COLUMNS})
           SELECT $1, provider_idx, sum(runs), sum(passes), sum(errors), sum(score_sum), sum(cost_sum), count(*),
                  count(*) FILTER (WHERE runs >= $2), count(*) FILTER (WHERE runs >= $2 AND passes = runs)
           FROM (SELECT provider_idx, count(*) AS runs, count(*) FILTER (WHERE success) AS passes,
                        count(*) FILTER (WHERE error IS NOT NULL AND error::text <> '""') AS errors,
                        sum(score) AS score_sum, sum(coalesce(cost_usd, 0)) AS cost_sum
                 FROM (SELECT provider_idx, test_idx, prompt_idx, success, score, cost_usd, regexp_replace(cell, $3, $4, 'g')::json -> 'error' AS error
                       FROM eval_results WHERE run_id = $1) AS c
                 GROUP BY provider_idx, test_idx, prompt_idx) AS k
           GROUP BY provider_idx`,
          [run.id, run.options.repeat, UNREADABLE_ESCAPES, String.raw`\\ufffd`],
        );
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async addJudgement(j: NewJudgement): Promise<StoredJudgement> {
    const { rows } = await this.pool.query<{ seq: number }>(
      'INSERT INTO eval_judgements (ts, key_id, model_a, model_b, winner, prompt, answer_a, answer_b) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq',
      [j.ts, j.keyId, j.modelA, j.modelB, j.winner, noNul(j.prompt), noNul(j.answerA), noNul(j.answerB)],
    );
    return { ...j, prompt: noNul(j.prompt), answerA: noNul(j.answerA), answerB: noNul(j.answerB), id: judgementId(rows[0]!.seq) };
  }

  async judgementOutcomes(): Promise<JudgementOutcome[]> {
    const { rows } = await this.pool.query<Pick<JudgementRow, 'model_a' | 'model_b' | 'winner'>>('SELECT model_a, model_b, winner FROM eval_judgements ORDER BY seq');
    return rows.map((v) => ({ modelA: v.model_a, modelB: v.model_b, winner: v.winner }));
  }

  async listJudgements(q: { owner: RunOwner; model?: string | undefined; limit: number; after?: string | undefined }): Promise<{ data: StoredJudgement[]; hasMore: boolean }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (v: unknown) => `$${params.push(v)}`;
    if (q.owner !== undefined) where.push(`key_id = ${add(q.owner)}`);
    if (q.model !== undefined) {
      const m = add(q.model);
      where.push(`(model_a = ${m} OR model_b = ${m})`);
    }
    if (q.after !== undefined) {
      const m = JUDGEMENT_ID.exec(q.after);
      if (!m) return { data: [], hasMore: false };
      where.push(`seq < ${add(Number(m[1]))}::int8`);
    }
    const sql = `SELECT ${JUDGEMENT_COLUMNS} FROM eval_judgements${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ${add(q.limit + 1)}`;
    const { rows } = await this.pool.query<JudgementRow>(sql, params);
    return { data: rows.slice(0, q.limit).map(judgementFrom), hasMore: rows.length > q.limit };
  }
}
