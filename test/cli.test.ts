import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  it('`baimo chat` is recorded in the data directory with its usage and cost, as the admin or the key given; it refuses while a hub holds the directory', async () => {
    const data = join(dir, 'chat-data');
    const priced = join(dir, 'priced.yaml');
    writeFileSync(priced, `providers:\n  loop:\n    baseURL: \${LOOP_URL}\n    models: [gpt-test]\npricing:\n  models:\n    loop/gpt-test: { input: 2, output: 8 }\n`);
    const env = { LOOP_URL: upstream.baseURL, OLLAMA_BASE_URL: '' };
    const rows = () => {
      const db = new Database(join(data, 'baimo.db'), { readonly: true });
      try {
        return db.prepare('SELECT model, key_id, cost_usd, input_tokens, output_tokens, final, status FROM usage ORDER BY ts').all() as {
          model: string; key_id: string | null; cost_usd: number; input_tokens: number; output_tokens: number; final: number; status: number;
        }[];
      } finally {
        db.close();
      }
    };
    const costOf = (r: { input_tokens: number; output_tokens: number }) => (r.input_tokens * 2 + r.output_tokens * 8) / 1e6;

    // As the admin (no key given): recorded, priced, against no key.
    const first = baimo(['chat', '-m', 'loop/gpt-test', '--config', priced, '--data-dir', data, 'hello there'], env);
    expect(await first.exited).toBe(0);
    expect(first.out()).toContain('Hello from gpt-test!');
    const [admin] = rows();
    expect(admin).toMatchObject({ model: 'loop/gpt-test', key_id: null, final: 1, status: 200 });
    expect(admin!.input_tokens).toBeGreaterThan(0);
    expect(admin!.cost_usd).toBeCloseTo(costOf(admin!), 12);

    // The CLI made no admin key: the hub's first start still makes one and shows it.
    const hub = baimo(['serve', '--port', '0', '--config', priced, '--data-dir', data], env);
    try {
      await expect.poll(() => /listening on (http:\S+)/.exec(hub.out())?.[1], { timeout: 15_000 }).toBeTruthy();
      const url = /listening on (http:\S+)/.exec(hub.out())![1]!;
      const adminKey = /^\s+(sk-baimo-admin-\S+)$/m.exec(hub.out())?.[1];
      expect(adminKey).toBeTruthy();
      const created = await fetch(`${url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${adminKey}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'cli', budget_usd: 5 }) });
      const k = (await created.json()) as { id: string; key: string };

      // While the hub runs, the CLI refuses clearly and leaves the hub's lock alone.
      const refused = baimo(['chat', '-m', 'loop/gpt-test', '--config', priced, '--data-dir', data, '--api-key', k.key, 'hi'], env);
      expect(await refused.exited).toBe(1);
      expect(refused.err()).toContain('a running hub holds it');
      expect(refused.err()).toContain(`pid ${hub.child.pid}`);
      expect(readFileSync(join(data, 'baimo.lock'), 'utf8').trim()).toBe(String(hub.child.pid));
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(rows()).toHaveLength(1);
      hub.child.kill('SIGTERM');
      expect(await hub.exited).toBe(0);

      // With a key: recorded against it and charged to its spend.
      const asKey = baimo(['chat', '-m', 'loop/gpt-test', '--config', priced, '--data-dir', data, '--api-key', k.key, 'hi again'], env);
      expect(await asKey.exited).toBe(0);
      const [, keyed] = rows();
      expect(keyed).toMatchObject({ model: 'loop/gpt-test', key_id: k.id, final: 1, status: 200 });
      expect(keyed!.cost_usd).toBeCloseTo(costOf(keyed!), 12);
      expect(keyed!.cost_usd).toBeGreaterThan(0);

      // An unknown key is refused, and nothing is sent upstream.
      const before = upstream.requests.length;
      const bad = baimo(['chat', '-m', 'loop/gpt-test', '--config', priced, '--data-dir', data, '--api-key', 'sk-not-a-key', 'hi'], env);
      expect(await bad.exited).toBe(1);
      expect(bad.err()).toContain('Invalid API key');
      expect(upstream.requests.length).toBe(before);
    } finally {
      hub.child.kill('SIGTERM');
    }
  });
});
