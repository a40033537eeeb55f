/**
 * The console's Knowledge page, end to end in Debian's headless Chromium (playwright-core): a
 * real hub (in-process, auth required) with an embedding model on the loopback OpenAI upstream.
 * Creates a vector store, uploads a Chinese .txt through the picker and an English .md by drag
 * and drop, follows ingestion to completed, opens a file's chunks, searches 长江 and sees the
 * match highlighted, reads the page in Chinese, and sees a corrupt PDF fail with its reason.
 * Skipped with a message without /usr/bin/chromium, as the console suite is.
 *
 * Screenshots land in test-results/console/knowledge-*.png.
 */
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureConsoleBuilt } from '../helpers/console-build.js';
import { startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { OpenAIUpstream } from '../upstreams/openai.js';
import { HAS_CHROMIUM, openConsoleBrowser, warnWithoutChromium } from '../helpers/browser.js';
import type { ConsoleBrowser } from '../helpers/browser.js';

const ADMIN = 'sk-baimo-admin-e2e-knowledge-00000000000';

const ZH = '长江是中国最长的河流，全长约六千三百公里。\n\n长江流域人口众多，沿岸城市有重庆、武汉、南京和上海。';
const EN = '# The Thames\n\nThe Thames flows through London to the North Sea.\n\n## Wildlife\n\nSalmon returned to the river in the 1970s after the water was cleaned.';
/** Looks like a PDF by its first bytes, and is not one. */
const CORRUPT_PDF = '%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a PDF body at all';
/** The hub's body limit here: a bigger upload is refused with a 413. */
const MAX_BODY = 65_536;
/** A file name that is markup: it must show as text. */
const HOSTILE_NAME = '<img src=x onerror="window.__pwned=1">.txt';

warnWithoutChromium('knowledge');

describe.skipIf(!HAS_CHROMIUM)('the Knowledge page in headless Chromium', { timeout: 60_000 }, () => {
  let upstream: OpenAIUpstream;
  let hub: TestHub;
  let context: BrowserContext;
  let page: Page;
  let browser: ConsoleBrowser;
  let storeId: string;
  const pageErrors: string[] = [];

  async function call(path: string, init: { method?: string; body?: unknown; key?: string } = {}) {
    const res = await fetch(`${hub.url}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { authorization: `Bearer ${init.key ?? ADMIN}`, 'content-type': 'application/json' },
      ...(init.body !== undefined && { body: JSON.stringify(init.body) }),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  const shot = (name: string) => browser.shot(name);

  const signIn = (key: string) => browser.signIn(key);

  const fileRow = (name: string) => page.locator('[data-testid=files-table] tbody tr', { has: page.getByRole('button', { name, exact: true }) });

  beforeAll(async () => {
    ensureConsoleBuilt();
    upstream = await startOpenAIUpstream({ apiKey: 'sk-loop-kb' });
    hub = await startTestHub(
      `server:
  maxBodyBytes: ${MAX_BODY}
providers:
  loop:
    baseURL: ${upstream.baseURL}
    apiKey: sk-loop-kb
    models: [gpt-test]
    embeddingModels: [text-embed-kb]
`,
      { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN },
    );
    browser = await openConsoleBrowser({ pageErrors, shotPrefix: 'knowledge-' });
    ({ context, page } = browser);
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    await hub?.dispose();
    await upstream?.close();
  });

  it('creates a vector store with an embedding model chosen from /v1/models', async () => {
    await page.goto(`${hub.url}/#/knowledge`);
    await signIn(ADMIN);
    await page.getByRole('heading', { name: 'Knowledge', level: 1 }).waitFor();
    await page.getByTestId('no-stores').waitFor();
    await page.getByRole('button', { name: 'Create vector store' }).click();
    const model = page.getByLabel('Embedding model');
    // Embedding models only, after "keyword only"; no chat model.
    await expect.poll(() => model.locator('option').allTextContents()).toEqual(['Keyword only', 'loop/text-embed-kb']);
    await page.getByLabel('Name').fill('E2E 河流');
    await model.selectOption('loop/text-embed-kb');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    await page.getByRole('heading', { name: 'E2E 河流', level: 1 }).waitFor();
    storeId = decodeURIComponent(new URL(page.url()).hash.split('/')[2]!);
    expect(storeId).toMatch(/^vs_/);
    const made = await call(`/v1/vector_stores/${storeId}`);
    expect(made.body).toMatchObject({ name: 'E2E 河流', embedding_model: 'loop/text-embed-kb', file_counts: { total: 0 } });
    expect(await page.getByTestId('store-summary').textContent()).toContain('loop/text-embed-kb');
  });

  it('uploads a Chinese .txt by the picker and an English .md by drag and drop, each with its progress, then follows ingestion to completed', async () => {
    await page.getByLabel('Choose files').setInputFiles([{ name: 'changjiang.txt', mimeType: 'text/plain', buffer: Buffer.from(ZH) }]);
    // Dropped as a browser drops it: a drop event whose DataTransfer holds the file.
    const transfer = await page.evaluateHandle(`(() => {
      const dt = new DataTransfer();
      dt.items.add(new File([${JSON.stringify(EN)}], 'thames.md', { type: 'text/markdown' }));
      return dt;
    })()`);
    await page.getByTestId('drop-zone').dispatchEvent('drop', { dataTransfer: transfer });

    const uploads = page.getByTestId('upload');
    await expect.poll(() => uploads.count()).toBe(2);
    for (const [name, text] of [['changjiang.txt', ZH], ['thames.md', EN]] as const) {
      const bar = page.getByRole('progressbar', { name: `Upload of ${name}` });
      // The bar is fed by the browser's upload progress events: full when the body has gone.
      await expect.poll(() => bar.getAttribute('aria-valuenow')).toBe(String(Buffer.byteLength(text)));
      expect(await bar.getAttribute('aria-valuemax')).toBe(String(Buffer.byteLength(text)));
    }
    await expect.poll(() => uploads.evaluateAll((els) => els.map((e) => e.getAttribute('data-state')))).toEqual(['added', 'added']);

    for (const name of ['changjiang.txt', 'thames.md']) {
      await expect.poll(() => fileRow(name).getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
      expect(await fileRow(name).textContent()).toContain('Completed');
    }
    await expect.poll(() => page.locator('[data-field=file-counts]').textContent()).toBe('2 ready, 0 ingesting, 0 failed, 2 in all');
    const files = (await call(`/v1/vector_stores/${storeId}/files`)).body.data;
    expect(files.map((f: any) => f.status)).toEqual(['completed', 'completed']);
    await shot('files');
  });

  it("opens a file's chunks: text, sequence and tokens", async () => {
    await fileRow('thames.md').getByRole('button', { name: 'thames.md', exact: true }).click();
    const chunks = page.getByTestId('chunks');
    await chunks.getByRole('heading', { name: 'Chunks of thames.md' }).waitFor();
    const rows = chunks.locator('tbody tr');
    await expect.poll(() => rows.count()).toBeGreaterThan(0);
    const first = rows.first().locator('td');
    expect(await first.nth(0).textContent()).toBe('0');
    expect(Number(await first.nth(1).textContent())).toBeGreaterThan(0);
    expect(await chunks.textContent()).toContain('Salmon returned to the river');
    // The same chunks the API gives, in order.
    const fileId = await fileRow('thames.md').getAttribute('data-file-id');
    const api = (await call(`/v1/vector_stores/${storeId}/files/${fileId}/content`)).body.data;
    expect(await rows.count()).toBe(api.length);
    expect(api[0]).toMatchObject({ type: 'text', baimo_seq: 0 });
    expect(await rows.first().locator('td').nth(1).textContent()).toBe(String(api[0].baimo_tokens));
    await shot('chunks');
    await chunks.getByRole('button', { name: 'Close' }).click();
    await chunks.waitFor({ state: 'detached' });
  });

  it('searches 长江: the Chinese file first, scored, with the match highlighted', async () => {
    await page.getByLabel('Query').fill('长江');
    await page.getByLabel('Mode').selectOption('keyword');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    const results = page.getByTestId('result');
    await expect.poll(() => results.count()).toBeGreaterThan(0);
    expect(await results.first().getAttribute('data-filename')).toBe('changjiang.txt');
    expect(await results.first().locator('mark').first().textContent()).toBe('长江');
    const score = Number(await results.first().locator('[data-field=score]').textContent());
    expect(score).toBeGreaterThan(0);
    expect(score).toBeLessThanOrEqual(1);
    // The bar's length is the score (the label shows it rounded to three places).
    const fill = (await results.first().locator('.kb-score-fill').getAttribute('style')) ?? '';
    expect(Number(/width:\s*([\d.]+)%/.exec(fill)?.[1])).toBeCloseTo(score * 100, 0);
    await shot('search-zh');

    // English, hub default mode (hybrid over the embedding model): words highlighted at word starts.
    await page.getByLabel('Mode').selectOption('');
    await page.getByLabel('Query').fill('salmon, London!');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => results.first().getAttribute('data-filename')).toBe('thames.md');
    const marks = await page.getByTestId('results').locator('mark').allTextContents();
    expect(marks).toEqual(expect.arrayContaining(['Salmon', 'London']));

    // A query that is markup: shown as text and searched, never run.
    await page.getByLabel('Query').fill('<script>window.__pwned=2</script> kangaroo');
    await page.getByLabel('Mode').selectOption('keyword');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByTestId('no-results').waitFor();
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
  });

  it('reads the page in Chinese', async () => {
    await page.getByLabel('Language').selectOption('zh');
    await page.getByRole('link', { name: '知识库' }).waitFor();
    await page.getByRole('heading', { name: '上传文件' }).waitFor();
    expect(await page.getByRole('heading', { name: '此向量存储中的文件' }).isVisible()).toBe(true);
    expect(await page.getByRole('heading', { name: '试试搜索' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: '删除向量存储' }).isVisible()).toBe(true);
    expect(await fileRow('changjiang.txt').textContent()).toContain('已完成');
    expect(await page.locator('[data-field=file-counts]').textContent()).toBe('就绪 2，处理中 0，失败 0，共 2');
    const headers = await page.locator('[data-testid=files-table] thead th').allTextContents();
    expect(headers.slice(0, 4)).toEqual(['文件', '状态', '大小', '加入时间']);
    await page.getByLabel('查询').fill('长江');
    await page.getByRole('button', { name: '搜索', exact: true }).click();
    await expect.poll(() => page.getByTestId('result').first().getAttribute('data-filename')).toBe('changjiang.txt');
    await page.getByRole('link', { name: '全部向量存储' }).click();
    const table = page.getByTestId('stores-table');
    await table.waitFor();
    expect(await table.locator('thead th').allTextContents()).toEqual(['名称', 'ID', '状态', '嵌入模型', '文件', '大小', '创建时间']);
    expect(await table.locator(`tr[data-store-id="${storeId}"]`).textContent()).toContain('就绪');
    await shot('stores-zh');
    const main = await page.locator('main').evaluate((m) => (m as unknown as { innerText: string }).innerText);
    for (const leftover of ['Vector stores', 'Files', 'Status', 'Created', 'Ready']) expect(main, leftover).not.toContain(leftover);
    await page.getByLabel('语言').selectOption('en');
    await page.getByRole('link', { name: 'Knowledge' }).waitFor();
  });

  it('shows a corrupt PDF as failed with its reason, and a markup file name as text; removes a file', async () => {
    await page.getByTestId('stores-table').getByRole('link', { name: 'E2E 河流' }).click();
    await page.getByLabel('Choose files').setInputFiles([
      { name: 'broken.pdf', mimeType: 'application/pdf', buffer: Buffer.from(CORRUPT_PDF) },
      { name: HOSTILE_NAME, mimeType: 'text/plain', buffer: Buffer.from('harmless text') },
    ]);
    await expect.poll(() => fileRow('broken.pdf').getAttribute('data-status'), { timeout: 20_000 }).toBe('failed');
    const api = (await call(`/v1/vector_stores/${storeId}/files?filter=failed`)).body.data;
    expect(api).toHaveLength(1);
    expect(api[0].last_error.message.length).toBeGreaterThan(0);
    expect(await fileRow('broken.pdf').getByTestId('file-error').textContent()).toBe(api[0].last_error.message);
    expect(await fileRow('broken.pdf').textContent()).toContain('Failed');

    await expect.poll(() => fileRow(HOSTILE_NAME).getAttribute('data-status'), { timeout: 20_000 }).toBe('completed');
    expect(await page.locator('main img').count()).toBe(0);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await expect.poll(() => page.locator('[data-field=file-counts]').textContent()).toBe('3 ready, 0 ingesting, 1 failed, 4 in all');
    await shot('failed');

    await fileRow(HOSTILE_NAME).getByRole('button', { name: `Remove ${HOSTILE_NAME}` }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Remove file' }).click();
    await fileRow(HOSTILE_NAME).waitFor({ state: 'detached' });
    expect((await call(`/v1/vector_stores/${storeId}/files`)).body.data).toHaveLength(3);
  });

  it("shows the hub's refusal of an upload in that file's row, and fits a 375 px phone screen", async () => {
    await page.getByLabel('Choose files').setInputFiles([{ name: 'huge.txt', mimeType: 'text/plain', buffer: Buffer.alloc(MAX_BODY * 2, 'a') }]);
    const row = page.getByTestId('upload').filter({ hasText: 'huge.txt' });
    await expect.poll(() => row.getAttribute('data-state')).toBe('error');
    expect(await row.textContent()).toMatch(/larger than the limit of 65536 bytes/);
    // Nothing was added to the store.
    expect((await call(`/v1/vector_stores/${storeId}/files`)).body.data).toHaveLength(3);

    await page.setViewportSize({ width: 375, height: 800 });
    try {
      for (const hash of ['#/knowledge', `#/knowledge/${storeId}`]) {
        expect(await browser.overflowAt(hash), `horizontal overflow on ${hash}`).toBeLessThanOrEqual(0);
      }
      await page.getByTestId('files-table').waitFor();
      await shot('phone');
    } finally {
      await page.setViewportSize({ width: 1280, height: 900 });
    }
  });

  it("refuses another key's store (404 shown), and deletes a store", async () => {
    const created = await call('/admin/keys', { body: { name: 'kb-viewer' } });
    expect(created.status).toBe(201);
    const own = await call('/v1/vector_stores', { key: created.body.key, body: { name: 'own store' } });
    expect(own.status).toBe(200);

    // Signed out on the admin's store, back in as the key, on the same URL: the hub says no such
    // store for this key, and the page says so.
    expect(page.url()).toContain(`#/knowledge/${storeId}`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(created.body.key);
    await page.getByRole('alert').waitFor();
    expect(await page.getByRole('alert').textContent()).toContain(`No vector store found with id '${storeId}'`);
    expect(await page.getByTestId('files-table').count()).toBe(0);
    expect(await page.getByTestId('store-summary').count()).toBe(0);

    // Only its own store in the list.
    await page.getByRole('link', { name: 'All vector stores' }).click();
    const table = page.getByTestId('stores-table');
    await expect.poll(() => table.locator('tbody tr').count()).toBe(1);
    expect(await table.textContent()).toContain('own store');
    expect(await table.textContent()).not.toContain('E2E 河流');

    // Delete it, after a confirmation.
    await table.getByRole('link', { name: 'own store' }).click();
    await page.getByRole('heading', { name: 'own store', level: 1 }).waitFor();
    await page.getByRole('button', { name: 'Delete vector store' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete vector store' }).click();
    await page.getByTestId('no-stores').waitFor();
    expect((await call(`/v1/vector_stores/${own.body.id}`, { key: created.body.key })).status).toBe(404);
    // The admin's store is untouched.
    expect((await call(`/v1/vector_stores/${storeId}`)).status).toBe(200);

    // The key is revoked while its store page is open: the next upload is refused (401) and the
    // console signs out, as it does for any refused call.
    const next = await call('/v1/vector_stores', { key: created.body.key, body: { name: 'second' } });
    await page.evaluate(`location.hash = ${JSON.stringify(`#/knowledge/${next.body.id}`)}`);
    await page.getByRole('heading', { name: 'second', level: 1 }).waitFor();
    expect((await call(`/admin/keys/${created.body.id}/revoke`, { method: 'POST' })).status).toBe(200);
    await page.getByLabel('Choose files').setInputFiles([{ name: 'late.txt', mimeType: 'text/plain', buffer: Buffer.from('too late') }]);
    await page.getByRole('heading', { name: 'Sign in to Baimo' }).waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
  });

  it('raised no uncaught errors in the page', () => {
    expect(pageErrors).toEqual([]);
  });
});
