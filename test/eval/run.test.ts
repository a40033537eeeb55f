/** Runs: repeat and cache, the cost ceiling, cancel and resume, the key a run is charged to. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnswerCache } from '../../src/eval/cache.js';
import { gatewayCaller } from '../../src/eval/caller.js';
import { runSuite } from '../../src/eval/run.js';
import type { RunOptions } from '../../src/eval/run.js';
import { parseSuite } from '../../src/eval/suite.js';
import type { Suite } from '../../src/eval/suite.js';
import { startHub } from '../../src/server/start.js';
import { startLoop } from './helpers.js';
import type { Loop } from './helpers.js';

let loop: Loop;
beforeAll(async () => {
  loop = await startLoop();
});
afterAll(() => loop?.dispose());

const suiteOf = (doc: Record<string, unknown>): Suite => parseSuite(doc, join(loop.dir, 'suite.yaml'));

async function run(suite: Suite, runId: string, o: Partial<RunOptions> = {}, apiKey?: string, firstSeq = 1) {
  const local = await loop.open();
  try {
    return await runSuite(suite, { caller: gatewayCaller(local.gateway, local.principal(apiKey), runId, firstSeq), runId, ...o });
  } finally {
    await local.close();
  }
}

const upstreamCalls = (model: string) => loop.upstream.requests.filter((q) => q.body?.model === model).length;

describe('repeat and cache', () => {
  const suite = () =>
    suiteOf({
      prompts: ['{{q}}'],
      providers: ['loop/gpt-test'],
      defaultTest: { options: { provider: 'loop/grader' } },
      tests: [
        { vars: { q: 'a' }, assert: [{ type: 'contains', value: 'a' }, { type: 'llm-rubric', value: 'ok {"pass": true, "score": 1}' }] },
        { vars: { q: 'b' }, assert: [{ type: 'contains', value: 'zzz' }] },
      ],
    });

  it('--repeat N makes N calls per case and reports pass@1 and pass^N; a second run answers from the cache with no upstream call', async () => {
    const cache = new AnswerCache(join(loop.dir, 'cache-repeat'));
    const before = upstreamCalls('gpt-test');
    const graderBefore = upstreamCalls('grader');
    const first = await run(suite(), 'eval_rep1', { repeat: 3, cache });
    expect(upstreamCalls('gpt-test') - before).toBe(6);
    // The same grading prompt three times: graded once, then from the cache.
    expect(upstreamCalls('grader') - graderBefore).toBe(1);
    expect(first.results).toHaveLength(6);
    expect(first.cases.map((c) => [c.testIdx, c.runs, c.passes, c.passAt1, c.passAll])).toEqual([
      [0, 3, 3, 1, true],
      [1, 3, 0, 0, false],
    ]);
    expect(first.passRate).toBe(0.5);
    expect(first.thresholdMet).toBe(false);
    expect(first.results.every((r) => r.response?.cached === false)).toBe(true);
    expect(first.spentUsd).toBeGreaterThan(0);

    const second = await run(suite(), 'eval_rep2', { repeat: 3, cache });
    expect(upstreamCalls('gpt-test') - before).toBe(6);
    expect(upstreamCalls('grader') - graderBefore).toBe(1);
    expect(second.results.every((r) => r.response?.cached === true)).toBe(true);
    expect(second.results[0]!.componentResults[1]!.grader!.cached).toBe(true);
    expect(second.spentUsd).toBe(0);
    // A cached answer keeps what it cost when it was made, for the cost assertion and reports.
    expect(second.results.map((r) => r.cost)).toEqual(first.results.map((r) => r.cost));
    expect(second.cases).toEqual(first.cases);
    expect(loop.rows().filter((x) => x.request_id.startsWith('eval_rep2.'))).toEqual([]);

    // Without the cache every call is made again.
    await run(suite(), 'eval_rep3', { repeat: 1 });
    expect(upstreamCalls('gpt-test') - before).toBe(8);
  });
});

describe('the cost ceiling', () => {
  it('stops before a call that could overspend; what was spent stays under maxCostUsd', async () => {
    // loop/pricey: $1000 per million tokens either way; a call is 21 tokens ($0.021), its worst case (max_tokens 10) more.
    const suite = suiteOf({
      prompts: ['{{q}}'],
      providers: [{ id: 'loop/pricey', config: { max_tokens: 10 } }],
      maxCostUsd: 0.1,
      tests: Array.from({ length: 10 }, (_, i) => ({ vars: { q: `question ${i}` }, assert: [{ type: 'contains', value: 'Hello' }] })),
    });
    const before = upstreamCalls('pricey');
    const r = await run(suite, 'eval_budget', { concurrency: 1 });
    expect(r.status).toBe('budget');
    expect(r.results.length).toBeGreaterThan(0);
    expect(r.results.length).toBeLessThan(10);
    expect(upstreamCalls('pricey') - before).toBe(r.results.length);
    expect(r.spentUsd).toBeLessThanOrEqual(0.1);
    expect(r.spentUsd).toBeCloseTo(r.results.length * 0.021, 9);
    expect(r.thresholdMet).toBe(false);
    // Resumed under the same ceiling, the run stops at once: the ceiling is the whole run's.
    const again = await run(suite, 'eval_budget', { concurrency: 1, resume: r.results }, undefined, 100);
    expect(again.status).toBe('budget');
    expect(again.results).toHaveLength(r.results.length);
    expect(upstreamCalls('pricey') - before).toBe(r.results.length);
    // Concurrent cells hold their worst case while in flight: still never over.
    const wide = await run(suite, 'eval_budget_wide', { concurrency: 8 });
    expect(wide.status).toBe('budget');
    expect(wide.spentUsd).toBeLessThanOrEqual(0.1);
  });
});

describe('cancel and resume', () => {
  it('a cancelled run keeps its finished cells; resuming runs only the rest', async () => {
    const suite = suiteOf({ prompts: ['{{q}}'], providers: ['loop/gpt-test'], tests: Array.from({ length: 6 }, (_, i) => ({ vars: { q: `c${i}` }, assert: [{ type: 'contains', value: `c${i}` }] })) });
    const controller = new AbortController();
    const before = upstreamCalls('gpt-test');
    const partial = await run(suite, 'eval_cancel', {
      concurrency: 1,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.done === 2) controller.abort();
      },
    });
    expect(partial.status).toBe('canceled');
    expect(partial.results.map((r) => r.key)).toEqual(['0:0:0:0', '1:0:0:0']);
    expect(partial.thresholdMet).toBe(false);
    // The resumed run goes on numbering its request ids after the first part's (2 calls).
    const resumed = await run(suite, 'eval_cancel', { concurrency: 1, resume: partial.results }, undefined, 3);
    expect(resumed.status).toBe('complete');
    expect(resumed.results).toHaveLength(6);
    expect(resumed.thresholdMet).toBe(true);
    expect(upstreamCalls('gpt-test') - before).toBe(6);
    // One run id, six records, none lost to a request id used twice.
    expect(loop.rows().filter((x) => x.request_id.startsWith('eval_cancel.')).map((x) => x.request_id).sort()).toEqual(['1', '2', '3', '4', '5', '6'].map((n) => `eval_cancel.${n}`));
  });

  it('progress reports done/total, spend and failures as cells finish', async () => {
    const suite = suiteOf({ prompts: ['{{q}}'], providers: ['loop/gpt-test'], tests: [{ vars: { q: 'p' }, assert: [{ type: 'contains', value: 'nope' }] }, { vars: { q: 'q' } }] });
    const seen: { done: number; total: number; failures: number }[] = [];
    await run(suite, 'eval_progress', { concurrency: 1, onProgress: (p) => seen.push({ done: p.done, total: p.total, failures: p.failures }) });
    expect(seen).toEqual([
      { done: 1, total: 2, failures: 1 },
      { done: 2, total: 2, failures: 1 },
    ]);
  });
});

describe('failing models', () => {
  it('a model that errors makes error results, reported in the client\'s terms; the run goes on', async () => {
    const suite = suiteOf({ prompts: ['{{q}}'], providers: ['loop/error-400', 'loop/gpt-test'], tests: [{ vars: { q: 'e' }, assert: [{ type: 'contains', value: 'e' }] }] });
    const r = await run(suite, 'eval_errors');
    expect(r.status).toBe('complete');
    const [bad, good] = r.results;
    expect(bad).toMatchObject({ success: false, response: undefined, componentResults: [] });
    expect(bad!.error).toMatch(/^bad_request: .*temperature/);
    expect(good!.success).toBe(true);
    const rows = loop.rows().filter((x) => x.request_id.startsWith('eval_errors.'));
    expect(rows.map((x) => x.status).sort()).toEqual([200, 400]);
  });
});

describe('test-level provider filters', () => {
  it('a test runs only on its providers; the pass rate counts only the cases planned', async () => {
    const suite = suiteOf({
      prompts: ['{{q}}'],
      providers: ['loop/gpt-test', { id: 'loop/json', label: 'json' }],
      tests: [{ vars: { q: 'f' }, providers: ['loop/gpt-test'], assert: [{ type: 'contains', value: 'f' }] }, { vars: { q: 'g' }, providers: ['json'], assert: [{ type: 'is-json' }] }],
    });
    const r = await run(suite, 'eval_filter');
    expect(r.results.map((c) => [c.testIdx, c.provider.id, c.success])).toEqual([
      [0, 'loop/gpt-test', true],
      [1, 'loop/json', true],
    ]);
    expect(r.planned).toBe(2);
    expect(r.passRate).toBe(1);
    expect(r.thresholdMet).toBe(true);
  });
});

describe('virtual models', () => {
  it('a virtual model is a provider like any other: its member calls are sub-calls of the run\'s call, whose record carries their cost', async () => {
    const suite = suiteOf({ prompts: ['{{q}}'], providers: ['careful'], tests: [{ vars: { q: 'v' }, assert: [{ type: 'is-json' }, { type: 'contains', value: 'Ada' }] }] });
    const r = await run(suite, 'eval_virtual');
    expect(r.results[0]).toMatchObject({ success: true, response: { output: '{"name":"Ada Lovelace","born":1815}' } });
    const [row] = loop.rows().filter((x) => x.request_id.startsWith('eval_virtual.'));
    expect(row).toMatchObject({ request_id: 'eval_virtual.1', model: 'careful', status: 200 });
    // The cascade asked gpt-test ($2/$8 per M, 12 in + 9 out) and then json ($2/$8, 25 in + 12 out).
    expect(row!.cost_usd).toBeCloseTo((12 * 2 + 9 * 8 + 25 * 2 + 12 * 8) / 1e6, 12);
    expect(r.results[0]!.cost).toBeCloseTo(row!.cost_usd!, 12);
  });
});

describe('who pays', () => {
  it("every call of a run with a key — answers and grader calls — is admitted and charged to that key; one it may not use fails the cell, not the run", async () => {
    // A hub on the same data directory makes the key, then stops (the run takes the directory's lock).
    const hub = await startHub({ config: loop.config, port: '0', host: '127.0.0.1', dataDir: join(loop.dir, 'data'), env: { ...loop.env, BAIMO_ADMIN_KEY: 'sk-test-admin-eval-123', BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });
    let key: { id: string; key: string };
    try {
      const res = await fetch(`${hub.url}/admin/keys`, { method: 'POST', headers: { authorization: 'Bearer sk-test-admin-eval-123', 'content-type': 'application/json' }, body: JSON.stringify({ name: 'eval', budget_usd: 5, allowed_models: ['loop/gpt-test', 'loop/grader'] }) });
      expect(res.status).toBe(201);
      key = (await res.json()) as typeof key;
    } finally {
      await hub.close();
    }
    const suite = suiteOf({
      prompts: ['{{q}}'],
      providers: ['loop/gpt-test', 'loop/json'],
      defaultTest: { options: { provider: 'loop/grader' } },
      tests: [{ vars: { q: 'k' }, assert: [{ type: 'llm-rubric', value: 'fine {"pass": true, "score": 1}' }] }],
    });
    const r = await run(suite, 'eval_keyed', {}, key.key);
    const rows = loop.rows().filter((x) => x.request_id.startsWith('eval_keyed.'));
    const ok = rows.filter((x) => x.status === 200);
    expect(ok.map((x) => x.model).sort()).toEqual(['loop/gpt-test', 'loop/grader']);
    expect(rows.every((x) => x.key_id === key.id)).toBe(true);
    expect(r.results.find((c) => c.provider.id === 'loop/gpt-test')!.success).toBe(true);
    const refused = r.results.find((c) => c.provider.id === 'loop/json')!;
    expect(refused.success).toBe(false);
    expect(refused.error).toMatch(/^permission:/);
    expect(r.status).toBe('complete');
  });

  it('an unknown key is refused before anything is called', async () => {
    const local = await loop.open();
    try {
      expect(() => local.principal('sk-not-a-key')).toThrow('Invalid API key');
    } finally {
      await local.close();
    }
  });
});
