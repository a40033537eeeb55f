/** Stored eval runs as rows, shared by both SQL backends. */
import { judgementId } from '../eval/ports.js';
import type { JudgementWinner, RunModelSums, RunPatch, RunSums, StoredJudgement, StoredRun, StoredRunOptions } from '../eval/ports.js';
import type { CellResult } from '../eval/run.js';

export const EVAL_RUN_COLUMNS = 'id, key_id, description, suite, options, status, stop_reason, error, planned, done, failures, spent_usd, created_at, started_at, finished_at';

export interface EvalRunRow {
  id: string;
  key_id: string | null;
  description: string | null;
  suite: string;
  options: string;
  status: StoredRun['status'];
  stop_reason: StoredRun['stopReason'];
  error: string | null;
  planned: number | string;
  done: number | string;
  failures: number | string;
  spent_usd: number | string;
  created_at: number | string;
  started_at: number | string | null;
  finished_at: number | string | null;
}

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

export function evalRunFrom(r: EvalRunRow): StoredRun {
  return {
    id: r.id,
    keyId: r.key_id,
    description: r.description,
    suite: r.suite,
    options: JSON.parse(r.options) as StoredRunOptions,
    status: r.status,
    stopReason: r.stop_reason,
    error: r.error,
    planned: Number(r.planned),
    done: Number(r.done),
    failures: Number(r.failures),
    spentUsd: Number(r.spent_usd),
    createdAt: Number(r.created_at),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
  };
}

/** The columns a patch sets, with their values. */
export function patchColumns(p: RunPatch): [string, unknown][] {
  const out: [string, unknown][] = [];
  if (p.status !== undefined) out.push(['status', p.status]);
  if (p.stopReason !== undefined) out.push(['stop_reason', p.stopReason]);
  if (p.error !== undefined) out.push(['error', p.error]);
  if (p.startedAt !== undefined) out.push(['started_at', p.startedAt]);
  if (p.finishedAt !== undefined) out.push(['finished_at', p.finishedAt]);
  return out;
}

/**
 * A run's sums per model (table eval_run_models), moved by every cell `addResult` stores in the
 * same transaction as the cell, so a run's status reads a row per model instead of every cell.
 * Kept in the store rather than cached in the hub: the run may be executing on another replica
 * (PostgreSQL), whose writes no cache here would see, while the row is what every replica reads.
 * pass^N stays incremental because a case's cells are only ever added: when a cell lands, its
 * case's cells so far (at most `repeat` rows, through the results' order index) say whether the
 * case was just answered (its first cell), just finished (its `repeat`th) and, if so, whether
 * every try passed.
 */
export const MODEL_SUMS_COLUMNS = 'provider_idx, cells, successes, errors, score_sum, cost_sum, answered, cases, passed';

export interface ModelSumsRow {
  provider_idx: number | string;
  cells: number | string;
  successes: number | string;
  errors: number | string;
  score_sum: number | string;
  cost_sum: number | string;
  answered: number | string;
  cases: number | string;
  passed: number | string;
}

export function modelSumsFrom(r: ModelSumsRow): RunModelSums {
  return {
    providerIdx: Number(r.provider_idx),
    cells: Number(r.cells),
    successes: Number(r.successes),
    errors: Number(r.errors),
    scoreSum: Number(r.score_sum),
    costSum: Number(r.cost_sum),
    answered: Number(r.answered),
    cases: Number(r.cases),
    passed: Number(r.passed),
  };
}

/** A run's sums from its model rows, in provider order. */
export function runSumsFrom(rows: readonly ModelSumsRow[]): RunSums {
  const models = rows.map(modelSumsFrom).sort((a, b) => a.providerIdx - b.providerIdx);
  return { cells: models.reduce((n, m) => n + m.cells, 0), models };
}

/** Whether a cell counts as an error in a run's stats (as the JSON report counts it: an error message). */
export const cellErrored = (c: CellResult): boolean => Boolean(c.error);

export const JUDGEMENT_COLUMNS = 'seq, ts, key_id, model_a, model_b, winner, prompt, answer_a, answer_b';

export interface JudgementRow {
  seq: number | string;
  ts: number | string;
  key_id: string | null;
  model_a: string;
  model_b: string;
  winner: JudgementWinner;
  prompt: string | null;
  answer_a: string | null;
  answer_b: string | null;
}

export function judgementFrom(r: JudgementRow): StoredJudgement {
  return {
    id: judgementId(Number(r.seq)),
    ts: Number(r.ts),
    keyId: r.key_id,
    modelA: r.model_a,
    modelB: r.model_b,
    winner: r.winner,
    prompt: r.prompt,
    answerA: r.answer_a,
    answerB: r.answer_b,
  };
}
