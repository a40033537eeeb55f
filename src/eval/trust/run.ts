/**
 * A trust run: the perspectives' suites one after another through one caller (so one run id
 * tags every call, and the cache and the key's limits are shared), under one cost ceiling for
 * the whole run. A part that stops (ceiling, cancel) ends the run; the parts done are kept.
 * `resume` takes back the cells a stopped run of the same suites finished (per perspective, as
 * eval run's resume does per suite): they are not asked or charged again, and count towards the
 * ceiling and the summary as if this run had made them.
 */
import { runSuite } from '../run.js';
import type { CellResult, Progress, RunOptions, RunStatus } from '../run.js';
import type { Suite } from '../suite.js';
import { caseCount } from '../suite.js';
import type { Perspective } from './suites.js';
import type { TrustPart, TrustRun } from './summary.js';

export interface TrustOptions extends Omit<RunOptions, 'repeat' | 'resume' | 'onResult'> {
  readonly models: readonly string[];
  readonly grader: string;
  /** Cells a stopped run of the same suites finished, by perspective: not run again. */
  readonly resume?: ReadonlyMap<string, readonly CellResult[]> | undefined;
  /** Each cell as it finishes (not resumed ones), with its perspective: where the CLI keeps its resume file. */
  readonly onResult?: ((perspective: Perspective, cell: CellResult) => void) | undefined;
}

export async function runTrust(suites: readonly { perspective: Perspective; suite: Suite }[], o: TrustOptions): Promise<TrustRun> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const total = suites.reduce((n, s) => n + caseCount(s.suite), 0);
  const parts: TrustPart[] = [];
  let spent = 0;
  let done = 0;
  let failures = 0;
  let status: RunStatus = 'complete';
  for (const { perspective, suite } of suites) {
    const left = o.maxCostUsd === undefined ? undefined : o.maxCostUsd - spent;
    if (left !== undefined && left <= 0) {
      status = 'budget';
      break;
    }
    const before = { done, failures, spent };
    const { resume, onResult, ...rest } = o;
    const run = await runSuite(suite, {
      ...rest,
      repeat: 1,
      maxCostUsd: left,
      resume: resume?.get(perspective),
      onResult: onResult && ((c: CellResult) => onResult(perspective, c)),
      // One bar for the whole run: this part's figures on top of the parts before it.
      onProgress: o.onProgress && ((p: Progress) => o.onProgress!({ ...p, done: before.done + p.done, total, failures: before.failures + p.failures, spentUsd: before.spent + p.spentUsd, elapsedMs: performance.now() - t0 })),
    });
    parts.push({ perspective, run });
    spent += run.spentUsd;
    done += run.results.length;
    failures += run.results.filter((r) => !r.success).length;
    if (run.status !== 'complete') {
      status = run.status;
      break;
    }
  }
  return { runId: o.runId, startedAt, finishedAt: new Date().toISOString(), status, models: o.models, grader: o.grader, parts, spentUsd: spent };
}
