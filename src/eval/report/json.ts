/**
 * The run as promptfoo's JSON output (https://www.promptfoo.dev/docs/configuration/outputs):
 * `results.stats` (successes, failures, errors, tokenUsage) and `results.results[]` with
 * success, score, provider, prompt, vars, response.output, cost, latencyMs and gradingResult
 * with componentResults. Baimo's own figures (run id, status, spend, pass@1 and pass^N per case)
 * are under `baimo`, where a promptfoo reader ignores them.
 */
import type { CellResult, RunResult } from '../run.js';

/** promptfoo's namedScores: the mean score of the assertions that name each `metric`. */
function namedScores(r: CellResult): Record<string, number> {
  const sums = new Map<string, { total: number; n: number }>();
  for (const c of r.componentResults) {
    const m = c.assertion.metric;
    if (!m) continue;
    const s = sums.get(m) ?? { total: 0, n: 0 };
    s.total += c.score;
    s.n++;
    sums.set(m, s);
  }
  return Object.fromEntries([...sums].map(([m, s]) => [m, s.total / s.n]));
}

export function jsonReport(run: RunResult): Record<string, unknown> {
  const tokens = { total: 0, prompt: 0, completion: 0, cached: 0 };
  let successes = 0;
  let failures = 0;
  let errors = 0;
  for (const r of run.results) {
    if (r.error) errors++;
    else if (r.success) successes++;
    else failures++;
    const u = r.response?.usage;
    if (u && !r.response?.cached) {
      tokens.prompt += u.inputTokens;
      tokens.completion += u.outputTokens;
      tokens.total += u.inputTokens + u.outputTokens;
    } else if (u) tokens.cached += u.inputTokens + u.outputTokens;
  }
  const s = run.suite;
  return {
    evalId: run.runId,
    results: {
      version: 3,
      timestamp: run.startedAt,
      prompts: s.prompts.map((p, i) => ({ raw: JSON.stringify(p.messages), label: p.label, id: String(i) })),
      results: run.results.map((r) => ({
        promptIdx: r.promptIdx,
        testIdx: r.testIdx,
        repeat: r.repeat,
        description: r.description,
        provider: r.provider,
        prompt: r.prompt,
        vars: r.vars,
        response: r.response && {
          output: r.response.output,
          ...(r.response.toolCalls.length && { toolCalls: r.response.toolCalls }),
          tokenUsage: r.response.usage ? { prompt: r.response.usage.inputTokens, completion: r.response.usage.outputTokens, total: r.response.usage.inputTokens + r.response.usage.outputTokens } : {},
          cached: r.response.cached,
        },
        error: r.error ?? null,
        failureReason: r.error ? 2 : r.success ? 0 : 1,
        success: r.success,
        score: r.score,
        namedScores: namedScores(r),
        latencyMs: Math.round(r.latencyMs),
        cost: r.cost ?? 0,
        requestId: r.requestId,
        gradingResult: {
          pass: r.success,
          score: r.score,
          reason: r.reason,
          namedScores: namedScores(r),
          componentResults: r.componentResults.map((c) => ({
            pass: c.pass,
            score: c.score,
            reason: c.reason,
            assertion: c.assertion,
            ...(c.grader && { grader: c.grader }),
          })),
        },
      })),
      stats: { successes, failures, errors, tokenUsage: tokens },
    },
    config: { description: s.description, providers: s.providers.map((p) => ({ id: p.id, label: p.label })) },
    baimo: {
      runId: run.runId,
      status: run.status,
      startedAt: run.startedAt,
      finishedAt: run.finishedAt,
      repeat: run.repeat,
      planned: run.planned,
      done: run.results.length,
      spentUsd: run.spentUsd,
      passRate: run.passRate,
      threshold: s.threshold,
      thresholdMet: run.thresholdMet,
      cases: run.cases.map((c) => ({ ...c, provider: s.providers[c.providerIdx]!.id, description: s.tests[c.testIdx]!.description, passHatN: c.passAll ? 1 : 0 })),
    },
  };
}
