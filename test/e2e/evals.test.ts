/**
 * The console's Evaluations page, end to end in Debian's headless Chromium (playwright-core): a
 * real hub (in-process, auth required) over the loopback OpenAI upstream, whose models answer
 * "Hello from <model>! You said: <prompt>" at the prices set below. A key submits a suite
 * through the form (three models, one of which fails a case, a model-graded assertion, a case
 * whose vars are markup); the run page shows the matrix with red and green cells, a cell's answer
 * and grading, the quality-versus-cost chart with the Pareto front, report downloads, and a
 * comparison with a second run where a case regressed; the runs list cancels a running run; the
 * page reads in Chinese; another key's run is a 404; nothing in an answer runs as HTML.
 * Skipped with a message without /usr/bin/chromium, as the other console suites are.
 *
 * Screenshots land in test-results/console/evals-*.png.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../helpers/console-build.js';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { OpenAIUpstream } from '../upstreams/openai.js';
import { HAS_CHROMIUM, openConsoleBrowser, SHOTS, warnWithoutChromium } from '../helpers/browser.js';
import type { ConsoleBrowser } from '../helpers/browser.js';

const ADMIN = 'sk-baimo-admin-e2e-evals-0000000000000';
const UPSTREAM_KEY = 'sk-loop-evals-upstream-secret';

const HOSTILE = '<img src=x onerror="window.__pwned=1">';

/**
 * smart passes everything; cheap and pricey fail "names itself smart". pricey costs more than
 * smart and does no better: beaten on both, so the front is cheap → smart.
 */
const SUITE = `description: Greeting check
prompts:
  - 'Reply to: {{ q }}'
providers: [loop/smart, loop/cheap, loop/pricey]
defaultTest:
  options: { provider: loop/grader }
tests:
  - description: greets back
    vars: { q: hello }
    assert:
      - type: icontains
        value: HELLO
      - type: llm-rubric
        value: 'Greets the user. {"reason": "it says hello", "pass": true, "score": 1}'
  - description: names itself smart
    vars: { q: who are you }
    assert:
      - type: contains
        value: from smart
  - vars: { q: '${HOSTILE}' }
    assert:
      - type: contains
        value: onerror
`;

/** The same suite where smart no longer passes "names itself smart": one regression against SUITE. */
const REGRESSED = SUITE.replace('value: from smart', 'value: from nobody');

const HANGING = `description: Waits forever
prompts: ['Say {{ q }}']
providers: [loop/hang]
tests:
  - vars: { q: one }
`;

warnWithoutChromium('evals');

describe.skipIf(!HAS_CHROMIUM)('the Evaluations page in headless Chromium', { timeout: 60_000 }, () => {
  let upstream: OpenAIUpstream;
  let hub: TestHub;
  let context: BrowserContext;
  let page: Page;
  let browser: ConsoleBrowser;
  let key: string;
  let runId: string;
  const pageErrors: string[] = [];

  async function call(path: string, init: { method?: string; body?: unknown; key?: string } = {}) {
    const res = await fetch(`${hub.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${init.key ?? key}`, 'content-type': 'application/json' },
      ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  async function until(id: string, done: (r: any) => boolean): Promise<any> {
    for (let i = 0; i < 400; i++) {
      const r = await call(`/v1/evals/runs/${id}`);
      if (done(r.body)) return r.body;
      await new Promise((s) => setTimeout(s, 50));
    }
    throw new Error(`run ${id} never got there`);
  }

  const shot = (name: string) => browser.shot(name);

  const signIn = (k: string) => browser.signIn(k);

  /** A matrix cell by its row's case label and its model. */
  const cell = (caseText: string, model: string): Locator =>
    page.locator('[data-testid=matrix] tbody tr', { has: page.locator('th', { hasText: caseText }) }).locator(`td[data-model="${model}"]`);

  /** The cell's painted background as [r, g, b], whatever colour syntax the style resolves to. */
  async function rgb(l: Locator): Promise<[number, number, number]> {
    // Through a 1×1 canvas: the browser resolves color-mix() and friends to pixels.
    // (The test is compiled without the DOM's types: the browser's globals come through globalThis.)
    return l.evaluate((el) => {
      const w = globalThis as any;
      const c = w.document.createElement('canvas');
      c.width = c.height = 1;
      const ctx = c.getContext('2d');
      ctx.fillStyle = w.getComputedStyle(el).backgroundColor;
      ctx.fillRect(0, 0, 1, 1);
      return [...ctx.getImageData(0, 0, 1, 1).data.slice(0, 3)] as [number, number, number];
    });
  }

  beforeAll(async () => {
    ensureConsoleBuilt();
    upstream = await startOpenAIUpstream({ apiKey: UPSTREAM_KEY });
    hub = await startTestHub(
      `providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: ${UPSTREAM_KEY}
    models: [smart, cheap, pricey, grader, hang, error-400]
pricing:
  models:
    loop/smart: { input: 10, output: 30 }
    loop/cheap: { input: 0.1, output: 0.4 }
    loop/pricey: { input: 20, output: 60 }
    loop/grader: { input: 1, output: 1 }
`,
      { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
    );
    const made = await fetch(`${hub.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'evaluator' }) });
    key = ((await made.json()) as { key: string }).key;
    browser = await openConsoleBrowser({ pageErrors, shotPrefix: 'evals-' });
    ({ context, page } = browser);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.dispose();
    await upstream?.close();
  });

  it("submits a suite from the form: the example names the hub's models, the API's refusal is shown in its words, then the run starts", async () => {
    await page.goto(`${hub.url}/#/evals`);
    await signIn(key);
    await page.getByRole('heading', { name: 'Evaluations', level: 1 }).waitFor();
    await page.getByTestId('no-runs').waitFor();
    await page.getByRole('button', { name: 'New run' }).click();
    const suite = page.getByLabel('Suite (YAML)');
    // The example is a runnable suite over this hub's own chat models.
    await expect.poll(() => suite.inputValue()).toContain('  - loop/smart\n  - loop/cheap\n');

    // A suite that points at the hub's files: the API refuses it.
    const bad = SUITE.replace(/tests:[\s\S]*$/, 'tests: file://cases.csv\n');
    await suite.fill(bad);
    await page.getByRole('button', { name: 'Start run' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const refused = await call('/v1/evals/runs', { body: { suite: bad } });
    expect(refused.status).toBe(400);
    expect(await alert.locator('.error-message').textContent()).toBe(refused.body.error.message);
    expect(refused.body.error.message).toContain('file:// references are not allowed');
    // Nothing was stored.
    expect((await call('/v1/evals/runs')).body.data).toHaveLength(0);

    await suite.fill(SUITE);
    await page.getByLabel('Repeat').fill('2');
    await page.getByLabel('Spending ceiling (USD)').fill('5');
    await page.getByRole('button', { name: 'Start run' }).click();
    await page.getByRole('heading', { name: 'Greeting check', level: 1 }).waitFor();
    runId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]!);
    expect(runId).toMatch(/^evalrun_/);
    const run = await until(runId, (r) => r.status === 'completed');
    expect(run.options).toMatchObject({ repeat: 2, maxCostUsd: 5 });
    // The page follows the run (it asks every 2 s while the run is under way).
    await expect.poll(() => page.locator('[data-field=status]').getAttribute('data-status'), { timeout: 10_000 }).toBe('completed');
    expect(await page.locator('[data-field=progress]').textContent()).toBe('18 of 18 results, 4 not passed');
  });

  it('shows the matrix: a red cell where a model failed, a green one where it passed, pass@1 and pass^2 per case', async () => {
    const matrix = page.getByTestId('matrix');
    await expect.poll(() => matrix.locator('td.eval-cell').count()).toBe(9);
    expect(await matrix.locator('thead th').allTextContents()).toEqual(['Case', 'loop/smart', 'loop/cheap', 'loop/pricey']);
    const good = cell('names itself smart', 'loop/smart');
    const bad = cell('names itself smart', 'loop/cheap');
    expect(await good.getAttribute('data-state')).toBe('pass');
    expect(await bad.getAttribute('data-state')).toBe('fail');
    expect(await good.textContent()).toBe('pass 1pass@1 100% · pass^2 ✓');
    expect(await bad.textContent()).toBe('fail 0pass@1 0% · pass^2 ✗');
    const [gr, gg] = await rgb(good);
    const [br, bg] = await rgb(bad);
    expect(gg).toBeGreaterThan(gr);
    expect(br).toBeGreaterThan(bg);
    // Every cell as the API has it.
    const api = (await call(`/v1/evals/runs/${runId}/results?limit=100`)).body.data as any[];
    expect(api).toHaveLength(18);
    const failing = api.filter((c) => !c.success).map((c) => `${c.description}|${c.provider.id}`);
    expect([...new Set(failing)].sort()).toEqual(['names itself smart|loop/cheap', 'names itself smart|loop/pricey']);
    expect(await matrix.locator('td[data-state=fail]').count()).toBe(2);
    expect(await matrix.locator('td[data-state=pass]').count()).toBe(7);
    await shot('matrix');
  });

  it("opens a cell: the prompt, the model's answer, each assertion's verdict and reason, cost and latency; and a grader's rubric and verdict", async () => {
    await cell('names itself smart', 'loop/cheap').getByRole('button').click();
    const panel = page.getByRole('dialog');
    await panel.getByTestId('cell-panel').waitFor();
    expect(await panel.getByRole('heading', { level: 2 }).textContent()).toBe('loop/cheap · names itself smart');
    expect(await panel.locator('[data-field=prompt]').textContent()).toBe('Reply to: who are you');
    expect(await panel.locator('[data-field=answer]').textContent()).toBe('Hello from cheap! You said: Reply to: who are you');
    const cells = (await call(`/v1/evals/runs/${runId}/results?limit=100`)).body.data as any[];
    const mine = cells.find((c) => c.description === 'names itself smart' && c.provider.id === 'loop/cheap' && c.repeat === 0);
    const assertion = panel.locator('[data-testid=assertions] li');
    expect(await assertion.count()).toBe(1);
    expect(await assertion.getAttribute('data-type')).toBe('contains');
    expect(await assertion.getAttribute('data-pass')).toBe('false');
    expect(await assertion.locator('[data-field=reason]').textContent()).toBe(`Reason: ${mine.gradingResult.componentResults[0].reason}`);
    expect(mine.gradingResult.componentResults[0].reason.length).toBeGreaterThan(0);
    expect(await panel.locator('[data-field=cost]').textContent()).toMatch(/^\$0\.0000\d+/);
    expect(await panel.locator('[data-field=latency]').textContent()).toMatch(/\d+\s?ms/);
    // Two tries, both failed.
    expect(await panel.getByRole('group', { name: 'Tries' }).getByRole('button').allTextContents()).toEqual(['Try 1 ✗', 'Try 2 ✗']);
    await shot('cell');
    await panel.getByRole('button', { name: 'Close' }).click();
    await panel.waitFor({ state: 'detached' });

    await cell('greets back', 'loop/smart').getByRole('button').click();
    const rubric = page.getByRole('dialog').locator('li[data-type=llm-rubric]');
    expect(await rubric.getAttribute('data-pass')).toBe('true');
    expect(await rubric.locator('[data-field=value]').textContent()).toBe('Greets the user. {"reason": "it says hello", "pass": true, "score": 1}');
    expect(await rubric.locator('[data-field=reason]').textContent()).toBe('Reason: it says hello');
    await rubric.locator('summary').click();
    expect(await rubric.locator('summary').textContent()).toContain('Grader: loop/grader');
    // The grader's own answer (the loopback model echoes what it was asked).
    expect(await rubric.locator('[data-field=grader-output]').textContent()).toContain('Hello from grader!');
    await page.getByRole('dialog').getByRole('button', { name: 'Close' }).click();
  });

  it("keeps the answer that is markup as text: nothing in it runs", async () => {
    const hostile = page.locator('[data-testid=matrix] tbody tr').nth(2);
    expect(await hostile.locator('th').textContent()).toContain(`q=${HOSTILE}`);
    await hostile.locator('td[data-model="loop/smart"]').getByRole('button').click();
    const panel = page.getByRole('dialog');
    expect(await panel.locator('[data-field=answer]').textContent()).toBe(`Hello from smart! You said: Reply to: ${HOSTILE}`);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await panel.getByRole('button', { name: 'Close' }).click();
  });

  it('draws quality against cost per model, with the Pareto front marked and joined', async () => {
    const chart = page.getByTestId('pareto-chart');
    await chart.waitFor();
    expect(await page.getByTestId('x-label').textContent()).toBe('Cost of its answers in this run (USD)');
    expect(await page.getByTestId('y-label').textContent()).toBe('Pass rate (cases passing every try)');
    const points = chart.getByTestId('pareto-point');
    expect(await points.count()).toBe(3);
    const front = async () => Object.fromEntries(await points.evaluateAll((els) => els.map((e) => [e.getAttribute('data-model'), e.getAttribute('data-front')])));
    expect(await front()).toEqual({ 'loop/smart': 'true', 'loop/cheap': 'true', 'loop/pricey': 'false' });
    expect(await chart.getByTestId('pareto-line').count()).toBe(1);
    // The figures behind it, from the API: smart passes all, the others two cases of three; pricey costs most.
    const stats = (await call(`/v1/evals/runs/${runId}`)).body.stats.models as any[];
    const by = Object.fromEntries(stats.map((m) => [m.provider, m]));
    expect([by['loop/smart'].pass_rate, by['loop/cheap'].pass_rate, by['loop/pricey'].pass_rate]).toEqual([1, 2 / 3, 2 / 3]);
    expect(by['loop/pricey'].cost_usd).toBeGreaterThan(by['loop/smart'].cost_usd);
    expect(by['loop/smart'].cost_usd).toBeGreaterThan(by['loop/cheap'].cost_usd);
    // Points sit where the numbers say: the cheapest leftmost, the best highest.
    const at = async (m: string) => chart.locator(`[data-model="${m}"] circle`).evaluate((c) => [Number(c.getAttribute('cx')), Number(c.getAttribute('cy'))]);
    const [cheap, smart, pricey] = [await at('loop/cheap'), await at('loop/smart'), await at('loop/pricey')];
    expect(cheap[0]).toBeLessThan(smart[0]!);
    expect(smart[0]).toBeLessThan(pricey[0]!);
    expect(smart[1]).toBeLessThan(cheap[1]!);
    expect(pricey[1]).toBe(cheap[1]);

    // Mean score per case on y: the same front here.
    await page.getByLabel('Quality (y)').selectOption('meanScore');
    expect(await page.getByTestId('y-label').textContent()).toBe('Mean score (0–1)');
    expect(await front()).toEqual({ 'loop/smart': 'true', 'loop/cheap': 'true', 'loop/pricey': 'false' });
    await page.getByLabel('Quality (y)').selectOption('passRate');
    await page.locator('section', { has: page.getByTestId('pareto-chart') }).screenshot({ path: join(SHOTS, 'evals-chart.png') });
  });

  it('downloads the JSON, JUnit and HTML reports with the signed-in key', async () => {
    const [json] = await Promise.all([page.waitForEvent('download'), page.getByTestId('report-json').click()]);
    expect(json.suggestedFilename()).toBe(`${runId}.json`);
    const report = JSON.parse(readFileSync((await json.path())!, 'utf8'));
    expect(report.evalId).toBe(runId);
    expect(report.results.results).toHaveLength(18);
    const [junit] = await Promise.all([page.waitForEvent('download'), page.getByTestId('report-junit').click()]);
    expect(junit.suggestedFilename()).toBe(`${runId}.xml`);
    expect(readFileSync((await junit.path())!, 'utf8')).toContain('<testsuites');
    const [html] = await Promise.all([page.waitForEvent('download'), page.getByTestId('report-html').click()]);
    expect(html.suggestedFilename()).toBe(`${runId}.html`);
    // The report escapes the markup answer as the page does.
    const doc = readFileSync((await html.path())!, 'utf8');
    expect(doc).toContain('Hello from cheap! You said: Reply to: who are you');
    expect(doc).not.toContain(HOSTILE);
  });

  it('compares a second run with the first: the regression first', async () => {
    const second = await call('/v1/evals/runs', { body: { suite: REGRESSED } });
    expect(second.status).toBe(202);
    await until(second.body.id, (r) => r.status === 'completed');
    await page.evaluate(`location.hash = ${JSON.stringify(`#/evals/${second.body.id}`)}`);
    await page.getByRole('heading', { name: 'Compare with another run' }).waitFor();
    await expect.poll(() => page.getByLabel('Baseline run').locator('option').count()).toBe(2);
    await page.getByLabel('Baseline run').selectOption(runId);
    await page.getByRole('button', { name: 'Compare', exact: true }).click();
    const cmp = page.getByTestId('comparison');
    await cmp.waitFor();
    const api = (await call(`/v1/evals/compare?a=${runId}&b=${second.body.id}`)).body;
    expect(api.summary.regressions).toBe(1);
    const tables = cmp.locator('table');
    expect(await tables.first().getAttribute('data-kind')).toBe('regressions');
    const entry = tables.first().getByTestId('compare-entry');
    expect(await entry.count()).toBe(1);
    expect(await entry.textContent()).toContain('loop/smart');
    expect(await entry.textContent()).toContain('names itself smart');
    expect(await cmp.locator('[data-field=compare-summary]').textContent()).toContain('1 regressions');
    await shot('compare');
  });

  it("pages a long run's matrix, and shows a model's error in its own style with the error as the hub gave it", async () => {
    const tests = Array.from({ length: 30 }, (_, i) => `  - vars: { q: case ${i + 1} }\n    assert: [{ type: contains, value: 'case ${i + 1}' }]`).join('\n');
    const long = await call('/v1/evals/runs', { body: { suite: `description: Thirty cases\nprompts: ['Echo {{ q }}']\nproviders: [loop/cheap, loop/error-400]\ntests:\n${tests}\n` } });
    expect(long.status).toBe(202);
    await until(long.body.id, (r) => r.status === 'completed');
    await page.evaluate(`location.hash = ${JSON.stringify(`#/evals/${long.body.id}`)}`);
    const rows = page.locator('[data-testid=matrix] tbody tr');
    // 25 cases a page: the API's results come 50 cells at a time here (25 cases × 2 models).
    await expect.poll(() => rows.count()).toBe(25);
    expect(await page.getByText('50 of 60 results loaded').count()).toBe(1);
    await page.getByTestId('load-more').click();
    await expect.poll(() => rows.count()).toBe(30);
    expect(await page.getByTestId('load-more').count()).toBe(0);
    expect(await rows.last().locator('th').textContent()).toBe('#30 q=case 30');

    const errored = rows.first().locator('td[data-model="loop/error-400"]');
    expect(await errored.getAttribute('data-state')).toBe('error');
    expect(await errored.textContent()).toBe('error');
    expect(await rows.first().locator('td[data-model="loop/cheap"]').getAttribute('data-state')).toBe('pass');
    expect(await errored.evaluate((el) => String((globalThis as any).getComputedStyle(el).backgroundImage))).toContain('repeating-linear-gradient');
    await errored.getByRole('button').click();
    const panel = page.getByRole('dialog');
    const cells = (await call(`/v1/evals/runs/${long.body.id}/results?limit=2`)).body.data as any[];
    expect(cells[1].error).toContain("Invalid value for 'temperature'");
    expect(await panel.locator('[data-field=error]').textContent()).toBe(cells[1].error);
    expect(await panel.locator('[data-field=answer]').count()).toBe(0);
    expect(await panel.textContent()).toContain('Not graded: the model call failed.');
    expect(await page.content()).not.toContain(UPSTREAM_KEY);
    await shot('errors');
    await panel.getByRole('button', { name: 'Close' }).click();
  });

  it('lists the runs, follows one under way, and cancels it', async () => {
    const hanging = await call('/v1/evals/runs', { body: { suite: HANGING } });
    expect(hanging.status).toBe(202);
    await page.getByRole('link', { name: 'All runs' }).click();
    const table = page.getByTestId('runs-table');
    const row = table.locator(`tr[data-run-id="${hanging.body.id}"]`);
    await expect.poll(() => row.getAttribute('data-status')).toBe('running');
    expect(await row.locator('[data-field=progress]').textContent()).toBe('0 / 1');
    expect(await page.getByText('A run is under way').count()).toBe(1);
    const first = table.locator(`tr[data-run-id="${runId}"]`);
    expect(await first.textContent()).toContain('Completed');
    // The suite's pass rate: 7 of 9 cases (test × model) passed both tries.
    expect(await first.locator('[data-field=passed]').textContent()).toBe('77.8%');
    await shot('runs');
    await row.getByRole('button', { name: 'Cancel run Waits forever' }).click();
    await expect.poll(() => row.getAttribute('data-status')).toBe('cancelled');
    expect((await call(`/v1/evals/runs/${hanging.body.id}`)).body.status).toBe('cancelled');
    expect(await row.getByRole('button').count()).toBe(0);
  });

  it('reads the run page in Chinese', async () => {
    await page.getByLabel('Language').selectOption('zh');
    await page.getByRole('link', { name: '评测' }).waitFor();
    await page.locator(`[data-testid=runs-table] tr[data-run-id="${runId}"]`).getByRole('link', { name: 'Greeting check' }).click();
    await page.getByRole('heading', { name: '按用例和模型的结果' }).waitFor();
    expect(await page.getByRole('heading', { name: '质量与成本' }).isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: '与另一次运行比较' }).isVisible()).toBe(true);
    await expect.poll(() => page.locator('[data-testid=matrix] thead th').first().textContent()).toBe('用例');
    expect(await cell('names itself smart', 'loop/cheap').textContent()).toBe('未通过 0pass@1 0% · pass^2 ✗');
    expect(await page.getByTestId('x-label').textContent()).toBe('本次运行中其回答的费用（美元）');
    expect(await page.locator('[data-field=progress]').textContent()).toBe('共 18 个结果，已完成 18 个，未通过 4 个');
    expect(await page.locator('[data-field=status]').textContent()).toContain('已完成');
    await cell('names itself smart', 'loop/cheap').getByRole('button').click();
    expect(await page.getByRole('dialog').getByRole('heading', { name: '回答' }).isVisible()).toBe(true);
    expect(await page.getByRole('dialog').locator('li [data-field=reason]').textContent()).toMatch(/^理由：/);
    await shot('zh');
    await page.getByRole('dialog').getByRole('button', { name: '关闭' }).click();
    const main = await page.locator('main').evaluate((m) => (m as unknown as { innerText: string }).innerText);
    for (const leftover of ['Results by case', 'Quality versus cost', 'Pass rate', 'Spend', 'Completed', 'Reports', 'Case']) expect(main, leftover).not.toContain(leftover);
    // The list and the form too.
    await page.getByRole('link', { name: '全部运行' }).click();
    const table = page.getByTestId('runs-table');
    await table.waitFor();
    expect(await table.locator('thead th').allTextContents()).toEqual(['说明', '状态', '进度', '通过', '花费', '创建时间', '操作']);
    expect(await table.locator(`tr[data-run-id="${runId}"]`).textContent()).toContain('已完成');
    await page.getByRole('button', { name: '新建运行' }).click();
    expect(await page.getByLabel('套件（YAML）').inputValue()).toContain('providers:');
    expect(await page.getByLabel('花费上限（美元）').isVisible()).toBe(true);
    await shot('list-zh');
    await page.getByRole('button', { name: '取消', exact: true }).click();
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('link', { name: 'Evaluations' }).waitFor();
  });

  it('fits a 375 px phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const hash of ['#/evals', `#/evals/${runId}`]) {
        expect(await browser.overflowAt(hash), `horizontal overflow on ${hash}`).toBeLessThanOrEqual(0);
      }
      await page.getByTestId('matrix').waitFor();
      await shot('phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it("shows another key's run as not found, and keeps the upstream's key out of the page", async () => {
    const made = await call('/admin/keys', { key: ADMIN, body: { name: 'someone else' } });
    expect(made.status).toBe(201);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(made.body.key);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(`No such eval run: ${runId}`);
    expect(await page.getByTestId('matrix').count()).toBe(0);
    await page.getByRole('link', { name: 'All runs' }).click();
    await page.getByTestId('no-runs').waitFor();
    expect(await page.content()).not.toContain(UPSTREAM_KEY);
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
