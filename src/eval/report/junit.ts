/**
 * JUnit XML for CI: one <testsuite> per provider, one <testcase> per case (test × prompt) on it;
 * with --repeat N the case fails unless all N tries passed, and says pass@1. Everything from the
 * suite or a model is escaped, and characters XML 1.0 cannot hold are dropped.
 */
import type { RunResult } from '../run.js';

export function xmlEscape(s: string): string {
  return s
    .replace(/[^\x09\x0A\x0D\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

export function caseName(run: RunResult, testIdx: number, promptIdx: number): string {
  const t = run.suite.tests[testIdx]!;
  const name = t.description ?? (Object.keys(t.vars).length ? JSON.stringify(t.vars).slice(0, 120) : `test ${testIdx + 1}`);
  return run.suite.prompts.length > 1 ? `${name} [${run.suite.prompts[promptIdx]!.label}]` : name;
}

export function junitReport(run: RunResult): string {
  const s = run.suite;
  const lines: string[] = [];
  let total = 0;
  let failed = 0;
  let errored = 0;
  const suites: string[] = [];
  s.providers.forEach((p, v) => {
    const body: string[] = [];
    let tests = 0;
    let failures = 0;
    let errors = 0;
    let time = 0;
    for (let t = 0; t < s.tests.length; t++)
      for (let q = 0; q < s.prompts.length; q++) {
        if (!s.tests[t]!.providers.includes(v)) continue;
        tests++;
        const cells = run.results.filter((r) => r.testIdx === t && r.promptIdx === q && r.providerIdx === v);
        const secs = cells.reduce((n, r) => n + r.latencyMs, 0) / 1000;
        time += secs;
        const open = `    <testcase classname="${xmlEscape(p.label)}" name="${xmlEscape(caseName(run, t, q))}" time="${secs.toFixed(3)}">`;
        const passes = cells.filter((r) => r.success).length;
        const err = cells.find((r) => r.error);
        if (cells.length < run.repeat) {
          errors++;
          body.push(open, `      <error message="${xmlEscape(`not run (${run.status})`)}"/>`, '    </testcase>');
        } else if (err && passes < cells.length) {
          errors++;
          body.push(open, `      <error message="${xmlEscape(err.error!.slice(0, 500))}"/>`, '    </testcase>');
        } else if (passes < cells.length) {
          failures++;
          const first = cells.find((r) => !r.success)!;
          const msg = run.repeat > 1 ? `${passes}/${cells.length} passed (pass@1 ${(passes / cells.length).toFixed(2)}): ${first.reason}` : first.reason;
          body.push(open, `      <failure message="${xmlEscape(msg.slice(0, 500))}">${xmlEscape(`${msg}\n\nOutput:\n${first.response?.output ?? ''}`)}</failure>`, '    </testcase>');
        } else body.push(`${open.slice(0, -1)}/>`);
      }
    total += tests;
    failed += failures;
    errored += errors;
    suites.push(`  <testsuite name="${xmlEscape(p.label)}" tests="${tests}" failures="${failures}" errors="${errors}" time="${time.toFixed(3)}">`, ...body, '  </testsuite>');
  });
  lines.push('<?xml version="1.0" encoding="UTF-8"?>');
  lines.push(`<testsuites name="${xmlEscape(s.description ?? 'baimo eval')}" tests="${total}" failures="${failed}" errors="${errored}">`);
  lines.push(...suites, '</testsuites>', '');
  return lines.join('\n');
}
