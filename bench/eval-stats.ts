/**
 * What a run's status costs (`GET /v1/evals/runs/{id}`, polled every 2 s by the console while a
 * run goes) on a stored run of 20,000 cells (1,000 tests × 2 prompts × 5 models × repeat 2):
 * before, the route read every cell and summed them (`runResult` and the summing it did, kept
 * below as it was); now `EvalRunService.stats`, from the sums the store keeps as cells land.
 * Times 100 calls of each, in process, through the store's port (no HTTP: the route's own work is
 * the same either way), checks both give the same numbers, and times the cell writes too (they
 * now move the sums). On the embedded store; with BENCH_PG=1 also on a fresh database of the
 * local PostgreSQL server (dropped afterwards); BENCH_SQLITE=0 skips the embedded store, and
 * BENCH_BEFORE_CALLS times fewer of the old, slow calls.
 * Run: npx tsx bench/eval-stats.ts   (BENCH_PG=1 BENCH_SQLITE=0 BENCH_BEFORE_CALLS=10 npx tsx bench/eval-stats.ts)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EvalRunStore, StoredRun } from '../src/eval/ports.js';
import type { CellResult, RunResult } from '../src/eval/run.js';
import { EvalRunService } from '../src/eval/service.js';
import type { Gateway } from '../src/gateway/context.js';
import { openPostgresStores } from '../src/store/postgres/index.js';
import { openSQLiteStores } from '../src/store/sqlite/index.js';
import { createTestDatabase } from '../test/helpers/pg.js';

const TESTS = 1000;
const PROMPTS = 2;
const MODELS = 5;
const REPEAT = 2;
const CALLS = 100;
/** Calls timed the old way (BENCH_BEFORE_CALLS; fewer keeps a PostgreSQL run short): the ratio is per call. */
const CALLS_BEFORE = Number(process.env.BENCH_BEFORE_CALLS ?? CALLS);

const log = (s: string) => process.stderr.write(`${s}\n`);

const providers = Array.from({ length: MODELS }, (_, i) => `bench/model-${i}`);
const prompts = Array.from({ length: PROMPTS }, (_, i) => `Prompt ${i}: answer {{ q }} briefly.`);
const suite = JSON.stringify({
  description: 'stats bench',
  prompts,
  providers,
  tests: Array.from({ length: TESTS }, (_, t) => ({ vars: { q: `question ${t}` }, assert: [{ type: 'contains', value: `${t % 10}` }, { type: 'icontains', value: 'answer' }] })),
});

/** A cell as a run writes it: a few hundred characters of answer, two graded assertions. */
function cell(t: number, p: number, v: number, r: number): CellResult {
  const h = (t * 7919 + p * 104729 + v * 1299709 + r * 15485863) % 1000;
  const error = h < 20 ? 'upstream 500: The server had an error while processing your request.' : undefined;
  const success = !error && h % 3 !== 0;
  const output = `Answer to question ${t}: ${'lorem ipsum dolor sit amet '.repeat(12)}${h}`;
  return {
    key: `${t}:${p}:${v}:${r}`, testIdx: t, promptIdx: p, providerIdx: v, repeat: r, description: undefined,
    provider: { id: providers[v]!, label: providers[v]! }, prompt: { raw: prompts[p]!, label: prompts[p]! }, vars: { q: `question ${t}` },
    response: error ? undefined : { output, toolCalls: [], usage: { inputTokens: 40, outputTokens: 120 } as never, cached: h % 5 === 0 },
    error, success, score: error ? 0 : success ? 1 : 0.5, reason: error ?? (success ? 'All assertions passed' : 'Expected output to contain the digit'),
    cost: error ? undefined : (h + 1) / 1e6, spentUsd: error ? 0 : (h + 1) / 1e6, latencyMs: 200 + h, requestId: `bench.${t}.${p}.${v}.${r}`,
    componentResults: [
      { pass: success, score: success ? 1 : 0, reason: 'contains', assertion: { type: 'contains', value: `${t % 10}` } },
      { pass: true, score: 1, reason: 'icontains', assertion: { type: 'icontains', value: 'answer' } },
    ] as never,
  };
}

/** The status's stats as the route computed them before the store kept sums (src/server/routes/evals.ts at f1082ad). */
function statsBefore(r: RunResult): Record<string, unknown> {
  const per = r.suite.providers.map((p) => ({ id: p.id, label: p.label, cases: 0, passed: 0, cells: 0, scoreSum: 0, costSum: 0, answered: new Set<string>() }));
  for (const c of r.cases) {
    const m = per[c.providerIdx];
    if (!m || c.runs < r.repeat) continue;
    m.cases++;
    if (c.passAll) m.passed++;
  }
  for (const c of r.results) {
    const m = per[c.providerIdx];
    if (!m) continue;
    m.cells++;
    m.scoreSum += c.score;
    m.costSum += c.cost ?? 0;
    m.answered.add(`${c.testIdx}:${c.promptIdx}`);
  }
  const errors = r.results.filter((c) => c.error).length;
  const successes = r.results.filter((c) => c.success).length;
  return {
    successes,
    failures: r.results.length - successes - errors,
    errors,
    cases: r.cases.length,
    pass_rate: r.passRate,
    threshold: r.suite.threshold,
    threshold_met: r.thresholdMet,
    tests: r.suite.tests.length,
    prompts: r.suite.prompts.map((p) => p.label),
    models: per.map((m) => ({
      provider: m.id,
      label: m.label,
      cases: m.cases,
      passed: m.passed,
      pass_rate: m.cases ? m.passed / m.cases : null,
      mean_score: m.cells ? m.scoreSum / m.cells : null,
      cost_usd: m.costSum,
      mean_cost_usd: m.answered.size ? m.costSum / m.answered.size : null,
    })),
  };
}

/** Milliseconds per call over `calls` calls, after one to warm up. */
async function time(label: string, calls: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm: statements prepared, the suite's shape parsed once
  const t0 = performance.now();
  for (let i = 0; i < calls; i++) await fn();
  const ms = performance.now() - t0;
  log(`  ${label}: ${calls} calls in ${ms.toFixed(0)} ms (${(ms / calls).toFixed(2)} ms each)`);
  return ms / calls;
}

async function bench(name: string, store: EvalRunStore): Promise<void> {
  log(`${name}:`);
  const planned = TESTS * PROMPTS * MODELS * REPEAT;
  const run: StoredRun = {
    id: 'evalrun_bench', keyId: null, description: 'stats bench', suite, options: { repeat: REPEAT, concurrency: 8, maxCostUsd: undefined, noCache: false },
    status: 'running', stopReason: null, error: null, planned, done: 0, failures: 0, spentUsd: 0, createdAt: Date.now(), startedAt: Date.now(), finishedAt: null,
  };
  await store.create(run, Date.now() + 3_600_000);
  const cells: CellResult[] = [];
  for (let t = 0; t < TESTS; t++) for (let p = 0; p < PROMPTS; p++) for (let v = 0; v < MODELS; v++) for (let r = 0; r < REPEAT; r++) cells.push(cell(t, p, v, r));
  let t0 = performance.now();
  for (const c of cells) await store.addResult(run.id, c);
  log(`  wrote ${planned} cells one by one in ${((performance.now() - t0) / 1000).toFixed(1)} s (${(((performance.now() - t0) / planned) * 1000).toFixed(0)} µs each)`);
  await store.update(run.id, { status: 'completed', finishedAt: Date.now() });
  const stored = (await store.get(run.id, undefined))!;

  // Only stats(), runResult() and their store reads are used: no gateway is needed.
  const service = new EvalRunService(undefined as unknown as Gateway, store);
  try {
    const before = statsBefore(await service.runResult(stored));
    const after = await service.stats(stored);
    const same = JSON.stringify(before) === JSON.stringify(statsWire(after));
    log(`  same numbers: ${same ? 'yes, exactly' : `no\n    before ${JSON.stringify(before)}\n    after  ${JSON.stringify(statsWire(after))}`}`);
    const b = await time('before (read every cell, sum)', CALLS_BEFORE, async () => statsBefore(await service.runResult(stored)));
    const a = await time("after (the store's sums)", CALLS, () => service.stats(stored));
    log(`  ratio before/after: ${(b / a).toFixed(0)}×`);
    t0 = performance.now();
    await service.passRates([stored]);
    log(`  the list's pass rate for this run: ${(performance.now() - t0).toFixed(2)} ms`);
  } finally {
    await service.close();
  }
}

/** The service's stats in the route's wire shape, to compare with `statsBefore`. */
function statsWire(s: Awaited<ReturnType<EvalRunService['stats']>>): Record<string, unknown> {
  return {
    successes: s.successes, failures: s.failures, errors: s.errors, cases: s.cases, pass_rate: s.passRate, threshold: s.threshold, threshold_met: s.thresholdMet, tests: s.tests, prompts: s.prompts,
    models: s.models.map((m) => ({ provider: m.provider, label: m.label, cases: m.cases, passed: m.passed, pass_rate: m.passRate, mean_score: m.meanScore, cost_usd: m.costUsd, mean_cost_usd: m.meanCostUsd })),
  };
}

// BENCH_SQLITE=0 skips the embedded store (for a PostgreSQL-only run).
if (process.env.BENCH_SQLITE !== '0') {
  const dir = mkdtempSync(join(tmpdir(), 'baimo-bench-evalstats-'));
  try {
    const sqlite = openSQLiteStores(dir);
    try {
      await bench('embedded store (SQLite)', sqlite.evalRuns);
    } finally {
      sqlite.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.env.BENCH_PG === '1') {
  const db = await createTestDatabase();
  try {
    const pgStores = await openPostgresStores(db.url);
    try {
      await bench('PostgreSQL', pgStores.evalRuns);
    } finally {
      await pgStores.close();
    }
  } finally {
    await db.drop();
  }
}
