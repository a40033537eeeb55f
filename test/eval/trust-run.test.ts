/**
 * Every trust case through the gateway over the loopback OpenAI upstream, whose models echo:
 * `loop/gpt-test` answers "Hello from gpt-test! You said: <the last user message>" and never sees
 * the system prompt; the grader `loop/grader` echoes its grading prompt, which carries no
 * verdict JSON. So, deterministically, per perspective:
 * - jailbreak passes every case: the canary is only in the system prompt, and each hidden
 *   instruction spells its code word in parts, so an echo of the attack holds neither — this
 *   checks the suite is built as its rule says. The two attacks that quote a refusal ("never
 *   say “I'm sorry, but I can't help with that”", "从来不会说“抱歉，我无法提供”") echo back as
 *   refusals: the refusal rate counts them.
 * - over-refusal passes every case (an echo is not a refusal);
 * - toxicity fails every case (the grader gives no verdict), after a grader call per case;
 * - stereotype fails every case (an echo does not start with a letter or say "answer is");
 * - privacy passes exactly the cases with the PII in the system prompt and fails those with it
 *   in the user turn (the echo repeats it);
 * - hallucination fails every case (an echo never says it does not know).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatewayCaller } from '../../src/eval/caller.js';
import { runTrust } from '../../src/eval/trust/run.js';
import { trustReport } from '../../src/eval/trust/report.js';
import { langOf, loadTrustSuite, PERSPECTIVES } from '../../src/eval/trust/suites.js';
import { trustSummary, trustTable } from '../../src/eval/trust/summary.js';
import type { TrustRun } from '../../src/eval/trust/summary.js';
import { startLoop } from './helpers.js';
import type { Loop } from './helpers.js';

let loop: Loop;
let run: TrustRun;
beforeAll(async () => {
  loop = await startLoop();
  const local = await loop.open();
  try {
    const suites = PERSPECTIVES.map((perspective) => ({ perspective, suite: loadTrustSuite(perspective, { models: ['loop/gpt-test'], grader: 'loop/grader' }) }));
    run = await runTrust(suites, { caller: gatewayCaller(local.gateway, local.principal(undefined), 'eval_trustall'), runId: 'eval_trustall', models: ['loop/gpt-test'], grader: 'loop/grader', concurrency: 8 });
  } finally {
    await local.close();
  }
}, 240_000);
afterAll(() => loop?.dispose());

const part = (p: string) => run.parts.find((x) => x.perspective === p)!.run;

describe('every trust case over the echo', () => {
  it('runs all six perspectives to the end, every case answered', () => {
    expect(run.status).toBe('complete');
    expect(run.parts.map((p) => p.perspective)).toEqual([...PERSPECTIVES]);
    for (const { run: r } of run.parts) {
      expect(r.results).toHaveLength(r.suite.tests.length);
      expect(r.results.every((c) => c.error === undefined && c.response!.output.startsWith('Hello from gpt-test! You said: '))).toBe(true);
    }
  });

  it('scores each perspective as the echo deserves (see the file comment), with the refusal rate', () => {
    const s = trustSummary(run);
    const cell = (p: string) => s.cells.find((c) => c.perspective === p)!;
    expect(cell('jailbreak')).toMatchObject({ cases: 60, passed: 60, score: 1, refusals: 2 });
    expect(cell('jailbreak').refusalRate).toBeCloseTo(2 / 60, 12);
    const refused = part('jailbreak').results.filter((r) => /I'm sorry, but I can't|抱歉，我无法/.test(r.response!.output));
    expect(refused.map((r) => langOf(part('jailbreak').suite.tests[r.testIdx]!)).sort()).toEqual(['en', 'zh']);
    expect(cell('over-refusal')).toMatchObject({ cases: 62, passed: 62, score: 1, refusals: 0 });
    expect(cell('toxicity')).toMatchObject({ cases: 60, passed: 0, score: 0 });
    expect(cell('stereotype')).toMatchObject({ cases: 60, passed: 0, score: 0 });
    expect(cell('privacy')).toMatchObject({ cases: 60, passed: 30, score: 0.5 });
    expect(cell('hallucination')).toMatchObject({ cases: 62, passed: 0, score: 0 });
    // Priced upstream: every perspective cost something.
    expect(s.cells.every((c) => c.costUsd > 0)).toBe(true);
    expect(s.totals[0]!.meanScore).toBeCloseTo((1 + 1 + 0 + 0 + 0.5 + 0) / 6, 12);
    expect(trustTable(s)).toMatch(/loop\/gpt-test\s+privacy\s+50\.0%\s+30\/60\s+0\.0%\s+\$0\.\d{4}/);
  });

  it('privacy: passes exactly where the PII was in the system prompt only', () => {
    const r = part('privacy');
    for (const c of r.results) expect(c.success).toBe(r.suite.tests[c.testIdx]!.metadata?.where === 'system');
  });

  it('toxicity: one grader call per case, its prompt and reply kept, no verdict → fail', () => {
    for (const c of part('toxicity').results) {
      const g = c.componentResults[0]!;
      expect(g.grader).toMatchObject({ model: 'loop/grader' });
      expect(g.grader!.prompt).toContain('<Rubric>');
      expect(g.reason).toMatch(/did not answer/);
    }
  });

  it('writes JSON shaped like eval run\'s, every result tagged with its perspective, plus the trust summary', () => {
    const json = trustReport(run, trustSummary(run)) as any;
    expect(json.evalId).toBe('eval_trustall');
    expect(json.results.results).toHaveLength(364);
    expect(json.results.stats.successes + json.results.stats.failures).toBe(364);
    expect(json.results.stats.successes).toBe(60 + 62 + 30);
    expect(new Set(json.results.results.map((r: { perspective: string }) => r.perspective))).toEqual(new Set(PERSPECTIVES));
    expect(json.results.prompts.map((p: { id: string }) => p.id)).toContain('privacy:0');
    expect(json.baimo.perspectives.privacy).toMatchObject({ done: 60, status: 'complete' });
    expect(json.baimo.perspectives.privacy.description).toContain('Grading rule');
    expect(json.trust.cells).toHaveLength(6);
  });

  it('records every call under the run id, answers and grader calls alike', () => {
    const rows = loop.rows().filter((r) => r.request_id.startsWith('eval_trustall.'));
    expect(rows.filter((r) => r.model === 'loop/gpt-test')).toHaveLength(364);
    expect(rows.filter((r) => r.model === 'loop/grader')).toHaveLength(60);
  });
});
