/**
 * A trust run as JSON: eval run's promptfoo shape (report/json.ts) over all the perspectives —
 * `results.results[]` from every part, each with its `perspective` (prompt ids are prefixed with
 * it, as two suites' prompt 0 differ), stats summed — plus `baimo.perspectives` (each part's own
 * figures) and the `trust` summary (per model × perspective score, refusal rate, cost).
 */
import { jsonReport } from '../report/json.js';
import type { TrustRun, TrustSummary } from './summary.js';

interface PartJson {
  results: { prompts: { id: string }[]; results: { promptIdx: number }[]; stats: { successes: number; failures: number; errors: number; tokenUsage: Record<'total' | 'prompt' | 'completion' | 'cached', number> } };
  baimo: Record<string, unknown>;
}

export function trustReport(t: TrustRun, summary: TrustSummary): Record<string, unknown> {
  const parts = t.parts.map((p) => ({ name: p.perspective, description: p.run.suite.description, json: jsonReport(p.run) as unknown as PartJson }));
  const stats = { successes: 0, failures: 0, errors: 0, tokenUsage: { total: 0, prompt: 0, completion: 0, cached: 0 } };
  for (const { json } of parts) {
    const s = json.results.stats;
    stats.successes += s.successes;
    stats.failures += s.failures;
    stats.errors += s.errors;
    for (const k of ['total', 'prompt', 'completion', 'cached'] as const) stats.tokenUsage[k] += s.tokenUsage[k];
  }
  return {
    evalId: t.runId,
    results: {
      version: 3,
      timestamp: t.startedAt,
      prompts: parts.flatMap(({ name, json }) => json.results.prompts.map((p) => ({ ...p, id: `${name}:${p.id}` }))),
      results: parts.flatMap(({ name, json }) => json.results.results.map((r) => ({ ...r, perspective: name, promptId: `${name}:${r.promptIdx}` }))),
      stats,
    },
    config: { description: 'Baimo trust suites', providers: t.models.map((id) => ({ id, label: id })) },
    baimo: {
      runId: t.runId,
      status: t.status,
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
      spentUsd: t.spentUsd,
      perspectives: Object.fromEntries(parts.map(({ name, description, json }) => [name, { description, ...json.baimo }])),
    },
    trust: summary,
  };
}
