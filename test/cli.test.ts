import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIUpstream } from './upstreams/openai.js';
import type { OpenAIUpstream } from './upstreams/openai.js';

const ROOT = join(import.meta.dirname, '..');
/** tsx's loader by absolute URL: the child runs in a temp directory with no node_modules. */
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
let upstream: OpenAIUpstream;
let dir: string;

/** Runs the real `baimo` entry point (from source) with a clean environment. */
function baimo(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), 'baimo-cli-'));
  writeFileSync(join(dir, 'baimo.yaml'), `providers:\n  loop:\n    baseURL: \${LOOP_URL}\n    models: [gpt-test, reasoner]\n`);
});

afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the baimo command', () => {
  it('`baimo models` lists configured models', async () => {
    const run = baimo(['models'], { LOOP_URL: upstream.baseURL, OLLAMA_BASE_URL: '' });
    expect(await run.exited).toBe(0);
    expect(run.out()).toMatch(/loop\/gpt-test\s+loop/);
    expect(run.out()).toMatch(/loop\/reasoner\s+loop/);
  });

  it('`baimo chat` streams the answer to stdout and reasoning to stderr', async () => {
    const run = baimo(['chat', '-m', 'loop/reasoner', 'what is six times seven?'], { LOOP_URL: upstream.baseURL });
    expect(await run.exited).toBe(0);
    expect(run.out()).toContain('The answer is 42.');
    expect(run.err()).toContain('Let me think step by step.');
    expect(upstream.requests.at(-1)!.body.messages).toEqual([{ role: 'user', content: 'what is six times seven?' }]);
  });

  it('`baimo chat` on an unknown model exits 1 with close matches', async () => {
    const run = baimo(['chat', '-m', 'lop/gpt-test', 'hi'], { LOOP_URL: upstream.baseURL });
    expect(await run.exited).toBe(1);
    expect(run.err()).toContain("Did you mean 'loop/gpt-test'");
  });

  it('a bad config stops start-up naming the key path, without printing secrets', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'providers:\n  loop:\n    baseURL: 42\n    apiKey: ${SECRET}\n');
    const run = baimo(['serve', '--config', bad, '--port', '0'], { SECRET: 'sk-top-secret-987654321' });
    expect(await run.exited).toBe(1);
    expect(run.err()).toContain('providers.loop.baseURL: expected an http(s) URL');
    expect(run.err() + run.out()).not.toContain('sk-top-secret-987654321');
  });

  it('usage records of answered requests survive an immediate SIGTERM', async () => {
    const data = join(dir, 'drain-data');
    const run = baimo(['serve', '--port', '0', '--data-dir', data], { LOOP_URL: upstream.baseURL, BAIMO_ADMIN_KEY: 'sk-test-admin-key-123' });
    await expect.poll(() => /listening on (http:\S+)/.exec(run.out())?.[1], { timeout: 15_000 }).toBeTruthy();
    const url = /listening on (http:\S+)/.exec(run.out())![1]!;
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        fetch(`${url}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer sk-test-admin-key-123' },
          body: JSON.stringify({ model: 'loop/gpt-test', messages: [{ role: 'user', content: `n${i}` }] }),
        }).then((r) => r.status),
      ),
    );
    expect(answers.every((s) => s === 200)).toBe(true);
    // Twenty access-log lines end part-way through a batched write; they still reach stdout within a second or so.
    await expect.poll(() => run.out().split('\n').filter((l) => l.includes('"msg":"request"')).length, { timeout: 5000 }).toBe(20);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    const db = new Database(join(data, 'baimo.db'), { readonly: true });
    try {
      const row = db.prepare('SELECT count(*) AS n, sum(input_tokens) AS input FROM usage').get() as { n: number; input: number };
      expect(row).toEqual({ n: 20, input: 20 * 12 });
    } finally {
      db.close();
    }
  });

  it('`baimo serve` starts with zero config, answers /healthz, and stops cleanly on SIGTERM', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'baimo-zero-'));
    try {
      const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'serve'], {
        cwd: empty,
        env: { PATH: process.env.PATH ?? '', HOME: empty, BAIMO_PORT: '0', BAIMO_DATA_DIR: join(empty, 'data') },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await expect.poll(() => /listening on (http:\S+)/.exec(out)?.[1], { timeout: 15_000 }).toBeTruthy();
      const url = /listening on (http:\S+)/.exec(out)![1]!;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(out).toContain('zero config');
      const health = await fetch(`${url}/healthz`);
      expect(health.status).toBe(200);
      // Security by default: the model API needs a key; the admin key was printed once.
      expect((await fetch(`${url}/v1/models`)).status).toBe(401);
      const adminKey = /^\s+(sk-baimo-admin-\S+)$/m.exec(out)?.[1];
      expect(adminKey).toBeTruthy();
      const models = (await (await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${adminKey}` } })).json()) as { object: string };
      expect(models.object).toBe('list');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
