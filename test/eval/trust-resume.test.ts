/**
 * `baimo eval trust --resume`: a trust run cancelled (SIGINT) or killed outright (SIGKILL) goes on
 * from its resume file; the cells it finished are not asked upstream again nor charged again, and
 * the table per model × perspective is the one an uninterrupted run gives. The model under test
 * is the loopback upstream's `slow` (it waits before answering), so a run is interrupted in the
 * middle by waiting for the upstream to have seen a few of its requests.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { OpenAIUpstream } from '../upstreams/openai.js';

const ROOT = join(import.meta.dirname, '../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const CONFIG = `providers:
  loop:
    baseURL: \${LOOP_URL}
    models: [slow, grader]
pricing:
  models:
    loop/slow: { input: 2, output: 8 }
    loop/grader: { input: 1, output: 1 }
`;
// --limit 2 over the six perspectives: 12 cells of loop/slow (one zh and one en case each).
const PLANNED = 12;

let upstream: OpenAIUpstream;
let dir: string;
let config: string;

beforeAll(async () => {
  upstream = await startOpenAIUpstream({ slowFirstByteMs: 300 });
  dir = mkdtempSync(join(tmpdir(), 'baimo-trust-resume-'));
  config = join(dir, 'baimo.yaml');
  writeFileSync(config, CONFIG);
});
afterAll(async () => {
  await upstream?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function baimo(args: string[]) {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, LOOP_URL: upstream.baseURL, OLLAMA_BASE_URL: '' },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal === 'SIGKILL' ? 137 : signal ? 128 : null))));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const trust = (dataDir: string, ...rest: string[]) => ['eval', 'trust', 'loop/slow', '--grader', 'loop/grader', '--limit', '2', '--no-cache', '--config', config, '--data-dir', join(dir, dataDir), ...rest];
const slowCalls = () => upstream.requests.filter((r) => r.body?.model === 'slow').length;

interface Cell {
  model: string;
  perspective: string;
  cases: number;
  planned: number;
  passed: number;
  refusals: number;
  errors: number;
  costUsd: number;
}
/** The summary a person reads, per model × perspective (cost rounded as the table shows it). */
const table = (json: { trust: { cells: Cell[] } }) => json.trust.cells.map((c) => ({ ...c, costUsd: c.costUsd.toFixed(6) }));

function usageRows(dataDir: string, runId: string) {
  const db = new Database(join(dir, dataDir, 'baimo.db'), { readonly: true });
  try {
    return db.prepare("SELECT request_id, model, status, cost_usd FROM usage WHERE final = 1 AND request_id LIKE ? || '.%'").all(runId) as { request_id: string; model: string; status: number; cost_usd: number | null }[];
  } finally {
    db.close();
  }
}

let baseline: ReturnType<typeof table>;

describe('baimo eval trust --resume', () => {
  it('an uninterrupted run: the reference table, and its resume file is gone once it completes', async () => {
    const out = join(dir, 'base.json');
    const run = baimo(trust('base', '--concurrency', '4', '-o', out));
    expect(await run.exited).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    baseline = table(json);
    expect(baseline).toHaveLength(6);
    expect(baseline.every((c) => c.cases === 2 && c.planned === 2 && c.errors === 0)).toBe(true);
    const file = /--resume (\S+)/.exec(run.err())?.[1];
    expect(file).toContain(join(dir, 'base', 'eval-runs'));
    expect(existsSync(file!)).toBe(false);
  }, 120_000);

  for (const signal of ['SIGINT', 'SIGKILL'] as const) {
    it(`${signal} mid-run, then --resume: finished cells not asked or charged again, the same table`, async () => {
      const data = signal.toLowerCase();
      const before = slowCalls();
      const first = baimo(trust(data, '--concurrency', '1', '-o', join(dir, `${data}-partial.json`)));
      await expect.poll(() => slowCalls() - before, { timeout: 60_000, interval: 20 }).toBeGreaterThanOrEqual(4);
      first.child.kill(signal);
      expect(await first.exited).toBe(signal === 'SIGINT' ? 130 : 137);
      // Named when the run starts (a killed run says nothing more), and again when it stops.
      const file = /--resume (\S+)/.exec(first.err())?.[1];
      expect(file && existsSync(file)).toBe(true);
      if (signal === 'SIGINT') {
        expect(first.err()).toMatch(new RegExp(`cancelled: \\d+/${PLANNED} cells done; resume with --resume ${file!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        const partial = JSON.parse(readFileSync(join(dir, `${data}-partial.json`), 'utf8'));
        expect(partial.trust.status).toBe('canceled');
      }
      const askedFirst = slowCalls() - before;
      expect(askedFirst).toBeLessThan(PLANNED);

      const out = join(dir, `${data}-resumed.json`);
      const rest = baimo(trust(data, '--concurrency', '2', '--resume', file!, '-o', out));
      expect(await rest.exited).toBe(0);
      const json = JSON.parse(readFileSync(out, 'utf8'));
      expect(json.trust.status).toBe('complete');
      expect(table(json)).toEqual(baseline);
      expect(json.results.results).toHaveLength(PLANNED);
      expect(existsSync(file!)).toBe(false);

      // Each cell asked once, but for the one in flight when the run stopped (asked again).
      const asked = slowCalls() - before;
      expect(asked).toBeGreaterThanOrEqual(PLANNED);
      expect(asked).toBeLessThanOrEqual(PLANNED + 1);
      // One run id over both processes, every request id once: exactly one charged answer per cell.
      const rows = usageRows(data, json.evalId);
      expect(new Set(rows.map((r) => r.request_id)).size).toBe(rows.length);
      const charged = rows.filter((r) => r.model === 'loop/slow' && r.status === 200);
      expect(charged).toHaveLength(PLANNED);
      expect(charged.every((r) => (r.cost_usd ?? 0) > 0)).toBe(true);
      const cellCost = json.trust.cells.reduce((n: number, c: Cell) => n + c.costUsd, 0);
      expect(charged.reduce((n, r) => n + r.cost_usd!, 0)).toBeCloseTo(cellCost, 9);
    }, 180_000);
  }

  it('a resume file that does not fit is a usage error (exit 2) before anything is asked', async () => {
    const first = baimo(trust('misfit', '--concurrency', '1'));
    await expect.poll(() => /--resume (\S+)/.exec(first.err())?.[1], { timeout: 60_000, interval: 20 }).toBeTruthy();
    const file = /--resume (\S+)/.exec(first.err())![1]!;
    await expect.poll(() => readFileSync(file, 'utf8').includes('"cell"'), { timeout: 60_000, interval: 20 }).toBe(true);
    first.child.kill('SIGKILL');
    await first.exited;
    const junk = join(dir, 'junk.jsonl');
    writeFileSync(junk, '{"magic":"baimo-eval-resume","v":1,"kind":"trust","hash":"x"');
    const suite = join(dir, 'one.yaml');
    writeFileSync(suite, "prompts: ['{{q}}']\nproviders: [loop/slow]\ntests: [{ vars: { q: a } }]\n");
    const before = slowCalls();
    const cases: [string[], RegExp][] = [
      [trust('misfit', '--limit', '3', '--resume', file), /--resume: the file is from another trust run/],
      [['eval', 'trust', 'loop/grader', '--limit', '2', '--config', config, '--data-dir', join(dir, 'misfit'), '--resume', file], /another trust run/],
      [trust('misfit', '--resume', join(dir, 'nope.jsonl')), /--resume: cannot read/],
      [trust('misfit', '--resume', junk), /is not a resume file/],
      [trust('misfit', '--resume', config), /is not a resume file/],
      [['eval', 'run', suite, '--config', config, '--data-dir', join(dir, 'misfit'), '--resume', file], /from baimo eval trust, not baimo eval run/],
    ];
    for (const [args, message] of cases) {
      const r = baimo(args);
      expect(await r.exited).toBe(2);
      expect(r.err()).toMatch(message);
    }
    expect(slowCalls()).toBe(before);
  }, 180_000);
});
