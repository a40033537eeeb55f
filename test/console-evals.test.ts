/** The Evaluations page's pure shaping (web/src/evals.ts): the cases × models matrix, case labels, chart points, the example suite. */
import { describe, expect, it } from 'vitest';
import { buildMatrix, caseLabel, exampleSuite, modelPoints, truncate } from '../web/src/evals.js';
import type { EvalCell, ModelStats } from '../web/src/evals.js';
import { parseSuite, parseDoc } from '../src/eval/suite.js';

function cell(testIdx: number, promptIdx: number, providerIdx: number, repeat: number, o: Partial<EvalCell> = {}): EvalCell {
  return {
    key: `${testIdx}:${promptIdx}:${providerIdx}:${repeat}`,
    testIdx,
    promptIdx,
    providerIdx,
    repeat,
    description: null,
    provider: { id: `m${providerIdx}`, label: `m${providerIdx}` },
    prompt: { raw: 'x', label: `p${promptIdx}` },
    vars: { q: `case ${testIdx}` },
    response: { output: 'ok', cached: false },
    error: null,
    success: true,
    score: 1,
    cost: 0,
    latencyMs: 1,
    requestId: null,
    gradingResult: { pass: true, score: 1, reason: '', componentResults: [] },
    ...o,
  };
}

describe('the cases × models matrix', () => {
  it('groups repetitions into one cell with pass@1, pass^N and the mean score', () => {
    const m = buildMatrix([
      cell(0, 0, 0, 0),
      cell(0, 0, 0, 1, { success: false, score: 0.25 }),
      cell(0, 0, 0, 2),
      cell(0, 0, 1, 0),
      cell(0, 0, 1, 1),
      cell(0, 0, 1, 2),
    ]);
    expect(m.rows).toHaveLength(1);
    expect(m.columns.map((c) => c.key)).toEqual(['0:0', '1:0']);
    expect(m.manyPrompts).toBe(false);
    const flaky = m.rows[0]!.cells.get('0:0')!;
    expect(flaky).toMatchObject({ runs: 3, passes: 2, passAll: false, error: false });
    expect(flaky.passAt1).toBeCloseTo(2 / 3, 12);
    expect(flaky.meanScore).toBeCloseTo(0.75, 12);
    expect(m.rows[0]!.cells.get('1:0')).toMatchObject({ runs: 3, passes: 3, passAll: true, passAt1: 1, meanScore: 1 });
  });

  it('orders columns by model then prompt, rows by case, whatever order the cells come in; a missing cell stays missing', () => {
    const m = buildMatrix([cell(1, 1, 1, 0), cell(0, 1, 0, 0), cell(1, 0, 0, 0), cell(0, 0, 1, 0)]);
    expect(m.columns.map((c) => [c.provider.id, c.promptLabel])).toEqual([
      ['m0', 'p0'],
      ['m0', 'p1'],
      ['m1', 'p0'],
      ['m1', 'p1'],
    ]);
    expect(m.manyPrompts).toBe(true);
    expect(m.rows.map((r) => r.testIdx)).toEqual([0, 1]);
    expect(m.rows[0]!.cells.has('0:0')).toBe(false);
  });

  it("marks a cell as an error only when every try errored, and reads the model from the key for older hubs", () => {
    const { providerIdx: _, ...old } = cell(0, 0, 2, 0, { error: 'bad_request: nope', success: false, score: 0, response: null });
    const m = buildMatrix([old as EvalCell, cell(1, 0, 2, 0, { error: 'boom', success: false, score: 0 }), cell(1, 0, 2, 1, { success: false, score: 0 })]);
    expect(m.columns.map((c) => c.providerIdx)).toEqual([2]);
    expect(m.rows[0]!.cells.get('2:0')!.error).toBe(true);
    expect(m.rows[1]!.cells.get('2:0')!.error).toBe(false);
  });

  it('labels a case by its description, else its vars; long or hostile text is cut, never interpreted', () => {
    expect(caseLabel({ description: 'greets back', vars: { q: 'hi' } })).toBe('greets back');
    expect(caseLabel({ description: null, vars: { q: '<img src=x onerror=alert(1)>', n: 2, o: { a: [1] } } })).toBe('q=<img src=x onerror=alert(1)>, n=2, o={"a":[1]}');
    expect(caseLabel({ description: null, vars: { q: 'line one\n\nline two' } })).toBe('q=line one line two');
    const long = caseLabel({ description: '长'.repeat(500), vars: {} }, 10);
    expect(Array.from(long)).toHaveLength(10);
    expect(long.endsWith('…')).toBe(true);
    expect(truncate('😀'.repeat(5), 3)).toBe('😀😀…');
  });
});

describe('quality-versus-cost points', () => {
  const models: ModelStats[] = [
    { provider: 'a', label: 'A', cases: 4, passed: 3, pass_rate: 0.75, mean_score: 0.8, cost_usd: 0.4, mean_cost_usd: 0.1 },
    { provider: 'b', label: '', cases: 0, passed: 0, pass_rate: null, mean_score: null, cost_usd: 0, mean_cost_usd: null },
  ];
  it('takes the chosen axes, and leaves out a model with nothing on them yet', () => {
    expect(modelPoints(models, 'total', 'passRate')).toEqual([{ id: 'a', label: 'A', x: 0.4, y: 0.75, cases: 4 }]);
    expect(modelPoints(models, 'perCase', 'meanScore')).toEqual([{ id: 'a', label: 'A', x: 0.1, y: 0.8, cases: 4 }]);
  });
});

describe("the new run's example", () => {
  it("is a suite the hub's reader accepts, over the hub's first two chat models, quoting names YAML would misread", () => {
    for (const models of [['loop/smart', 'loop/cheap', 'loop/other'], ['ollama:llama3'], []]) {
      const text = exampleSuite(models);
      const suite = parseSuite(parseDoc(text, 'example'), 'example.yaml');
      expect(suite.providers.map((p) => p.id)).toEqual(models.length ? models.slice(0, 2) : ['provider/model-a', 'provider/model-b']);
      expect(suite.tests).toHaveLength(2);
    }
  });
});
