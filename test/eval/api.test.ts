/**
 * Eval runs through the API, as a client drives them with plain fetch: a hub with keys over the
 * loopback OpenAI upstream; submit, poll to completed, page the results, render the reports (and
 * find the CLI's own answers in them for the same suite), cancel mid-run, another key's run a
 * 404, hostile suites refused, a restart keeping what finished, and compare finding a planted
 * regression. Once on the embedded store, once on PostgreSQL.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseDocument, DomUtils } from 'htmlparser2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evalCommand } from '../../src/cli/eval.js';
import { startHub } from '../../src/server/start.js';
import type { RunningHub } from '../../src/server/start.js';
import { startSharedTestHub, startTestHub } from '../helpers/hub.js';
import type { TestHub } from '../helpers/hub.js';
import { createTestDatabase } from '../helpers/pg.js';
import type { TestDatabase } from '../helpers/pg.js';
import { startOpenAIUpstream } from '../upstreams/openai.js';
import type { OpenAIUpstream } from '../upstreams/openai.js';
import { mulberry32 } from '../../src/core/random.js';

const ADMIN = 'sk-baimo-admin-test-0000000000000000';
const ENV = { BAIMO_AUTH: 'required', BAIMO_ADMIN_KEY: ADMIN };
const CONFIG = `server:
  maxBodyBytes: 8388608
providers:
  loop:
    baseURL: \${LOOP_URL}
    models: [gpt-test, hang, gpt-cheap, error-400]
pricing:
  models:
    loop/gpt-test: { input: 2, output: 8 }
    loop/gpt-cheap: { input: 0.5, output: 1 }
`;

const SUITE = `description: API suite
prompts:
  - 'Say {{ q }}'
providers:
  - loop/gpt-test
defaultTest:
  assert:
    - type: starts-with
      value: Hello from gpt-test
tests:
  - vars: { q: one }
    assert: [{ type: contains, value: '{{q}}' }]
  - vars: { q: two }
    assert: [{ type: contains, value: '{{q}}' }]
  - vars: { q: three }
    assert: [{ type: icontains, value: 'THREE' }]
`;

/** The same suite with the second case's expectation broken: a regression against SUITE. */
const REGRESSED = SUITE.replace("- vars: { q: two }\n    assert: [{ type: contains, value: '{{q}}' }]", "- vars: { q: two }\n    assert: [{ type: contains, value: 'absent' }]");

/** One cell answers, then the next hangs until cancelled. */
const HANGING = `prompts: ['Say {{ q }}']
providers: [loop/gpt-test, loop/hang]
tests:
  - vars: { q: one }
  - vars: { q: two }
`;

type Json = Record<string, any>;

/**
 * A run's stats as summed from its full JSON report (every cell), the way the status computed them
 * before the store kept sums: what `GET /v1/evals/runs/{id}` must still answer.
 */
function statsFromReport(rep: Json): Json {
  const cells = rep.results.results as Json[];
  const providers = rep.config.providers as { id: string; label: string }[];
  const cases = rep.baimo.cases as Json[];
  const successes = cells.filter((c) => c.success).length;
  const errors = cells.filter((c) => c.error).length;
  return {
    successes,
    failures: cells.length - successes - errors,
    errors,
    cases: cases.length,
    pass_rate: rep.baimo.passRate,
    threshold: rep.baimo.threshold,
    threshold_met: rep.baimo.thresholdMet,
    models: providers.map((p, i) => {
      const mine = cells.filter((c) => c.provider.id === p.id);
      const finished = cases.filter((k) => k.providerIdx === i && k.runs === rep.baimo.repeat);
      const passed = finished.filter((k) => k.passAll).length;
      const cost = mine.reduce((t, c) => t + c.cost, 0);
      const answered = new Set(mine.map((c) => `${c.testIdx}:${c.promptIdx}`)).size;
      return {
        provider: p.id,
        label: p.label,
        cases: finished.length,
        passed,
        pass_rate: finished.length ? passed / finished.length : null,
        mean_score: mine.length ? mine.reduce((t, c) => t + c.score, 0) / mine.length : null,
        cost_usd: cost,
        mean_cost_usd: answered ? cost / answered : null,
      };
    }),
  };
}

/**
 * Equal, but for the last bits of sums of fractions: the store adds scores and costs up as cells
 * land, the report in suite order. Counts and everything else must be exactly equal.
 */
function expectSameStats(actual: unknown, expected: unknown, path = 'stats'): void {
  if (typeof expected === 'number' && !Number.isInteger(expected)) {
    expect(typeof actual, path).toBe('number');
    expect(Math.abs((actual as number) - expected), `${path}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(expected)));
  } else if (Array.isArray(expected)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(expected.length);
    expected.forEach((e, i) => expectSameStats((actual as unknown[])[i], e, `${path}[${i}]`));
  } else if (expected !== null && typeof expected === 'object') {
    for (const [k, e] of Object.entries(expected)) expectSameStats((actual as Json)[k], e, `${path}.${k}`);
  } else expect(actual, path).toBe(expected);
}

/** Stats by the API and by the full report, read back to back (the run must not move between them). */
async function statsBoth(client: { call: (m: string, p: string) => Promise<{ status: number; json: Json }> }, id: string): Promise<{ run: Json; expected: Json }> {
  const run = await client.call('GET', `/v1/evals/runs/${id}`);
  expect(run.status).toBe(200);
  const rep = await client.call('GET', `/v1/evals/runs/${id}/report?format=json`);
  expect(rep.status).toBe(200);
  return { run: run.json, expected: statsFromReport(rep.json) };
}

/** Three models (one always failing upstream), two prompts; `tests` of the three cases. */
const MIXED = (tests: number) => `description: mixed ${tests}
prompts: ['Mixed, say {{ q }}', 'Mixed, echo {{ q }}']
providers: [loop/gpt-test, loop/gpt-cheap, loop/error-400]
threshold: 0.3
tests:
${[
  `  - vars: { q: one }
    assert: [{ type: contains, value: one }, { type: contains, value: 'from gpt-test' }]`,
  `  - vars: { q: two }
    assert: [{ type: icontains, value: TWO }]`,
  `  - vars: { q: three }
    assert: [{ type: contains, value: 'say' }, { type: contains, value: three }, { type: contains, value: 'gpt-cheap' }]`,
]
  .slice(0, tests)
  .join('\n')}
`;

const random = mulberry32;

function api(url: string, key: string) {
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    const text = await res.text();
    let json: Json | undefined;
    try {
      json = JSON.parse(text) as Json;
    } catch {
      json = undefined;
    }
    return { status: res.status, json: json as Json, text, type: res.headers.get('content-type') ?? '', csp: res.headers.get('content-security-policy'), nosniff: res.headers.get('x-content-type-options') };
  };
  return {
    call,
    submit: (body: unknown) => call('POST', '/v1/evals/runs', body),
    get: (id: string) => call('GET', `/v1/evals/runs/${id}`),
    async until(id: string, done: (r: Json) => boolean): Promise<Json> {
      for (let i = 0; i < 400; i++) {
        const r = await call('GET', `/v1/evals/runs/${id}`);
        expect(r.status).toBe(200);
        if (done(r.json)) return r.json;
        await new Promise((s) => setTimeout(s, 50));
      }
      throw new Error(`run ${id} never reached the state waited for`);
    },
  };
}

async function newKey(url: string): Promise<string> {
  const res = await fetch(`${url}/admin/keys`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'evals' }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { key: string }).key;
}

const finished = (r: Json) => !['queued', 'running'].includes(r.status);

function suite(name: string, start: (upstream: OpenAIUpstream) => Promise<TestHub<any>>, stop: () => Promise<void> = async () => undefined) {
  describe(name, () => {
    let upstream: OpenAIUpstream;
    let hub: TestHub<any>;
    let A: ReturnType<typeof api>;
    let B: ReturnType<typeof api>;
    let keyA: string;
    let tmp: string;

    beforeAll(async () => {
      upstream = await startOpenAIUpstream();
      hub = await start(upstream);
      keyA = await newKey(hub.url);
      A = api(hub.url, keyA);
      B = api(hub.url, await newKey(hub.url));
      tmp = mkdtempSync(join(tmpdir(), 'baimo-evalapi-'));
    });
    afterAll(async () => {
      await hub?.dispose();
      await upstream?.close();
      await stop();
      if (tmp) rmSync(tmp, { recursive: true, force: true });
    });

    let runId: string;

    it('runs a submitted suite to completed, charged to the key and tagged with the run, with paged results', async () => {
      const sub = await A.submit({ suite: SUITE, noCache: true });
      expect(sub.status).toBe(202);
      expect(sub.json).toMatchObject({ object: 'eval.run', status: 'queued', description: 'API suite', progress: { planned: 3, done: 0 } });
      runId = sub.json.id;
      const run = await A.until(runId, finished);
      expect(run).toMatchObject({ status: 'completed', stop_reason: null, progress: { planned: 3, done: 3, failures: 0 }, stats: { successes: 3, failures: 0, errors: 0, pass_rate: 1, threshold_met: true } });
      expect(run.spent_usd).toBeGreaterThan(0);

      const p1 = await A.call('GET', `/v1/evals/runs/${runId}/results?limit=2`);
      expect(p1.status).toBe(200);
      expect(p1.json.has_more).toBe(true);
      expect(p1.json.data.map((r: Json) => r.vars.q)).toEqual(['one', 'two']);
      const p2 = await A.call('GET', `/v1/evals/runs/${runId}/results?limit=2&after=${encodeURIComponent(p1.json.last_id)}`);
      expect(p2.json).toMatchObject({ has_more: false });
      expect(p2.json.data.map((r: Json) => r.vars.q)).toEqual(['three']);
      const first = p1.json.data[0];
      expect(first).toMatchObject({ success: true, score: 1, provider: { id: 'loop/gpt-test' }, response: { output: 'Hello from gpt-test! You said: Say one' } });
      expect(first.cost).toBeGreaterThan(0);
      expect(first.requestId.startsWith(`${runId}.`)).toBe(true);

      // Every call is in the request log under the calling key, tagged with the run.
      const upstreamCalls = upstream.requests.filter((r) => r.path.endsWith('/chat/completions'));
      expect(upstreamCalls.length).toBeGreaterThanOrEqual(3);
      const logged = await (async () => {
        for (let i = 0; i < 100; i++) {
          const r = await fetch(`${hub.url}/v1/me/requests?limit=50`, { headers: { authorization: `Bearer ${keyA}` } });
          const body = (await r.json()) as { data?: { id?: string; request_id?: string }[] };
          const ids = (body.data ?? []).map((x) => x.request_id ?? x.id ?? '').filter((x) => x.startsWith(`${runId}.`));
          if (ids.length >= 3) return ids;
          await new Promise((s) => setTimeout(s, 50));
        }
        return [];
      })();
      expect(logged.length).toBe(3);
    });

    it('sums each model of a run for the console: cases passed, pass rate, mean score, cost', async () => {
      const sub = await A.submit({
        suite: `prompts: ['Say {{ q }}']
providers: [loop/gpt-test, loop/gpt-cheap]
tests:
  - vars: { q: one }
    assert: [{ type: contains, value: one }]
  - vars: { q: two }
    assert: [{ type: contains, value: 'from gpt-test' }]
`,
        noCache: true,
      });
      expect(sub.status).toBe(202);
      const run = await A.until(sub.json.id, finished);
      expect(run.status).toBe('completed');
      expect(run.stats).toMatchObject({ tests: 2, prompts: ['Say {{ q }}'] });
      const [best, cheap] = run.stats.models as [Json, Json];
      expect(best).toMatchObject({ provider: 'loop/gpt-test', cases: 2, passed: 2, pass_rate: 1, mean_score: 1 });
      expect(cheap).toMatchObject({ provider: 'loop/gpt-cheap', cases: 2, passed: 1, pass_rate: 0.5, mean_score: 0.5 });
      // The same usage at a quarter of the price or less: the cheap model costs less, and both cost something.
      expect(cheap.cost_usd).toBeGreaterThan(0);
      expect(best.cost_usd).toBeGreaterThan(cheap.cost_usd * 3);
      expect(best.mean_cost_usd).toBeCloseTo(best.cost_usd / 2, 12);
      // The cells say which model (column) they belong to, and add up to the model's cost.
      const cells = (await A.call('GET', `/v1/evals/runs/${sub.json.id}/results`)).json.data as Json[];
      expect(cells.map((c) => [c.testIdx, c.providerIdx, c.success])).toEqual([
        [0, 0, true],
        [0, 1, true],
        [1, 0, true],
        [1, 1, false],
      ]);
      const costOf = (i: number) => cells.filter((c) => c.providerIdx === i).reduce((t, c) => t + c.cost, 0);
      expect(best.cost_usd).toBeCloseTo(costOf(0), 12);
      expect(cheap.cost_usd).toBeCloseTo(costOf(1), 12);
    });

    it('answers the stats the full report gives for a run with repeat 2, three models, errors and cached cells', async () => {
      // The first two cases once, to fill the answer cache; then all three, two of them from the cache.
      const warm = await A.submit({ suite: MIXED(2), repeat: 2 });
      expect(warm.status).toBe(202);
      expect((await A.until(warm.json.id, finished)).status).toBe('completed');
      const sub = await A.submit({ suite: MIXED(3), repeat: 2 });
      expect(sub.status).toBe(202);
      expect((await A.until(sub.json.id, finished)).status).toBe('completed');
      const { run, expected } = await statsBoth(A, sub.json.id);

      const cells = (await A.call('GET', `/v1/evals/runs/${sub.json.id}/results?limit=1000`)).json.data as Json[];
      expect(cells).toHaveLength(3 * 2 * 3 * 2);
      // What this run is made of: cached and fresh answers, errors, passes and failures, fractional scores.
      expect(cells.filter((c) => c.response?.cached).length).toBe(2 * 2 * 2 * 2);
      expect(cells.filter((c) => c.response && !c.response.cached).length).toBe(1 * 2 * 2 * 2);
      expect(cells.filter((c) => c.error).length).toBe(3 * 2 * 2);
      expect(cells.some((c) => c.score > 0 && c.score < 1)).toBe(true);
      expect(expected.successes).toBeGreaterThan(0);
      expect(expected.failures).toBeGreaterThan(0);

      expectSameStats(run.stats, expected);
      expect(run.stats).toMatchObject({ errors: 12, cases: 18, tests: 3, prompts: ['Mixed, say {{ q }}', 'Mixed, echo {{ q }}'] });
      expect(run.stats.models.map((m: Json) => m.cases)).toEqual([6, 6, 6]);
      expect(run.stats.models[2]).toMatchObject({ provider: 'loop/error-400', passed: 0, pass_rate: 0, mean_score: 0, cost_usd: 0 });
      // The list carries the same pass^N rate, without the suite or the cells.
      const list = (await A.call('GET', '/v1/evals/runs?limit=100')).json.data as Json[];
      expect(list.find((r) => r.id === sub.json.id)?.pass_rate).toBe(run.stats.pass_rate);
      expect(list.find((r) => r.id === warm.json.id)?.pass_rate).toBe((await A.get(warm.json.id)).json.stats.pass_rate);
    });

    it('answers the stats of the finished part of a run mid-way', async () => {
      const hangs = () => upstream.requests.filter((q) => q.body?.model === 'hang').length;
      const hung = hangs();
      const sub = await A.submit({ suite: HANGING, concurrency: 1, repeat: 2, noCache: true });
      expect(sub.status).toBe(202);
      const id = sub.json.id;
      // Cells go test by test, one at a time: both tries of the first case, then the hanging model holds the run.
      await A.until(id, (r) => r.status === 'running' && r.progress.done >= 2 && hangs() > hung);
      const { run, expected } = await statsBoth(A, id);
      expect(run).toMatchObject({ status: 'running', progress: { done: 2 } });
      expectSameStats(run.stats, expected);
      expect(run.stats).toMatchObject({ successes: 2, failures: 0, errors: 0, cases: 1, pass_rate: 0.25, threshold_met: false });
      expect(run.stats.models[0]).toMatchObject({ provider: 'loop/gpt-test', cases: 1, passed: 1, pass_rate: 1 });
      expect(run.stats.models[1]).toMatchObject({ provider: 'loop/hang', cases: 0, passed: 0, pass_rate: null, mean_score: null, cost_usd: 0, mean_cost_usd: null });
      expect((await A.call('POST', `/v1/evals/runs/${id}/cancel`)).json.status).toBe('cancelled');
      expectSameStats((await A.get(id)).json.stats, statsFromReport((await A.call('GET', `/v1/evals/runs/${id}/report?format=json`)).json));
    });

    it('keeps pass^N and the sums exact cell by cell, in any order, with mixed tries, odd errors and rewritten cells; rebuilds sums it lacks', async () => {
      const admin = api(hub.url, ADMIN);
      const store = hub.store.evalRuns!;
      const suiteText = MIXED(3);
      const repeat = 3;
      const id = `evalrun_planted_${Date.now()}`;
      const planned = 3 * 2 * 3 * repeat;
      await store.create(
        { id, keyId: null, description: 'planted', suite: suiteText, options: { repeat, concurrency: 1, maxCostUsd: undefined, noCache: true }, status: 'running', stopReason: null, error: null, planned, done: 0, failures: 0, spentUsd: 0, createdAt: Date.now(), startedAt: Date.now(), finishedAt: null },
        Date.now() + 600_000,
      );
      const rand = random(20);
      const providers = ['loop/gpt-test', 'loop/gpt-cheap', 'loop/error-400'];
      const oddErrors = ['upstream said "no"', '""', 'NUL \u0000 inside', 'lone \ud800 surrogate', '\u0000', "quote ' and \\ backslash"];
      const cells: any[] = [];
      for (let t = 0; t < 3; t++)
        for (let p = 0; p < 2; p++)
          for (let v = 0; v < 3; v++)
            for (let r = 0; r < repeat; r++) {
              const roll = rand();
              const error = v === 2 || roll < 0.1 ? oddErrors[Math.floor(rand() * oddErrors.length)] : undefined;
              const success = !error && rand() < 0.7;
              const score = error ? 0 : success ? 1 - rand() * 0.3 : rand() * 0.6;
              const cost = error || roll > 0.95 ? undefined : rand() / 1000;
              cells.push({
                key: `${t}:${p}:${v}:${r}`, testIdx: t, promptIdx: p, providerIdx: v, repeat: r, description: undefined,
                provider: { id: providers[v], label: providers[v] }, prompt: { raw: 'Say {{ q }}', label: 'Say {{ q }}' }, vars: { q: String(t) },
                response: error ? undefined : { output: rand() < 0.2 ? 'planted \udc00\u0000 \\u0000' : 'planted', toolCalls: [], usage: undefined, cached: rand() < 0.5 },
                error, success, score, reason: error ?? '', cost, spentUsd: cost ?? 0, latencyMs: 1, requestId: undefined, componentResults: [],
              });
            }
      // Shuffled: tries of a case land apart and out of order, as they do with concurrency.
      for (let i = cells.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [cells[i], cells[j]] = [cells[j], cells[i]];
      }
      const check = async () => {
        const { run, expected } = await statsBoth(admin, id);
        expectSameStats(run.stats, expected);
        const listed = ((await admin.call('GET', '/v1/evals/runs?limit=100')).json.data as Json[]).find((r) => r.id === id);
        expect(listed?.pass_rate).toBe(run.stats.pass_rate);
        return run;
      };
      for (const c of cells.slice(0, 20)) await store.addResult(id, c);
      let run = await check();
      expect(run.progress.done).toBe(20);
      for (const c of cells.slice(20, -1)) await store.addResult(id, c);
      // A write retried: the cell is there already, nothing moves.
      for (const c of cells.slice(0, 5)) await store.addResult(id, c);
      run = await check();
      expect(run.progress.done).toBe(planned - 1);
      // Some case passed all three tries, some passed only some of them.
      const rep = (await admin.call('GET', `/v1/evals/runs/${id}/report?format=json`)).json;
      expect(rep.baimo.cases.some((k: Json) => k.runs === 3 && k.passAll)).toBe(true);
      expect(rep.baimo.cases.some((k: Json) => k.runs === 3 && k.passes > 0 && !k.passAll)).toBe(true);
      expect(run.stats.errors).toBeGreaterThan(18);

      // Sums lost (a run stored before the hub kept them, or copied by \`baimo migrate\`): rebuilt from the cells.
      const sql = async (text: string, params: unknown[]) => {
        if (hub.store.kind === 'postgres') await hub.store.pool.query(text, params);
        else hub.store.db.prepare(text.replace(/\$\d+/g, '?')).run(...params);
      };
      await sql('DELETE FROM eval_run_models WHERE run_id = $1', [id]);
      run = await check();
      expect(run.stats.models[0].cases).toBeGreaterThan(0);
      // The last cell written as a hub of the previous version writes it (no sums): counted all the same.
      const last = cells.at(-1);
      await sql(
        'INSERT INTO eval_results (run_id, cell_key, test_idx, prompt_idx, provider_idx, repeat, success, score, cost_usd, latency_ms, cell) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)',
        [id, last.key, last.testIdx, last.promptIdx, last.providerIdx, last.repeat, hub.store.kind === 'postgres' ? last.success : last.success ? 1 : 0, last.score, last.cost ?? null, 1, JSON.stringify(last)],
      );
      await sql('UPDATE eval_runs SET done = done + 1, failures = failures + $1 WHERE id = $2', [last.success ? 0 : 1, id]);
      await store.update(id, { status: 'completed', finishedAt: Date.now() });
      run = await check();
      expect(run).toMatchObject({ status: 'completed', progress: { done: planned } });
      expect(run.stats.cases).toBe(18);
      expect(run.stats.threshold_met).toBe(run.stats.pass_rate >= 0.3);
    });

    it("renders the CLI's reports for the stored run, with the CLI's results for the same suite", async () => {
      const json = await A.call('GET', `/v1/evals/runs/${runId}/report?format=json`);
      expect(json.status).toBe(200);
      expect(json.json.evalId).toBe(runId);
      expect(json.json.results.stats).toMatchObject({ successes: 3, failures: 0, errors: 0 });

      // The CLI, in process, on the same suite over the same upstream.
      const file = join(tmp, 'suite.yaml');
      writeFileSync(file, SUITE);
      const config = join(tmp, 'baimo.yaml');
      writeFileSync(config, CONFIG);
      const out = join(tmp, 'cli.json');
      const prev = process.env.LOOP_URL;
      process.env.LOOP_URL = upstream.baseURL;
      const write = process.stdout.write;
      const writeErr = process.stderr.write;
      process.stdout.write = (() => true) as typeof process.stdout.write;
      process.stderr.write = (() => true) as typeof process.stderr.write;
      let code: number;
      try {
        code = await evalCommand(['run', file, '--config', config, '--data-dir', join(tmp, 'data'), '--no-cache', '-o', out]);
      } finally {
        process.stdout.write = write;
        process.stderr.write = writeErr;
        if (prev === undefined) delete process.env.LOOP_URL;
        else process.env.LOOP_URL = prev;
      }
      expect(code).toBe(0);
      const cli = JSON.parse(readFileSync(out, 'utf8'));
      const shape = (r: Json) => ({ success: r.success, score: r.score, provider: r.provider, prompt: r.prompt, vars: r.vars, output: r.response.output, assertions: r.gradingResult.componentResults.map((c: Json) => [c.assertion.type, c.pass]) });
      expect(json.json.results.results.map(shape)).toEqual(cli.results.results.map(shape));
      expect(json.json.results.stats.successes).toBe(cli.results.stats.successes);
      expect(json.json.baimo).toMatchObject({ status: 'complete', passRate: cli.baimo.passRate, thresholdMet: true });

      const junit = await A.call('GET', `/v1/evals/runs/${runId}/report?format=junit`);
      expect(junit.type).toContain('application/xml');
      // Model output is in it: a browser that opens it runs nothing, and takes it for nothing but XML.
      expect(junit.csp).toBe("default-src 'none'");
      expect(junit.nosniff).toBe('nosniff');
      const doc = parseDocument(junit.text, { xmlMode: true });
      expect(DomUtils.getElementsByTagName('testcase', doc)).toHaveLength(3);
      expect(DomUtils.getElementsByTagName('failure', doc)).toHaveLength(0);

      const html = await A.call('GET', `/v1/evals/runs/${runId}/report?format=html`);
      expect(html.type).toContain('text/html');
      expect(html.csp).toContain("default-src 'none'");
      expect(html.text).toContain('Hello from gpt-test! You said: Say two');
      expect((await A.call('GET', `/v1/evals/runs/${runId}/report?format=pdf`)).status).toBe(400);
    }, 30_000);

    it("lists a key's own runs; another key's run is a 404 everywhere", async () => {
      const list = await A.call('GET', '/v1/evals/runs');
      expect(list.status).toBe(200);
      expect(list.json.data.map((r: Json) => r.id)).toContain(runId);
      const other = await B.call('GET', '/v1/evals/runs');
      expect(other.json.data.map((r: Json) => r.id)).not.toContain(runId);
      for (const [method, path] of [
        ['GET', `/v1/evals/runs/${runId}`],
        ['GET', `/v1/evals/runs/${runId}/results`],
        ['GET', `/v1/evals/runs/${runId}/report?format=json`],
        ['POST', `/v1/evals/runs/${runId}/cancel`],
        ['GET', `/v1/evals/compare?a=${runId}&b=${runId}`],
      ] as const) {
        const r = await B.call(method, path);
        expect(r.status, `${method} ${path}`).toBe(404);
        expect(r.json.error).toMatchObject({ type: 'invalid_request_error' });
      }
      // Without a key at all: 401.
      expect((await fetch(`${hub.url}/v1/evals/runs`)).status).toBe(401);
    });

    it('cancels a run mid-way, keeping the cell that finished', async () => {
      const sub = await A.submit({ suite: HANGING, concurrency: 1, noCache: true });
      expect(sub.status).toBe(202);
      const id = sub.json.id;
      await A.until(id, (r) => r.status === 'running' && r.progress.done >= 1);
      const c = await A.call('POST', `/v1/evals/runs/${id}/cancel`);
      expect(c.status).toBe(200);
      expect(c.json).toMatchObject({ status: 'cancelled', stop_reason: 'user', progress: { planned: 4, done: 1 } });
      const results = await A.call('GET', `/v1/evals/runs/${id}/results`);
      expect(results.json.data).toHaveLength(1);
      expect((await A.call('GET', `/v1/evals/runs/${id}/report?format=json`)).json.baimo.status).toBe('canceled');
      expect(results.json.data[0]).toMatchObject({ provider: { id: 'loop/gpt-test' }, success: true });
      // Cancelling again answers the run as it stands.
      expect((await A.call('POST', `/v1/evals/runs/${id}/cancel`)).json.status).toBe('cancelled');
    });

    it('stops at maxCostUsd before overspending, and reuses cached answers unless noCache', async () => {
      const capped = await A.submit({ suite: SUITE, maxCostUsd: 1e-9, noCache: true });
      expect(capped.status).toBe(202);
      const run = await A.until(capped.json.id, finished);
      expect(run).toMatchObject({ status: 'cancelled', stop_reason: 'max_cost', progress: { done: 0 }, spent_usd: 0 });
      expect((await A.call('GET', `/v1/evals/runs/${capped.json.id}/report?format=json`)).json.baimo.status).toBe('budget');

      const calls = () => upstream.requests.filter((r) => r.path.endsWith('/chat/completions')).length;
      const first = await A.submit({ suite: SUITE.replace('API suite', 'cached suite') });
      await A.until(first.json.id, finished);
      const before = calls();
      const second = await A.submit({ suite: SUITE.replace('API suite', 'cached suite') });
      expect((await A.until(second.json.id, finished)).status).toBe('completed');
      expect(calls()).toBe(before);
      const results = (await A.call('GET', `/v1/evals/runs/${second.json.id}/results`)).json.data;
      expect(results.map((r: Json) => r.response.cached)).toEqual([true, true, true]);
      expect(results.every((r: Json) => r.success)).toBe(true);
    });

    it('queues runs beyond two at once, refuses a sixth active run of one key with 429, and cancels queued runs at once', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await A.submit({ suite: HANGING.replace('loop/gpt-test, ', ''), noCache: true });
        expect(r.status).toBe(202);
        ids.push(r.json.id);
      }
      const sixth = await A.submit({ suite: SUITE, noCache: true });
      expect(sixth.status).toBe(429);
      expect(sixth.json.error.code).toBe('too_many_eval_runs');
      // Another key is not held up by A's limit (its run queues behind A's).
      const other = await B.submit({ suite: SUITE, noCache: true });
      expect(other.status).toBe(202);
      expect((await A.get(ids[4]!)).json.status).toBe('queued');
      for (const id of [...ids].reverse()) {
        const c = await A.call('POST', `/v1/evals/runs/${id}/cancel`);
        expect(c.json).toMatchObject({ status: 'cancelled', stop_reason: 'user' });
      }
      expect((await B.until(other.json.id, finished)).status).toBe('completed');
    });

    it('refuses hostile submissions with 400 (or 413/415) in OpenAI error shape, and keeps serving', async () => {
      const bad = async (body: unknown, status = 400, contains?: string) => {
        const r = await A.submit(body);
        expect(r.status, JSON.stringify(body).slice(0, 200)).toBe(status);
        expect(r.json.error.type).toBe('invalid_request_error');
        if (contains) expect(r.json.error.message).toContain(contains);
      };
      await bad({ suite: `prompts: ['x']\nproviders: [loop/gpt-test]\ntests: file:///etc/passwd\n` }, 400, 'file://');
      await bad({ suite: { prompts: ['file://../../etc/passwd'], providers: ['loop/gpt-test'] } }, 400, 'file://');
      await bad({ suite: { prompts: ['x'], providers: ['loop/gpt-test'], tests: [{ vars: { a: 'file://secret.csv' } }] } }, 400, 'file://');
      // A billion laughs, where the suite takes free-form values (vars): aliases expanding 9^9 times.
      const laughs = ['    a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...Array.from({ length: 8 }, (_, i) => `    ${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [${Array(9).fill(`*${String.fromCharCode(97 + i)}`).join(',')}]`)];
      await bad({ suite: `prompts: ['x']\nproviders: [loop/gpt-test]\ndefaultTest:\n  vars:\n${laughs.join('\n')}\n` }, 400, 'alias');
      // A million tests (3 MB of JSON, under the body limit): over the suite's limits.
      await bad(`{"suite":{"prompts":["x"],"providers":["loop/gpt-test"],"tests":[${Array(1_000_000).fill('{}').join(',')}]}}`, 400, 'tests');
      // Nesting 100,000 deep, as YAML and as JSON.
      await bad({ suite: `prompts: ['x']\nproviders: [loop/gpt-test]\ndefaultTest: { vars: { v: ${'['.repeat(100_000)}${']'.repeat(100_000)} } }\n` }, 400);
      await bad(`{"suite":{"prompts":["x"],"providers":["loop/gpt-test"],"defaultTest":{"vars":{"v":${'['.repeat(100_000)}${']'.repeat(100_000)}}}}}`, 400);
      await bad({ suite: SUITE, concurrency: 1e9 }, 400, 'concurrency');
      await bad({ suite: SUITE, concurrency: 0 }, 400);
      await bad({ suite: SUITE, repeat: 101 }, 400);
      await bad({ suite: SUITE, repeat: 2.5 }, 400);
      await bad({ suite: SUITE, maxCostUsd: -1 }, 400);
      await bad({ suite: SUITE, noCache: 'yes' }, 400);
      await bad({ suite: SUITE, bogus: 1 }, 400, 'bogus');
      await bad({ suite: 42 }, 400);
      await bad({ suite: [] }, 400);
      await bad({}, 400, 'suite');
      await bad('{not json', 400);
      await bad({ suite: 'prompts: [x\n  - : :' }, 400);
      await bad({ suite: SUITE.replace('loop/gpt-test', 'nowhere/model') }, 400, 'nowhere/model');
      await bad({ suite: "prompts: ['x']\nproviders: [loop/gpt-test]\ntests:\n  - assert: [{ type: javascript, value: 'process.exit()' }]\n" }, 400);
      const wrongType = await A.call('POST', '/v1/evals/runs', SUITE, { 'content-type': 'text/plain' });
      expect(wrongType.status).toBe(415);
      expect((await A.call('GET', '/v1/evals/runs?limit=0')).status).toBe(400);
      expect((await A.call('GET', '/v1/evals/runs/nope')).status).toBe(404);
      expect((await A.call('DELETE', `/v1/evals/runs/${runId}`)).status).toBe(405);
      expect((await A.call('GET', '/v1/evals/runs/x/y/z')).status).toBe(404);
      expect((await A.call('GET', '/v1/evals/compare?a=x')).status).toBe(400);
      // Still serving.
      expect((await A.get(runId)).json.status).toBe('completed');
    }, 60_000);

    it('compares two runs case by case, the planted regression first; the CLI exits 1 on it', async () => {
      const b = await A.submit({ suite: REGRESSED, noCache: true });
      expect(b.status).toBe(202);
      await A.until(b.json.id, finished);
      const c = await A.call('GET', `/v1/evals/compare?a=${runId}&b=${b.json.id}`);
      expect(c.status).toBe(200);
      expect(c.json.summary).toEqual({ matched: 3, regressions: 1, improvements: 0, scoreChanges: 0, unchanged: 2, onlyInA: 0, onlyInB: 0 });
      expect(c.json.regressions[0]).toMatchObject({ provider: 'loop/gpt-test', vars: { q: 'two' }, a: { success: true }, b: { success: false } });
      // Reversed: the same case is an improvement.
      const r = await A.call('GET', `/v1/evals/compare?a=${b.json.id}&b=${runId}`);
      expect(r.json.summary).toMatchObject({ regressions: 0, improvements: 1 });

      const files = await Promise.all(
        [runId, b.json.id].map(async (id, i) => {
          const f = join(tmp, `${i ? 'b' : 'a'}.json`);
          writeFileSync(f, (await A.call('GET', `/v1/evals/runs/${id}/report?format=json`)).text);
          return f;
        }),
      );
      let out = '';
      const write = process.stdout.write;
      process.stdout.write = ((s: string) => ((out += s), true)) as typeof process.stdout.write;
      let regressed: number;
      let same: number;
      try {
        regressed = await evalCommand(['compare', files[0]!, files[1]!]);
        same = await evalCommand(['compare', files[0]!, files[0]!]);
      } finally {
        process.stdout.write = write;
      }
      expect(regressed).toBe(1);
      expect(same).toBe(0);
      expect(out).toMatch(/1 regression\(s\)/);
      expect(out).toContain('REGRESSION');
    });
  });
}

suite('evals API on the embedded store', (u) => startTestHub(CONFIG, { ...ENV, LOOP_URL: u.baseURL }));

let db: TestDatabase | undefined;
suite(
  'evals API on PostgreSQL',
  async (u) => {
    db = await createTestDatabase();
    return startSharedTestHub(CONFIG, { databaseUrl: db.url }, { ...ENV, LOOP_URL: u.baseURL });
  },
  async () => db?.drop(),
);

describe('a hub that stops during a run', () => {
  it("marks the run interrupted, keeping the cells that finished; a crashed hub's runs too, at the next start", async () => {
    const upstream = await startOpenAIUpstream();
    const dir = mkdtempSync(join(tmpdir(), 'baimo-evalapi-restart-'));
    writeFileSync(join(dir, 'baimo.yaml'), CONFIG);
    const open = () => startHub({ config: join(dir, 'baimo.yaml'), port: '0', host: '127.0.0.1', dataDir: join(dir, 'data'), env: { ...ENV, LOOP_URL: upstream.baseURL, BAIMO_LOG_LEVEL: 'silent' }, detectOllama: false });
    let hub: RunningHub | undefined;
    try {
      hub = await open();
      const key = await newKey(hub.url);
      const A = api(hub.url, key);
      const id = (await A.submit({ suite: HANGING, concurrency: 1, noCache: true })).json.id as string;
      await A.until(id, (r) => r.status === 'running' && r.progress.done >= 1);
      // A run a crashed hub left 'running', its lease run out; and one whose lease still holds (another replica's).
      const store = hub.store.evalRuns!;
      await store.create({ id: 'evalrun_crashed', keyId: null, description: null, suite: HANGING, options: { repeat: 1, concurrency: 1, maxCostUsd: undefined, noCache: true }, status: 'running', stopReason: null, error: null, planned: 4, done: 0, failures: 0, spentUsd: 0, createdAt: Date.now(), startedAt: Date.now(), finishedAt: null }, Date.now() - 1);
      await store.create({ id: 'evalrun_elsewhere', keyId: null, description: null, suite: HANGING, options: { repeat: 1, concurrency: 1, maxCostUsd: undefined, noCache: true }, status: 'running', stopReason: null, error: null, planned: 4, done: 0, failures: 0, spentUsd: 0, createdAt: Date.now(), startedAt: Date.now(), finishedAt: null }, Date.now() + 600_000);
      await hub.close();
      hub = await open();
      const again = api(hub.url, key);
      const run = (await again.get(id)).json;
      expect(run).toMatchObject({ status: 'interrupted', progress: { planned: 4, done: 1 } });
      expect((await again.call('GET', `/v1/evals/runs/${id}/results`)).json.data).toHaveLength(1);
      const rep = (await again.call('GET', `/v1/evals/runs/${id}/report?format=json`)).json;
      expect(rep.baimo).toMatchObject({ status: 'interrupted', done: 1, planned: 4, thresholdMet: false });
      const crashed = await api(hub.url, ADMIN).get('evalrun_crashed');
      expect(crashed.json.status).toBe('interrupted');
      expect((await api(hub.url, ADMIN).get('evalrun_elsewhere')).json.status).toBe('running');
    } finally {
      await hub?.close();
      await upstream.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('two replicas on PostgreSQL', () => {
  it('one replica cancels a run another is running; both read its results', async () => {
    const upstream = await startOpenAIUpstream();
    const database = await createTestDatabase();
    const hubs: TestHub<any>[] = [];
    try {
      for (let i = 0; i < 2; i++) hubs.push(await startSharedTestHub(CONFIG, { databaseUrl: database.url }, { ...ENV, LOOP_URL: upstream.baseURL }));
      const key = await newKey(hubs[0]!.url);
      const one = api(hubs[0]!.url, key);
      const two = api(hubs[1]!.url, key);
      const id = (await one.submit({ suite: HANGING, concurrency: 1, noCache: true })).json.id as string;
      await two.until(id, (r) => r.status === 'running' && r.progress.done >= 1);
      const c = await two.call('POST', `/v1/evals/runs/${id}/cancel`);
      expect(c.status).toBe(200);
      expect(c.json).toMatchObject({ status: 'cancelled', stop_reason: 'user', progress: { done: 1 } });
      expect((await one.get(id)).json.status).toBe('cancelled');
      expect((await two.call('GET', `/v1/evals/runs/${id}/results`)).json.data).toHaveLength(1);
    } finally {
      for (const h of hubs) await h.dispose();
      await upstream.close();
      await database.drop();
    }
  }, 30_000);
});
