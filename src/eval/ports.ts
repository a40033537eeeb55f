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
}
