/**
 * Kill the hub under load — SIGKILL, no chance to drain — and restart it: every request that a
 * client saw complete must have its usage record.
 */
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
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
let upstream: OpenAIUpstream;
let dir: string;

beforeAll(async () => {
  upstream = await startOpenAIUpstream();
  dir = mkdtempSync(join(tmpdir(), 'baimo-kill-'));
  writeFileSync(join(dir, 'baimo.yaml'), `providers:\n  loop:\n    baseURL: ${upstream.baseURL}\n`);
});

afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function serve() {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), 'serve', '--port', '0', '--data-dir', join(dir, 'data')], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, BAIMO_AUTH: 'none' },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const url = (async () => {
    await expect.poll(() => /listening on (http:\S+)/.exec(out)?.[1], { timeout: 15_000 }).toBeTruthy();
    return /listening on (http:\S+)/.exec(out)![1]!;
  })();
  return { child, url, exited };
}

describe('durability', () => {
  it('SIGKILL under load loses no record of a completed request', async () => {
    const first = serve();
    const url = await first.url;
    const completed: string[] = [];
    let stop = false;
    const workers = Array.from({ length: 16 }, async () => {
      while (!stop) {
        try {
          const res = await fetch(`${url}/v1/chat/completions`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ model: 'loop/gpt-test', messages: [{ role: 'user', content: 'x' }], stream: Math.random() < 0.5 }),
          });
          await res.text();
          if (res.status === 200) completed.push(res.headers.get('x-request-id')!);
        } catch {
          return; // the hub is gone
        }
      }
    });
    // Kill once enough requests have completed, however fast or slow this machine is: the test is
    // about records surviving a kill under load, not about how many requests fit in a time slot.
    await expect.poll(() => completed.length, { timeout: 40_000, interval: 20 }).toBeGreaterThan(50);
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(workers);
    await first.exited;
    expect(completed.length).toBeGreaterThan(50);

    // Restart: the journal is replayed into the store.
    const second = serve();
    await second.url;
    second.child.kill('SIGTERM');
    await second.exited;
    const db = new Database(join(dir, 'data', 'baimo.db'), { readonly: true });
    try {
      const have = new Set((db.prepare('SELECT request_id FROM usage WHERE final = 1').all() as { request_id: string }[]).map((r) => r.request_id));
      const missing = completed.filter((id) => !have.has(id));
      expect(missing).toEqual([]);
      const dupes = db.prepare('SELECT COUNT(*) AS n FROM (SELECT request_id FROM usage GROUP BY request_id, attempt, final HAVING COUNT(*) > 1)').get() as { n: number };
      expect(dupes.n).toBe(0);
    } finally {
      db.close();
    }
  }, 60_000);
});
