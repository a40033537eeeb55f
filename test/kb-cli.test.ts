/**
 * `baimo kb` as a user runs it: the real entry point as a child process, against a hub started in
 * this process with keys, over HTTP. A directory of Chinese and English files with a corrupt PDF
 * (exit 1, the failure named with its reason, the rest searchable), progress lines when stderr is
 * not a terminal, refusals (wrong key, unknown or another key's store, bad flags: exit 2), and
 * Ctrl-C while the hub is still ingesting (the batch cancelled through the API, exit 130).
 */
import { execFile, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kbProgressLine, kbProgressWriter } from '../src/cli/kb-progress.js';
import { attributesOf, chunkingOf, snippet } from '../src/cli/kb.js';
import { startTestHub } from './helpers/hub.js';
import type { TestHub } from './helpers/hub.js';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ROOT = join(import.meta.dirname, '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const ADMIN = 'sk-baimo-admin-test-kbcli-000000000000';
const ZH = '长江是中国最长的河流，全长约六千三百公里。\n\n长江流域人口众多，沿岸城市有重庆、武汉、南京和上海。';
const ZH_HEALTH = '健康饮食需要多吃蔬菜和水果，每天适量运动也有益健康。';
const EN = '# Rivers\n\nThe Thames flows through London to the North Sea.\n\nSalmon returned to the river in the 1970s after the water was cleaned.';
/** Looks like a PDF by its name and first bytes, and is not one. */
const CORRUPT_PDF = '%PDF-1.7\n1 0 obj << /Type /Catalog >>\nthis is not a PDF body at all';

let upstream: OpenAIUpstream;
let hub: TestHub;
let dir: string;
let keyA: string;
let keyB: string;

async function newKey(): Promise<string> {
  const res = await fetch(`${hub.url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'kb-cli' }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

async function api<T = any>(path: string, key = keyA, method = 'GET'): Promise<T> {
  const res = await fetch(`${hub.url}${path}`, { method, headers: { authorization: `Bearer ${key}` } });
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

/** The real `baimo` (from source), stderr not a terminal, pointed at the test hub as key A unless told otherwise. */
function kb(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'kb', ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, BAIMO_URL: hub.url, BAIMO_API_KEY: keyA, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { child, exited, out: () => stdout, err: () => stderr };
}

function write(path: string, text: string): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  // Uploads over 64 KB are refused (413): a file the hub turns away at upload.
  hub = await startTestHub(`server:\n  maxBodyBytes: 65536\nproviders:\n  loop:\n    baseURL: ${upstream.baseURL}\n`, { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN });
  keyA = await newKey();
  keyB = await newKey();
  dir = mkdtempSync(join(tmpdir(), 'baimo-kb-'));
  write(join(dir, 'docs/zh/changjiang.md'), ZH);
  write(join(dir, 'docs/zh/health.txt'), ZH_HEALTH);
  write(join(dir, 'docs/en/thames.txt'), EN);
  write(join(dir, 'docs/broken.pdf'), CORRUPT_PDF);
  write(join(dir, 'docs/.secret.txt'), 'a dotfile: never uploaded');
  write(join(dir, 'docs/.git/config'), 'a dot-directory: never walked');
}, 60_000);

afterAll(async () => {
  await hub?.dispose();
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('baimo kb', () => {
  let store: string;

  it('creates a store, adds a directory (a corrupt PDF and a missing file fail, named with their reasons: exit 1), and searches it in both languages', async () => {
    const made = kb(['create', '河流 docs']);
    expect(await made.exited).toBe(0);
    store = made.out().trim();
    expect(store).toMatch(/^vs_[A-Za-z0-9_-]+$/);

    const add = kb(['add', store, 'docs', 'missing.txt']);
    expect(await add.exited).toBe(1);
    const out = add.out();
    const err = add.err();
    expect(err).toContain('docs: 4 files');
    expect(out).toContain(`${store}: 3 of 5 files added, 2 failed`);
    expect(out).toMatch(/failed {2}docs\/broken\.pdf: invalid_file: \S/);
    expect(out).toMatch(/failed {2}missing\.txt: ENOENT: no such file or directory/);
    expect(out).not.toMatch(/failed .*(changjiang|health|thames)/);
    // Not a terminal: whole progress lines, never a redraw, at most one per 10% (plus the first), the last complete.
    const lines = err.split('\n').filter((l) => l.startsWith('['));
    expect(err).not.toContain('\r');
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(lines.length).toBeLessThanOrEqual(11);
    expect(lines.at(-1)).toMatch(/^\[=+\] 5\/5 files · 2 failed · \d+ B · ETA 0:00$/);

    // What the hub holds: the four files walked (no dotfile), three ingested, the PDF failed.
    const files = await api<{ data: { filename: string }[] }>('/v1/files');
    const names = files.data.map((f) => f.filename);
    expect(names).toEqual(expect.arrayContaining(['changjiang.md', 'health.txt', 'thames.txt', 'broken.pdf']));
    expect(names.some((n) => n.startsWith('.') || n === 'config')).toBe(false);
    const s = await api(`/v1/vector_stores/${store}`);
    expect(s.file_counts).toEqual({ in_progress: 0, completed: 3, failed: 1, cancelled: 0, total: 4 });

    const zh = kb(['search', store, '长江']);
    expect(await zh.exited).toBe(0);
    const zhLines = zh.out().trim().split('\n');
    expect(zhLines[0]).toMatch(/^1\.000 {2}changjiang\.md {2}长江是中国最长的河流/);
    expect(zh.out()).not.toContain('thames.txt');

    const en = kb(['search', store, 'salmon', 'London', '-n', '1', '--mode', 'keyword']);
    expect(await en.exited).toBe(0);
    expect(en.out().trim().split('\n')).toHaveLength(1);
    expect(en.out()).toMatch(/^\d\.\d{3} {2}thames\.txt {2}.*Salmon/);

    const raw = kb(['search', store, '健康', '--json']);
    expect(await raw.exited).toBe(0);
    const page = JSON.parse(raw.out()) as { object: string; data: { filename: string; content: { text: string }[] }[] };
    expect(page.object).toBe('vector_store.search_results.page');
    expect(page.data[0]!.filename).toBe('health.txt');

    const none = kb(['search', store, 'kangaroo']);
    expect(await none.exited).toBe(0);
    expect(none.out()).toBe('');
    expect(none.err()).toContain('no results');

    const list = kb(['ls']);
    expect(await list.exited).toBe(0);
    expect(list.out()).toMatch(new RegExp(`^${store} +河流 docs +3/4 \\(1 failed\\) +\\d+ B +keyword only +completed$`, 'm'));
    // Key B's list does not show key A's store.
    const other = kb(['ls'], { BAIMO_API_KEY: keyB });
    expect(await other.exited).toBe(0);
    expect(other.out()).not.toContain(store);
  }, 400_000);

  it('sends --attr (typed) and --chunk-size/--chunk-overlap with every file; a file alone, exit 0', async () => {
    const made = kb(['create', 'attrs', '--embedding-model', 'none', '--no-contextual-headers']);
    expect(await made.exited).toBe(0);
    const id = made.out().trim();
    expect(await api(`/v1/vector_stores/${id}`)).toMatchObject({ embedding_model: null, contextual_headers: false });
    const add = kb(['add', id, 'docs/zh/changjiang.md', '--attr', 'lang=zh', '--attr', 'year=2020', '--attr', 'river=true', '--attr', 'note=a=b', '--chunk-size', '200']);
    expect(await add.exited).toBe(0);
    expect(add.out()).toContain(`${id}: 1 of 1 file added, 0 failed`);
    const files = await api<{ data: any[] }>(`/v1/vector_stores/${id}/files`);
    expect(files.data).toHaveLength(1);
    expect(files.data[0]).toMatchObject({
      status: 'completed',
      attributes: { lang: 'zh', year: 2020, river: true, note: 'a=b' },
      chunking_strategy: { type: 'static', static: { max_chunk_size_tokens: 200, chunk_overlap_tokens: 100 } },
    });

    // A file the hub refuses at upload is counted failed with the hub's reason; the others go on.
    write(join(dir, 'big/huge.txt'), 'x'.repeat(100_000));
    write(join(dir, 'big/small.txt'), EN);
    const big = kb(['add', id, 'big']);
    expect(await big.exited).toBe(1);
    expect(big.out()).toContain(`${id}: 1 of 2 files added, 1 failed`);
    expect(big.out()).toMatch(/failed {2}big\/huge\.txt: upload refused \(413 payload_too_large\): Request body is larger than the limit of 65536 bytes\./);
  }, 300_000);

  it('refuses with exit 2 and the hub’s message: a wrong key (not echoed), an unknown store, another key’s store; bad flags; an unreachable hub is exit 1', async () => {
    const wrong = 'sk-baimo-wrong-key-0123456789abcdef';
    // A loopback port nothing listens on any more.
    const gone = createServer();
    await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
    const port = (gone.address() as { port: number }).port;
    await new Promise((r) => gone.close(r));
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [['add', store, 'docs'], { BAIMO_API_KEY: wrong }, 2, /error: Invalid API key\./],
      [['ls', '--api-key', wrong], {}, 2, /Invalid API key/],
      [['add', 'vs_nope', 'docs'], {}, 2, /No vector store found with id 'vs_nope'/],
      [['search', store, '长江'], { BAIMO_API_KEY: keyB }, 2, /No vector store found/],
      [['add', store, 'docs', '--bogus'], {}, 2, /Unknown option '--bogus'/],
      [['add', store], {}, 2, /give a STORE and at least one FILE or DIR/],
      [['add', store, 'docs', '--chunk-size', '50'], {}, 2, /--chunk-size must be a whole number from 100 to 4096/],
      [['add', store, 'docs', '--chunk-size', '200', '--chunk-overlap', '150'], {}, 2, /--chunk-overlap must be a whole number from 0 to 100/],
      [['add', store, 'docs', '--chunk-overlap', '10'], {}, 2, /--chunk-overlap needs --chunk-size/],
      [['add', store, 'docs', '--attr', 'novalue'], {}, 2, /expected KEY=VALUE/],
      [['add', store, 'docs', '--attr', `k=${'v'.repeat(600)}`], {}, 2, /longer than 512/],
      [['search', store, '长江', '-n', '0'], {}, 2, /-n must be a whole number from 1 to 50/],
      [['search', store, '长江', '--mode', 'psychic'], {}, 2, /--mode must be one of keyword, vector, hybrid, hybrid_rerank/],
      [['search', store, 'x'.repeat(5000)], {}, 2, /query/],
      [['create', 'x', '--embedding-model', 'nope/none'], {}, 2, /serves no model 'nope\/none'/],
      [['frobnicate'], {}, 2, /unknown kb command 'frobnicate'/],
      [['ls', '--base-url', 'ftp://example'], {}, 2, /expected an http\(s\) URL/],
      [['ls', '--base-url', `http://127.0.0.1:${port}/v1/`], {}, 1, new RegExp(`cannot reach the hub at http://127\\.0\\.0\\.1:${port}: ECONNREFUSED`)],
    ];
    const before = (await api<{ data: unknown[] }>('/v1/files')).data.length;
    // Three at a time: each child loads the whole CLI from source.
    for (let i = 0; i < cases.length; i += 3) {
      await Promise.all(
        cases.slice(i, i + 3).map(async ([args, env, code, message]) => {
          const r = kb(args, env);
          expect(await r.exited, args.join(' ')).toBe(code);
          expect(r.err(), args.join(' ')).toMatch(message);
          expect(r.err() + r.out()).not.toContain(wrong);
        }),
      );
    }
    // Nothing was uploaded by a refused `add`.
    expect((await api<{ data: unknown[] }>('/v1/files')).data.length).toBe(before);
  }, 600_000);

  it('Ctrl-C while the hub ingests cancels the batch through the API and exits 130', async () => {
    // An embedding model whose upstream never answers: the files stay in progress until cancelled.
    const made = kb(['create', 'stuck', '--embedding-model', 'loop/hang']);
    expect(await made.exited).toBe(0);
    const id = made.out().trim();
    const add = kb(['add', id, 'docs/zh', 'docs/en']);
    await expect.poll(() => /batch (vsfb_\S+): 3 files ingesting/.exec(add.err())?.[1], { timeout: 120_000 }).toBeTruthy();
    const batch = /batch (vsfb_\S+):/.exec(add.err())![1]!;
    expect((await api(`/v1/vector_stores/${id}/file_batches/${batch}`)).status).toBe('in_progress');
    add.child.kill('SIGINT');
    expect(await add.exited).toBe(130);
    expect(add.err()).toContain(`cancelled batch ${batch}`);
    const b = await api(`/v1/vector_stores/${id}/file_batches/${batch}`);
    expect(b).toMatchObject({ status: 'cancelled', file_counts: { in_progress: 0, completed: 0, cancelled: 3, total: 3 } });
  }, 300_000);
});

describe('baimo kb, its pure parts', () => {
  it('draws the progress bar, redrawn on a terminal and a line per 10% elsewhere', () => {
    const p = { done: 12, total: 40, failed: 3, bytes: 1_234_567, elapsedMs: 6000 };
    expect(kbProgressLine(p, 10)).toBe('[===>      ] 12/40 files · 3 failed · 1.2 MB · ETA 0:14');
    expect(kbProgressLine({ ...p, done: 0 }, 4)).toBe('[>   ] 0/40 files · 3 failed · 1.2 MB · ETA –');
    // Files failed locally are done at once: the pace is the hub's alone (10 s for 2 → 30 s for 6 more).
    expect(kbProgressLine({ ...p, done: 2, paced: 0, total: 10, elapsedMs: 10_000 }, 4)).toMatch(/ETA –$/);
    expect(kbProgressLine({ ...p, done: 4, paced: 2, total: 10, elapsedMs: 10_000 }, 4)).toMatch(/ETA 0:30$/);
    expect(kbProgressLine({ ...p, done: 40 }, 4)).toBe('[====] 40/40 files · 3 failed · 1.2 MB · ETA 0:00');
    // Absurd inputs: nothing to do, more done than planned.
    expect(kbProgressLine({ ...p, done: 0, total: 0 }, 4)).toBe('[====] 0/0 files · 3 failed · 1.2 MB · ETA 0:00');
    expect(kbProgressLine({ ...p, done: 50 }, 4)).toMatch(/^\[====\] 50\/40/);

    const tty = { text: '', isTTY: true, write(s: string) { this.text += s; } };
    const w = kbProgressWriter(tty);
    for (let done = 0; done <= 4; done++) w.update({ ...p, done, total: 4 });
    w.note('failed: a.pdf: invalid_file: no');
    w.end();
    expect(tty.text.split('\r\x1b[2K').length).toBe(7);
    expect(tty.text).toContain('\r\x1b[2Kfailed: a.pdf: invalid_file: no\n[');
    expect(tty.text.endsWith('\n')).toBe(true);

    const log = { text: '', write(s: string) { this.text += s; } };
    const l = kbProgressWriter(log);
    for (let done = 0; done <= 100; done++) l.update({ ...p, done, total: 100 });
    expect(log.text.split('\n').filter(Boolean)).toHaveLength(11);
    expect(log.text).not.toContain('\r');
  });

  it('parses --attr and chunking flags, and cuts snippets without splitting a character', () => {
    expect(attributesOf(['a=1', 'b=-2.5', 'c=true', 'd=false', 'e=x=y', 'f=', 'g=1e9', 'h=007'])).toEqual({ a: 1, b: -2.5, c: true, d: false, e: 'x=y', f: '', g: '1e9', h: 7 });
    expect(attributesOf([])).toBeUndefined();
    expect(() => attributesOf(['=v'])).toThrow(/KEY=VALUE/);
    expect(() => attributesOf([`${'k'.repeat(65)}=v`])).toThrow(/KEY=VALUE/);
    expect(() => attributesOf(Array.from({ length: 17 }, (_, i) => `k${i}=v`))).toThrow(/at most 16/);
    expect(chunkingOf(undefined, undefined)).toBeUndefined();
    expect(chunkingOf('1000', undefined)).toEqual({ type: 'static', static: { max_chunk_size_tokens: 1000, chunk_overlap_tokens: 400 } });
    expect(chunkingOf('100', '0')).toEqual({ type: 'static', static: { max_chunk_size_tokens: 100, chunk_overlap_tokens: 0 } });
    for (const [size, overlap] of [['99', undefined], ['4097', undefined], ['1e3', undefined], ['-100', undefined], ['200', '101'], ['200', 'x']] as const) {
      expect(() => chunkingOf(size, overlap)).toThrow(/must be a whole number/);
    }
    expect(snippet('长江\n\n  是中国最长的河流', 5)).toBe('长江 是…');
    expect(snippet('😀'.repeat(10), 3)).toBe('😀😀…');
    expect(snippet('short')).toBe('short');
  });
});

describe('baimo kb start-up', () => {
  it('loads neither the config parser nor the gateway: only an HTTP client of the hub', async () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'baimo-kb-trace-')), 'imports');
    writeFileSync(trace, '');
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, ['--import', join(ROOT, 'test/helpers/trace-imports.mjs'), '--import', TSX, join(ROOT, 'src/cli/main.ts'), 'kb', 'help'], { env: { ...process.env, BAIMO_TRACE_IMPORTS: trace } }, (err) => (err ? reject(err) : resolve())),
    );
    const loaded = readFileSync(trace, 'utf8').split('\n');
    expect(loaded.some((u) => u.endsWith('/src/cli/kb.ts'))).toBe(true);
    expect(loaded.filter((u) => /node_modules\/(yaml|zod)\/|\/src\/(gateway|config\/load|server)\//.test(u) || u.endsWith('/src/config/load.ts'))).toEqual([]);
  });
});
