/**
 * What stored eval runs need from storage (SQLite and PostgreSQL implement it in store/): a run
 * row with its suite, owner, status, counters and spend, and its results in a child table, one
 * row per cell (test × prompt × provider × repeat), written as each cell finishes so a hub that
 * stops keeps what was done.
 */
import type { CellResult } from './run.js';

/**
 * `interrupted`: the hub stopped while the run was queued or running; it is not resumed. A hub
 * holds a lease on each run it has queued or running and renews it while it does: a run whose
 * lease ran out (its hub crashed) is marked by the next hub that looks — at its start, and
 * then every so often, so a surviving replica marks a crashed one's runs. `cancelled` covers a stop at `maxCostUsd` too, with
 * `stopReason: 'max_cost'`.
 */
export type StoredRunStatus = 'queued' | 'running' | 'completed' | 'cancelled' | 'failed' | 'interrupted';

export interface StoredRunOptions {
  readonly repeat: number;
  readonly concurrency: number | undefined;
  readonly maxCostUsd: number | undefined;
  readonly noCache: boolean;
}

export interface StoredRun {
  readonly id: string;
  /** The starting key's id; null when the admin or an open hub started it. */
  readonly keyId: string | null;
  readonly description: string | null;
  /** The suite as submitted (YAML, or JSON, which is YAML too). */
  readonly suite: string;
  readonly options: StoredRunOptions;
  readonly status: StoredRunStatus;
  readonly stopReason: 'user' | 'max_cost' | null;
  readonly error: string | null;
  /** Cells planned, finished, and finished unsuccessfully. */
  readonly planned: number;
  readonly done: number;
  readonly failures: number;
  readonly spentUsd: number;
  /** Unix ms. */
  readonly createdAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
}

/** Who asks: a key's id sees its own runs; undefined (the admin, an open hub) sees all. */
export type RunOwner = string | undefined;

export interface RunPatch {
  readonly status?: StoredRunStatus;
  readonly stopReason?: StoredRun['stopReason'];
  readonly error?: string | null;
  readonly startedAt?: number;
  readonly finishedAt?: number;
}

export interface EvalRunStore {
  /** Stores a new run, leased to this hub until `leaseUntil` (unix ms). */
  create(run: StoredRun, leaseUntil: number): Promise<void>;
  /** Asks whichever hub runs it to cancel a queued or running run (for a run on another replica). */
  requestCancel(id: string): Promise<void>;
  /** Of `ids`, those a cancel was asked for. */
  cancelRequested(ids: readonly string[]): Promise<string[]>;
  /** Extends the lease on runs this hub has queued or running. */
  renew(ids: readonly string[], leaseUntil: number): Promise<void>;
  update(id: string, patch: RunPatch): Promise<void>;
  /** Stores a finished cell and adds it to the run's counters, in one transaction. */
  addResult(runId: string, cell: CellResult): Promise<void>;
  get(id: string, owner: RunOwner): Promise<StoredRun | undefined>;
  /** Newest first; `after` is the last id of the previous page. */
  list(q: { owner: RunOwner; limit: number; after?: string | undefined }): Promise<{ data: StoredRun[]; hasMore: boolean }>;
  /** In suite order (test, prompt, provider, repeat); `after` is the last cell key of the previous page. */
  results(runId: string, q: { limit: number; after?: string | undefined }): Promise<{ data: CellResult[]; hasMore: boolean }>;
  /** Queued or running runs whose lease ended before `now` become `interrupted`; says how many. */
  interruptUnfinished(now: number): Promise<number>;
  /**
   * The running sums of each run's stored cells (absent: no such run), read without reading the
   * cells: the store keeps them as `addResult` adds each cell. Sums that do not cover the run's
   * `done` cells (a run written before the sums were kept, or by an older replica during a rolling
   * upgrade, or copied by `baimo migrate`) are rebuilt from the cells first, once.
   */
  stats(runs: readonly StoredRun[]): Promise<Map<string, RunSums>>;
}

/** One model's (suite provider's) sums over a run's stored cells. */
export interface RunModelSums {
  /** Index into the suite's providers. */
  readonly providerIdx: number;
  readonly cells: number;
  /** Cells that passed; cells with an error (a model or grader call that failed). */
  readonly successes: number;
  readonly errors: number;
  readonly scoreSum: number;
  /** USD of the answers under test (`CellResult.cost`, a cached answer's original cost). */
  readonly costSum: number;
  /** test × prompt cases with at least one cell stored. */
  readonly answered: number;
  /** test × prompt cases with every repetition stored; `passed`: those whose every repetition passed (pass^N). */
  readonly cases: number;
  readonly passed: number;
}

export interface RunSums {
  /** Cells the sums cover. */
  readonly cells: number;
  /** Models with at least one cell, by provider index. */
  readonly models: readonly RunModelSums[];
}

/**
 * A human judgement (the console's blind arena): which of two answers to one prompt a person
 * preferred. `bad` (both answers bad) says nothing about which model is better. Kept beside the
 * runs: a person's verdict is evidence about models as a graded cell is.
 */
export type JudgementWinner = 'a' | 'b' | 'tie' | 'bad';

/** What the leaderboard reads of a judgement. */
export interface JudgementOutcome {
  readonly modelA: string;
  readonly modelB: string;
  readonly winner: JudgementWinner;
}

export interface NewJudgement extends JudgementOutcome {
  /** Unix ms. */
  readonly ts: number;
  /** The voter's key; null when the admin or an open hub voted. */
  readonly keyId: string | null;
  /** As the voter saw them, already bounded (arena/judgement.ts); null when the client sent none. */
  readonly prompt: string | null;
  readonly answerA: string | null;
  readonly answerB: string | null;
}

export interface StoredJudgement extends NewJudgement {
  /** `jdg_<n>`, n increasing in the order judgements were cast. */
  readonly id: string;
}

/** Judgement ids are the store's sequence number behind a prefix: paging is by that number. */
export const JUDGEMENT_ID = /^jdg_([1-9]\d{0,14})$/;

export const judgementId = (seq: number): string => `jdg_${seq}`;

export interface JudgementStore {
  addJudgement(j: NewJudgement): Promise<StoredJudgement>;
  /** Every judgement's models and winner, in the order cast (the leaderboard's input). */
  judgementOutcomes(): Promise<JudgementOutcome[]>;
  /**
   * Newest first; `owner` as for runs (a key sees its own, undefined all); `model` keeps those naming
   * it on either side; `after` is the last id of the previous page (a well-formed `jdg_<n>`).
   */
  listJudgements(q: { owner: RunOwner; model?: string | undefined; limit: number; after?: string | undefined }): Promise<{ data: StoredJudgement[]; hasMore: boolean }>;
}
