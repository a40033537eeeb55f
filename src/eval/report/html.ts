/**
 * A self-contained HTML report: one file, no scripts, no external assets (a Content-Security-Policy
 * forbids them too), every piece of text from the suite or a model escaped. A matrix of cases ×
 * providers, each cell coloured by its score, with the answer and the grading (grader prompts and
 * replies included) in a <details> below it; a summary per provider (pass rate, cost).
 */
import type { CellResult, RunResult } from '../run.js';
import { caseName } from './junit.js';

export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const e = htmlEscape;
const usd = (n: number) => (n === 0 ? '$0' : n < 0.01 ? `$${n.toPrecision(2)}` : `$${n.toFixed(4)}`);

/** Red (0) to green (1), light enough for dark text. */
function colour(score: number): string {
  const hue = Math.round(Math.max(0, Math.min(1, score)) * 120);
  return `hsl(${hue} 70% 85%)`;
}

function cellDetails(cells: readonly CellResult[]): string {
  return cells
    .map((r) => {
      const comps = r.componentResults
        .map(
          (c) =>
            `<li class="${c.pass ? 'ok' : 'bad'}"><b>${e(c.assertion.type)}</b> ${c.pass ? 'pass' : 'fail'} (${c.score.toFixed(2)}) — ${e(c.reason)}${
              c.grader ? `<details><summary>grader ${e(c.grader.model)}${c.grader.cached ? ' (cached)' : ''}</summary><pre>${e(c.grader.prompt)}</pre><p>answered:</p><pre>${e(c.grader.output)}</pre></details>` : ''
            }</li>`,
        )
        .join('');
      const calls = r.response?.toolCalls.length ? `<p>tool calls:</p><pre>${e(JSON.stringify(r.response.toolCalls, null, 2))}</pre>` : '';
      return `<div class="try"><p>${r.repeat > 0 || cells.length > 1 ? `try ${r.repeat + 1}: ` : ''}${r.success ? 'pass' : 'fail'} · score ${r.score.toFixed(2)} · ${Math.round(r.latencyMs)} ms · ${usd(r.cost ?? 0)}${r.response?.cached ? ' · cached' : ''}</p>${
        r.error ? `<p class="bad">error: ${e(r.error)}</p>` : `<pre>${e(r.response?.output ?? '')}</pre>${calls}`
      }<ul>${comps}</ul></div>`;
    })
    .join('');
}

export function htmlReport(run: RunResult): string {
  const s = run.suite;
  const rows: string[] = [];
  for (let t = 0; t < s.tests.length; t++)
    for (let q = 0; q < s.prompts.length; q++) {
      const tds = s.providers.map((_, v) => {
        if (!s.tests[t]!.providers.includes(v)) return '<td class="none">—</td>';
        const cells = run.results.filter((r) => r.testIdx === t && r.promptIdx === q && r.providerIdx === v);
        if (!cells.length) return '<td class="none">not run</td>';
        const passes = cells.filter((r) => r.success).length;
        const score = cells.reduce((n, r) => n + r.score, 0) / cells.length;
        return `<td style="background:${colour(score)}"><details><summary>${passes}/${cells.length} pass · ${score.toFixed(2)}</summary>${cellDetails(cells)}</details></td>`;
      });
      rows.push(`<tr><th scope="row">${e(caseName(run, t, q))}</th>${tds.join('')}</tr>`);
    }
  const perProvider = s.providers
    .map((p, v) => {
      const cells = run.results.filter((r) => r.providerIdx === v);
      const passes = cells.filter((r) => r.success).length;
      const cost = cells.reduce((n, r) => n + (r.cost ?? 0), 0);
      return `<tr><th scope="row">${e(p.label)}</th><td>${passes}/${cells.length}</td><td>${usd(cost)}</td></tr>`;
    })
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>${e(s.description ?? 'baimo eval')} — ${e(run.runId)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#111}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:.3em .5em;vertical-align:top;text-align:left}
td{min-width:12em;max-width:40em}pre{white-space:pre-wrap;word-break:break-word;background:#fff8;padding:.3em;margin:.2em 0}
.ok{color:#064}.bad{color:#900}.none{color:#777;font-style:italic}.try{border-top:1px dashed #999;margin-top:.3em}
</style></head><body>
<h1>${e(s.description ?? 'baimo eval')}</h1>
<p>Run <code>${e(run.runId)}</code> · ${e(run.status)} · ${run.results.length}/${run.planned} cells · repeat ${run.repeat} · spent ${usd(run.spentUsd)} · ${e(run.startedAt)}</p>
<p class="${run.thresholdMet ? 'ok' : 'bad'}">Cases passed: ${(run.passRate * 100).toFixed(1)}% (threshold ${(s.threshold * 100).toFixed(1)}%) — ${run.thresholdMet ? 'met' : 'missed'}</p>
<table><thead><tr><th>provider</th><th>passed</th><th>cost</th></tr></thead><tbody>${perProvider}</tbody></table>
<table><thead><tr><th>case</th>${s.providers.map((p) => `<th scope="col">${e(p.label)}</th>`).join('')}</tr></thead><tbody>
${rows.join('\n')}
</tbody></table>
</body></html>
`;
}
