/**
 * What a trust run says per model and perspective: the score (cases passed over cases run), the
 * refusal rate (answers the hub's phrase-based is-refusal rule calls refusals, over answers
 * received), and what the model's answers cost (as priced, cached answers included, so two runs
 * compare; grader calls are the run's spend, not the model's).
 */
import { isRefusalText } from '../assertions/text.js';
import type { RunResult, RunStatus } from '../run.js';
import type { Perspective } from './suites.js';

export interface TrustPart {
  readonly perspective: Perspective;
  readonly run: RunResult;
}

export interface TrustRun {
  readonly runId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** complete, or why the run stopped (the parts after that one were not run). */
  readonly status: RunStatus;
  readonly models: readonly string[];
  readonly grader: string;
  readonly parts: readonly TrustPart[];
  readonly spentUsd: number;
}

export interface TrustCell {
  readonly model: string;
  readonly perspective: Perspective;
  /** Cases run (with an answer or an error) and planned. */
  readonly cases: number;
  readonly planned: number;
  readonly passed: number;
  /** passed / cases; 0 when none ran. */
  readonly score: number;
  readonly answered: number;
  readonly refusals: number;
  /** refusals / answered; 0 when nothing was answered. */
  readonly refusalRate: number;
  readonly errors: number;
  readonly costUsd: number;
}

export interface TrustModelTotal {
  readonly model: string;
  /** The mean of the perspectives' scores (each perspective weighs the same). */
  readonly meanScore: number;
  readonly refusalRate: number;
  readonly costUsd: number;
}

export interface TrustSummary {
  readonly runId: string;
  readonly status: RunStatus;
  readonly grader: string;
  readonly perspectives: readonly Perspective[];
  readonly models: readonly string[];
  readonly cells: readonly TrustCell[];
  readonly totals: readonly TrustModelTotal[];
  readonly spentUsd: number;
}

export function trustSummary(t: TrustRun): TrustSummary {
  const cells: TrustCell[] = [];
  for (const { perspective, run } of t.parts) {
    run.suite.providers.forEach((p, v) => {
      const rs = run.results.filter((r) => r.providerIdx === v);
      const answered = rs.filter((r) => r.response !== undefined);
      const refusals = answered.filter((r) => isRefusalText(r.response!.output)).length;
      const passed = rs.filter((r) => r.success).length;
      cells.push({
        model: p.id,
        perspective,
        cases: rs.length,
        planned: run.suite.tests.filter((x) => x.providers.includes(v)).length * run.suite.prompts.length * run.repeat,
        passed,
        score: rs.length ? passed / rs.length : 0,
        answered: answered.length,
        refusals,
        refusalRate: answered.length ? refusals / answered.length : 0,
        errors: rs.filter((r) => r.error !== undefined).length,
        costUsd: rs.reduce((n, r) => n + (r.cost ?? 0), 0),
      });
    });
  }
  const totals = t.models.map((model): TrustModelTotal => {
    const mine = cells.filter((c) => c.model === model);
    const answered = mine.reduce((n, c) => n + c.answered, 0);
    return {
      model,
      meanScore: mine.length ? mine.reduce((n, c) => n + c.score, 0) / mine.length : 0,
      refusalRate: answered ? mine.reduce((n, c) => n + c.refusals, 0) / answered : 0,
      costUsd: mine.reduce((n, c) => n + c.costUsd, 0),
    };
  });
  return { runId: t.runId, status: t.status, grader: t.grader, perspectives: t.parts.map((p) => p.perspective), models: t.models, cells, totals, spentUsd: t.spentUsd };
}

const pct = (x: number) => `${(x * 100).toFixed(1)}%`;

/** The terminal table: a row per model × perspective, then each model's overall row. */
export function trustTable(s: TrustSummary): string {
  const head = ['model', 'perspective', 'score', 'passed', 'refusals', 'cost'];
  const rows: string[][] = s.cells.map((c) => [c.model, c.perspective, pct(c.score), `${c.passed}/${c.cases}${c.cases < c.planned ? ` of ${c.planned}` : ''}${c.errors ? ` (${c.errors} errors)` : ''}`, pct(c.refusalRate), `$${c.costUsd.toFixed(4)}`]);
  for (const t of s.totals) rows.push([t.model, '(mean)', pct(t.meanScore), '', pct(t.refusalRate), `$${t.costUsd.toFixed(4)}`]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((x, i) => (i >= 2 ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [`Trust suites: run ${s.runId} ${s.status} · grader ${s.grader} · spent $${s.spentUsd.toFixed(4)}`, line(head), ...rows.map(line)];
  return `${out.join('\n')}\n`;
}
