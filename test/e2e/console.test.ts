/**
 * The web console, end to end: a real hub (in-process, auth required) in front of the loopback
 * OpenAI upstream, serving the built console at `/`, driven in Debian's headless Chromium by
 * playwright-core. No browser is ever downloaded: without /usr/bin/chromium the suite is skipped
 * with a message saying so (`apt-get install -y chromium`).
 *
 * Screenshots of every page land in test-results/console/.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../helpers/console-build.js';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { OpenAIUpstream } from '../upstreams/openai.js';
import { HAS_CHROMIUM, openConsoleBrowser, SHOTS, warnWithoutChromium } from '../helpers/browser.js';
import type { ConsoleBrowser } from '../helpers/browser.js';

const ADMIN = 'sk-baimo-admin-e2e-console-000000000000';
const PROMPT = 'Tell me a story';
/** Long names, as real deployments have them: they must not push the log's numbers out of view. */
const LONG_MODEL = 'loop/claude-sonnet-4-5-20250929-extended-thinking-preview-eu-west-1';
const LONG_KEY = 'analytics-pipeline-production-batch-jobs-europe-west';

warnWithoutChromium('console');

describe.skipIf(!HAS_CHROMIUM)('the web console in headless Chromium', { timeout: 60_000 }, () => {
  let upstream: OpenAIUpstream;
  let hub: TestHub;
  let context: BrowserContext;
  let page: Page;
  let browser: ConsoleBrowser;
  /** Uncaught exceptions in the page: any of them fails the suite. */
  const pageErrors: string[] = [];

  async function call(path: string, init: { method?: string; body?: unknown; key?: string } = {}) {
    const res = await fetch(`${hub.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${init.key ?? ADMIN}`, 'content-type': 'application/json' },
      ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
    });
    const text = await res.text();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, body };
  }

  const chat = (model: string, content: string, key = ADMIN, extra: Record<string, unknown> = {}) =>
    call('/v1/chat/completions', { key, body: { model, messages: [{ role: 'user', content }], ...extra } });

  /** Usage records are written in batches: wait until `path` lists at least `n` requests. */
  async function recorded(n: number, key = ADMIN) {
    const path = key === ADMIN ? '/admin/requests?limit=100' : '/v1/me/requests?limit=100';
    for (let waited = 0; ; waited += 50) {
      const rows = (await call(path, { key })).body.data ?? [];
      if (rows.length >= n) return;
      if (waited > 10_000) throw new Error(`only ${rows.length} of ${n} requests recorded at ${path} after 10 s`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  const shot = (name: string) => browser.shot(name);

  async function go(hash: string) {
    await page.evaluate(`location.hash = ${JSON.stringify(hash)}`);
  }

  const signIn = (key: string) => browser.signIn(key);

  beforeAll(async () => {
    ensureConsoleBuilt();
    upstream = await startOpenAIUpstream({ apiKey: 'sk-loop-e2e' });
    hub = await startTestHub(
      `providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: sk-loop-e2e
    models: [gpt-test, reasoner, slow-stream]
    embeddingModels: [text-embed-e2e]
models:
  chat:
    strategy: priority
    deployments:
      - { provider: loop, model: gpt-test, priority: 0 }
      - { provider: loop, model: reasoner, priority: 1 }
virtualModels:
  panel:
    kind: moa
    proposers: [loop/gpt-test, loop/reasoner]
    aggregator: loop/gpt-test
pricing:
  models:
    loop/gpt-test: { input: 1000, output: 2000 }
    loop/reasoner: { input: 500, output: 1500, cachedInput: 50 }
    loop/slow-stream: { input: 100, output: 300 }
logging: { bodies: true }
`,
      { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
    );

    // Traffic for the overview, the logs and the deployments table.
    for (let i = 0; i < 3; i++) expect((await chat('loop/gpt-test', 'hi')).status).toBe(200);
    expect((await chat('loop/reasoner', 'think', ADMIN, { stream: true })).status).toBe(200);
    expect((await chat('chat', 'routed')).status).toBe(200);
    expect((await chat('loop/error-400', 'fails')).status).toBe(400);
    expect((await chat('panel', 'many minds')).status).toBe(200);
    // Twelve more under one name, to page through.
    for (let i = 0; i < 12; i++) expect((await chat('loop/page-test', `page ${i}`)).status).toBe(200);
    const longKey = await call('/admin/keys', { body: { name: LONG_KEY } });
    expect(longKey.status).toBe(201);
    expect((await chat(LONG_MODEL, 'a long name', longKey.body.key)).status).toBe(200);
    await recorded(20);

    browser = await openConsoleBrowser({ pageErrors });
    ({ context, page } = browser);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hub.url });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.dispose();
    await upstream?.close();
  });

  it('serves the console at / and refuses a wrong key', async () => {
    const res = await fetch(`${hub.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    await page.goto(`${hub.url}/`);
    await expect.poll(() => page.getByRole('heading', { name: 'Sign in to Baimo' }).isVisible()).toBe(true);
    await signIn('sk-baimo-not-a-real-key');
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toMatch(/invalid api key/i);
    await shot('sign-in');
  });

  it('signs in with the admin key and shows usage over time, top models and top keys', async () => {
    await signIn(ADMIN);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const requests = page.locator('[data-testid=overview-stats] .stat').first().locator('.stat-value');
    await expect.poll(async () => Number((await requests.textContent())?.replace(/\D/g, '') ?? 0)).toBeGreaterThanOrEqual(20);
    await page.locator('[data-testid=top-models]').getByText('loop/gpt-test', { exact: true }).waitFor();
    await page.locator('[data-testid=top-keys] tbody tr').first().waitFor();
    // One chart per series, as SVG with data behind it.
    for (const title of ['Requests', 'Tokens', 'Cost', 'Latency', 'Error rate']) {
      await page.locator('figure.chart', { has: page.locator('figcaption', { hasText: new RegExp(`^${title}$`) }) }).locator('svg').waitFor();
    }
    expect(await page.locator('figure.chart svg rect[class^=chart-fill]').count()).toBeGreaterThan(0);
    expect(await page.getByText('Admin', { exact: true }).isVisible()).toBe(true);
    await shot('overview');
    // The range selector refetches by day.
    await page.getByRole('button', { name: '7 d' }).click();
    await expect.poll(() => page.getByRole('button', { name: '7 d' }).getAttribute('aria-pressed')).toBe('true');
    await expect.poll(async () => Number((await requests.textContent())?.replace(/\D/g, '') ?? 0)).toBeGreaterThanOrEqual(20);
    await page.getByRole('button', { name: '24 h' }).click();
  });

  it('lists models with prices and deployments with live health', async () => {
    await page.getByRole('link', { name: 'Models' }).click();
    const table = page.locator('[data-testid=models-table]');
    await table.getByText('loop/gpt-test', { exact: true }).waitFor();
    const row = table.locator('tr', { has: page.getByText('loop/gpt-test', { exact: true }) });
    expect(await row.textContent()).toContain('$1,000.00');
    const deployments = page.locator('[data-testid=deployments-table]');
    await deployments.getByText('chat', { exact: true }).first().waitFor();
    expect(await deployments.textContent()).toContain('Closed');
    await shot('models');
    await page.getByLabel('Search models').fill('reason');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await table.locator('tbody').textContent()).toContain('loop/reasoner');
    await page.getByLabel('Search models').fill('');
  });

  it('filters and pages the request log, and opens a request with its messages, response and attempts', async () => {
    await page.getByRole('link', { name: 'Logs' }).click();
    const table = page.locator('[data-testid=logs-table]');
    await expect.poll(() => table.locator('tbody tr').count()).toBeGreaterThanOrEqual(20);
    await shot('logs');

    await page.getByLabel('Status').selectOption('error');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await table.locator('tbody').textContent()).toContain('loop/error-400');

    await page.getByRole('button', { name: 'Reset' }).click();
    await page.getByLabel('Model').fill('loop/gpt-test');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(3);

    // Paging by cursor: 12 requests at 10 a page.
    await page.getByLabel('Model').fill('loop/page-test');
    await page.getByLabel('Rows per page').selectOption('10');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(10);
    const firstPage = await table.locator('tbody tr').first().getAttribute('data-request-id');
    await page.getByRole('button', { name: /Older/ }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(2);
    expect(await page.getByRole('button', { name: /Older/ }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: /Newer/ }).click();
    await expect.poll(() => table.locator('tbody tr').first().getAttribute('data-request-id')).toBe(firstPage);
    await page.getByRole('button', { name: 'Reset' }).click();
    await page.getByLabel('Model').fill('loop/gpt-test');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(3);

    await table.locator('tbody tr').first().getByRole('link').click();
    const detail = page.locator('[data-testid=log-detail]');
    await detail.waitFor();
    expect(await page.locator('[data-testid=messages]').textContent()).toContain('hi');
    expect(await page.locator('[data-testid=response-text]').textContent()).toBe('Hello from gpt-test! You said: hi');
    expect(await page.locator('[data-testid=attempts-table] tbody tr').count()).toBeGreaterThanOrEqual(1);
    await shot('log-detail');

    // A virtual model's request shows its sub-calls.
    await page.getByRole('link', { name: 'All logs' }).click();
    await page.getByLabel('Model').fill('panel');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    await table.locator('tbody tr').first().getByRole('link').click();
    const trace = page.locator('[data-testid=trace-table]');
    await trace.waitFor();
    expect(await trace.locator('tbody tr').count()).toBeGreaterThanOrEqual(3);
    expect(await trace.textContent()).toContain('loop/reasoner');
    await shot('log-detail-trace');
    await page.getByRole('link', { name: 'All logs' }).click();
    await page.getByRole('button', { name: 'Reset' }).click();
  });

  it('keeps latency, TTFT and attempts in view at 1280 px, with long model and key names', async () => {
    await go('#/logs');
    const table = page.locator('[data-testid=logs-table]');
    await table.getByText(LONG_MODEL, { exact: true }).waitFor();
    const wrap = await page.locator('.table-wrap', { has: table }).boundingBox();
    const viewport = page.viewportSize()!;
    for (const col of ['Latency', 'TTFT', 'Attempts']) {
      const box = await table.locator('thead th', { hasText: new RegExp(`^${col}$`) }).boundingBox();
      expect(box, col).not.toBeNull();
      // Inside the visible part of the scrolling wrapper and of the window, without scrolling.
      expect(box!.x + box!.width, `${col} column right edge`).toBeLessThanOrEqual(Math.min(wrap!.x + wrap!.width, viewport.width) + 1);
    }
  });

  it('creates a key (secret shown once), limits it and revokes it', async () => {
    await page.getByRole('link', { name: 'Keys & teams' }).click();
    await page.getByRole('heading', { name: 'Keys & teams', level: 1 }).waitFor();

    // A team with a budget.
    await page.getByRole('button', { name: 'Create team' }).click();
    let dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('research');
    await dialog.getByLabel('Budget (USD)').fill('10');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.locator('[data-testid=teams-table]').getByText('research', { exact: true }).waitFor();

    // Escape closes a dialog.
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('dialog').waitFor();
    await page.keyboard.press('Escape');
    await page.getByRole('dialog').waitFor({ state: 'detached' });

    await page.getByRole('button', { name: 'Create key' }).click();
    dialog = page.getByRole('dialog');
    await dialog.getByLabel('Name').fill('e2e-app');
    await dialog.getByLabel('Team').selectOption({ label: 'research' });
    await dialog.getByLabel('Allowed models').fill('loop/gpt-test, loop/slow-stream');
    await dialog.getByLabel('Budget (USD)').fill('5');
    await dialog.getByLabel('Budget period').selectOption('day');
    await dialog.getByLabel('Metadata (JSON)').fill('{"owner": "e2e"}');
    await dialog.getByRole('button', { name: 'Save' }).click();

    const secretBox = page.locator('[data-testid=new-key-secret]');
    await secretBox.waitFor();
    const secret = await secretBox.inputValue();
    expect(secret).toMatch(/^sk-baimo-[A-Za-z0-9]{32}$/);
    expect(await page.getByRole('dialog').textContent()).toContain('You will not see it again');
    await page.getByRole('dialog').getByRole('button', { name: 'Copy', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Copied', exact: true }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(secret);
    await shot('keys-secret');
    await page.getByRole('button', { name: 'I have copied it' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    // Shown once: nowhere on the page any more.
    expect(await page.content()).not.toContain(secret);

    const listed = (await call('/admin/keys')).body.data.find((k: any) => k.name === 'e2e-app');
    expect(listed).toMatchObject({ allowed_models: ['loop/gpt-test', 'loop/slow-stream'], budget_usd: 5, budget_period: 'day', metadata: { owner: 'e2e' } });
    const row = page.locator(`tr[data-key-id="${listed.id}"]`);
    await row.waitFor();
    expect(await row.getByRole('progressbar').count()).toBe(1);
    expect(await row.textContent()).toContain('research');
    expect((await chat('loop/gpt-test', 'from the new key', secret, { max_tokens: 20 })).status).toBe(200);

    // Limit it.
    await row.getByRole('button', { name: 'Edit key e2e-app' }).click();
    dialog = page.getByRole('dialog');
    await dialog.getByLabel('Requests / min').fill('7');
    await dialog.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    await expect.poll(() => row.locator('[data-field=rpm]').textContent()).toBe('7');
    expect((await call(`/admin/keys/${listed.id}`)).body.rpm).toBe(7);
    await shot('keys');

    // Revoke it, after a confirmation.
    await row.getByRole('button', { name: 'Revoke e2e-app' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
    await expect.poll(() => row.getAttribute('data-status')).toBe('revoked');
    expect((await chat('loop/gpt-test', 'after revoke', secret)).status).toBe(401);
  });

  it('streams two models side by side in the playground', async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    await page.getByRole('checkbox', { name: 'loop/gpt-test' }).check();
    await page.getByRole('checkbox', { name: 'loop/slow-stream' }).check();
    await page.getByLabel('Prompt', { exact: true }).fill(PROMPT);
    await page.getByRole('button', { name: 'Send' }).click();

    const answers = page.locator('[data-testid=answer]');
    await expect.poll(() => answers.count()).toBe(2);
    // slow-stream sends a chunk every 100 ms: catch it mid-stream, with part of its answer shown.
    await page.waitForFunction(`(() => {
      const el = document.querySelectorAll('[data-testid=answer]')[1];
      const text = el?.querySelector('[data-testid=answer-text]')?.textContent ?? '';
      return el?.getAttribute('data-state') === 'streaming' && text.length > 0 && !text.endsWith('story');
    })()`);
    await shot('playground-streaming');
    await expect.poll(() => answers.nth(0).getAttribute('data-state')).toBe('done');
    await expect.poll(() => answers.nth(1).getAttribute('data-state'), { timeout: 10_000 }).toBe('done');
    expect(await answers.nth(0).locator('[data-testid=answer-text]').textContent()).toBe(`Hello from gpt-test! You said: ${PROMPT}`);
    expect(await answers.nth(1).locator('[data-testid=answer-text]').textContent()).toBe(`Hello from slow-stream! You said: ${PROMPT}`);
    // Side by side on a desktop: same row, different columns.
    const [a, b] = [await answers.nth(0).boundingBox(), await answers.nth(1).boundingBox()];
    expect(Math.abs(a!.y - b!.y)).toBeLessThan(2);
    expect(b!.x).toBeGreaterThan(a!.x + a!.width - 1);
    // Tokens, cost (pricing × usage: 12 × $1000/M + 9 × $2000/M) and timings under each answer.
    const stats = await answers.nth(0).locator('[data-testid=answer-stats]').textContent();
    expect(stats).toContain('12 in / 9 out');
    expect(stats).toContain('$0.03');
    expect(stats).toMatch(/TTFT\s*\d+\s*ms/);
    expect(stats).toMatch(/Latency\s*\d+\s*ms/);
    await shot('playground');
  });

  it('records a blind vote and updates the leaderboard', async () => {
    await page.getByRole('checkbox', { name: 'Blind mode (arena)' }).check();
    await page.getByLabel('Prompt', { exact: true }).fill('Which is better?');
    await page.getByRole('button', { name: 'Send' }).click();
    const answers = page.locator('[data-testid=answer]');
    await answers.nth(0).getByRole('heading', { name: 'Model A' }).waitFor();
    await answers.nth(1).getByRole('heading', { name: 'Model B' }).waitFor();
    await expect.poll(() => answers.nth(1).getAttribute('data-state'), { timeout: 10_000 }).toBe('done');
    await expect.poll(() => answers.nth(0).getAttribute('data-state'), { timeout: 10_000 }).toBe('done');
    await shot('arena-blind');
    // Before the vote nothing tells the models apart: no cost, no time to first token, no tokens.
    expect(await page.locator('[data-testid=answer-stats]').count()).toBe(0);
    const blindText = (await page.locator('[data-testid=answers]').textContent()) ?? '';
    expect(blindText).not.toMatch(/TTFT|Latency|\$|\bms\b|loop\//);
    expect(await page.getByText('shown after you vote').count()).toBe(1);
    await page.getByRole('button', { name: 'A is better' }).click();
    const result = page.locator('[data-testid=vote-result]');
    await result.waitFor();
    // After it, both answers show their numbers.
    await expect.poll(() => page.locator('[data-testid=answer-stats]').count()).toBe(2);
    expect(await answers.nth(0).locator('[data-testid=answer-stats]').textContent()).toMatch(/TTFT\s*\d+\s*ms/);
    expect(await answers.nth(1).locator('[data-testid=answer-stats]').textContent()).toMatch(/Cost\s*\$/);
    const revealed = (await result.textContent())!.match(/A was (\S+), B was (\S+)\./)!;
    const [winner, loser] = [revealed[1]!, revealed[2]!];
    expect([winner, loser].sort()).toEqual(['loop/gpt-test', 'loop/slow-stream']);
    const board = page.locator('[data-testid=leaderboard]');
    await board.locator(`tr[data-model="${winner}"]`).waitFor();
    expect(await board.locator(`tr[data-model="${winner}"] [data-field=games]`).textContent()).toBe('1');
    expect(await board.locator('tbody tr').first().getAttribute('data-model')).toBe(winner);
    const api = (await call('/v1/arena/leaderboard')).body.data;
    expect(api.find((r: any) => r.model === winner)).toMatchObject({ games: 1, wins: 1, losses: 0 });
    expect(api.find((r: any) => r.model === loser)).toMatchObject({ games: 1, wins: 0, losses: 1 });
    // The vote is a human judgement holding the prompt and both answers as they were shown.
    const [judgement] = (await call('/v1/evals/judgements?limit=1')).body.data;
    expect(judgement).toMatchObject({ winner: 'a', prompt: 'Which is better?' });
    expect(judgement.answers).toEqual([expect.stringMatching(/\S/), expect.stringMatching(/\S/)]);
    await shot('arena-voted');
  });

  it('chats with one model over several turns, with temperature, max tokens and markdown, running nothing a model writes', async () => {
    await go('#/playground');
    await page.getByRole('checkbox', { name: 'Blind mode (arena)' }).uncheck();
    await page.getByRole('checkbox', { name: 'loop/slow-stream' }).uncheck();
    await page.getByRole('checkbox', { name: 'loop/gpt-test' }).check();
    // Embedding models are listed by the hub but not offered as chat models.
    const listed = (await call('/v1/models')).body.data;
    expect(listed.find((m: any) => m.id === 'loop/text-embed-e2e')).toMatchObject({ kind: 'embedding' });
    expect(listed.find((m: any) => m.id === 'loop/gpt-test')).toMatchObject({ kind: 'chat' });
    const offered = await page.locator('.checklist input[type=checkbox]').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
    expect(offered).toContain('loop/gpt-test');
    expect(offered).not.toContain('loop/text-embed-e2e');

    await page.getByLabel('Temperature').fill('0.3');
    await page.getByLabel('Max tokens').fill('64');
    const first = '**bold** and `code`\n\n- one\n- two';
    await page.getByLabel('Prompt', { exact: true }).fill(first);
    const isChat = (r: { url(): string; method(): string }) => r.url().endsWith('/v1/chat/completions') && r.method() === 'POST';
    let sent = page.waitForRequest(isChat);
    await page.getByRole('button', { name: 'Send' }).click();
    expect((await sent).postDataJSON()).toMatchObject({ model: 'loop/gpt-test', temperature: 0.3, max_tokens: 64, messages: [{ role: 'user', content: first }] });
    const answers = page.locator('[data-testid=answer]');
    await expect.poll(() => answers.count()).toBe(1);
    await expect.poll(() => answers.first().getAttribute('data-state')).toBe('done');
    const md = answers.first().locator('[data-testid=answer-text]').first();
    expect(await md.locator('strong').textContent()).toBe('bold');
    expect(await md.locator('code').textContent()).toBe('code');
    expect(await md.locator('li').count()).toBe(2);
    // The prompt box is emptied for the next message.
    expect(await page.getByLabel('Prompt', { exact: true }).inputValue()).toBe('');

    // Turn two carries the history, and the model's HTML is shown, never run.
    const hostile = '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> [click](javascript:window.__pwned=3) ![leak](http://127.0.0.1:9/leak.png)';
    await page.getByLabel('Prompt', { exact: true }).fill(hostile);
    sent = page.waitForRequest(isChat);
    await page.getByRole('button', { name: 'Send' }).click();
    expect((await sent).postDataJSON().messages).toEqual([
      { role: 'user', content: first },
      { role: 'assistant', content: `Hello from gpt-test! You said: ${first}` },
      { role: 'user', content: hostile },
    ]);
    await expect.poll(() => answers.first().locator('[data-testid=answer-text]').count()).toBe(2);
    await expect.poll(() => answers.first().getAttribute('data-state')).toBe('done');
    expect(await answers.first().locator('[data-testid=chat-user]').count()).toBe(2);
    const second = answers.first().locator('[data-testid=answer-text]').nth(1);
    expect(await second.textContent()).toContain('<img src=x onerror="window.__pwned=1">');
    expect(await second.textContent()).toContain('<script>');
    expect(await page.locator('[data-testid=answers] img, [data-testid=answers] script').count()).toBe(0);
    expect(await second.locator('a[href^="javascript:" i]').count()).toBe(0);
    expect(await second.locator('a[href="http://127.0.0.1:9/leak.png"]').count()).toBe(1);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await shot('playground-chat');

    await page.getByRole('button', { name: 'Clear conversation' }).click();
    await expect.poll(() => answers.count()).toBe(0);
    await page.getByLabel('Temperature').fill('');
    await page.getByLabel('Max tokens').fill('');
  });

  it('switches the language to Simplified Chinese and remembers it', async () => {
    await go('#/overview');
    await page.getByLabel('Language').selectOption('zh');
    await page.getByRole('link', { name: '概览' }).waitFor();
    await page.getByRole('heading', { name: '概览', level: 1 }).waitFor();
    expect(await page.getByRole('link', { name: '密钥与团队' }).isVisible()).toBe(true);
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await page.reload();
    await page.getByRole('heading', { name: '概览', level: 1 }).waitFor();
    await page.locator('[data-testid=top-models] tbody tr').first().waitFor();
    await shot('overview-zh');
    await go('#/playground');
    await page.getByRole('heading', { name: '竞技场排行榜' }).waitFor();
    await shot('playground-zh');
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('link', { name: 'Overview' }).waitFor();
  });

  it('reads Chinese throughout: error kinds, roles, trace labels, 词元 for tokens and a $ cost axis', async () => {
    await go('#/overview');
    await page.getByLabel('Language').selectOption('zh');
    await page.getByRole('heading', { name: '概览', level: 1 }).waitFor();
    const costChart = page.locator('figure.chart', { has: page.locator('figcaption', { hasText: /^费用$/ }) });
    await costChart.locator('svg').waitFor();
    const axis = await costChart.locator('svg text.chart-axis').evaluateAll((els) =>
      els.map((e) => ({ text: e.textContent ?? '', x: (e as unknown as { getBBox(): { x: number } }).getBBox().x })),
    );
    const money = axis.filter((a) => a.text.includes('$'));
    expect(money.length).toBe(3);
    for (const a of money) {
      expect(a.text).toMatch(/^\$\d/);
      expect(a.x, `axis label ${a.text} starts inside the chart`).toBeGreaterThanOrEqual(0);
    }
    expect(await page.locator('main').textContent()).not.toContain('令牌');

    await go('#/logs');
    const table = page.locator('[data-testid=logs-table]');
    await table.locator('[data-error-kind=bad_request]').waitFor();
    expect(await table.locator('[data-error-kind=bad_request]').textContent()).toContain('请求无效');
    expect(await page.locator('main').textContent()).not.toMatch(/bad_request|令牌/);

    // A virtual model's request: roles, stages and summary in Chinese.
    await page.getByLabel('模型').fill('panel');
    await page.getByRole('button', { name: '应用' }).click();
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    await table.locator('tbody tr').first().getByRole('link').click();
    const trace = page.locator('[data-testid=trace-table]');
    await trace.waitFor();
    const stages = await trace.locator('td[data-stage]').allTextContents();
    expect(stages).toContain('提议');
    expect(stages).toContain('汇总');
    const roles = await page.locator('[data-testid=messages] .message-role').allTextContents();
    expect(roles).toEqual(['用户']);
    const summary = await page.locator('[data-testid=trace-summary] dt').allTextContents();
    expect(summary).toEqual(expect.arrayContaining(['类型', '调用次数', '费用']));
    const shown = await page.locator('main').evaluate((m) => (m as unknown as { innerText: string }).innerText);
    for (const leftover of ['proposer', 'aggregator', 'costUsd', 'calls', 'answeredPerLayer', 'Tokens', '令牌']) expect(shown, leftover).not.toContain(leftover);
    await shot('log-detail-trace-zh');
    await page.getByRole('link', { name: '全部日志' }).click();
    await page.getByRole('button', { name: '重置' }).click();
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('link', { name: 'Overview' }).waitFor();
  });

  it('works from the keyboard alone, with visible focus', async () => {
    await go('#/overview');
    await page.reload();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    const focused = () => page.evaluate<string>('document.activeElement ? document.activeElement.textContent.trim() : ""');
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await focused()) === 'Models';
    }
    expect(reached, 'Tab reaches the Models link').toBe(true);
    expect(await page.evaluate<string>('getComputedStyle(document.activeElement).outlineStyle')).not.toBe('none');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
  });

  it('fits a 375 px wide phone screen', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const hash of ['#/overview', '#/models', '#/keys', '#/logs', '#/playground']) {
        expect(await browser.overflowAt(hash), `horizontal overflow on ${hash}`).toBeLessThanOrEqual(0);
      }
      await go('#/overview');
      await page.locator('[data-testid=top-models] tbody tr').first().waitFor();
      await shot('overview-mobile');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('keeps every tab on screen at 390 px', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      await go('#/overview');
      await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
      for (const name of ['Overview', 'Models', 'Keys & teams', 'Logs', 'Playground']) {
        const link = page.getByRole('navigation').getByRole('link', { name, exact: true });
        const box = await link.boundingBox();
        expect(box, name).not.toBeNull();
        expect(box!.x, `${name} left edge`).toBeGreaterThanOrEqual(0);
        expect(box!.x + box!.width, `${name} right edge`).toBeLessThanOrEqual(390);
        // Nothing scrolled over it: the link itself is what a tap at its centre reaches.
        const hit = await page.evaluate(`document.elementFromPoint(${box!.x + box!.width / 2}, ${box!.y + box!.height / 2})?.closest('a')?.textContent ?? null`);
        expect(hit, name).toBe(name);
      }
      await page.getByRole('navigation').getByRole('link', { name: 'Playground' }).click();
      await page.getByRole('heading', { name: 'Playground', level: 1 }).waitFor();
      await shot('playground-phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it('shows a retry, not a white page, when a page fails to load or the hub cannot be reached', async () => {
    await go('#/overview');
    await page.reload();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    // The hub was upgraded under the open console: the Keys page's chunk is gone (404).
    const chunk = /\/assets\/Keys-[^/]*\.js$/;
    await page.route(chunk, (r) => r.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"message":"Not found."}}' }));
    await page.getByRole('link', { name: 'Keys & teams' }).click();
    const failed = page.getByTestId('page-failed');
    await failed.waitFor();
    expect(await failed.textContent()).toContain('This page failed to load.');
    expect(await failed.textContent()).toContain('reload to get the current console');
    // The rest of the console still works.
    expect(await page.getByRole('link', { name: 'Models' }).isVisible()).toBe(true);
    await shot('page-failed');
    await page.unroute(chunk);
    await failed.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('heading', { name: 'Keys & teams', level: 1 }).waitFor();

    // A page that throws while rendering (here: a reply it cannot read) is retried in place.
    await page.route('**/v1/models', (r) => r.fulfill({ status: 200, contentType: 'application/json', body: '{"object":"list","data":[null]}' }));
    await page.getByRole('link', { name: 'Models' }).click();
    await failed.waitFor();
    expect(await failed.textContent()).toContain('Something went wrong while showing this page.');
    await page.unroute('**/v1/models');
    await failed.getByRole('button', { name: 'Retry' }).click();
    await page.locator('[data-testid=models-table]').getByText('loop/gpt-test', { exact: true }).waitFor();
    expect(await failed.count()).toBe(0);

    // The hub is restarting while the console loads: the key is kept and a retry offered.
    await page.route('**/v1/me', (r) => r.abort('connectionrefused'));
    await page.reload();
    const down = page.getByTestId('hub-unreachable');
    await down.waitFor();
    expect(await down.textContent()).toContain('Could not reach the hub');
    await page.unroute('**/v1/me');
    await down.getByRole('button', { name: 'Retry' }).click();
    await page.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
    expect(await page.getByTestId('whoami').textContent()).toBe('Admin');
    await go('#/overview');
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  });

  it('tells how to enable a provider when none is', async () => {
    const bare = await startTestHub('{}\n', { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN });
    const other = await context.newPage();
    try {
      other.setDefaultTimeout(15_000);
      await other.goto(`${bare.url}/#/models`);
      await other.getByLabel('API key').fill(ADMIN);
      await other.getByLabel('API key').press('Enter');
      await other.getByRole('heading', { name: 'Models', level: 1 }).waitFor();
      const empty = other.getByTestId('no-providers');
      await empty.waitFor();
      const text = (await empty.textContent()) ?? '';
      expect(text).toContain('No provider is enabled');
      expect(text).toContain('DEEPSEEK_API_KEY');
      expect(text).toContain('baimo.yaml');
      expect(text).toContain('restart');
      expect(await other.locator('main').textContent()).not.toContain('No model matches');
      await other.screenshot({ path: join(SHOTS, 'models-empty.png'), fullPage: true });
    } finally {
      await other.close();
      await bare.dispose();
    }
  });

  it('signs in with a virtual key and shows only its own data, without admin pages', async () => {
    const created = await call('/admin/keys', { body: { name: 'viewer', allowed_models: ['loop/gpt-test', 'loop/reasoner'] } });
    expect(created.status).toBe(201);
    const key = created.body.key as string;
    expect((await chat('loop/gpt-test', 'from viewer', key)).status).toBe(200);
    await recorded(1, key);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to Baimo' }).waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await signIn(key);
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    expect(await page.getByTestId('whoami').textContent()).toBe('viewer');
    expect(await page.getByRole('link', { name: 'Keys & teams' }).count()).toBe(0);
    await page.getByText('Usage of key viewer').waitFor();
    const requests = page.locator('[data-testid=overview-stats] .stat').first().locator('.stat-value');
    await expect.poll(() => requests.textContent()).toBe('1');
    expect(await page.locator('[data-testid=top-keys]').count()).toBe(0);
    await shot('key-overview');

    await page.getByRole('link', { name: 'Models' }).click();
    await page.locator('[data-testid=models-table]').waitFor();
    expect(await page.getByRole('heading', { name: 'Deployments' }).count()).toBe(0);

    await page.getByRole('link', { name: 'Logs' }).click();
    const table = page.locator('[data-testid=logs-table]');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await table.locator('tbody').textContent()).toContain('loop/gpt-test');
    await shot('key-logs');

    await page.getByRole('link', { name: 'Playground' }).click();
    await page.getByRole('checkbox', { name: 'loop/gpt-test' }).waitFor();
    const offered = await page.locator('.checklist input[type=checkbox]').evaluateAll((els) => els.map((e) => (e as unknown as { value: string }).value));
    expect(offered.sort()).toEqual(['loop/gpt-test', 'loop/reasoner']);
    await shot('key-playground');

    await go('#/keys');
    await page.getByText('This page needs the admin key.').waitFor();
    expect(await page.locator('[data-testid=keys-table]').count()).toBe(0);
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
