/** `compareReports` over promptfoo-shaped JSON outputs, and `baimo eval compare` on files: matching, ordering, counts, exit codes, bad input. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { evalCommand } from '../../src/cli/eval.js';
import { compareReports, CompareError } from '../../src/eval/compare.js';

type R = { provider: string; prompt: string; vars: Record<string, unknown>; success: boolean; score?: number; output?: string; error?: string };
const report = (id: string, rows: R[]) => ({
  evalId: id,
  results: {
    results: rows.map((r) => ({ provider: { id: r.provider, label: r.provider }, prompt: { raw: r.prompt, label: r.prompt }, vars: r.vars, success: r.success, score: r.score ?? (r.success ? 1 : 0), response: { output: r.output ?? 'ok' }, error: r.error ?? null, cost: 0.01 })),
  },
});

const dir = mkdtempSync(join(tmpdir(), 'baimo-compare-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('compareReports', () => {
  const A = report('a', [
    { provider: 'm1', prompt: 'p', vars: { x: 1, y: 2 }, success: true },
    { provider: 'm1', prompt: 'p', vars: { x: 2 }, success: false, score: 0.2 },
    { provider: 'm1', prompt: 'p', vars: { x: 3 }, success: true, score: 0.9 },
    { provider: 'm1', prompt: 'p', vars: { x: 4 }, success: true, score: 0.8 },
    { provider: 'm2', prompt: 'p', vars: { x: 1, y: 2 }, success: true },
    { provider: 'm1', prompt: 'gone', vars: {}, success: true },
  ]);
  // Reordered, keys in another order: still matched by provider + prompt + vars.
  const B = report('b', [
    { provider: 'm1', prompt: 'p', vars: { x: 4 }, success: true, score: 0.7 },
    { provider: 'm2', prompt: 'p', vars: { y: 2, x: 1 }, success: true },
    { provider: 'm1', prompt: 'p', vars: { x: 3 }, success: true, score: 0.5 },
    { provider: 'm1', prompt: 'p', vars: { x: 2 }, success: true },
    { provider: 'm1', prompt: 'p', vars: { y: 2, x: 1 }, success: false, output: 'wrong', error: 'upstream 500' },
    { provider: 'm1', prompt: 'new', vars: {}, success: true },
  ]);

  it('finds the regression first, then improvements, then score changes (largest drop first)', () => {
    const c = compareReports(A, B);
    expect(c.summary).toEqual({ matched: 5, regressions: 1, improvements: 1, scoreChanges: 2, unchanged: 1, onlyInA: 1, onlyInB: 1 });
    expect(c.regressions[0]).toMatchObject({ provider: 'm1', vars: { x: 1, y: 2 }, a: { success: true }, b: { success: false, output: 'error: upstream 500' } });
    expect(c.improvements[0]).toMatchObject({ vars: { x: 2 } });
    expect(c.scoreChanges.map((e) => e.vars.x)).toEqual([3, 4]);
    expect(c.scoreChanges[0]!.scoreDelta).toBeCloseTo(-0.4);
    expect(c.onlyInA[0]!.prompt).toBe('gone');
    expect(c.onlyInB[0]!.prompt).toBe('new');
    expect(c.a.runId).toBe('a');
  });

  it('treats repetitions as one case that passes only when every try did', () => {
    const a = report('a', [1, 2, 3].map(() => ({ provider: 'm', prompt: 'p', vars: {}, success: true })));
    const b = report('b', [true, false, true].map((s) => ({ provider: 'm', prompt: 'p', vars: {}, success: s })));
    const c = compareReports(a, b);
    expect(c.summary.regressions).toBe(1);
    expect(c.regressions[0]!.b).toMatchObject({ runs: 3, passes: 2, success: false });
  });

  it('refuses what is not an eval report', () => {
    expect(() => compareReports({}, report('b', []))).toThrow(CompareError);
    expect(() => compareReports(report('a', []), { results: { results: [{ provider: 1 }] } })).toThrow(/B: results\[0\]/);
    expect(() => compareReports(null, null)).toThrow(CompareError);
  });
});

describe('baimo eval compare', () => {
  async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const o = process.stdout.write;
    const e = process.stderr.write;
    process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
    try {
      return { code: await evalCommand(args), out, err };
    } finally {
      process.stdout.write = o;
      process.stderr.write = e;
    }
  }
  const file = (name: string, body: unknown) => {
    const p = join(dir, name);
    writeFileSync(p, typeof body === 'string' ? body : JSON.stringify(body));
    return p;
  };
  const pass = report('a', [{ provider: 'm', prompt: 'p', vars: {}, success: true }]);
  const fail = report('b', [{ provider: 'm', prompt: 'p', vars: {}, success: false }]);

  it('exits 1 on a regression, 0 on none (an improvement included), and prints JSON with --json', async () => {
    const r = await cli(['compare', file('a.json', pass), file('b.json', fail)]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('REGRESSION');
    expect((await cli(['compare', file('b.json', fail), file('a.json', pass)])).code).toBe(0);
    const j = await cli(['compare', '--json', file('a.json', pass), file('b.json', fail)]);
    expect(JSON.parse(j.out).summary.regressions).toBe(1);
  });

  it('exits 2 on missing files, non-JSON, non-reports and wrong arguments', async () => {
    expect((await cli(['compare', join(dir, 'missing.json'), file('a.json', pass)])).code).toBe(2);
    expect((await cli(['compare', file('x.json', '{oops'), file('a.json', pass)])).code).toBe(2);
    const r = await cli(['compare', file('y.json', { hello: 1 }), file('a.json', pass)]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('not an eval report');
    expect((await cli(['compare', file('a.json', pass)])).code).toBe(2);
  });
});
