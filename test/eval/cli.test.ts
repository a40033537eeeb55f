/** `baimo eval run` as a user runs it: the real entry point, reports written and parsed, exit codes. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseDocument } from 'htmlparser2';
import { DomUtils } from 'htmlparser2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub } from '../helpers/hub.js';
import { CONFIG, startLoop } from './helpers.js';
import type { Loop } from './helpers.js';

const ROOT = join(import.meta.dirname, '../..');
const TSX = pathToFileURL(join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
const FIXTURES = join(ROOT, 'test/fixtures/eval');
let loop: Loop;

beforeAll(async () => {
  loop = await startLoop();
});
afterAll(() => loop?.dispose());

function baimo(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: loop.dir,
    env: { PATH: process.env.PATH ?? '', HOME: loop.dir, ...loop.env, ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  return { child, exited, out: () => stdout, err: () => stderr };
}

const local = (suite: string, ...rest: string[]) => ['eval', 'run', suite, '--config', loop.config, '--data-dir', join(loop.dir, 'data'), ...rest];

describe('baimo eval run', () => {
  it('runs a suite in process, writes promptfoo-shaped JSON, and exits 0 when the threshold is met', async () => {
    const out = join(loop.dir, 'out.json');
    const run = baimo(local(join(FIXTURES, 'pass.yaml'), '-o', out));
    expect(await run.exited).toBe(0);
    const json = JSON.parse(readFileSync(out, 'utf8'));
    expect(json.results.stats).toMatchObject({ successes: 3, failures: 0, errors: 0 });
    expect(json.results.stats.tokenUsage.total).toBeGreaterThan(0);
    const first = json.results.results[0];
    expect(first).toMatchObject({ success: true, score: 1, provider: { id: 'loop/gpt-test' }, prompt: { raw: 'Say one' }, vars: { q: 'one' }, response: { output: 'Hello from gpt-test! You said: Say one' } });
    expect(first.cost).toBeGreaterThan(0);
    expect(typeof first.latencyMs).toBe('number');
    expect(first.gradingResult.componentResults.map((c: { assertion: { type: string } }) => c.assertion.type)).toEqual(['starts-with', 'contains']);
    expect(first.namedScores).toEqual({ greeting: 1 });
    expect(json.baimo).toMatchObject({ status: 'complete', passRate: 1, thresholdMet: true });
    expect(json.evalId).toMatch(/^eval_/);
    expect(run.out()).toContain('cases passed 100.0%');
    // Not a TTY: progress as whole lines, the last at 100%.
    expect(run.err()).toMatch(/\] 3\/3 · ETA 0:00 · \$0\.\d{4} · 0 failed\n/);
  }, 60_000);

  it('exits 1 when the pass threshold is missed, and writes JUnit XML CI can read', async () => {
    const out = join(loop.dir, 'out.xml');
    const run = baimo(local(join(FIXTURES, 'fail.yaml'), '-o', out));
    expect(await run.exited).toBe(1);
    const doc = parseDocument(readFileSync(out, 'utf8'), { xmlMode: true });
    const suites = DomUtils.getElementsByTagName('testsuite', doc);
    expect(suites.map((s) => [s.attribs.name, s.attribs.tests, s.attribs.failures])).toEqual([['loop/gpt-test', '2', '1']]);
    const cases = DomUtils.getElementsByTagName('testcase', doc);
    expect(cases).toHaveLength(2);
    const failure = DomUtils.getElementsByTagName('failure', doc);
    expect(failure).toHaveLength(1);
    expect(failure[0]!.attribs.message).toContain('absent');
    expect(run.out()).toContain('cases passed 50.0% (threshold 60.0%): missed');
  }, 60_000);

  it('writes a self-contained HTML report with every model and suite text escaped', async () => {
    const hostile = join(loop.dir, 'hostile.yaml');
    writeFileSync(
      hostile,
      `description: '<script>alert("d")</script>'
prompts: ['{{q}}']
providers: [{ id: loop/gpt-test, label: '<img src=x onerror=alert(1)>' }]
tests:
  - vars: { q: '</pre><script>alert(1)</script><img src=x onerror=alert(2)>' }
    assert: [{ type: contains, value: 'script' }]
`,
    );
    const out = join(loop.dir, 'out.html');
    const run = baimo(local(hostile, '-o', out));
    expect(await run.exited).toBe(0);
    const html = readFileSync(out, 'utf8');
    const doc = parseDocument(html);
    expect(DomUtils.getElementsByTagName('script', doc)).toHaveLength(0);
    expect(DomUtils.getElementsByTagName('img', doc)).toHaveLength(0);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(DomUtils.getElementsByTagName('td', doc).length).toBeGreaterThan(0);
  }, 60_000);

  it('usage and suite errors exit 2 with a clear message', async () => {
    const bad = join(loop.dir, 'bad.yaml');
    writeFileSync(bad, 'prompts: [oops\n');
    const unknown = join(loop.dir, 'unknown.yaml');
    writeFileSync(unknown, 'prompts: [p]\nproviders: [loop/gpt-test]\ntests:\n  - assert: [{ type: python, value: "import os" }]\n');
    const typo = join(loop.dir, 'typo.yaml');
    writeFileSync(typo, 'prompts: [p]\nproviders: [lop/gpt-test]\n');
    const cases: [string[], RegExp][] = [
      [local(bad), /not valid YAML/],
      [local(unknown), /tests\[0\]\.assert\[0\]\.type: unknown assertion type 'python'/],
      [local(join(loop.dir, 'missing.yaml')), /file not found/],
      [local(typo), /providers\[0\]: .*Did you mean 'loop\/gpt-test'/],
      [local(join(FIXTURES, 'pass.yaml'), '--repeat', '0'), /--repeat must be a whole number/],
      [local(join(FIXTURES, 'pass.yaml'), '-o', 'out.txt'), /-o must end in .json, .xml or .html/],
      [local(join(FIXTURES, 'pass.yaml'), '--bogus'), /Unknown option/],
      [['eval', 'run', join(FIXTURES, 'pass.yaml'), '--base-url', 'http://127.0.0.1:9'], /--base-url needs --api-key/],
      [['eval', 'frobnicate'], /unknown eval command/],
    ];
    for (const [args, message] of cases) {
      const r = baimo(args);
      expect(await r.exited).toBe(2);
      expect(r.err()).toMatch(message);
    }
  }, 240_000);

  it('runs against a running hub with --base-url and --api-key (the hub admits and records the calls)', async () => {
    const hub = await startTestHub(CONFIG, { ...loop.env, BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: 'sk-test-admin-remote-1' });
    try {
      const out = join(loop.dir, 'remote.json');
      const denied = baimo(['eval', 'run', join(FIXTURES, 'pass.yaml'), '--base-url', hub.url, '--api-key', 'sk-wrong', '--no-cache']);
      expect(await denied.exited).toBe(1);
      const run = baimo(['eval', 'run', join(FIXTURES, 'pass.yaml'), '--base-url', `${hub.url}/v1`, '--api-key', 'sk-test-admin-remote-1', '--no-cache', '--data-dir', join(loop.dir, 'remote-data'), '-o', out]);
      expect(await run.exited).toBe(0);
      const json = JSON.parse(readFileSync(out, 'utf8'));
      expect(json.results.stats.successes).toBe(3);
      expect(json.results.results[0].response.output).toBe('Hello from gpt-test! You said: Say one');
      // The remote run made its calls through that hub, as its key.
      const through = loop.upstream.requests.filter((q) => q.body?.model === 'gpt-test' && JSON.stringify(q.body.messages) === '[{"role":"user","content":"Say one"}]');
      expect(through.length).toBeGreaterThanOrEqual(1);
    } finally {
      await hub.dispose();
    }
  }, 60_000);

  it('--max-cost says which models it cannot count (no price)', async () => {
    const unpriced = join(loop.dir, 'unpriced.yaml');
    writeFileSync(unpriced, "prompts: ['{{q}}']\nproviders: [loop/gpt-test, loop/slow-stream]\ntests: [{ vars: { q: u } }]\n");
    const run = baimo(local(unpriced, '--max-cost', '1', '--no-cache'));
    expect(await run.exited).toBe(0);
    expect(run.err()).toContain('warning: no price for loop/slow-stream: the cost ceiling counts their calls as free');
  }, 60_000);

  it('SIGINT stops the run, keeps what finished and leaves a resume file; --resume does the rest', async () => {
    const slow = join(loop.dir, 'slow.yaml');
    writeFileSync(slow, `prompts: ['{{q}}']\nproviders: [loop/slow-stream]\ntests:\n${Array.from({ length: 5 }, (_, i) => `  - vars: { q: 'slow ${i}' }\n    assert: [{ type: contains, value: 'slow ${i}' }]\n`).join('')}`);
    const before = loop.upstream.requests.filter((q) => q.body?.model === 'slow-stream').length;
    const run = baimo(local(slow, '--concurrency', '1', '--no-cache', '-o', join(loop.dir, 'partial.json')));
    await expect.poll(() => run.err(), { timeout: 20_000 }).toMatch(/\] 1\/5/);
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    const resumeFile = /--resume (\S+)/.exec(run.err())?.[1];
    expect(resumeFile && existsSync(resumeFile)).toBe(true);
    const partial = JSON.parse(readFileSync(join(loop.dir, 'partial.json'), 'utf8'));
    expect(partial.baimo.status).toBe('canceled');
    const done = partial.results.results.length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(5);

    const rest = baimo(local(slow, '--concurrency', '1', '--no-cache', '--resume', resumeFile!));
    expect(await rest.exited).toBe(0);
    expect(rest.out()).toContain('5/5 passed');
    // Cells finished before the interrupt were not asked again (the one in flight was, once more).
    const calls = loop.upstream.requests.filter((q) => q.body?.model === 'slow-stream').length - before;
    expect(calls).toBeLessThanOrEqual(6);
    expect(calls).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
