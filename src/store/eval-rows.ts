/** Stored eval runs as rows, shared by both SQL backends. */
import { judgementId } from '../eval/ports.js';
import type { JudgementWinner, RunPatch, StoredJudgement, StoredRun, StoredRunOptions } from '../eval/ports.js';

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
