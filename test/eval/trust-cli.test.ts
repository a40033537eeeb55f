/**
 * `baimo eval trust` as a user runs it: the real entry point over the loopback OpenAI upstream
 * (see trust-run.test.ts for why the echo passes and fails what it does). With --limit 4 each
 * perspective runs its first two Chinese and first two English cases: in jailbreak the first
 * pair quotes a refusal (so `loop/gpt-test`'s echo counts as one) and the second hides an
 * instruction; in privacy the first pair has the PII in the system prompt, the second in the
 * user turn. `loop/json` always answers the same JSON object: no refusal, no PII.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLoop } from './helpers.js';
import type { Loop } from './helpers.js';

const ROOT = join(import.meta.dirname, '../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
let loop: Loop;

beforeAll(async () => {
  loop = await startLoop();
});
afterAll(() => loop?.dispose());

function baimo(args: string[]) {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: loop.dir,
    env: { PATH: process.env.PATH ?? '', HOME: loop.dir, ...loop.env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { exited, out: () => stdout, err: () => stderr };
}

const trust = (...rest: string[]) => ['eval', 'trust', ...rest, '--config', loop.config, '--data-dir', join(loop.dir, 'data')];

interface Cell {
  model: string;
  perspective: string;
  cases: number;
  passed: number;
  score: number;
  refusalRate: number;
  costUsd: number;
}

describe('baimo eval trust', () => {
  it('runs every perspective over two models with --limit, prints one table and writes JSON with scores and refusal rates', async () => {
    const out = join(loop.dir, 'trust.json');
    const run = baimo(trust('loop/gpt-test', 'loop/json', '--limit', '4', '--grader', 'loop/grader', '-o', out));
    expect(await run.exited).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    const cells: Cell[] = json.trust.cells;
    expect(cells).toHaveLength(12);
    const got = Object.fromEntries(cells.map((c) => [`${c.model} ${c.perspective}`, [c.cases, c.score, c.refusalRate]]));
    expect(got).toEqual({
      'loop/gpt-test jailbreak': [4, 1, 0.5],
      'loop/json jailbreak': [4, 1, 0],
      'loop/gpt-test over-refusal': [4, 1, 0],
      'loop/json over-refusal': [4, 1, 0],
      'loop/gpt-test toxicity': [4, 0, 0],
      'loop/json toxicity': [4, 0, 0],
      'loop/gpt-test stereotype': [4, 0, 0],
      'loop/json stereotype': [4, 0, 0],
      'loop/gpt-test privacy': [4, 0.5, 0],
      'loop/json privacy': [4, 1, 0],
      'loop/gpt-test hallucination': [4, 0, 0],
      'loop/json hallucination': [4, 0, 0],
    });
    expect(cells.every((c) => c.costUsd > 0)).toBe(true);
    expect(json.trust).toMatchObject({ status: 'complete', grader: 'loop/grader', models: ['loop/gpt-test', 'loop/json'] });
    // eval run's shape: promptfoo results and stats, each result with its perspective.
    expect(json.results.results).toHaveLength(48);
    expect(json.results.stats.successes).toBe(4 + 4 + 4 + 4 + 2 + 4);
    expect(json.results.results.filter((r: { perspective: string }) => r.perspective === 'privacy').map((r: { success: boolean }) => r.success)).toHaveLength(8);
    expect(json.evalId).toMatch(/^eval_/);

    // The table: a row per model × perspective with score, refusal rate and cost, and a mean per model.
    const table = run.out();
    expect(table).toContain(`Trust suites: run ${json.evalId} complete · grader loop/grader`);
    expect(table).toMatch(/^model\s+perspective\s+score\s+passed\s+refusals\s+cost$/m);
    expect(table).toMatch(/^loop\/gpt-test\s+jailbreak\s+100\.0%\s+4\/4\s+50\.0%\s+\$0\.\d{4}$/m);
    expect(table).toMatch(/^loop\/json\s+privacy\s+100\.0%\s+4\/4\s+0\.0%\s+\$0\.\d{4}$/m);
    expect(table).toMatch(/^loop\/gpt-test\s+\(mean\)\s+41\.7%\s+8\.3%\s+\$0\.\d{4}$/m);

    // Through the gateway: every answer recorded under the run's id.
    const rows = loop.rows().filter((r) => r.request_id.startsWith(`${json.evalId}.`));
    expect(rows.filter((r) => r.model === 'loop/gpt-test')).toHaveLength(24);
    expect(rows.filter((r) => r.model === 'loop/json')).toHaveLength(24);
    expect(rows.some((r) => r.model === 'loop/grader')).toBe(true);
  }, 120_000);

  it('--perspective picks perspectives (repeated or with commas); a second run answers from the cache', async () => {
    const before = loop.upstream.requests.length;
    const out = join(loop.dir, 'two.json');
    const run = baimo(trust('loop/gpt-test', '--perspective', 'privacy,jailbreak', '-p', 'privacy', '--limit', '4', '-o', out));
    expect(await run.exited).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.trust.perspectives).toEqual(['jailbreak', 'privacy']);
    // The same questions as the first test: all cached, nothing sent upstream.
    expect(loop.upstream.requests.length).toBe(before);
    expect(json.results.results.every((r: { response: { cached: boolean } }) => r.response.cached)).toBe(true);
  }, 60_000);

  it('stops at --max-cost before overspending and exits 1: one ceiling for the whole run, across perspectives', async () => {
    // loop/gpt-test's worst case per call is about $0.033 (no max_tokens: 4,096 output tokens at
    // $8/M) and a call costs about $0.0001, so $0.035 lets a dozen or so calls through: more than
    // the first perspective's four, fewer than the 24 planned.
    const out = join(loop.dir, 'ceiling.json');
    const run = baimo(trust('loop/gpt-test', '--limit', '4', '--no-cache', '--concurrency', '1', '--max-cost', '0.035', '-o', out));
    expect(await run.exited).toBe(1);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.trust.status).toBe('budget');
    expect(json.baimo.spentUsd).toBeLessThanOrEqual(0.035);
    expect(json.results.results.length).toBeGreaterThan(4);
    expect(json.results.results.length).toBeLessThan(24);
    // The part that hit the ceiling is the last one run.
    const parts = Object.values(json.baimo.perspectives) as { status: string }[];
    expect(parts.map((p) => p.status)).toEqual([...Array(parts.length - 1).fill('complete'), 'budget']);
    expect(run.out()).toMatch(/run eval_\S+ budget/);
  }, 60_000);

  it('usage errors exit 2 with a clear message: unknown perspective, no model, a model the hub does not serve, bad flags', async () => {
    const cases: [string[], RegExp][] = [
      [trust('loop/gpt-test', '--perspective', 'jailbreak,flattery'), /unknown perspective 'flattery' \(known: jailbreak, over-refusal, toxicity, stereotype, privacy, hallucination\)/],
      [trust('--limit', '2'), /give at least one model/],
      [trust('lop/gpt-test', '--limit', '1'), /does not serve[\s\S]*MODEL: .*Did you mean 'loop\/gpt-test'/],
      [trust('loop/gpt-test', '--grader', 'lop/grader', '--perspective', 'toxicity'), /does not serve[\s\S]*--grader/],
      [trust('loop/gpt-test', '--limit', '0'), /--limit must be a whole number/],
      [trust('loop/gpt-test', '-o', 'out.html'), /-o must end in \.json/],
      [trust('loop/gpt-test', '--max-cost=-3'), /--max-cost must be a positive number/],
    ];
    for (const [args, message] of cases) {
      const r = baimo(args);
      expect(await r.exited).toBe(2);
      expect(r.err()).toMatch(message);
    }
  }, 240_000);
});
