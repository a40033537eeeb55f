/**
 * A run: every test × prompt × provider, `repeat` times, with at most `concurrency` cells under
 * way. Each cell renders its prompt, asks the model (or the answer cache), then runs its
 * assertions (grader and embedding calls go the same way). Every call made is checked against
 * `maxCostUsd` first, with the caller's worst case for it plus what calls in flight may still
 * spend: a call that could overspend is not made, and the run stops there (status `budget`).
 * Cancelling (the signal) aborts the calls in flight and stops the run (status `canceled`); the
 * cells finished so far are kept, and `resume` takes them back so a later run does the rest.
 */
import { HubError } from '../core/errors.js';
import type { ChatRequest, Message, ToolCall, Usage } from '../core/types.js';
import { AnswerCache } from './cache.js';
import { runAssertion, verdict } from './assertions/index.js';
import type { AssertContext, AssertionSpec, Check } from './assertions/types.js';
import { caseCount } from './suite.js';
import type { Prompt, Provider, Suite } from './suite.js';
import { render } from './template.js';
import type { Vars } from './template.js';
import type { EvalAnswer, EvalCaller } from './types.js';

export interface ComponentResult {
  readonly pass: boolean;
  readonly score: number;
  readonly reason: string;
  readonly assertion: AssertionSpec;
  /** For model-graded kinds: the grader, what it was asked, what it answered. */
  readonly grader?: Check['grader'];
}

/** One cell: a test with a prompt on a provider, one repetition. */
export interface CellResult {
  /** `<test>:<prompt>:<provider>:<repeat>`, indexes into the suite. */
  readonly key: string;
  readonly testIdx: number;
  readonly promptIdx: number;
  readonly providerIdx: number;
  readonly repeat: number;
  readonly description: string | undefined;
  readonly provider: { readonly id: string; readonly label: string };
  readonly prompt: { readonly raw: string; readonly label: string };
  readonly vars: Vars;
  readonly response: { readonly output: string; readonly toolCalls: readonly ToolCall[]; readonly usage: Usage | undefined; readonly cached: boolean } | undefined;
  readonly error: string | undefined;
  readonly success: boolean;
  readonly score: number;
  readonly reason: string;
  /** USD of the answer under test (its original cost when it came from the cache). */
  readonly cost: number | undefined;
  /** What this cell spent now: calls made, not cache hits; grader and embedding calls included. */
  readonly spentUsd: number;
  readonly latencyMs: number;
  readonly requestId: string | undefined;
  readonly componentResults: readonly ComponentResult[];
}

/** A test × prompt × provider over its repetitions. */
export interface CaseSummary {
  readonly testIdx: number;
  readonly promptIdx: number;
  readonly providerIdx: number;
  readonly runs: number;
  readonly passes: number;
  /** Estimated chance one try passes: passes / runs. */
  readonly passAt1: number;
  /** Whether every one of the N tries passed (pass^N): the case's verdict for the suite threshold. */
  readonly passAll: boolean;
  readonly meanScore: number;
}

/** `running`, `interrupted`, `failed`: only for a stored run reported before or without its end (eval/service.ts). */
export type RunStatus = 'complete' | 'canceled' | 'budget' | 'running' | 'interrupted' | 'failed';

export interface RunResult {
  readonly runId: string;
  readonly suite: Suite;
  readonly repeat: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly status: RunStatus;
  readonly results: readonly CellResult[];
  readonly cases: readonly CaseSummary[];
  /** Cells planned: tests × prompts × providers × repeat. */
  readonly planned: number;
  readonly spentUsd: number;
  /** Cases (test × prompt × provider) that passed every repetition, over all cases planned. */
  readonly passRate: number;
  readonly thresholdMet: boolean;
}

export interface Progress {
  readonly done: number;
  readonly total: number;
  readonly failures: number;
  readonly spentUsd: number;
  readonly elapsedMs: number;
}

export interface RunOptions {
  readonly caller: EvalCaller;
  readonly runId: string;
  readonly repeat?: number | undefined;
  readonly concurrency?: number | undefined;
  /** Where answers are cached; none: every call is made. */
  readonly cache?: AnswerCache | undefined;
  readonly maxCostUsd?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly onProgress?: ((p: Progress) => void) | undefined;
  /** Cells a previous run of the same suite finished (its resume file): not run again. */
  readonly resume?: readonly CellResult[] | undefined;
  /** Each cell as it finishes (not resumed ones): where a stored run writes its results. */
  readonly onResult?: ((c: CellResult) => void) | undefined;
}

/** Why a cell stopped short: not a failure of the model, so the cell is left for a resume. */
class Stopped extends Error {}

/** The money side of `maxCostUsd`: what was spent, and what calls in flight may still spend. */
class Budget {
  spent = 0;
  private held = 0;
  constructor(private readonly max: number | undefined) {}

  /** Holds `worst` for a call about to be made; false when it could overspend. */
  hold(worst: number | undefined): boolean {
    if (this.max === undefined) return true;
    // A call with no known worst case (no price) is let through while anything is left.
    const w = worst ?? 0;
    if (this.spent + this.held + w > this.max || this.spent >= this.max) return false;
    this.held += w;
    return true;
  }

  settle(worst: number | undefined, cost: number | undefined): void {
    if (this.max !== undefined) this.held -= worst ?? 0;
    this.spent += cost ?? 0;
  }
}

/** A prompt's messages with the vars in, and provider options, as the canonical request. */
export function buildRequest(prompt: Prompt, provider: Provider, vars: Vars): { request: ChatRequest; raw: string } {
  const messages: Message[] = prompt.messages.map((m) => {
    const content = render(m.content, vars);
    return m.role === 'user' ? { role: 'user', content: [{ type: 'text', text: content }] } : { role: m.role, content };
  });
  const c = provider.config;
  const request: ChatRequest = {
    model: provider.id,
    messages,
    ...(c.max_tokens !== undefined && { maxTokens: c.max_tokens }),
    ...(c.temperature !== undefined && { temperature: c.temperature }),
    ...(c.top_p !== undefined && { topP: c.top_p }),
    ...(c.seed !== undefined && { seed: c.seed }),
    ...(c.stop && { stop: c.stop }),
    ...(c.tools && { tools: c.tools.map((t) => ({ name: t.function.name, ...(t.function.description && { description: t.function.description }), parameters: t.function.parameters ?? { type: 'object', properties: {} } })) }),
    ...(c.tool_choice && { toolChoice: typeof c.tool_choice === 'string' ? c.tool_choice : { name: c.tool_choice.function.name } }),
  };
  const raw =
    messages.length === 1 && messages[0]!.role === 'user'
      ? messages[0]!.content.map((p) => (p.type === 'text' ? p.text : '')).join('')
      : JSON.stringify(messages.map((m) => ({ role: m.role, content: m.role === 'user' ? m.content.map((p) => (p.type === 'text' ? p.text : '')).join('') : m.content })));
  return { request, raw };
}

/** Assertion values see the test's vars too (`contains: "{{answer}}"`), as in promptfoo. */
function renderValue(v: unknown, vars: Vars): unknown {
  if (typeof v === 'string') return render(v, vars);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.map((x) => render(x, vars));
  return v;
}

function lastUserText(r: ChatRequest): string {
  for (let i = r.messages.length - 1; i >= 0; i--) {
    const m = r.messages[i]!;
    if (m.role === 'user') return m.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
  }
  return '';
}

type CachedAnswer = Omit<EvalAnswer, 'requestId'>;

/** What one cell's calls cost, and whether one of them was stopped (budget, cancel). */
interface Spent {
  usd: number;
  stopped: boolean;
}

export async function runSuite(suite: Suite, o: RunOptions): Promise<RunResult> {
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const repeat = o.repeat ?? suite.repeat ?? 1;
  const concurrency = Math.max(1, Math.min(64, o.concurrency ?? suite.concurrency ?? 4));
  const maxCost = o.maxCostUsd ?? suite.maxCostUsd;
  const budget = new Budget(maxCost);
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal?.reason);
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const signal = controller.signal;
  let status: RunStatus = 'complete';
  /** Set when the budget is spent: no new call starts (the signal, for a cancel, also aborts those in flight). */
  let halted = false;
  const stop = (why: RunStatus) => {
    if (status === 'complete') status = why;
  };

  const cells: { key: string; t: number; p: number; v: number; r: number }[] = [];
  for (let t = 0; t < suite.tests.length; t++)
    for (let p = 0; p < suite.prompts.length; p++) for (const v of suite.tests[t]!.providers) for (let r = 0; r < repeat; r++) cells.push({ key: `${t}:${p}:${v}:${r}`, t, p, v, r });
  // Only cells of this plan are taken back (a resume file names cells by their key).
  const planned = new Set(cells.map((c) => c.key));
  const resumed = new Map((o.resume ?? []).filter((c) => planned.has(c.key)).map((c) => [c.key, c]));
  // The ceiling is the whole run's: what the first part spent counts.
  for (const c of resumed.values()) budget.spent += c.spentUsd;
  const results: CellResult[] = [];
  let failures = 0;
  const progress = () => o.onProgress?.({ done: results.length, total: cells.length, failures, spentUsd: budget.spent, elapsedMs: performance.now() - t0 });
  const keep = (c: CellResult) => {
    results.push(c);
    if (!c.success) failures++;
    progress();
  };

  const inflight = new Map<string, Promise<EvalAnswer>>();
  const stopped = (spent: Spent) => {
    spent.stopped = true;
    return new Stopped();
  };

  /** Lets a call be made, holding its worst case; throws Stopped when the run is over or it could overspend. */
  function admit(worst: number | undefined, spent: Spent): void {
    if (signal.aborted || halted) throw stopped(spent);
    if (!budget.hold(worst)) {
      // Calls in flight were held within the budget: they finish; nothing new starts.
      stop('budget');
      halted = true;
      throw stopped(spent);
    }
  }

  /** A model call through the cache and the budget; `spent` collects what it cost now. */
  async function ask(kind: 'chat' | 'grade', model: string, request: ChatRequest, r: number, spent: Spent): Promise<EvalAnswer & { cached: boolean }> {
    const key = AnswerCache.key([kind, model, request.messages, { ...request, model: undefined, messages: undefined }, kind === 'chat' ? r : 0]);
    const hit = o.cache?.get<CachedAnswer>(key);
    if (hit) return { ...hit, cached: true };
    // The same question already on its way (one grading prompt for N repeats): wait for its answer.
    const pending = o.cache && inflight.get(key);
    if (pending) {
      try {
        return { ...(await pending), cached: true };
      } catch (err) {
        // Stopped for the cell that made it is stopped for this one too.
        if (err instanceof Stopped) throw stopped(spent);
        throw err;
      }
    }
    const made = call(model, request, spent, key);
    if (o.cache) {
      inflight.set(key, made);
      made.then(
        () => inflight.delete(key),
        () => inflight.delete(key),
      );
    }
    return { ...(await made), cached: false };
  }

  /** The call itself, within the budget; its answer is cached. */
  async function call(model: string, request: ChatRequest, spent: Spent, key: string): Promise<EvalAnswer> {
    const worst = o.caller.worstCaseUsd(model, request);
    admit(worst, spent);
    let answer: EvalAnswer | undefined;
    try {
      answer = await o.caller.complete(model, request, signal);
    } catch (err) {
      if (signal.aborted) throw stopped(spent);
      throw err;
    } finally {
      budget.settle(worst, answer?.costUsd);
    }
    spent.usd += answer.costUsd ?? 0;
    const { requestId: _, ...kept } = answer;
    o.cache?.set(key, kept);
    return answer;
  }

  async function embed(model: string, inputs: readonly string[], spent: Spent): Promise<readonly Float32Array[]> {
    const key = AnswerCache.key(['embed', model, inputs]);
    const hit = o.cache?.get<number[][]>(key);
    if (hit) return hit.map((v) => Float32Array.from(v));
    const probe: ChatRequest = { model, messages: [{ role: 'user', content: [{ type: 'text', text: inputs.join('\n') }] }], maxTokens: 1 };
    const worst = o.caller.worstCaseUsd(model, probe);
    admit(worst, spent);
    let cost: number | undefined;
    try {
      const r = await o.caller.embed(model, inputs, signal);
      cost = r.costUsd;
      spent.usd += cost ?? 0;
      o.cache?.set(key, r.vectors.map((v) => Array.from(v)));
      return r.vectors;
    } catch (err) {
      if (signal.aborted) throw stopped(spent);
      throw err;
    } finally {
      budget.settle(worst, cost);
    }
  }

  async function runCell(cell: (typeof cells)[number]): Promise<CellResult | undefined> {
    const test = suite.tests[cell.t]!;
    const prompt = suite.prompts[cell.p]!;
    const provider = suite.providers[cell.v]!;
    const { request, raw } = buildRequest(prompt, provider, test.vars);
    const spent = { usd: 0, stopped: false };
    const base = {
      key: cell.key,
      testIdx: cell.t,
      promptIdx: cell.p,
      providerIdx: cell.v,
      repeat: cell.r,
      description: test.description,
      provider: { id: provider.id, label: provider.label },
      prompt: { raw, label: prompt.label },
      vars: test.vars,
    };
    let answer: Awaited<ReturnType<typeof ask>>;
    try {
      answer = await ask('chat', provider.id, request, cell.r, spent);
    } catch (err) {
      if (err instanceof Stopped) return undefined;
      const message = err instanceof HubError ? `${err.kind}: ${err.message}` : (err as Error).message;
      return { ...base, response: undefined, error: message, success: false, score: 0, reason: message, cost: undefined, spentUsd: spent.usd, latencyMs: 0, requestId: undefined, componentResults: [] };
    }
    const ctx: AssertContext = {
      output: answer.text,
      toolCalls: answer.toolCalls,
      vars: test.vars,
      prompt: lastUserText(request),
      costUsd: answer.costUsd,
      latencyMs: answer.latencyMs,
      grader: test.grader,
      embedder: test.embedder,
      async grade(model, system, user) {
        const r = await ask('grade', model, { model, messages: [{ role: 'system', content: system }, { role: 'user', content: [{ type: 'text', text: user }] }], temperature: 0 }, 0, spent);
        return { text: r.text, costUsd: r.costUsd, cached: r.cached };
      },
      embed: (model, inputs) => embed(model, inputs, spent),
    };
    const components: ComponentResult[] = [];
    for (const a of test.assert) {
      const assertion = { ...a, value: renderValue(a.value, test.vars) };
      let c: Check;
      try {
        c = await runAssertion(assertion, ctx);
      } catch (err) {
        if (err instanceof Stopped) return undefined;
        throw err;
      }
      // A grader or embedding call that was stopped (budget, cancel) leaves the cell unfinished, not failed.
      if (spent.stopped) return undefined;
      components.push({ pass: c.pass, score: c.score, reason: c.reason, assertion, ...(c.grader && { grader: c.grader }) });
    }
    const v = verdict(test.assert, components, test.threshold);
    return {
      ...base,
      response: { output: answer.text, toolCalls: answer.toolCalls, usage: answer.usage, cached: answer.cached },
      error: undefined,
      success: v.pass,
      score: v.score,
      reason: v.reason,
      cost: answer.costUsd,
      spentUsd: spent.usd,
      latencyMs: answer.latencyMs,
      requestId: answer.requestId,
      componentResults: components,
    };
  }

  for (const c of cells) {
    const prior = resumed.get(c.key);
    if (prior) keep(prior);
  }
  const finished = (c: CellResult) => {
    keep(c);
    o.onResult?.(c);
  };
  const todo = cells.filter((c) => !resumed.has(c.key));
  let nextIdx = 0;
  const worker = async () => {
    while (nextIdx < todo.length && !signal.aborted && !halted) {
      const cell = todo[nextIdx++]!;
      const r = await runCell(cell);
      if (r) finished(r);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, todo.length) }, worker));
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  if (o.signal?.aborted) stop('canceled');

  results.sort((a, b) => a.testIdx - b.testIdx || a.promptIdx - b.promptIdx || a.providerIdx - b.providerIdx || a.repeat - b.repeat);
  const cases = summarize(results);
  const caseTotal = caseCount(suite);
  const passed = cases.filter((c) => c.passAll && c.runs === repeat).length;
  const passRate = caseTotal ? passed / caseTotal : 1;
  return {
    runId: o.runId,
    suite,
    repeat,
    startedAt,
    finishedAt: new Date().toISOString(),
    status,
    results,
    cases,
    planned: cells.length,
    spentUsd: budget.spent,
    passRate,
    thresholdMet: status === 'complete' && passRate >= suite.threshold - 1e-12,
  };
}

export function summarize(results: readonly CellResult[]): CaseSummary[] {
  const by = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = `${r.testIdx}:${r.promptIdx}:${r.providerIdx}`;
    let list = by.get(k);
    if (!list) by.set(k, (list = []));
    list.push(r);
  }
  const out: CaseSummary[] = [];
  for (const list of by.values()) {
    const f = list[0]!;
    const passes = list.filter((r) => r.success).length;
    out.push({
      testIdx: f.testIdx,
      promptIdx: f.promptIdx,
      providerIdx: f.providerIdx,
      runs: list.length,
      passes,
      passAt1: passes / list.length,
      passAll: passes === list.length,
      meanScore: list.reduce((s, r) => s + r.score, 0) / list.length,
    });
  }
  return out;
}
