/**
 * Eval runs started through the API (`/v1/evals/runs`): each runs in this process through the
 * gateway as the key that started it (every call admitted, charged and logged under request ids
 * `<run id>.<n>`, as `baimo eval run` does), at most `maxRunning` at once (the rest wait,
 * `queued`). Each cell is written to the store as it finishes, so what finished survives a
 * stop. Runs are not resumed: when the hub stops, a run under way is aborted and marked
 * `interrupted`; a run whose hub crashed is marked `interrupted` once its lease (renewed every
 * LEASE_MS / 3 while this hub holds it) has run out, by the next hub that looks (ports.ts) —
 * their finished cells stay readable.
 */
import { join } from 'node:path';
import { HubError } from '../core/errors.js';
import { timeOrderedId } from '../core/ids.js';
import type { Gateway } from '../gateway/context.js';
import type { Principal } from '../tenancy/types.js';
import { checkApiSuite, storedSuite } from './api-suite.js';
import { AnswerCache } from './cache.js';
import { gatewayCaller } from './caller.js';
import type { EvalRunStore, RunModelSums, RunOwner, RunSums, StoredRun, StoredRunOptions } from './ports.js';
import { runSuite, summarize } from './run.js';
import type { CellResult, RunResult, RunStatus } from './run.js';
import { caseCount, LIMITS, modelNames } from './suite.js';
import type { Suite } from './suite.js';
import { SuiteError } from './types.js';

/** How long a run's lease lasts; its hub renews it three times as often. */
const LEASE_MS = 60_000;
/** How often a hub looks for cancels asked on another replica. */
const TICK_MS = 1000;
/** Runs whose suite's shape (for stats) this hub keeps parsed. */
const SHAPES = 256;

export interface SubmitOptions {
  readonly repeat?: number | undefined;
  readonly concurrency?: number | undefined;
  readonly maxCostUsd?: number | undefined;
  readonly noCache?: boolean | undefined;
}

export interface ServiceOptions {
  /** Where answers are cached (shared with `baimo eval run` on the same data directory); none: no cache. */
  readonly cacheDir?: string | undefined;
  /** Runs under way at once in this process (default 2). */
  readonly maxRunning?: number;
  /** Queued or running runs one key may have at once (default 5). */
  readonly maxActivePerKey?: number;
  readonly warn?: (msg: string, err: unknown) => void;
}

/** A key's runs are its own; the admin and an open hub see every run. */
export function runOwner(p: Principal): RunOwner {
  return p.kind === 'key' ? p.key.id : undefined;
}

interface Active {
  readonly controller: AbortController;
  /** Set when the hub is stopping: the run ends `interrupted`, not `cancelled`. */
  shutdown: boolean;
  readonly owner: string | null;
  done?: Promise<void>;
}

export class EvalRunService {
  private readonly active = new Map<string, Active>();
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private closed = false;
  /** A run's suite never changes, so its shape (for stats) is parsed once per hub (the last SHAPES runs asked about). */
  private readonly shapes = new Map<string, SuiteShape>();
  /** Runs a stopped hub left unfinished are marked before anything else touches the store. */
  readonly ready: Promise<void>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly gw: Gateway,
    private readonly store: EvalRunStore,
    private readonly o: ServiceOptions = {},
  ) {
    this.ready = this.tend(false);
    let ticks = 0;
    this.timer = setInterval(() => {
      void this.cancelAsked();
      if (++ticks % (LEASE_MS / 3 / TICK_MS) === 0) void this.tend(true);
    }, TICK_MS);
    this.timer.unref();
  }

  /** Cancels this hub's runs that a cancel was asked for on another replica. */
  private async cancelAsked(): Promise<void> {
    if (this.active.size === 0) return;
    try {
      for (const id of await this.store.cancelRequested([...this.active.keys()])) this.active.get(id)?.controller.abort();
    } catch (err) {
      this.o.warn?.('could not check eval runs for cancels', err);
    }
  }

  /** Renews this hub's leases (`renew`), then marks runs whose lease ran out. */
  private async tend(renew: boolean): Promise<void> {
    try {
      const now = Date.now();
      if (renew && this.active.size) await this.store.renew([...this.active.keys()], now + LEASE_MS);
      await this.store.interruptUnfinished(now);
    } catch (err) {
      this.o.warn?.('could not renew or check eval run leases', err);
    }
  }

  /** Checks and stores a run, then starts it (or queues it); answers the stored run at once. */
  async submit(principal: Principal, input: unknown, opts: SubmitOptions): Promise<StoredRun> {
    if (this.closed) throw new HubError('overloaded', 'The hub is stopping; submit the run again later.');
    await this.ready;
    const id = timeOrderedId('evalrun_');
    const { suite, text } = await checkApiSuite(input, `${id}.yaml`);
    const repeat = opts.repeat ?? suite.repeat ?? 1;
    const planned = caseCount(suite) * repeat;
    if (planned > LIMITS.calls) throw new SuiteError(`the run plans ${planned} model calls (tests × prompts × providers × repeat); at most ${LIMITS.calls} per run`);
    const unknown: string[] = [];
    for (const [name, where] of modelNames(suite)) {
      try {
        this.gw.registry.resolve(name);
      } catch (err) {
        unknown.push(`${where}: ${(err as Error).message}`);
      }
    }
    if (unknown.length) throw new SuiteError(`The suite names models this hub does not serve: ${unknown.slice(0, 10).join('; ')}`);
    const owner = runOwner(principal) ?? null;
    const max = this.o.maxActivePerKey ?? 5;
    if ([...this.active.values()].filter((a) => a.owner === owner).length >= max) {
      throw new HubError('rate_limited', `This key has ${max} eval runs queued or running; wait for one to finish or cancel one.`, { code: 'too_many_eval_runs' });
    }
    const options: StoredRunOptions = { repeat, concurrency: opts.concurrency ?? suite.concurrency, maxCostUsd: opts.maxCostUsd ?? suite.maxCostUsd, noCache: opts.noCache === true || suite.cache === false };
    const run: StoredRun = {
      id,
      keyId: owner,
      description: suite.description ?? null,
      suite: text,
      options,
      status: 'queued',
      stopReason: null,
      error: null,
      planned,
      done: 0,
      failures: 0,
      spentUsd: 0,
      createdAt: Date.now(),
      startedAt: null,
      finishedAt: null,
    };
    await this.store.create(run, Date.now() + LEASE_MS);
    const a: Active = { controller: new AbortController(), shutdown: false, owner };
    this.active.set(id, a);
    a.done = this.whenFree(a.controller.signal).then((slot) => this.execute(run, suite, principal, a, slot));
    return run;
  }

  /** Waits for a free slot (true), or for the run to be cancelled while it waits (false: no slot taken). */
  private whenFree(signal: AbortSignal): Promise<boolean> {
    if (this.running < (this.o.maxRunning ?? 2)) {
      this.running++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const take = () => {
        signal.removeEventListener('abort', leave);
        resolve(true);
      };
      const leave = () => {
        const i = this.queue.indexOf(take);
        if (i >= 0) this.queue.splice(i, 1);
        resolve(false);
      };
      this.queue.push(take);
      signal.addEventListener('abort', leave, { once: true });
    });
  }

  private release(): void {
    const next = this.queue.shift();
    if (next) next();
    else this.running--;
  }

  /** `slot`: false when the run was cancelled while queued (it ends at once, holding no slot). */
  private async execute(run: StoredRun, suite: Suite, principal: Principal, a: Active, slot: boolean): Promise<void> {
    const id = run.id;
    let writes = Promise.resolve();
    let writeError: unknown;
    try {
      if (!slot || a.controller.signal.aborted) {
        await this.store.update(id, { status: a.shutdown ? 'interrupted' : 'cancelled', stopReason: a.shutdown ? null : 'user', finishedAt: Date.now() });
        return;
      }
      await this.store.update(id, { status: 'running', startedAt: Date.now() });
      const o = run.options;
      const result = await runSuite(suite, {
        caller: gatewayCaller(this.gw, principal, id),
        runId: id,
        repeat: o.repeat,
        concurrency: o.concurrency,
        maxCostUsd: o.maxCostUsd,
        cache: o.noCache || !this.o.cacheDir ? undefined : new AnswerCache(this.o.cacheDir),
        signal: a.controller.signal,
        onResult: (c) => {
          writes = writes.then(() => this.store.addResult(id, c)).catch((err: unknown) => void (writeError ??= err));
        },
      });
      await writes;
      if (writeError) throw writeError;
      const status = result.status === 'complete' ? 'completed' : a.shutdown ? 'interrupted' : 'cancelled';
      await this.store.update(id, { status, stopReason: status === 'cancelled' ? (result.status === 'budget' ? 'max_cost' : 'user') : null, finishedAt: Date.now() });
    } catch (err) {
      await writes;
      this.o.warn?.(`eval run ${id} failed`, err);
      // Errors that reach here are the hub's own (a cell's model errors are the cell's result): no detail leaves.
      const message = err instanceof HubError ? this.gw.registry.redactor.error(err).message : 'The run failed inside the hub; the details are in its log.';
      await this.store.update(id, { status: 'failed', error: message.slice(0, 1000), finishedAt: Date.now() }).catch(() => undefined);
    } finally {
      this.active.delete(id);
      if (slot) this.release();
    }
  }

  /** Cancels a queued or running run of `owner`'s; answers it as it stands (undefined: not theirs or none). */
  async cancel(id: string, owner: RunOwner): Promise<StoredRun | undefined> {
    const run = await this.store.get(id, owner);
    if (!run) return undefined;
    const a = this.active.get(id);
    if (a) {
      a.controller.abort();
      await a.done;
    } else if (run.status === 'queued' || run.status === 'running') {
      // Another replica runs it: ask, and wait a little for it to stop (it looks every TICK_MS).
      await this.store.requestCancel(id);
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setTimeout(resolve, TICK_MS / 2));
        const now = await this.store.get(id, owner);
        if (!now || (now.status !== 'queued' && now.status !== 'running')) return now;
      }
    }
    return this.store.get(id, owner);
  }

  /** Aborts every run under way (they end `interrupted`, keeping their finished cells) and waits for them. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    const all = [...this.active.values()];
    for (const a of all) {
      a.shutdown = true;
      a.controller.abort();
    }
    await Promise.all(all.map((a) => a.done));
  }

  /**
   * A run's stats (the status the console polls every 2 s while a run goes), from the sums the
   * store keeps as each cell lands (ports.ts `stats`) and the suite's shape: no cell is read, so a
   * 50,000-cell run costs what a 3-cell one does. Not a cache of the full computation keyed by
   * (run, done): while a run goes every poll sees a new `done`, so that would read every cell on
   * every poll exactly when polls come; and a cache here cannot see the cells another replica
   * writes. The same numbers as summing the cells (`runResult`), but for the order in which
   * scores and costs were added up: the last bits of a mean may differ.
   */
  async stats(run: StoredRun): Promise<RunStats> {
    const sums = (await this.store.stats([run])).get(run.id) ?? NO_SUMS;
    return runStats(run, await this.shape(run), sums);
  }

  /** Each run's pass^N rate (`RunStats.passRate`), for the runs list: no suite is parsed. */
  async passRates(runs: readonly StoredRun[]): Promise<Map<string, number>> {
    const sums = await this.store.stats(runs);
    const rates = new Map<string, number>();
    for (const run of runs) {
      const planned = run.options.repeat > 0 ? run.planned / run.options.repeat : 0;
      rates.set(run.id, passRate(planned, sums.get(run.id) ?? NO_SUMS));
    }
    return rates;
  }

  private async shape(run: StoredRun): Promise<SuiteShape> {
    let shape = this.shapes.get(run.id);
    if (shape) this.shapes.delete(run.id);
    else {
      const suite = await storedSuite(run.suite, `${run.id}.yaml`);
      shape = { threshold: suite.threshold, tests: suite.tests.length, cases: caseCount(suite), prompts: suite.prompts.map((p) => p.label), providers: suite.providers.map((p) => ({ id: p.id, label: p.label })) };
    }
    this.shapes.set(run.id, shape);
    if (this.shapes.size > SHAPES) this.shapes.delete(this.shapes.keys().next().value!);
    return shape;
  }

  /** A stored run and its results as a RunResult, for the reports `baimo eval run` writes. */
  async runResult(run: StoredRun): Promise<RunResult> {
    const suite = await storedSuite(run.suite, `${run.id}.yaml`);
    const results: CellResult[] = [];
    for (let after: string | undefined; ; ) {
      const page = await this.store.results(run.id, { limit: 1000, after });
      results.push(...page.data);
      if (!page.hasMore || page.data.length === 0) break;
      after = page.data.at(-1)!.key;
    }
    return assembleRun(run, suite, results);
  }
}

/** What a run's stats need of its suite. */
interface SuiteShape {
  readonly threshold: number;
  readonly tests: number;
  /** test × prompt × provider cases planned (`caseCount`). */
  readonly cases: number;
  readonly prompts: readonly string[];
  readonly providers: readonly { readonly id: string; readonly label: string }[];
}

/**
 * One model (provider) of the suite over a run, for the console's quality-versus-cost chart.
 * `cases`: test × prompt cases with every repetition finished; `passRate`: of those, the share
 * that passed all of them (pass^N); `meanScore` over finished cells; `costUsd`: what its answers
 * cost (a cached answer counts its original cost, so runs with and without the cache compare),
 * grader calls not included; `meanCostUsd` per test × prompt case answered.
 */
export interface ModelStats {
  readonly provider: string;
  readonly label: string;
  readonly cases: number;
  readonly passed: number;
  readonly passRate: number | null;
  readonly meanScore: number | null;
  readonly costUsd: number;
  readonly meanCostUsd: number | null;
}

/** A run's stats: cells by outcome, cases with a cell, pass^N over the cases planned, the threshold, per model. */
export interface RunStats {
  readonly successes: number;
  readonly failures: number;
  readonly errors: number;
  readonly cases: number;
  readonly passRate: number;
  readonly threshold: number;
  readonly thresholdMet: boolean;
  readonly tests: number;
  readonly prompts: readonly string[];
  readonly models: readonly ModelStats[];
}

const NO_SUMS: RunSums = { cells: 0, models: [] };

/** Cases that passed every repetition over the cases planned (all of them, finished or not), as `assembleRun` counts. */
function passRate(plannedCases: number, sums: RunSums): number {
  return plannedCases ? sums.models.reduce((n, m) => n + m.passed, 0) / plannedCases : 1;
}

/** A run's stats from its sums, as `assembleRun` and the cells would give them. */
function runStats(run: StoredRun, shape: SuiteShape, sums: RunSums): RunStats {
  const total = (k: 'successes' | 'errors' | 'answered') => sums.models.reduce((n, m) => n + m[k], 0);
  const rate = passRate(shape.cases, sums);
  const complete = run.status === 'completed' && run.stopReason !== 'max_cost';
  const by = new Map<number, RunModelSums>(sums.models.map((m) => [m.providerIdx, m]));
  return {
    successes: total('successes'),
    failures: sums.cells - total('successes') - total('errors'),
    errors: total('errors'),
    cases: total('answered'),
    passRate: rate,
    threshold: shape.threshold,
    thresholdMet: complete && rate >= shape.threshold - 1e-12,
    tests: shape.tests,
    prompts: shape.prompts,
    models: shape.providers.map((p, i) => {
      const m = by.get(i);
      return {
        provider: p.id,
        label: p.label,
        cases: m?.cases ?? 0,
        passed: m?.passed ?? 0,
        passRate: m?.cases ? m.passed / m.cases : null,
        meanScore: m?.cells ? m.scoreSum / m.cells : null,
        costUsd: m?.costSum ?? 0,
        meanCostUsd: m?.answered ? m.costSum / m.answered : null,
      };
    }),
  };
}

const RUN_STATUS: Record<StoredRun['status'], RunStatus> = { queued: 'running', running: 'running', completed: 'complete', cancelled: 'canceled', failed: 'failed', interrupted: 'interrupted' };

/** What runSuite would have returned for the cells stored; a run not finished reports `running`. */
export function assembleRun(run: StoredRun, suite: Suite, results: readonly CellResult[]): RunResult {
  const repeat = run.options.repeat;
  const cases = summarize(results);
  const planned = caseCount(suite);
  const passRate = planned ? cases.filter((c) => c.passAll && c.runs === repeat).length / planned : 1;
  const status: RunStatus = run.stopReason === 'max_cost' ? 'budget' : RUN_STATUS[run.status];
  return {
    runId: run.id,
    suite,
    repeat,
    startedAt: new Date(run.startedAt ?? run.createdAt).toISOString(),
    finishedAt: new Date(run.finishedAt ?? Date.now()).toISOString(),
    status,
    results,
    cases,
    planned: run.planned,
    spentUsd: run.spentUsd,
    passRate,
    thresholdMet: status === 'complete' && passRate >= suite.threshold - 1e-12,
  };
}

/** Where the hub keeps answers for runs: the same folder `baimo eval run` uses in that data directory. */
export function evalCacheDir(dataDir: string): string {
  return join(dataDir, 'eval-cache');
}
